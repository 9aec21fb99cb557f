"""Gwet's AC1 and Cohen's kappa against irrCAC, statsmodels, published numbers and hand sums."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from mscc_desktop.evaluation import (
    Coefficient,
    Strength,
    cohen_kappa,
    confusion_table,
    gwet_ac1,
    landis_koch,
)
from mscc_desktop.evaluation.agreement import coefficient_values
from tests.evaluation.helpers import PAPER_TABLE_11, load_fixture

AGREEMENT = load_fixture("agreement.json")["cases"]


def _case_id(case: dict[str, Any]) -> str:
    return str(case["name"])


@pytest.mark.parametrize("case", AGREEMENT, ids=_case_id)
def test_ac1_matches_irrcac_raw_gwet(case: dict[str, Any]) -> None:
    """Value, SE, CI and p-value equal irrCAC 0.4.4 raw.CAC(...).gwet() on random ratings."""
    reference = np.array(case["reference"])
    reader = np.array(case["reader"])
    table = confusion_table(reference, reader, case["n_categories"])
    assert table.tolist() == case["table"]
    ours = gwet_ac1(table)
    peer = case["irrcac_raw_gwet"]
    assert ours.value == pytest.approx(peer["value"], abs=1e-12)
    assert ours.percent_agreement == pytest.approx(peer["pa"], abs=1e-12)
    assert ours.chance_agreement == pytest.approx(peer["pe"], abs=1e-12)
    # irrCAC replaces a zero SE by 1e-15 (perfect agreement); both are "no variability".
    assert ours.se == pytest.approx(peer["se"], abs=1e-12)
    assert ours.ci_low == pytest.approx(peer["ci"][0], abs=1e-9)
    assert ours.ci_high == pytest.approx(peer["ci"][1], abs=1e-9)
    # irrCAC computes 2 * (1 - cdf), which loses digits near 0; we use the survival function.
    assert ours.p_value == pytest.approx(peer["p_value"], abs=1e-9)


@pytest.mark.parametrize("case", AGREEMENT, ids=_case_id)
def test_cohen_kappa_matches_irrcac_conger(case: dict[str, Any]) -> None:
    """For two raters Conger's kappa is Cohen's kappa; irrCAC's variance is Gwet's."""
    table = np.array(case["table"])
    ours = cohen_kappa(table)
    peer = case["irrcac_raw_conger"]
    assert ours.value == pytest.approx(peer["value"], abs=1e-12)
    assert ours.chance_agreement == pytest.approx(peer["pe"], abs=1e-12)
    assert ours.se == pytest.approx(peer["se"], abs=1e-12)
    assert ours.ci_low == pytest.approx(peer["ci"][0], abs=1e-9)
    assert ours.ci_high == pytest.approx(peer["ci"][1], abs=1e-9)
    assert ours.p_value == pytest.approx(peer["p_value"], abs=1e-9)


@pytest.mark.parametrize("case", AGREEMENT, ids=_case_id)
def test_variances_are_the_closed_forms_times_n_over_n_minus_1(case: dict[str, Any]) -> None:
    """Gwet (2008) two-rater closed form (irrCAC table.CAC) and Fleiss-Cohen-Everitt
    (statsmodels cohens_kappa std_kappa) differ from the linearised variance by n/(n-1)."""
    table = np.array(case["table"])
    n = table.sum()
    factor = math.sqrt((n - 1) / n)
    assert gwet_ac1(table).se * factor == pytest.approx(case["irrcac_table_gwet"]["se"], abs=1e-12)
    assert cohen_kappa(table).se * factor == pytest.approx(
        case["irrcac_table_cohen"]["se"], abs=1e-12
    )
    statsmodels = case["statsmodels_cohens_kappa"]
    assert cohen_kappa(table).value == pytest.approx(statsmodels["kappa"], abs=1e-12)
    assert cohen_kappa(table).se * factor == pytest.approx(statsmodels["std_kappa"], abs=1e-12)


def test_gwet_handbook_worked_example() -> None:
    """Gwet, Handbook of Inter-Rater Reliability, 4th ed. (2014): 100 pregnant women classified
    by two abstractors as ectopic / abnormal intrauterine / normal intrauterine pregnancy
    (rows abstractor 1: [13, 0, 0], [0, 20, 7], [0, 4, 56]). Published AC1 = 0.84933 with
    SE 0.04322 and 95% CI 0.76358-0.93508 (as reproduced by irrCAC's table.CAC doctest, which
    uses Gwet's two-rater closed-form variance, i.e. ours times sqrt((n-1)/n))."""
    table = np.array([[13, 0, 0], [0, 20, 7], [0, 4, 56]])
    ac1 = gwet_ac1(table)
    assert round(ac1.value, 5) == 0.84933
    assert round(ac1.percent_agreement, 2) == 0.89
    assert round(ac1.chance_agreement, 5) == 0.26992
    closed_form_se = ac1.se * math.sqrt(99 / 100)
    assert round(closed_form_se, 5) == 0.04322
    t = 1.984217  # t(0.975, 99 df)
    assert round(ac1.value - t * closed_form_se, 5) == pytest.approx(0.76358, abs=1e-5)
    assert round(ac1.value + t * closed_form_se, 5) == pytest.approx(0.93508, abs=1e-5)


@pytest.mark.parametrize("reader", sorted(PAPER_TABLE_11))
def test_reproduces_published_per_study_kappas(reader: str) -> None:
    """Hallinan et al. 2023, Table 11 (Stata 17): "Gwet's kappa" with 95% CI per CT study.

    Published to 3 decimals; Rad 4's AC1 is 0.60249, which the paper prints as 0.603 (its
    interval 0.401-0.804 matches ours), so values are compared within 0.0006.
    """
    tp, pos, tn, neg, value, low, high, *_ = PAPER_TABLE_11[reader]
    table = np.array([[tn, neg - tn], [pos - tp, tp]])  # rows: reference negative, positive
    ac1 = gwet_ac1(table)
    assert ac1.value == pytest.approx(value, abs=6e-4)
    assert ac1.ci_low == pytest.approx(low, abs=5e-4)
    assert ac1.ci_high == pytest.approx(high, abs=5e-4)
    if reader == "Original report":
        assert round(ac1.p_value, 3) == 0.836  # the one p-value the paper prints in full
    else:
        assert ac1.p_value < 0.001


def test_ac1_by_hand_for_a_small_table() -> None:
    """10 images, three groups. Rows reference, columns reader:
        normal: [5, 1, 0]; low: [0, 2, 1]; high: [0, 0, 1]
    pa = (5 + 2 + 1) / 10 = 0.8
    reader margins (columns) = (5, 3, 2)/10, reference margins (rows) = (6, 3, 1)/10
    pi = ((6+5)/20, (3+3)/20, (1+2)/20) = (0.55, 0.30, 0.15)
    pe(AC1) = sum pi (1 - pi) / (q - 1) = (0.2475 + 0.21 + 0.1275) / 2 = 0.2925
    AC1 = (0.8 - 0.2925) / (1 - 0.2925) = 0.5075 / 0.7075 = 0.717314...
    pe(Cohen) = 0.6*0.5 + 0.3*0.3 + 0.1*0.2 = 0.41; kappa = (0.8 - 0.41) / 0.59 = 0.661017...
    """
    table = np.array([[5, 1, 0], [0, 2, 1], [0, 0, 1]])
    assert gwet_ac1(table).value == pytest.approx(0.5075 / 0.7075, abs=1e-12)
    assert gwet_ac1(table).chance_agreement == pytest.approx(0.2925, abs=1e-12)
    assert cohen_kappa(table).value == pytest.approx(0.39 / 0.59, abs=1e-12)


def test_perfect_agreement() -> None:
    table = np.array([[40, 0, 0], [0, 6, 0], [0, 0, 4]])
    for estimate in (gwet_ac1(table), cohen_kappa(table)):
        assert estimate.value == 1.0
        assert estimate.se == 0.0
        assert (estimate.ci_low, estimate.ci_high) == (1.0, 1.0)
        assert estimate.p_value == 0.0
        assert "perfect agreement" in estimate.note
        assert estimate.strength is Strength.ALMOST_PERFECT


def test_unused_category_still_counts_in_ac1() -> None:
    """AC1's chance agreement depends on q: a grade nobody used keeps q = 3."""
    two = np.array([[81, 6], [2, 31]])
    three = np.array([[81, 6, 0], [2, 31, 0], [0, 0, 0]])
    assert gwet_ac1(three).n_categories == 3
    assert gwet_ac1(three).value != pytest.approx(gwet_ac1(two).value, abs=1e-3)
    assert cohen_kappa(three).value == pytest.approx(cohen_kappa(two).value, abs=1e-12)


def test_kappa_paradox_single_category_is_undefined_not_a_crash() -> None:
    """Both raters say "normal" for every image: kappa is 0/0, AC1 is 1."""
    table = np.array([[50, 0, 0], [0, 0, 0], [0, 0, 0]])
    kappa = cohen_kappa(table)
    assert math.isnan(kappa.value)
    assert kappa.strength is Strength.UNDEFINED
    assert "one single category" in kappa.note
    assert gwet_ac1(table).value == 1.0


def test_empty_and_single_subject_tables() -> None:
    empty = gwet_ac1(np.zeros((3, 3), dtype=int))
    assert math.isnan(empty.value)
    assert "no images" in empty.note
    single = gwet_ac1(np.array([[1, 0], [0, 0]]))
    assert single.value == 1.0
    assert math.isnan(single.se)
    assert "one subject" in single.note


def test_bad_tables_are_refused() -> None:
    with pytest.raises(ValueError, match="square"):
        gwet_ac1(np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="negative"):
        cohen_kappa(np.array([[1, -1], [0, 2]]))


@pytest.mark.parametrize(
    ("value", "strength"),
    [
        (1.0, Strength.ALMOST_PERFECT),
        (0.81, Strength.ALMOST_PERFECT),
        (0.80, Strength.SUBSTANTIAL),
        (0.61, Strength.SUBSTANTIAL),
        (0.60, Strength.MODERATE),
        (0.41, Strength.MODERATE),
        (0.40, Strength.FAIR),
        (0.21, Strength.FAIR),
        (0.20, Strength.SLIGHT),
        (0.0, Strength.SLIGHT),
        (-0.01, Strength.POOR),
        (math.nan, Strength.UNDEFINED),
    ],
)
def test_landis_koch_bands(value: float, strength: Strength) -> None:
    assert landis_koch(value) is strength


@pytest.mark.parametrize("coefficient", list(Coefficient))
def test_vectorised_values_equal_the_scalar_estimates(coefficient: Coefficient) -> None:
    tables = np.array([case["table"] for case in AGREEMENT if case["n_categories"] == 3])
    values = coefficient_values(tables.astype(float), coefficient)
    scalar = gwet_ac1 if coefficient is Coefficient.AC1 else cohen_kappa
    expected = [scalar(t).value for t in tables]
    np.testing.assert_allclose(values, expected, atol=1e-12)
