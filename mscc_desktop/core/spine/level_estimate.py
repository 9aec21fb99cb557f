"""Estimate every slice's vertebral level by counting rib pairs from the first or last rib.

How it works (numbers are module constants):

1. **Rib pairs.** On each slice the bone joined to the vertebra is measured
   (:mod:`.level_features`); a slice side whose bone reaches :data:`RIB_REACH_MM` or more
   from the canal carries a rib. Consecutive rib slices of one side form one rib; the ribs
   of the two sides whose centres lie within :data:`PAIR_MM` of each other form one rib pair
   (a rotated patient shows a pair a few millimetres apart). The first rib is short and
   curves forward at once, so one rib pair above the highest one is also accepted at
   :data:`FIRST_RIB_REACH_MM`.
2. **The rib ladder.** The longest run of pairs whose spacings stay within
   :data:`SPACING_RANGE` of the median spacing; bone off that rhythm (a long lumbar
   transverse process, a scapula against the spine) is left out and said so.
3. **Landmarks.** The ladder's top pair is the **first rib (T1)** when at least
   :data:`FREE_ABOVE` of a rib spacing of canal above it has no bone reaching
   :data:`FREE_REACH_MM` (C7 is in view); its bottom pair is the **last rib (T12)** when at
   least :data:`FREE_BELOW` of a spacing below it has none (L1 is in view). A rib-like bone
   off the ladder within :data:`STRAY_WINDOW` spacings beyond that end (a rib whose
   neighbour was missed, so the ladder broke) makes that end no landmark, and so does a
   scan that ends less than :data:`EXTENT_ABOVE` (above) or :data:`EXTENT_BELOW` (below)
   spacings beyond it: a chest CT often stops just under the last rib it shows clearly,
   with the floating ribs 11 and 12 not joined to the spine in its slices.
4. **Counting.** With both landmarks there must be exactly 12 pairs (11 or 13 mean
   transitional anatomy, a cervical or lumbar rib, or a missed rib: nothing is proposed).
   With one, pairs are numbered from it. With neither, nothing is proposed.
5. **Levels.** Where the rib leaves its vertebra it lies in the upper part of it, and lower
   down the spine lower in it (the lower ribs join their own body and descend more steeply):
   the boundary above vertebra ``Tn`` is a fraction of that level's height above rib pair
   ``n``, from the first value of :data:`BOUNDARY_ABOVE_RIB` at T1 to the second at T12
   (measured on phantoms against their true mid-disc positions). Beyond the counted ribs,
   boundaries continue with typical adult level heights (body plus disc, rounded means from
   CT morphometry, Panjabi et al. 1991/1992) scaled to this patient's rib spacing, for at
   most :data:`EXTRAPOLATE_ABOVE` levels above the first counted vertebra and
   :data:`EXTRAPOLATE_BELOW` below the last; slices further out get ``None``.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.spine.centreline import Centreline
from mscc_desktop.core.spine.level_features import SliceFeatures, slice_features
from mscc_desktop.core.spine.levels import (
    Landmark,
    LandmarkKind,
    LevelEstimate,
    LevelStatus,
    unsure,
)
from mscc_desktop.core.tasks import CancelToken, ProgressFn, report, sub_progress
from mscc_desktop.core.vertebral_levels import LEVEL_RANK, VERTEBRAL_LEVELS
from mscc_desktop.core.volume import Volume

logger = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]

RIB_REACH_MM = 55.0
FIRST_RIB_REACH_MM = 42.0
FREE_REACH_MM = 45.0
PAIR_MM = 12.0
STRAY_WINDOW = 2.0
FREE_ABOVE = 0.6
FREE_BELOW = 1.5
EXTENT_ABOVE = 0.8
EXTENT_BELOW = 2.0
SPACING_RANGE = (0.6, 1.5)
BOUNDARY_ABOVE_RIB = (0.2, 0.4)
EXTRAPOLATE_ABOVE = 2
EXTRAPOLATE_BELOW = 5

LEVEL_HEIGHT_MM: dict[str, float] = {
    "C3": 18.0, "C4": 18.0, "C5": 18.0, "C6": 18.5, "C7": 19.5,
    "T1": 20.5, "T2": 21.0, "T3": 21.5, "T4": 22.0, "T5": 23.0, "T6": 23.5,
    "T7": 24.5, "T8": 25.0, "T9": 26.0, "T10": 27.5, "T11": 29.5, "T12": 31.5,
    "L1": 33.5, "L2": 35.0, "L3": 35.5, "L4": 35.0, "L5": 33.0,
}  # fmt: skip
"""Typical adult body height plus the disc below it (mm), head first."""


@dataclass(frozen=True, slots=True)
class RibPair:
    """A rib pair: its z (mean of the sides' rib centres), the slice nearest it, its sides."""

    z_mm: float
    slice_index: int
    sides: int  # 1 or 2
    first_slice: int  # the slices its ribs were seen on
    last_slice: int


def estimate_levels(
    volume: Volume,
    centreline: Centreline,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> LevelEstimate:
    """Propose a vertebral level for every slice of ``volume``, or say why not.

    Parameters
    ----------
    volume
        The loaded series (``hu`` is ``(slice, row, col)``, slices head first).
    centreline
        The canal centre of every slice (:func:`~mscc_desktop.core.spine.centreline.
        centreline_from_results` from the detector's boxes).

    Returns
    -------
    LevelEstimate
        PROPOSED with a level per slice (``None`` beyond the counted and extrapolated
        levels), or UNSURE with every slice ``None`` and the reason.
    """
    features = slice_features(
        volume, centreline, progress=sub_progress(progress, 0.0, 0.95), cancel=cancel
    )
    estimate = levels_from_features(np.asarray(volume.z_mm), features, centreline.measured)
    report(progress, 1.0, "levels estimated")
    logger.info("levels: %s (%s)", estimate.status, estimate.reason)
    return estimate


def levels_from_features(
    z_mm: F64, features: SliceFeatures, measured: npt.NDArray[np.bool_] | None = None
) -> LevelEstimate:
    """The counting and numbering of :func:`estimate_levels`, on measured features.

    ``measured[k]`` says whether slice ``k``'s canal was found; stretches without it do not
    count as rib-free (nothing was looked at there).
    """
    z = np.asarray(z_mm, dtype=np.float64)
    n = z.shape[0]
    seen = np.ones(n, dtype=bool) if measured is None else np.asarray(measured, dtype=bool)
    found = find_rib_pairs(z, features)
    if not found:
        return unsure(n, "No ribs joined to the spine were found, so there is no landmark "
                      "to count vertebrae from.", z)  # fmt: skip
    pairs = _ladder(found)
    spacing = _median_spacing(pairs)
    ribby = (np.maximum(features.reach_right_mm, features.reach_left_mm) >= FREE_REACH_MM) | ~seen
    free_above = _free_stretch(z, ribby, pairs[0], upward=True)
    free_below = _free_stretch(z, ribby, pairs[-1], upward=False)
    stray_above = [p for p in found if 0 < p.z_mm - pairs[0].z_mm <= STRAY_WINDOW * spacing]
    stray_below = [p for p in found if 0 < pairs[-1].z_mm - p.z_mm <= STRAY_WINDOW * spacing]
    seen_z = z[seen]
    extent_above = float(seen_z.max()) - pairs[0].z_mm
    extent_below = pairs[-1].z_mm - float(seen_z.min())
    has_first = (
        free_above >= FREE_ABOVE * spacing
        and extent_above >= EXTENT_ABOVE * spacing
        and not stray_above
    )
    has_last = (
        free_below >= FREE_BELOW * spacing
        and extent_below >= EXTENT_BELOW * spacing
        and not stray_below
    )
    count = len(pairs)
    where = ", ".join(f"{p.z_mm:.0f}" for p in pairs)
    if not has_first and not has_last:
        strays = ", ".join(f"{p.z_mm:.0f}" for p in stray_above + stray_below)
        doubt = (
            f"; bone reaching out like a rib at z = {strays} mm lies off their rhythm, so a "
            "rib may have been missed"
            if strays
            else ""
        )
        return unsure(
            n,
            f"Neither the first rib (T1) nor the last rib (T12) can be told ({count} regularly "
            f"spaced rib pairs at z = {where} mm{doubt}), so the vertebrae cannot be counted.",
            z,
        )
    if has_first and has_last and count != 12:
        return unsure(
            n,
            f"Found {count} rib pairs from the first to the last rib (z = {where} mm), not "
            "12: transitional anatomy (a cervical or lumbar rib, 11 or 13 pairs) or a rib "
            "missed. Count by hand.",
            z,
        )
    if count > 12:
        return unsure(n, f"Found {count} rib pairs (z = {where} mm), more than 12: "
                      "count by hand.", z)  # fmt: skip
    first_rank = LEVEL_RANK["T1"] if has_first else LEVEL_RANK["T12"] - count + 1
    names = [VERTEBRAL_LEVELS[first_rank + i] for i in range(count)]
    scale = _scale(pairs, names)
    spans = _level_spans(pairs, names, scale)
    levels = _assign(z, spans)
    boundaries = [(a, b, bottom) for (a, _, bottom), (b, _, _) in itertools.pairwise(spans)]
    landmarks = []
    if has_first:
        landmarks.append(
            Landmark(LandmarkKind.FIRST_RIB, "T1", pairs[0].z_mm, pairs[0].slice_index)
        )
    if has_last:
        landmarks.append(
            Landmark(LandmarkKind.LAST_RIB, "T12", pairs[-1].z_mm, pairs[-1].slice_index)
        )
    marks = " and ".join(
        f"the {'first' if m.kind is LandmarkKind.FIRST_RIB else 'last'} rib ({m.level}) at "
        f"z = {m.z_mm:.0f} mm"
        for m in landmarks
    )
    two_sided = sum(1 for p in pairs if p.sides == 2) / count
    confidence = (0.95 if has_first and has_last else 0.75) * (0.6 + 0.4 * two_sided)
    left_out = len(found) - count
    note = f" ({left_out} bone(s) off the regular rib ladder ignored)" if left_out else ""
    return LevelEstimate(
        levels=tuple(levels),
        status=LevelStatus.PROPOSED,
        reason=f"Counted {count} rib pairs from {marks}{note}.",
        confidence=round(confidence, 2),
        landmarks=tuple(landmarks),
        rib_pairs_z_mm=tuple(p.z_mm for p in pairs),
        boundaries_mm=tuple(boundaries),
        slice_z_mm=tuple(float(v) for v in z),
    )


def find_rib_pairs(z_mm: F64, features: SliceFeatures) -> list[RibPair]:
    """Rib pairs head first (see the module's step 1)."""
    z = np.asarray(z_mm, dtype=np.float64)
    runs: list[_Run] = []
    for side, reach in enumerate((features.reach_right_mm, features.reach_left_mm)):
        runs.extend(_runs(z, reach >= RIB_REACH_MM, side))
    pairs = _cluster(z, runs)
    if pairs:
        # The first rib: weaker reach, one spacing or less above the highest pair.
        spacing = _median_spacing(pairs)
        weak: list[_Run] = []
        for side, reach in enumerate((features.reach_right_mm, features.reach_left_mm)):
            weak.extend(_runs(z, reach >= FIRST_RIB_REACH_MM, side))
        above = [r for r in weak if 0.5 * spacing <= r.z_mm - pairs[0].z_mm <= 1.3 * spacing]
        if above:
            pairs = _cluster(z, above) + pairs
    return pairs


@dataclass(frozen=True, slots=True)
class _Run:
    z_mm: float
    first: int  # slice indices of the run
    last: int
    side: int


def _runs(z: F64, flags: npt.NDArray[np.bool_], side: int) -> list[_Run]:
    """Each run of consecutive flagged slices: its mean z and first/last slice."""
    out: list[_Run] = []
    k, n = 0, flags.shape[0]
    while k < n:
        if not flags[k]:
            k += 1
            continue
        end = k
        while end + 1 < n and flags[end + 1]:
            end += 1
        out.append(_Run(float(np.mean(z[k : end + 1])), k, end, side))
        k = end + 1
    return out


def _cluster(z: F64, runs: list[_Run]) -> list[RibPair]:
    ordered = sorted(runs, key=lambda run: -run.z_mm)
    groups: list[list[_Run]] = []
    for run in ordered:
        if groups and groups[-1][0].z_mm - run.z_mm < PAIR_MM:
            groups[-1].append(run)
        else:
            groups.append([run])
    pairs = []
    for group in groups:
        zc = float(np.mean([run.z_mm for run in group]))
        pairs.append(
            RibPair(
                zc,
                int(np.argmin(np.abs(z - zc))),
                len({run.side for run in group}),
                min(run.first for run in group),
                max(run.last for run in group),
            )
        )
    return pairs


def _ladder(pairs: list[RibPair]) -> list[RibPair]:
    """The longest stretch of regularly spaced pairs (see :data:`SPACING_RANGE`).

    Bone that reaches far from the spine without being a rib (a lumbar transverse process
    in a large patient, a scapula pressed against the spine) sits off the rib rhythm.
    """
    if len(pairs) < 3:
        return pairs
    spacing = _median_spacing(pairs)
    lo, hi = SPACING_RANGE
    best: list[RibPair] = []
    current = [pairs[0]]
    for a, b in itertools.pairwise(pairs):
        if lo * spacing <= a.z_mm - b.z_mm <= hi * spacing:
            current.append(b)
        else:
            current = [b]
        if len(current) > len(best):
            best = list(current)
    return best


def _free_stretch(z: F64, ribby: npt.NDArray[np.bool_], pair: RibPair, *, upward: bool) -> float:
    """How far (mm) the spine runs beyond ``pair`` with no bone that could be a rib.

    The pair's own fringe (neighbouring slices where its rib still shows, less far out) is
    skipped first; the stretch then runs to the next rib-like slice or the end of the scan.
    """
    n = z.shape[0]
    step = -1 if upward else 1
    k = (pair.first_slice if upward else pair.last_slice) + step
    while 0 <= k < n and ribby[k]:
        k += step
    start = k
    while 0 <= k < n and not ribby[k]:
        k += step
    if k == start:
        return 0.0
    return float(abs(z[k - step] - z[start - step]))


def _median_spacing(pairs: list[RibPair]) -> float:
    if len(pairs) < 2:
        return LEVEL_HEIGHT_MM["T6"]
    return float(np.median(-np.diff([p.z_mm for p in pairs])))


def _above_rib(name: str) -> float:
    """How far above its rib pair a thoracic level begins, in that level's heights."""
    first, last = BOUNDARY_ABOVE_RIB
    return first + (last - first) * (LEVEL_RANK[name] - LEVEL_RANK["T1"]) / 11.0


def _scale(pairs: list[RibPair], names: list[str]) -> float:
    """This patient's level heights relative to :data:`LEVEL_HEIGHT_MM`.

    From the first to the last counted level's top: the rib pairs' span plus the difference
    of their offsets, which itself scales with the patient (solved in closed form).
    """
    if len(pairs) < 2:
        return 1.0
    measured = pairs[0].z_mm - pairs[-1].z_mm
    typical = sum(LEVEL_HEIGHT_MM[name] for name in names[:-1])
    offsets = (
        _above_rib(names[0]) * LEVEL_HEIGHT_MM[names[0]]
        - _above_rib(names[-1]) * LEVEL_HEIGHT_MM[names[-1]]
    )
    return measured / (typical - offsets)


def _level_spans(
    pairs: list[RibPair], names: list[str], scale: float
) -> list[tuple[str, float, float]]:
    """``(level, z_top, z_bottom)`` of every counted and extrapolated level, head first."""
    tops = {
        name: pair.z_mm + _above_rib(name) * scale * LEVEL_HEIGHT_MM[name]
        for pair, name in zip(pairs, names, strict=True)
    }
    spans: list[tuple[str, float, float]] = []
    first, last = LEVEL_RANK[names[0]], LEVEL_RANK[names[-1]]
    top = tops[names[0]]
    for rank in range(first - 1, max(first - 1 - EXTRAPOLATE_ABOVE, -1), -1):
        name = VERTEBRAL_LEVELS[rank]
        if name not in LEVEL_HEIGHT_MM:
            break
        spans.insert(0, (name, top + scale * LEVEL_HEIGHT_MM[name], top))
        top = spans[0][1]
    for this, below in itertools.pairwise(names):
        spans.append((this, tops[this], tops[below]))
    bottom = tops[names[-1]] - scale * LEVEL_HEIGHT_MM[names[-1]]
    spans.append((names[-1], tops[names[-1]], bottom))
    for rank in range(last + 1, min(last + 1 + EXTRAPOLATE_BELOW, len(VERTEBRAL_LEVELS))):
        name = VERTEBRAL_LEVELS[rank]
        if name not in LEVEL_HEIGHT_MM:
            break
        spans.append((name, bottom, bottom - scale * LEVEL_HEIGHT_MM[name]))
        bottom = spans[-1][2]
    return spans


def _assign(z: F64, spans: list[tuple[str, float, float]]) -> list[str | None]:
    """Level of each slice: the span with ``bottom < z <= top``; None outside them all."""
    out: list[str | None] = []
    for value in z:
        out.append(next((name for name, top, bottom in spans if bottom < value <= top), None))
    return out
