"""The operating point beside a shown probability: the number compared and its cut-off."""

from __future__ import annotations

import pytest

from mscc_desktop.core.findings import Box, SliceResult, Thresholds, classify, summarise
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.operating_point import (
    CUT_OFF_LEGEND,
    cut_off_legend,
    graded_text,
    lesion_operating_point,
    slice_operating_point,
)

# The recipe's kind of thresholds: chosen for sensitivity, so far below 0.5.
LOW_CUTS = Thresholds(high=0.08, any_mscc=0.4, canal_score=0.5)


def _slice(i: int, probs: tuple[float, float, float] | None, th: Thresholds) -> SliceResult:
    box = None if probs is None else Box(10, 10, 30, 30)
    group = None if probs is None else classify(probs, th)
    return SliceResult(i, -4.0 * i, f"1.2.{i}", box, 0.9 if box else 0.0, probs, group)


def test_a_high_grade_call_below_one_half_reads_against_its_cut_off() -> None:
    result = _slice(0, (0.6, 0.13, 0.27), LOW_CUTS)
    point = slice_operating_point(result, LOW_CUTS)
    assert point is not None and point.group is GradeGroup.HIGH and point.called
    assert point.short_text == "0.27 (cut-off 0.08)"
    assert point.compact_text == "P(high) 0.27 (cut-off 0.08)"
    assert graded_text(result, LOW_CUTS) == "High grade · P(high) 0.27 (called high from 0.08)"
    assert graded_text(result, LOW_CUTS, compact=True) == (
        "High grade · P(high) 0.27 (cut-off 0.08)"
    )
    raw = point.explanation(calibrated=False)
    assert "not calibrated" in raw and "from P(high) 0.08" in raw
    assert "although the model thinks it more likely not" in raw
    calibrated = point.explanation(calibrated=True)
    assert "calibrated probability" in calibrated and "about 27 % of slices" in calibrated


def test_a_low_grade_call_shows_the_sum_its_cut_off_applies_to() -> None:
    # P(low) alone (0.25) is below the 0.40 cut-off; the call rests on P(low) + P(high).
    result = _slice(0, (0.55, 0.25, 0.2), Thresholds(high=0.3, any_mscc=0.4))
    th = Thresholds(high=0.3, any_mscc=0.4)
    point = slice_operating_point(result, th)
    assert point is not None and point.group is GradeGroup.LOW and point.call is GradeGroup.LOW
    assert point.value == pytest.approx(0.45) and point.cut_off == 0.4
    assert point.text == "P(low or high) 0.45 (called low from 0.40)"


def test_a_normal_slice_shows_how_far_it_is_from_a_high_call() -> None:
    result = _slice(0, (0.95, 0.02, 0.03), LOW_CUTS)
    assert graded_text(result, LOW_CUTS) == "Normal · P(high) 0.03 (called high from 0.08)"
    point = slice_operating_point(result, LOW_CUTS)
    assert point is not None and not point.called
    assert "more likely not" not in point.explanation(calibrated=True)


def test_a_slice_without_a_grade_has_no_operating_point() -> None:
    result = _slice(0, None, LOW_CUTS)
    assert slice_operating_point(result, LOW_CUTS) is None
    assert graded_text(result, LOW_CUTS) == "not graded"


def test_a_finding_uses_its_key_slice() -> None:
    th = Thresholds(high=0.3, any_mscc=0.4)
    normal = (0.9, 0.05, 0.05)
    probs = [normal, (0.5, 0.1, 0.4), (0.3, 0.1, 0.6), normal, normal]
    probs += [(0.5, 0.3, 0.2), (0.3, 0.5, 0.2), normal]
    findings = summarise([_slice(i, p, th) for i, p in enumerate(probs)])
    high, low = findings.lesions
    point = lesion_operating_point(high, findings, th)
    assert point is not None and point.value == pytest.approx(0.6)  # slice 2, the peak
    assert point.short_text == "0.60 (cut-off 0.30)"
    low_point = lesion_operating_point(low, findings, th)
    assert low.key_slice == 6 and low_point is not None
    assert low_point.value == pytest.approx(0.7) and low_point.cut_off == 0.4


def test_the_legend_explains_low_cut_offs_only_when_there_are_some() -> None:
    assert cut_off_legend(Thresholds()) == CUT_OFF_LEGEND
    assert "below 0.5" in cut_off_legend(LOW_CUTS)
    assert cut_off_legend(None) == CUT_OFF_LEGEND
