"""DeLong AUC against scikit-learn, scipy, a plain O(n^2) DeLong and published examples."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from mscc_desktop.evaluation import AucSource, delong_auc, diagnostic_accuracy, roc_curve
from mscc_desktop.evaluation.auc import midranks
from tests.evaluation.helpers import PAPER_TABLE_11, load_fixture

AUC_CASES = load_fixture("auc.json")["cases"]


def naive_delong(truth: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """DeLong et al. (1988) written out directly: psi over every positive/negative pair."""
    pos, neg = scores[truth], scores[~truth]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    auc = float(psi.mean())
    v10 = psi.mean(axis=1)  # per positive
    v01 = psi.mean(axis=0)  # per negative
    s10 = float(np.sum((v10 - auc) ** 2) / (len(pos) - 1))
    s01 = float(np.sum((v01 - auc) ** 2) / (len(neg) - 1))
    return auc, math.sqrt(s10 / len(pos) + s01 / len(neg))


@pytest.mark.parametrize("case", AUC_CASES, ids=lambda c: c["name"])
def test_auc_matches_sklearn_and_naive_delong(case: dict[str, Any]) -> None:
    truth = np.array(case["truth"], dtype=bool)
    scores = np.array(case["scores"])
    ours = delong_auc(truth, scores)
    assert ours.value == pytest.approx(case["sklearn_auc"], abs=1e-12)  # scikit-learn 1.5.2
    auc, se = naive_delong(truth, scores)
    assert ours.value == pytest.approx(auc, abs=1e-12)
    assert ours.se == pytest.approx(se, abs=1e-12)
    assert ours.ci_low == pytest.approx(max(0.0, auc - 1.959963984540054 * se), abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_random_data_with_ties_match_mann_whitney_and_naive(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 300))
    truth = rng.random(n) < rng.uniform(0.1, 0.6)
    truth[:2] = [True, False]
    scores = np.round(rng.normal(size=n) + truth * rng.uniform(0, 2), int(rng.integers(0, 3)))
    ours = delong_auc(truth, scores)
    u = stats.mannwhitneyu(scores[truth], scores[~truth]).statistic
    assert ours.value == pytest.approx(u / (truth.sum() * (~truth).sum()), abs=1e-12)
    assert ours.se == pytest.approx(naive_delong(truth, scores)[1], abs=1e-12)


def test_hanley_mcneil_1982_worked_example() -> None:
    """Hanley & McNeil, Radiology 1982;143:29-36, Table 1: 109 CT images rated on a 5-point
    scale (58 normal: 33, 6, 6, 11, 2; 51 abnormal: 3, 2, 2, 11, 33 from "definitely normal" to
    "definitely abnormal"). Published area 0.893 with SE 0.032 by their own (exponential
    approximation) formula; DeLong's SE is a different estimator and is close to it."""
    normal, abnormal = [33, 6, 6, 11, 2], [3, 2, 2, 11, 33]
    truth = np.r_[np.zeros(58, dtype=bool), np.ones(51, dtype=bool)]
    ratings = np.r_[np.repeat(np.arange(1, 6), normal), np.repeat(np.arange(1, 6), abnormal)]
    ours = delong_auc(truth, ratings.astype(float))
    assert round(ours.value, 3) == 0.893
    assert ours.se == pytest.approx(0.032, abs=0.003)


@pytest.mark.parametrize("reader", sorted(PAPER_TABLE_11))
def test_reproduces_the_papers_label_auc_intervals(reader: str) -> None:
    """Hallinan et al. 2023, Table 11: per-study AUC of each reader's binary call with 95% CI
    (e.g. DL 0.814, 0.692-0.936): DeLong on the 0/1 decisions, normal interval."""
    tp, pos, tn, neg, *_, auc, low, high = PAPER_TABLE_11[reader]
    truth = np.r_[np.ones(pos, dtype=bool), np.zeros(neg, dtype=bool)]
    decision = np.r_[np.arange(pos) < tp, np.arange(neg) >= tn]
    ours = diagnostic_accuracy(truth, decision).auc
    assert ours.source is AucSource.LABELS
    assert ours.value == pytest.approx(auc, abs=5e-4)
    assert ours.ci_low == pytest.approx(low, abs=5e-4)
    assert ours.ci_high == pytest.approx(high, abs=5e-4)


def test_undefined_and_small_classes() -> None:
    no_positive = delong_auc(np.zeros(5, dtype=bool), np.arange(5.0))
    assert math.isnan(no_positive.value)
    assert "no positive cases" in no_positive.note
    one_positive = delong_auc(np.array([1, 0, 0, 0], dtype=bool), np.array([0.9, 0.1, 0.2, 0.3]))
    assert one_positive.value == 1.0
    assert math.isnan(one_positive.se)
    with pytest.raises(ValueError, match="finite"):
        delong_auc(np.array([True, False]), np.array([np.nan, 0.1]))


def test_perfect_separation_has_zero_width() -> None:
    ours = delong_auc(np.array([1, 1, 0, 0], dtype=bool), np.array([0.9, 0.8, 0.2, 0.1]))
    assert (ours.value, ours.se, ours.ci_low, ours.ci_high) == (1.0, 0.0, 1.0, 1.0)


def test_midranks_match_scipy_rankdata() -> None:
    values = np.array([3.0, 1.0, 3.0, 2.0, 3.0, 1.0, 7.0])
    np.testing.assert_array_equal(midranks(values), stats.rankdata(values, method="average"))


@pytest.mark.parametrize("case", AUC_CASES, ids=lambda c: c["name"])
def test_roc_curve_runs_corner_to_corner_and_its_area_is_the_auc(case: dict[str, Any]) -> None:
    truth = np.array(case["truth"], dtype=bool)
    scores = np.array(case["scores"])
    curve = roc_curve(truth, scores)
    fpr, tpr = curve.false_positive_rate, curve.true_positive_rate
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    # Ties move the curve diagonally, so the trapezoid area is the tie-corrected AUC.
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    assert area == pytest.approx(case["sklearn_auc"], abs=1e-12)


def test_label_only_roc_has_one_operating_point() -> None:
    curve = roc_curve(np.array([1, 1, 0, 0], dtype=bool), np.array([1.0, 0.0, 0.0, 0.0]))
    assert curve.false_positive_rate.tolist() == [0.0, 0.0, 1.0]
    assert curve.true_positive_rate.tolist() == [0.0, 0.5, 1.0]
