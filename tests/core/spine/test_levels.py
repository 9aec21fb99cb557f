"""The level estimate's counting rules on hand-made rib measurements, and the reader's shift."""

from __future__ import annotations

import numpy as np
import pytest

from mscc_desktop.core.spine.level_estimate import (
    LEVEL_HEIGHT_MM,
    RIB_REACH_MM,
    levels_from_features,
)
from mscc_desktop.core.spine.level_features import SliceFeatures
from mscc_desktop.core.spine.levels import LandmarkKind, LevelStatus, shift_level, unsure
from mscc_desktop.core.vertebral_levels import VERTEBRAL_LEVELS, parse_vertebral_level
from mscc_desktop.core.vertebral_levels import VERTEBRAL_LEVELS as STORED_LEVELS

STEP_MM = 2.0


def spine(
    first: str = "C6", last: str = "L3", *, ribs: tuple[str, ...] | None = None
) -> tuple[np.ndarray, SliceFeatures, dict[str, tuple[float, float]]]:
    """A spine of typical heights from ``first`` to ``last`` sampled every 2 mm.

    Each rib-bearing level gets a rib joined to its vertebra on both sides in its upper part,
    lower in the level further down the spine (about 20 % of the way down at T1, 40 % at
    T12, as the estimator expects); returns z, the measurements and each level's
    (top, bottom).
    """
    names = VERTEBRAL_LEVELS[VERTEBRAL_LEVELS.index(first) : VERTEBRAL_LEVELS.index(last) + 1]
    ribbed = set(ribs if ribs is not None else [f"T{n}" for n in range(1, 13)])
    spans: dict[str, tuple[float, float]] = {}
    top = 0.0
    for name in names:
        spans[name] = (top, top - LEVEL_HEIGHT_MM[name])
        top -= LEVEL_HEIGHT_MM[name]
    z = np.arange(0.0, top, -STEP_MM)
    reach = np.full(z.shape, 25.0)  # transverse processes only
    for name in ribbed & set(names):
        hi, lo = spans[name]
        height = hi - lo
        rank = VERTEBRAL_LEVELS.index(name) - VERTEBRAL_LEVELS.index("T1")
        depth = 0.2 + 0.2 * min(max(rank, 0), 11) / 11
        reach[(z <= hi - (depth - 0.08) * height) & (z >= hi - (depth + 0.08) * height)] = 80.0
    return z, SliceFeatures(reach.copy(), reach.copy()), spans


def level_of(z: np.ndarray, spans: dict[str, tuple[float, float]]) -> list[str | None]:
    return [next((n for n, (t, b) in spans.items() if b < v <= t), None) for v in z]


def agreement(estimated: tuple[str | None, ...], truth: list[str | None]) -> float:
    pairs = [(e, t) for e, t in zip(estimated, truth, strict=True) if t is not None]
    return sum(e == t for e, t in pairs) / len(pairs)


def test_level_names_are_those_the_store_accepts() -> None:
    assert VERTEBRAL_LEVELS == STORED_LEVELS


def test_twelve_rib_pairs_between_both_landmarks_number_every_slice() -> None:
    z, features, spans = spine()
    estimate = levels_from_features(z, features)
    assert estimate.status is LevelStatus.PROPOSED
    assert [m.kind for m in estimate.landmarks] == [LandmarkKind.FIRST_RIB, LandmarkKind.LAST_RIB]
    assert len(estimate.rib_pairs_z_mm) == 12
    assert agreement(estimate.levels, level_of(z, spans)) >= 0.95
    assert "first rib (T1)" in estimate.reason and "last rib (T12)" in estimate.reason
    assert estimate.confidence > 0.9


@pytest.mark.parametrize(
    ("ribs", "count"),
    [
        (tuple(f"T{n}" for n in range(1, 12)), 11),  # 11 pairs: no rib on T12
        (("C7", *(f"T{n}" for n in range(1, 13))), 13),  # a cervical rib
        ((*(f"T{n}" for n in range(1, 13)), "L1"), 13),  # a lumbar rib
    ],
)
def test_a_rib_count_other_than_twelve_proposes_nothing(ribs: tuple[str, ...], count: int) -> None:
    z, features, _ = spine(ribs=ribs)
    estimate = levels_from_features(z, features)
    assert estimate.status is LevelStatus.UNSURE
    assert f"{count} rib pairs" in estimate.reason
    assert set(estimate.levels) == {None}


