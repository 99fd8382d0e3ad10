"""The device runtime's release mechanisms: what a device may send about its data, and what each costs.

A device program never adds noise and never chooses what leaves the device. The cloud
names a mechanism and its public parameters in the request (a ``Release``); the program
computes one contribution per row of the device's training data; the runtime sums each
privacy unit's rows (the unit is the original record: an image and its augmentations),
clips the unit's total to ``bound``, sums over units, adds Gaussian noise from a
generator the program cannot see, and sends back only that. The accountant's event of
the release follows from the public parameters alone (``Release.event``).

Like Opacus's per-sample clipping, the guarantee assumes that a row's contribution
depends on that row and the public request only; a program that mixes rows into one
another's contributions is outside what clipping can bound, and the black-box replay
audit (``proxybench audit``) is the check for it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from ..util.errors import ProxybenchError

if TYPE_CHECKING:  # dp_accounting is imported where an event is made: the wire imports this module on start-up
    from dp_accounting import DpEvent

Adjacency = Literal["add_remove", "replace_one"]
ADJACENCIES = ("add_remove", "replace_one")
DTYPES = ("float16", "float32", "float64")


@dataclass(frozen=True)
class Units:
    """Which privacy unit (original record) each row of the device's training data belongs to."""

    inverse: np.ndarray  # (n_rows,) unit index of each row, 0..count-1
    count: int

    @classmethod
    def from_groups(cls, groups: np.ndarray) -> Units:
        uniques, inverse = np.unique(np.asarray(groups), return_inverse=True)
        return cls(inverse.astype(np.int64), len(uniques))

    @classmethod
    def one_per_row(cls, n: int) -> Units:
        return cls(np.arange(n, dtype=np.int64), n)

    @property
    def largest(self) -> int:
        """Rows of the largest unit: how far one person's data moves a per-row count."""
        return int(np.bincount(self.inverse).max()) if len(self.inverse) else 0


