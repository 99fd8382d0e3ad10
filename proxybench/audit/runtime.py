"""Certifying the device runtime: its release mechanisms attacked through their own code, against their accountant.

Privacy lives in the runtime (``privacy.release``): it groups rows by privacy unit, clips
each unit's total, sums and adds the noise, and states the accountant's event from the
public parameters. The plugin audits (``audit.declared``) check a plugin's own noise;
nothing there checks the runtime's clipping, grouping or events. This module does: for
each mechanism (``GaussianHistogram``, ``GaussianSum``, ``KnnVote``) and adjacency it
builds a small device whose privacy units hold several rows (an original and its
augmentations) and its worst-case neighbour, and draws every noisy release through the
mechanism's real ``apply``; the exact releases come from the same ``apply`` fed a
generator that draws zeros, so no part of the mechanism is re-implemented here. The
attack and the bounds are ``privacy.attack.run_audit``'s; the claim is ``release.event``.

Worst-case neighbours: under add/remove, D' is D plus a copy of unit 0 (the runtime's own
``wire.context.neighbour_rows``), 8 rows whose total is clipped to exactly ``bound``; under
replace_one, unit 0 is changed (its bin moved, its contributions negated, its vote
flipped). The noise multiplier is 1 for add/remove and 2 for replace_one, so every
event is a Gaussian of multiplier 1 per release and the attack has power.

KnnVote releases only each query's noisy argmax, so the attack uses what leaves the
device, the labels: 4 queries at one point where D's 3 nearest units vote 2:1 against
label 1 and the added unit turns it 1:2. One vote margin on each side puts the label's
single threshold on the Gaussian trade-off curve, and the likelihood-ratio statistic
(the projection on the exact labels' difference) is the number of queries labelled 1.
The labels are post-processing of the noisy votes, so the bound stays sound, with no
test-only hook into the runtime; 4 queries make the event's composition over queries
part of what is certified. The noisy labels of ``trials`` releases are drawn by one
``apply`` on ``trials`` copies of the queries (each query's noise is drawn on its own);
the other mechanisms call ``apply`` once per release, as the runtime's replay does.

Positive controls, which must be flagged: the histogram with the per-unit clip defeated
(``bound`` = the unit's 8 rows, noise for bound 1, the accountant told bound 1: per-row
accounting, where one augmented original moves 8 counts); each mechanism with half the
noise its event states; and the sum's replace-one neighbour released under the add/remove
accountant.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..privacy.accounting import DEFAULT_DELTA
from ..privacy.attack import AuditResult, run_audit
from ..privacy.mechanism import AuditMechanism
from ..privacy.release import GaussianHistogram, GaussianSum, KnnVote, Release, Units
from ..util.errors import ProxybenchError
from ..wire.context import neighbour_rows

#: rows of the unit that the neighbour adds or changes: an original and its augmentations
UNIT_ROWS = 8
#: Release.noise_multiplier per adjacency: the event's noise multiplier is 1 under both
NOISE_MULTIPLIER = {"add_remove": 1.0, "replace_one": 2.0}
#: KnnVote: queries per release (all at one point, each one composed by the event) and voters per query
KNN_QUERIES, KNN_K = 4, 3


@dataclass(frozen=True)
class Device:
    """What ``apply`` sees of a device: each row's contribution, the rows' units and labels, the request."""

    contributions: np.ndarray
    units: Units
    labels: np.ndarray | None = None
    message: dict[str, Any] = dataclasses.field(default_factory=dict)

    def apply(self, release: Release, rng: Any) -> np.ndarray:
        return np.asarray(release.apply(self.contributions, self.units, self.labels, self.message, rng), dtype=np.float64)

    def added(self) -> Device:
        """D plus a copy of unit 0 (the runtime's add neighbour)."""
        keep, units = neighbour_rows(self.units, "add")
        labels = None if self.labels is None else self.labels[keep]
        return Device(self.contributions[keep], units, labels, self.message)


class NoNoise:
    """A stand-in generator that draws zeros (and keeps every Poisson sample): ``apply`` then gives the exact release."""

    def normal(self, loc: float = 0.0, scale: float = 1.0, size: Any = None) -> np.ndarray:
        return np.full(size if size is not None else (), float(loc))

    def random(self, size: Any = None) -> np.ndarray:
        return np.zeros(size if size is not None else ())


Draw = Callable[[Release, Device, np.random.Generator, int], np.ndarray]


def draw_each(release: Release, device: Device, rng: np.random.Generator, trials: int) -> np.ndarray:
    """``trials`` releases, one ``apply`` call each."""
    return np.stack([device.apply(release, rng) for _ in range(trials)])


def draw_knn_batch(release: Release, device: Device, rng: np.random.Generator, trials: int) -> np.ndarray:
    """``trials`` KnnVote releases from one ``apply`` on ``trials`` copies of the request's queries."""
    queries = device.message["queries"]
    batch = dataclasses.replace(device, message={**device.message, "queries": np.tile(queries, (trials, 1))})
    return batch.apply(release, rng).reshape(trials, len(queries))


def runtime_mechanism(name: str, applied: Release, accounted: Release, d: Device, d_prime: Device,
                      description: str, draw: Draw = draw_each, adjacency: str | None = None) -> AuditMechanism:
    """``applied.apply`` on D and D' as an AuditMechanism, with ``accounted``'s event as the claim.

    ``adjacency`` names the neighbour D' is (default: the accountant's).
    """
    exact = {}
    for side, device in (("D", d), ("D'", d_prime)):
        exact[side] = device.apply(applied, NoNoise())
    if np.array_equal(exact["D"], exact["D'"]):
        raise ProxybenchError(f"runtime audit {name}: D and D' give the same exact release")

    def privatize(values: np.ndarray, rng: np.random.Generator, trials: int) -> np.ndarray:
        if np.array_equal(values, exact["D"]):
            return draw(applied, d, rng, trials)
        if np.array_equal(values, exact["D'"]):
            return draw(applied, d_prime, rng, trials)
        raise ProxybenchError(f"runtime audit {name}: privatize called on neither D's nor D''s exact release")

    return AuditMechanism(name=name, sigma=applied.sigma, sensitivity=accounted.sensitivity,
                          adjacency=adjacency or accounted.adjacency, event=accounted.event(d.message), values_d=exact["D"],
                          values_d_prime=exact["D'"], privatize=privatize, description=description,
                          info={"kind": accounted.kind, "release": applied.to_json(), "accountant": accounted.to_json()})


def _name(release: Release, suffix: str = "") -> str:
    return (f"runtime {release.kind}({release.adjacency}, noise_multiplier={release.noise_multiplier:g}, "
            f"unit of {UNIT_ROWS} rows)" + (f" [{suffix}]" if suffix else ""))


def _half_noise(release: Release, d: Device, d_prime: Device, draw: Draw = draw_each) -> AuditMechanism:
    """``apply`` with half the noise multiplier; the accountant keeps the request's."""
    half = dataclasses.replace(release, noise_multiplier=release.noise_multiplier / 2)
    return runtime_mechanism(_name(release, "half noise"), half, release, d, d_prime,
                             f"control: apply adds sigma {half.sigma:.4g}, the event states sigma {release.sigma:.4g}",
                             draw)


def _unit(rows: list[Any]) -> list[Any]:
    return rows + [rows[-1]] * (UNIT_ROWS - len(rows))


def histogram_devices(adjacency: str) -> tuple[Device, Device]:
    """4 bins; unit 0: 8 rows in bin 0 (clipped to 1); D' adds its copy, or moves it to bin 1 (distance sqrt 2)."""
    bins = [_unit([0]), _unit([1, 1, 2, 2, 2, -1]), _unit([3, 0, 1]), [2], [-1], _unit([3])]
    d = Device(np.concatenate([np.array(b, dtype=np.int64) for b in bins]),
               Units.from_groups(np.repeat(np.arange(len(bins)), [len(b) for b in bins])))
    if adjacency == "add_remove":
        return d, d.added()
    moved = d.contributions.copy()
    moved[d.units.inverse == 0] = 1
    return d, dataclasses.replace(d, contributions=moved)


def sum_devices(adjacency: str) -> tuple[Device, Device]:
    """3 dims; unit 0: 8 rows of (0.5, 0, 0), total clipped to (1, 0, 0); D' adds its copy, or negates it (distance 2)."""
    sizes = [UNIT_ROWS, UNIT_ROWS, 3, 1, UNIT_ROWS]
    inverse = np.repeat(np.arange(len(sizes)), sizes)
    rows = np.random.default_rng(7).normal(0.0, 0.3, size=(len(inverse), 3))
    rows[inverse == 0] = (0.5, 0.0, 0.0)
    d = Device(rows, Units.from_groups(inverse))
    if adjacency == "add_remove":
        return d, d.added()
    negated = rows.copy()
    negated[inverse == 0] *= -1.0
    return d, dataclasses.replace(d, contributions=negated)


def knn_devices(adjacency: str) -> tuple[Device, Device]:
    """Keys in 2-d, 4 queries at the origin, k 3; D's nearest units: unit 0 (label 1, distance 1), two of label 0.

    D votes 2:1 for label 0; D' adds a copy of unit 0 (it pushes the third nearest out), or turns
    the second nearest unit's label to 1: 1:2 either way, one unit's worst case.
    """
    nearest = [(1.0, 0.0), (0.0, -2.0), (-3.0, 0.0), (6.0, 6.0), (-7.0, 5.0), (5.0, -8.0)]  # each unit's nearest row
    unit_labels = [1, 0, 0, 1, 1, 0]
    sizes = [UNIT_ROWS, UNIT_ROWS, 3, UNIT_ROWS, 1, 2]
    inverse = np.repeat(np.arange(len(sizes)), sizes)
    jitter = np.random.default_rng(11).uniform(0.1, 0.5, size=(len(inverse), 2))  # augmentations: farther than the nearest
    keys = np.array(nearest)[inverse] + np.sign(np.array(nearest)[inverse] + 1e-9) * jitter
    first = np.r_[True, np.diff(inverse) != 0]
    keys[first] = np.array(nearest)
    d = Device(keys, Units.from_groups(inverse), np.array(unit_labels, dtype=np.int64)[inverse],
               {"queries": np.zeros((KNN_QUERIES, 2))})
    if adjacency == "add_remove":
        return d, d.added()
    assert d.labels is not None
    flipped = d.labels.copy()
    flipped[inverse == 1] = 1
    return d, dataclasses.replace(d, labels=flipped)


def runtime_mechanisms(controls: bool = True) -> list[tuple[AuditMechanism, str | None]]:
    """Every mechanism and adjacency, then its positive controls (the label each gets), in a fixed order."""
    todo: list[tuple[AuditMechanism, str | None]] = []

    def real(release: Release, devices: tuple[Device, Device], what: str, draw: Draw = draw_each) -> None:
        todo.append((runtime_mechanism(_name(release), release, release, *devices, what, draw), None))

    hist = {a: GaussianHistogram(noise_multiplier=NOISE_MULTIPLIER[a], adjacency=a, bins=4, bound=1.0) for a in NOISE_MULTIPLIER}
    for a, release in hist.items():
        real(release, histogram_devices(a), "the runtime's noisy histogram, D' "
             + ("adds an 8-row unit in one bin" if a == "add_remove" else "moves an 8-row unit to another bin"))
    if controls:
        release, (d, d_prime) = hist["add_remove"], histogram_devices("add_remove")
        rows = d.units.largest
        per_row = dataclasses.replace(release, bound=float(rows), noise_multiplier=release.noise_multiplier / rows)
        todo.append((runtime_mechanism(_name(release, "per-row clip"), per_row, release, d, d_prime,
                                       f"control: the clip is {rows} (one per row of a {rows}-row unit) with noise for "
                                       f"bound 1, the accountant told bound 1"), "per-row-clip"))
        todo.append((_half_noise(release, d, d_prime), "half-noise"))

    sums = {a: GaussianSum(noise_multiplier=NOISE_MULTIPLIER[a], adjacency=a, dim=3, bound=1.0) for a in NOISE_MULTIPLIER}
    for a, release in sums.items():
        real(release, sum_devices(a), "the runtime's noisy clipped sum, D' "
             + ("adds an 8-row unit" if a == "add_remove" else "negates an 8-row unit"))
    if controls:
        release = sums["add_remove"]
        todo.append((_half_noise(release, *sum_devices("add_remove")), "half-noise"))
        todo.append((runtime_mechanism(_name(release, "replace-one, accountant add/remove"), release, release,
                                       *sum_devices("replace_one"),
                                       "control: a replace-one neighbour (distance 2) while the accountant assumes "
                                       "add/remove (sensitivity 1)", adjacency="replace_one"), "replace-one"))

    knn = {a: KnnVote(noise_multiplier=NOISE_MULTIPLIER[a], adjacency=a, k=KNN_K, num_classes=2) for a in NOISE_MULTIPLIER}
    for a, release in knn.items():
        real(release, knn_devices(a), f"the runtime's kNN labels, {KNN_QUERIES} tied queries, D' "
             + ("adds an 8-row unit" if a == "add_remove" else "flips a voter's label") + " (attack on the labels)",
             draw_knn_batch)
    if controls:
        todo.append((_half_noise(knn["add_remove"], *knn_devices("add_remove"), draw=draw_knn_batch), "half-noise"))
    return todo


def certify_runtime(trials: int = 20_000, delta: float = DEFAULT_DELTA, seed: int = 0, *, confidence: float = 0.95,
                    controls: bool = True) -> list[AuditResult]:
    """Audit each runtime mechanism through its ``apply`` against ``release.event``, plus positive controls.

    A real mechanism must not be flagged; a control (``control`` set) must be. Order: the
    histogram (add/remove, replace-one, controls per-row-clip and half-noise), the sum
    (add/remove, replace-one, controls half-noise and replace-one), KnnVote (add/remove,
    replace-one, control half-noise).
    """
    return [run_audit(mech, trials, seed, delta, confidence, plugin=mech.info["kind"], kind="runtime", control=control)
            for mech, control in runtime_mechanisms(controls)]
