"""Vertebral levels typed by the reader are validated and normalised."""

from __future__ import annotations

import pytest

from mscc_desktop.core.vertebral_levels import VERTEBRAL_LEVELS, parse_vertebral_level


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("T7", "T7"),
        ("t7", "T7"),
        (" T 7 ", "T7"),
        ("C1", "C1"),
        ("L5", "L5"),
        ("S1", "S1"),
        ("T7-T8", "T7-T8"),
        ("T7-8", "T7-T8"),
        ("t7 – t9", "T7-T9"),  # en dash as typed on a Mac
        ("T8-T7", "T7-T8"),  # head end first
        ("T12-L1", "T12-L1"),
        ("C7-T1", "C7-T1"),
        ("L5-S1", "L5-S1"),
        ("T7-T7", "T7"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_valid_levels_are_normalised(typed: str, stored: str) -> None:
    assert parse_vertebral_level(typed) == stored


@pytest.mark.parametrize(
    "typed",
    ["T13", "T0", "C8", "L6", "S2", "7", "X1", "T7-", "-T7", "T7-T8-T9", "T7/T8", "T12-1", "T7a"],
)
def test_invalid_levels_are_refused_with_the_accepted_forms(typed: str) -> None:
    with pytest.raises(ValueError, match=r"C1-C7, T1-T12, L1-L5 or S1|ambiguous"):
        parse_vertebral_level(typed)


def test_the_spine_has_25_levels_head_first() -> None:
    assert len(VERTEBRAL_LEVELS) == 25
    assert VERTEBRAL_LEVELS[0] == "C1" and VERTEBRAL_LEVELS[-1] == "S1"
    assert all(parse_vertebral_level(level) == level for level in VERTEBRAL_LEVELS)
