"""Per-study analysis (Table 11) and the paired study bootstrap for reader comparisons."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mscc_desktop.core.errors import Cancelled, EvaluationInputError
from mscc_desktop.core.tasks import CancelToken
from mscc_desktop.evaluation import (
    AucSource,
    Level,
    Scheme,
    align,
    compare_agreement,
    evaluate_predictions,
)
from mscc_desktop.evaluation.per_study import study_calls
from tests.evaluation.helpers import readings


def test_study_score_is_the_largest_p_high() -> None:
    rows = [("S1", "a", "normal"), ("S1", "b", "high"), ("S2", "c", "low"), ("S2", "d", "normal")]
    reader_rows = [
        ("S1", "a", "normal"),
        ("S1", "b", "low"),
        ("S2", "c", "low"),
        ("S2", "d", "high"),
    ]
    probs = [(0.9, 0.05, 0.05), (0.2, 0.5, 0.3), (0.3, 0.6, 0.1), (0.2, 0.2, 0.6)]
    aligned = align(readings("ref", rows), [readings("R", reader_rows, probabilities=probs)])
    calls = study_calls(aligned, aligned.readers[0])
    assert calls.truth.tolist() == [True, False]  # S1 has a high-grade image, S2 not
    assert calls.decision.tolist() == [False, True]  # the reader called d (S2) high, not b
    assert calls.scores is not None
    np.testing.assert_allclose(calls.scores, [0.3, 0.6])


def test_per_study_auc_ranks_study_scores() -> None:
    """Three studies: the reader's max P(high) ranks both positive studies above the negative
    one although its labels miss one of them: AUC 1 from probabilities, sensitivity 1/2."""
    rows = [("S1", "a", "high"), ("S2", "b", "high"), ("S3", "c", "normal")]
    reader_rows = [("S1", "a", "high"), ("S2", "b", "low"), ("S3", "c", "normal")]
    probs = [(0.1, 0.1, 0.8), (0.2, 0.4, 0.4), (0.8, 0.1, 0.1)]
    report = evaluate_predictions(
        readings("ref", rows), [readings("R", reader_rows, probabilities=probs)]
    )
    study = report.reader("R").per_study.accuracy
    assert study.auc.source is AucSource.PROBABILITIES
    assert study.auc.value == 1.0
    assert study.sensitivity.value == 0.5


def test_all_normal_studies_do_not_crash() -> None:
    rows = [("S1", "a", "normal"), ("S2", "b", "normal"), ("S3", "c", "low")]
    report = evaluate_predictions(readings("ref", rows), [readings("R", rows), readings("Q", rows)])
    study = report.reader("R").per_study
    assert report.n_studies_high_grade == 0
    assert not study.accuracy.sensitivity.defined
    assert study.accuracy.specificity.value == 1.0
    assert study.agreement.ac1.value == 1.0
    assert math.isnan(study.agreement.kappa.value)  # both readers say "no" for every study


def test_a_single_study_is_evaluated_but_not_bootstrapped() -> None:
    rows = [("S1", str(i), g) for i, g in enumerate(["normal"] * 6 + ["low", "high"])]
    other = [(s, i, "normal") for s, i, _ in rows]
    report = evaluate_predictions(
        readings("ref", rows), [readings("A", rows), readings("B", other)]
    )
    assert report.n_studies == 1
    assert report.reader("A").agreement[Scheme.THREE_CLASS].ac1.value == 1.0
    comparison = report.comparisons[0]
    assert math.isnan(comparison.p_value) and math.isnan(comparison.ci_low)
    assert "one study only" in comparison.note


def _clustered(n_studies: int, seed: int) -> tuple[list[tuple[str, str, str]], ...]:
    """Reference and two readers; reader B errs on every image of a few studies."""
    rng = np.random.default_rng(seed)
    groups = ["normal", "low", "high"]
    ref, a, b = [], [], []
    for s in range(n_studies):
        bad_study = rng.random() < 0.3
        for i in range(12):
            g = int(rng.choice(3, p=[0.7, 0.15, 0.15]))
            ref.append((f"S{s}", f"{s}.{i}", groups[g]))
            a.append(
                (f"S{s}", f"{s}.{i}", groups[g] if rng.random() < 0.95 else groups[(g + 1) % 3])
            )
            b.append((f"S{s}", f"{s}.{i}", groups[(g + 1) % 3] if bad_study else groups[g]))
    return ref, a, b


def test_bootstrap_is_seeded_and_paired() -> None:
    ref, a, b = _clustered(30, seed=1)
    aligned = align(readings("ref", ref), [readings("A", a), readings("B", b)])
    first = compare_agreement(aligned, "A", "B", n_resamples=500, seed=7)
    again = compare_agreement(aligned, "A", "B", n_resamples=500, seed=7)
    other = compare_agreement(aligned, "A", "B", n_resamples=500, seed=8)
    assert (first.ci_low, first.ci_high, first.p_value) == (
        again.ci_low,
        again.ci_high,
        again.p_value,
    )
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)
    assert first.ci_low < first.difference < first.ci_high
    assert first.difference > 0 and first.p_value < 0.05  # A is clearly better
    same = compare_agreement(aligned, "A", "A", n_resamples=200, seed=7)
    assert (same.difference, same.ci_low, same.ci_high, same.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_bootstrap_resamples_studies_not_images() -> None:
    """With two studies a study bootstrap has only three distinct samples ({1,1}, {1,2},
    {2,2}), so the percentile interval's ends are the AC1 differences of the single-study
    samples; an image bootstrap would spread between them."""
    ref = [("S1", str(i), "normal" if i % 3 else "high") for i in range(9)]
    ref += [("S2", str(i), "normal" if i % 2 else "low") for i in range(8)]
    a = list(ref)
    b = [(s, i, "normal") if s == "S2" else (s, i, g) for s, i, g in ref]  # B misses S2's lows
    aligned = align(readings("ref", ref), [readings("A", a), readings("B", b)])
    only_s2 = align(
        readings("ref", [r for r in ref if r[0] == "S2"]),
        [
            readings("A", [r for r in a if r[0] == "S2"]),
            readings("B", [r for r in b if r[0] == "S2"]),
        ],
    )
    s2_difference = compare_agreement(only_s2, "A", "B").difference
    result = compare_agreement(aligned, "A", "B", n_resamples=2000, seed=0)
    assert result.ci_low == 0.0  # the {S1, S1} samples: both readers perfect
    assert result.ci_high == pytest.approx(s2_difference, abs=1e-12)  # the {S2, S2} samples
    assert "only 2 studies" in result.note


def test_study_level_comparison_and_cohen() -> None:
    ref, a, b = _clustered(20, seed=2)
    aligned = align(readings("ref", ref), [readings("A", a), readings("B", b)])
    study = compare_agreement(aligned, "A", "B", scheme=Scheme.HIGH_GRADE, level=Level.STUDY)
    assert study.level is Level.STUDY and study.n_studies == 20
    with pytest.raises(ValueError, match="high grade only"):
        compare_agreement(aligned, "A", "B", scheme=Scheme.ANY_MSCC, level=Level.STUDY)


def test_cancel_stops_the_bootstrap() -> None:
    ref, a, b = _clustered(10, seed=3)
    aligned = align(readings("ref", ref), [readings("A", a), readings("B", b)])
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        compare_agreement(aligned, "A", "B", cancel=token)


def test_evaluate_reports_progress_and_checks_compare_to() -> None:
    ref, a, b = _clustered(6, seed=4)
    seen: list[float] = []
    report = evaluate_predictions(
        readings("ref", ref),
        [readings("A", a), readings("B", b)],
        compare_to="B",
        n_resamples=50,
        progress=lambda fraction, _text: seen.append(fraction),
    )
    assert seen[0] == 0.0 and seen[-1] == pytest.approx(1.0)
    assert all(c.reader_a == "B" and c.reader_b == "A" for c in report.comparisons)
    with pytest.raises(EvaluationInputError, match="'C' is not one of the readers"):
        evaluate_predictions(readings("ref", ref), [readings("A", a)], compare_to="C")