def test_without_first_or_last_rib_in_view_nothing_is_proposed() -> None:
    z, features, _ = spine("T3", "T9")
    estimate = levels_from_features(z, features)
    assert estimate.status is LevelStatus.UNSURE
    assert "Neither the first rib (T1) nor the last rib (T12)" in estimate.reason
    assert estimate.shifted(1) is estimate  # nothing to shift


def test_the_first_rib_alone_numbers_a_chest_scan() -> None:
    z, features, spans = spine("C6", "T8")
    estimate = levels_from_features(z, features)
    assert estimate.status is LevelStatus.PROPOSED
    assert [m.kind for m in estimate.landmarks] == [LandmarkKind.FIRST_RIB]
    truth = level_of(z, spans)
    assert agreement(estimate.levels, truth) >= 0.95


def test_the_last_rib_alone_numbers_an_abdominal_scan() -> None:
    z, features, spans = spine("T7", "L4")
    estimate = levels_from_features(z, features)
    assert estimate.status is LevelStatus.PROPOSED
    assert [m.kind for m in estimate.landmarks] == [LandmarkKind.LAST_RIB]
    assert agreement(estimate.levels, level_of(z, spans)) >= 0.95


def test_a_scan_ending_just_below_the_lowest_rib_seen_is_no_last_rib_landmark() -> None:
    # Ribs 11 and 12 not joined in these slices and the scan stops under rib 10: "no rib
    # below" is not L1, so a count up from it would be two levels off.
    z, features, _ = spine("T4", "T10")
    estimate = levels_from_features(z, features)
    assert estimate.status is LevelStatus.UNSURE


def test_a_rib_off_the_ladder_near_an_end_spoils_that_landmark() -> None:
    # The first rib is seen but the second is missed: the ladder starts at rib 3, and rib 1
    # above it warns that the count from there would be off.
    z, features, _ = spine("C6", "T8")
    missing = (features.reach_left_mm >= RIB_REACH_MM) & (z < -60.0) & (z > -85.0)
    features.reach_left_mm[missing] = 25.0
    features.reach_right_mm[missing] = 25.0
    estimate = levels_from_features(z, features)
    assert estimate.status is LevelStatus.UNSURE
    assert "off their rhythm" in estimate.reason


def test_shift_moves_every_level_and_drops_those_off_the_spine() -> None:
    z, features, _ = spine()
    estimate = levels_from_features(z, features)
    down = estimate.shifted(1)
    assert down.shift == 1
    for before, after in zip(estimate.levels, down.levels, strict=True):
        assert after == shift_level(before, 1)
    assert down.boundaries_mm[0] == ("C7", "T1", estimate.boundaries_mm[0][2])
    assert down.landmarks[0].level == "T2"
    assert down.shifted(-1).levels == estimate.levels
    assert shift_level("S1", 1) is None and shift_level("C1", -1) is None
    assert shift_level("T12", 1) == "L1" and shift_level(None, 1) is None


def test_level_range_and_spans_read_as_a_reader_writes_them() -> None:
    z, features, _ = spine()
    estimate = levels_from_features(z, features)
    spans = estimate.spans()
    assert [s.name for s in spans][:3] == ["C6", "C7", "T1"]
    t7 = next(s for s in spans if s.name == "T7")
    t8 = next(s for s in spans if s.name == "T8")
    assert estimate.level_range(t7.first_slice, t7.last_slice) == "T7"
    text = estimate.level_range(t8.last_slice, t7.first_slice)
    assert text == "T7-T8" and parse_vertebral_level(text) == "T7-T8"
    assert t7.z_top_mm > t7.z_bottom_mm >= t8.z_top_mm - 1e-9
    assert unsure(3, "no canal").level_range(0, 2) == ""
