"""One privacy budget split over a protocol's rounds, shared by ``ecos-rounds`` and ``dp-mean-rounds``.

Not a plugin by itself. A mixin for a sampler with ``rounds``, ``first_share``, ``sigma``,
``target_epsilon`` and ``noise_sigma(delta)``: ``target_epsilon`` (or ``sigma``) is for the whole
protocol, so a k-round variant spends what its one-round sampler spends at the same setting.
"""

from __future__ import annotations

from proxybench import DEFAULT_DELTA, ProxybenchError, split_sigmas


class SplitBudget:
    """Round k's sigma from the whole protocol's effective sigma (``split_sigmas``)."""

    def check_split(self) -> None:
        """Bad ``rounds`` or ``first_share`` fail at construction, with the sampler's name."""
        try:
            split_sigmas(1.0, self.first_share, self.rounds)
        except ProxybenchError as exc:
            raise ProxybenchError(f"{self.name}: {exc}") from None

    def round_sigmas(self, delta: float = DEFAULT_DELTA) -> list[float]:
        """sigma_k = sigma_eff / sqrt(w_k): the rounds together cost one release at sigma_eff."""
        effective = self.noise_sigma(delta)
        return split_sigmas(effective, self.first_share, self.rounds)
