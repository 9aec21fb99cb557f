"""Exact (Clopper-Pearson) intervals and sensitivity/specificity against peers and the paper."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from mscc_desktop.evaluation import AucSource, clopper_pearson, diagnostic_accuracy
from tests.evaluation.helpers import load_fixture

PROPORTIONS = load_fixture("proportions.json")["cases"]


@pytest.mark.parametrize("case", PROPORTIONS, ids=lambda c: f"{c['count']}of{c['nobs']}")
def test_matches_statsmodels_beta_interval(case: dict[str, Any]) -> None:
    """statsmodels 0.14.4 proportion_confint(method="beta"), computed in the irrCAC venv."""
    ours = clopper_pearson(case["count"], case["nobs"])
    low, high = case["statsmodels_beta"]
    assert ours.ci_low == pytest.approx(low, abs=1e-12)
    assert ours.ci_high == pytest.approx(high, abs=1e-12)


@pytest.mark.parametrize(("count", "total"), [(0, 5), (5, 5), (3, 11), (47, 50), (999, 1000)])
def test_matches_scipy_binomtest_exact_interval(count: int, total: int) -> None:
    """scipy's own Clopper-Pearson implementation (root finding on the binomial CDF)."""
    ours = clopper_pearson(count, total)
    peer = stats.binomtest(count, total).proportion_ci(confidence_level=0.95, method="exact")
    assert ours.ci_low == pytest.approx(peer.low, abs=1e-9)
    assert ours.ci_high == pytest.approx(peer.high, abs=1e-9)


@pytest.mark.parametrize(
    ("count", "total", "low_pct", "high_pct"),
    [
        (47, 50, 83.45, 98.75),  # DL / Rad 2 sensitivity 94.0
        (38, 50, 61.83, 86.94),  # Rad 1 / Rad 4 sensitivity 76.0
        (45, 50, 78.19, 96.67),  # Rad 3 sensitivity 90.0
        (22, 50, 29.99, 58.75),  # original report sensitivity 44.0
        (11, 16, 41.34, 88.98),  # specificity 68.75
        (16, 16, 79.41, 100.00),  # Rad 1 specificity 100
        (15, 16, 69.77, 99.84),  # Rad 3 specificity 93.75
        (13, 16, 54.35, 95.95),  # Rad 4 specificity 81.25
    ],
)
def test_reproduces_the_papers_exact_intervals(
    count: int, total: int, low_pct: float, high_pct: float
) -> None:
    """Hallinan et al. 2023, Table 11: sensitivity/specificity with exact 95% CI (Stata 17)."""
    ours = clopper_pearson(count, total)
    assert round(100 * ours.ci_low, 2) == pytest.approx(low_pct, abs=1e-9)
    assert round(100 * ours.ci_high, 2) == pytest.approx(high_pct, abs=1e-9)


def test_edges_and_undefined() -> None:
    none = clopper_pearson(0, 0)
    assert not none.defined
    assert math.isnan(none.value) and math.isnan(none.ci_low)
    zero = clopper_pearson(0, 10)
    assert zero.ci_low == 0.0 and 0 < zero.ci_high < 1
    everything = clopper_pearson(10, 10)
    assert everything.ci_high == 1.0 and 0 < everything.ci_low < 1
    with pytest.raises(ValueError, match="count <= total"):
        clopper_pearson(3, 2)


def test_diagnostic_accuracy_by_hand() -> None:
    """truth:    1 1 1 1 0 0 0 0 0 0
    decision: 1 1 1 0 1 0 0 0 0 0
    TP 3, FN 1, TN 5, FP 1: sensitivity 3/4, specificity 5/6, label AUC (3/4 + 5/6) / 2."""
    truth = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
    decision = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0], dtype=bool)
    acc = diagnostic_accuracy(truth, decision)
    assert (acc.tp, acc.fn, acc.tn, acc.fp) == (3, 1, 5, 1)
    assert acc.sensitivity.value == 0.75
    assert acc.specificity.value == pytest.approx(5 / 6)
    assert acc.auc.source is AucSource.LABELS
    assert acc.auc.value == pytest.approx((0.75 + 5 / 6) / 2)


def test_probabilities_give_the_probability_auc() -> None:
    truth = np.array([1, 1, 0, 0], dtype=bool)
    decision = np.array([1, 0, 0, 0], dtype=bool)
    scores = np.array([0.9, 0.4, 0.3, 0.1])
    acc = diagnostic_accuracy(truth, decision, scores)
    assert acc.auc.source is AucSource.PROBABILITIES
    assert acc.auc.value == 1.0  # both positives outrank both negatives
    assert acc.sensitivity.value == 0.5  # while the decision missed one


def test_no_positive_cases_reports_undefined_sensitivity() -> None:
    """An all-normal reference: sensitivity and AUC are undefined and say so; no crash."""
    truth = np.zeros(8, dtype=bool)
    decision = np.array([0, 0, 1, 0, 0, 0, 0, 0], dtype=bool)
    acc = diagnostic_accuracy(truth, decision)
    assert not acc.sensitivity.defined
    assert acc.specificity.value == pytest.approx(7 / 8)
    assert math.isnan(acc.auc.value)
    assert acc.notes == ("sensitivity undefined: no positive cases in the reference",)
