from __future__ import annotations

import pytest

from mscc_desktop.core.findings import Box, SliceResult, Thresholds, classify, summarise
from mscc_desktop.core.grades import BilskyGrade, GradeGroup, parse_group

T = Thresholds(high=0.5, any_mscc=0.5)


def _slice(i: int, probs: tuple[float, float, float] | None) -> SliceResult:
    box = None if probs is None else Box(10, 10, 30, 30)
    group = None if probs is None else classify(probs, T)
    return SliceResult(i, -4.0 * i, f"1.2.{i}", box, 0.9 if box else 0.0, probs, group)


N, L, H = (0.9, 0.05, 0.05), (0.2, 0.7, 0.1), (0.05, 0.15, 0.8)


def test_classify_uses_the_two_dichotomy_thresholds() -> None:
    assert classify((0.3, 0.2, 0.5), T) is GradeGroup.HIGH
    assert classify((0.45, 0.3, 0.25), T) is GradeGroup.LOW
    assert classify((0.55, 0.25, 0.2), T) is GradeGroup.NORMAL
    assert classify((0.3, 0.2, 0.5), Thresholds(high=0.6)) is GradeGroup.LOW


def test_runs_with_a_one_slice_gap_form_one_lesion_with_peak_key_slice() -> None:
    probs = [N, L, H, N, (0.1, 0.1, 0.8 + 0.05), L, N, N, L, N]
    findings = summarise([_slice(i, p) for i, p in enumerate(probs)])
    assert len(findings.lesions) == 2
    first, second = findings.lesions
    assert (first.first_slice, first.last_slice, first.group) == (1, 5, GradeGroup.HIGH)
    assert first.key_slice == 4 and first.peak_probability == pytest.approx(0.85)
    assert first.n_abnormal_slices == 4
    assert (second.first_slice, second.last_slice, second.group) == (8, 8, GradeGroup.LOW)
    assert findings.high_grade and findings.max_group is GradeGroup.HIGH
    assert findings.n_high_slices == 2 and findings.n_low_slices == 3
    assert findings.key_slices == (4, 8)
    assert first.z_from_mm == -20.0 and first.z_to_mm == -4.0


def test_two_slice_gap_splits_and_canal_not_found_is_counted() -> None:
    probs = [L, None, N, L, None]
    findings = summarise([_slice(i, p) for i, p in enumerate(probs)])
    assert [(les.first_slice, les.last_slice) for les in findings.lesions] == [(0, 0), (3, 3)]
    assert findings.n_canal_not_found == 2
    assert not findings.high_grade and findings.headline == "Low-grade epidural disease only"


def test_all_normal_study_has_no_lesions() -> None:
    findings = summarise([_slice(i, N) for i in range(5)])
    assert findings.lesions == () and findings.max_group is GradeGroup.NORMAL
    assert findings.headline == "No MSCC detected"


def test_box_iou() -> None:
    a, b = Box(0, 0, 10, 10), Box(5, 0, 15, 10)
    assert a.iou(b) == pytest.approx(50 / 150)
    assert a.iou(Box(20, 20, 30, 30)) == 0.0


@pytest.mark.parametrize(
    ("text", "group"),
    [
        ("normal", GradeGroup.NORMAL),
        ("High-grade", GradeGroup.HIGH),
        ("1b", GradeGroup.LOW),
        ("Bilsky 1c", GradeGroup.HIGH),
        ("0", GradeGroup.NORMAL),
        ("3", GradeGroup.HIGH),
    ],
)
def test_parse_group(text: str, group: GradeGroup) -> None:
    assert parse_group(text) is group


def test_parse_group_rejects_ambiguous_and_unknown() -> None:
    for text in ("1", "severe", ""):
        with pytest.raises(ValueError, match="unknown grade"):
            parse_group(text)
    assert BilskyGrade.G1C.group is GradeGroup.HIGH