@dataclass(frozen=True, kw_only=True)
class Release:
    """A mechanism and its public parameters: the request fixes everything about the reply but its noise.

    ``noise_multiplier`` is the noise's standard deviation over the release's L2 sensitivity
    under add/remove of one unit, as in Opacus; under ``replace_one`` the sensitivity doubles.
    """

    kind: ClassVar[str] = ""
    noise_multiplier: float
    adjacency: Adjacency = "add_remove"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.noise_multiplier) and self.noise_multiplier > 0):
            raise ProxybenchError(f"{self.kind}: noise_multiplier must be a finite number > 0, got {self.noise_multiplier!r} "
                                  "(an exact release is not a mechanism: send it as a raw reply, and the run has no guarantee)")
        if self.adjacency not in ADJACENCIES:
            raise ProxybenchError(f"{self.kind}: unknown adjacency {self.adjacency!r}; choose {' or '.join(ADJACENCIES)}")

    #: L2 sensitivity of one unit under add/remove, before noise (each mechanism's own).
    @property
    def unit_sensitivity(self) -> float:
        raise NotImplementedError

    @property
    def sensitivity(self) -> float:
        """L2 sensitivity under the adjacency: one unit replaced moves the release by up to twice a unit's bound."""
        return self.unit_sensitivity * (2.0 if self.adjacency == "replace_one" else 1.0)

    @property
    def sigma(self) -> float:
        """The standard deviation of the noise added to each released number."""
        return self.noise_multiplier * self.unit_sensitivity

    def event(self, message: dict[str, Any] | None = None) -> DpEvent:
        """The accountant's event of one release on ``message``: a Gaussian of sigma over the adjacency's sensitivity."""
        import dp_accounting

        return dp_accounting.GaussianDpEvent(noise_multiplier=self.sigma / self.sensitivity)

    def apply(self, contributions: Any, units: Units, labels: np.ndarray | None, message: dict[str, Any],
              rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def flops(self, n_rows: int, message: dict[str, Any]) -> int:
        return 0

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, **dataclasses.asdict(self)}, separators=(",", ":"))

    @staticmethod
    def from_json(text: str) -> Release:
        data = json.loads(text)
        kind = data.pop("kind", None)
        if kind not in MECHANISMS:
            raise ProxybenchError(f"unknown release mechanism {kind!r}; the device runtime offers {', '.join(MECHANISMS)}")
        try:
            return MECHANISMS[kind](**data)
        except TypeError as exc:
            raise ProxybenchError(f"release {kind}: {exc}") from None

    def _noisy(self, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return (values + rng.normal(0.0, self.sigma, size=values.shape)).astype(self.dtype)


def _real_array(value: Any, shape_tail: tuple[int, ...], what: str, n_rows: int) -> np.ndarray:
    """The program's contributions as a finite float64 array of shape (n_rows, *shape_tail), or an error naming why."""
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        got = f"{type(value).__name__}" + (f" of dtype {value.dtype}" if isinstance(value, np.ndarray) else "")
        raise ProxybenchError(f"{what}: a device program must return a real numpy array of contributions, got {got}")
    if value.shape != (n_rows, *shape_tail):
        raise ProxybenchError(f"{what}: contributions of shape {value.shape}, expected {(n_rows, *shape_tail)} "
                              "(one row per device row)")
    out = value.astype(np.float64)
    if not np.isfinite(out).all():
        raise ProxybenchError(f"{what}: contributions must be finite")
    return out


def clip_units(per_unit: np.ndarray, bound: float) -> np.ndarray:
    """Each unit's total contribution scaled down to L2 norm at most ``bound``."""
    norms = np.linalg.norm(per_unit, axis=1)
    return per_unit * np.minimum(1.0, bound / np.maximum(norms, 1e-300))[:, None]


@dataclass(frozen=True, kw_only=True)
class GaussianSum(Release):
    """The noisy sum over units of each unit's clipped total contribution, a ``dim``-vector.

    The program returns an (n_rows, dim) real array. Sensitivity under add/remove: ``bound``.
    """

    kind: ClassVar[str] = "gaussian_sum"
    dim: int = 1
    bound: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dim < 1 or not (math.isfinite(self.bound) and self.bound > 0):
            raise ProxybenchError(f"gaussian_sum: need dim >= 1 and a finite bound > 0, got dim={self.dim}, bound={self.bound}")

    @property
    def unit_sensitivity(self) -> float:
        return float(self.bound)

    def apply(self, contributions, units, labels, message, rng) -> np.ndarray:
        rows = _real_array(contributions, (self.dim,), self.kind, len(units.inverse))
        per_unit = np.zeros((units.count, self.dim))
        np.add.at(per_unit, units.inverse, rows)
        return self._noisy(clip_units(per_unit, self.bound).sum(0), rng)

    def flops(self, n_rows, message) -> int:
        return 4 * n_rows * self.dim


@dataclass(frozen=True, kw_only=True)
class GaussianHistogram(Release):
    """Noisy counts of rows per bin, each unit's count vector clipped to L2 norm ``bound``.

    The program returns an (n_rows,) integer array: each row's bin, or -1 for none. One
    unit of one row moves one count by 1; a unit of m rows moves counts by up to m, which
    clipping brings back to ``bound``.
    """

    kind: ClassVar[str] = "gaussian_histogram"
    bins: int = 1
    bound: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.bins < 1 or not (math.isfinite(self.bound) and self.bound > 0):
            raise ProxybenchError(f"gaussian_histogram: need bins >= 1 and a finite bound > 0, got bins={self.bins}, "
                                  f"bound={self.bound}")

    @property
    def unit_sensitivity(self) -> float:
        return float(self.bound)

    @property
    def sensitivity(self) -> float:
        """Counts are non-negative: a unit replaced moves them by at most sqrt(2) bounds (not two)."""
        return self.unit_sensitivity * (math.sqrt(2.0) if self.adjacency == "replace_one" else 1.0)

    def apply(self, contributions, units, labels, message, rng) -> np.ndarray:
        n = len(units.inverse)
        if not isinstance(contributions, np.ndarray) or contributions.dtype.kind not in "iu" or contributions.shape != (n,):
            raise ProxybenchError(f"{self.kind}: a device program must return an integer array of shape ({n},), "
                                  "each row's bin or -1, got " + (f"{contributions.dtype} {contributions.shape}"
                                                                   if isinstance(contributions, np.ndarray)
                                                                   else type(contributions).__name__))
        bins = contributions.astype(np.int64)
        if bins.size and (bins.min() < -1 or bins.max() >= self.bins):
            raise ProxybenchError(f"{self.kind}: bins must lie in -1..{self.bins - 1}")
        counted = bins >= 0
        keys, counts = np.unique(units.inverse[counted] * self.bins + bins[counted], return_counts=True)
        unit, bin_ = np.divmod(keys, self.bins)
        norms = np.sqrt(np.bincount(unit, counts.astype(np.float64) ** 2, minlength=units.count))
        scale = np.minimum(1.0, self.bound / np.maximum(norms, 1e-300))
        exact = np.bincount(bin_, counts * scale[unit], minlength=self.bins)
        return self._noisy(exact, rng)

    def flops(self, n_rows, message) -> int:
        return 4 * n_rows


@dataclass(frozen=True, kw_only=True)
class KnnVote(Release):
    """Private kNN labels (after Private-kNN, Zhu et al. 2020), with the device's units as voters.

    For each query of the request's ``queries`` field, the ``k`` units nearest to it (a unit's
    distance is its nearest row's, in the space of the keys the program returns, one per
    row) each cast one vote, its label; units are Poisson-sampled with ``sample_rate`` per
    query. Noise is added to each query's vote histogram and only the noisy argmax leaves.
    One unit more or less enters one query's k nearest and pushes one unit out: L2
    sensitivity sqrt(2) per query; the queries compose, each Poisson-subsampled.
    """

    kind: ClassVar[str] = "knn_vote"
    k: int = 1
    num_classes: int = 2
    sample_rate: float = 1.0
    dtype: str = "int16"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.k < 1 or self.num_classes < 1 or not 0.0 < self.sample_rate <= 1.0:
            raise ProxybenchError(f"knn_vote: need k >= 1, num_classes >= 1 and sample_rate in (0, 1], got k={self.k}, "
                                  f"num_classes={self.num_classes}, sample_rate={self.sample_rate}")

    @property
    def unit_sensitivity(self) -> float:
        return math.sqrt(2.0)

    def query_event(self) -> DpEvent:
        import dp_accounting

        event = Release.event(self)
        return event if self.sample_rate >= 1.0 else dp_accounting.PoissonSampledDpEvent(self.sample_rate, event)

    def event(self, message: dict[str, Any] | None = None) -> DpEvent:
        """One query's event, composed over the request's queries."""
        import dp_accounting

        queries = (message or {}).get("queries")
        return dp_accounting.SelfComposedDpEvent(self.query_event(), len(queries) if isinstance(queries, np.ndarray) else 1)

    def apply(self, contributions, units, labels, message, rng) -> np.ndarray:
        if labels is None:
            raise ProxybenchError("knn_vote needs a device that holds labels")
        queries = message.get("queries")
        if not isinstance(queries, np.ndarray) or queries.ndim != 2:
            raise ProxybenchError("knn_vote: the request needs a 2-d 'queries' field")
        keys = _real_array(contributions, (queries.shape[1],), self.kind, len(units.inverse)).astype(np.float32)
        order = np.argsort(units.inverse, kind="stable")  # rows grouped by unit, for one min per unit
        starts = np.flatnonzero(np.r_[True, np.diff(units.inverse[order]) != 0])
        keys, unit_label = keys[order], labels[order][starts].astype(np.int64)
        key_sq = (keys * keys).sum(1)
        kk = min(self.k, units.count)
        out = np.empty(len(queries), dtype=self.dtype)
        for s in range(0, len(queries), 256):
            q = queries[s : s + 256].astype(np.float32)
            dist = np.minimum.reduceat(key_sq[None, :] - 2.0 * q @ keys.T, starts, axis=1)
            if self.sample_rate < 1.0:
                dist = np.where(rng.random(dist.shape) < self.sample_rate, dist, np.inf)
            nearest = np.argpartition(dist, kk - 1, axis=1)[:, :kk]
            valid = np.isfinite(np.take_along_axis(dist, nearest, axis=1))
            votes = np.zeros((len(q), self.num_classes))
            rows = np.broadcast_to(np.arange(len(q))[:, None], nearest.shape)
            np.add.at(votes, (rows[valid], unit_label[nearest][valid]), 1.0)
            out[s : s + len(q)] = (votes + rng.normal(0.0, self.sigma, size=votes.shape)).argmax(1)
        return out

    def flops(self, n_rows, message) -> int:
        queries = message.get("queries")
        return 2 * n_rows * int(np.prod(queries.shape)) if isinstance(queries, np.ndarray) else 0


MECHANISMS: dict[str, type[Release]] = {m.kind: m for m in (GaussianSum, GaussianHistogram, KnnVote)}

