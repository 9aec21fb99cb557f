"""Chance-corrected agreement between a reference and a reader: Gwet's AC1 and Cohen's kappa.

Both coefficients are computed from the q x q contingency table of the two raters (rows: the
reference's category, columns: the reader's). Their variances follow Gwet's linearisation,
conditional on the sample of subjects (images) and unconditional on the raters:

    v = (1 - f) / (n (n - 1)) * sum_i (k*_i - k)^2

where ``k*_i`` is subject i's linearised contribution (Gwet, Handbook of Inter-Rater
Reliability, 4th ed. 2014, ch. 5; for AC1, Gwet 2008, Br J Math Stat Psychol 61:29-48). With two
raters this equals Gwet's (2008) closed-form two-rater variance times n / (n - 1); the n - 1 form
is the one in irrCAC's ``raw.CAC`` and Stata's ``kappaetc``, and it reproduces the confidence
intervals Hallinan et al. (2023, Table 11) published from Stata. Confidence intervals and
p-values (H0: coefficient = 0) use Student's t with n - 1 degrees of freedom, as those tools do;
intervals are clipped to [-1, 1]. The sampling fraction f is 0 (an infinite population of images).

For two raters Cohen's kappa is Conger's kappa, and its variance here equals the
Fleiss-Cohen-Everitt (1969) asymptotic variance times n / (n - 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray
from scipy import stats

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

_ZERO_SE = 1e-12  # below this a standard error is taken as exactly zero (perfect agreement)


class Coefficient(StrEnum):
    """Which chance-corrected agreement coefficient."""

    AC1 = "ac1"  # Gwet's first-order agreement coefficient (the paper's "Gwet's kappa")
    COHEN = "cohen_kappa"

    @property
    def label(self) -> str:
        return {"ac1": "Gwet's AC1", "cohen_kappa": "Cohen's kappa"}[self.value]


class Strength(StrEnum):
    """Landis & Koch (1977) strength of agreement, as the paper words it."""

    ALMOST_PERFECT = "almost perfect"  # 0.81-1
    SUBSTANTIAL = "substantial"  # 0.61-0.80
    MODERATE = "moderate"  # 0.41-0.60
    FAIR = "fair"  # 0.21-0.40
    SLIGHT = "slight"  # 0-0.20
    POOR = "poor"  # < 0
    UNDEFINED = "undefined"


def landis_koch(value: float) -> Strength:
    """Landis & Koch label of an agreement coefficient.

    The published bands (0.81-1, 0.61-0.8, ...) are written to two decimals; a value on a
    boundary (exactly 0.80) takes the lower band, anything above it the upper one. NaN gives
    :attr:`Strength.UNDEFINED`.
    """
    if math.isnan(value):
        return Strength.UNDEFINED
    if value > 0.80:
        return Strength.ALMOST_PERFECT
    if value > 0.60:
        return Strength.SUBSTANTIAL
    if value > 0.40:
        return Strength.MODERATE
    if value > 0.20:
        return Strength.FAIR
    if value >= 0.0:
        return Strength.SLIGHT
    return Strength.POOR


@dataclass(frozen=True, slots=True)
class AgreementEstimate:
    """One agreement coefficient with its uncertainty.

    ``value``, ``se``, the interval and ``p_value`` are NaN when undefined; ``note`` then says
    why (no images, a single image, chance agreement of 1 for Cohen's kappa).
    """

    coefficient: Coefficient
    value: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float  # two-sided, H0: coefficient = 0
    n: int  # subjects (images or studies)
    n_categories: int
    percent_agreement: float  # pa, observed proportion of agreement
    chance_agreement: float  # pe
    confidence: float = 0.95
    note: str = ""

    @property
    def defined(self) -> bool:
        return not math.isnan(self.value)

    @property
    def strength(self) -> Strength:
        return landis_koch(self.value)


def confusion_table(
    reference_codes: IntArray, reader_codes: IntArray, n_categories: int
) -> IntArray:
    """Contingency table: rows the reference's category, columns the reader's."""
    ref = np.asarray(reference_codes, dtype=np.int64)
    read = np.asarray(reader_codes, dtype=np.int64)
    if ref.shape != read.shape:
        raise ValueError("reference and reader codes differ in length")
    flat = np.bincount(ref * n_categories + read, minlength=n_categories * n_categories)
    return flat.reshape(n_categories, n_categories).astype(np.int64)


def _as_table(table: IntArray | NDArray[np.float64]) -> FloatArray:
    counts = np.asarray(table, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] < 2:
        raise ValueError("an agreement table must be square with at least two categories")
    if np.any(counts < 0):
        raise ValueError("an agreement table holds counts, which cannot be negative")
    return counts


def gwet_ac1(table: IntArray, *, confidence: float = 0.95) -> AgreementEstimate:
    """Gwet's AC1 for two raters from their contingency table.

    Parameters
    ----------
    table
        (q, q) counts, rows the reference's category and columns the reader's. Categories
        nobody used still count in q (AC1's chance agreement depends on q).
    confidence
        Level of the two-sided confidence interval.

    Returns
    -------
    AgreementEstimate
        AC1 with its standard error, t-based interval and p-value (see the module docstring).
    """
    counts = _as_table(table)
    q = counts.shape[0]
    n = float(counts.sum())
    if n == 0:
        return _undefined(Coefficient.AC1, 0, q, confidence, "no images to compare")
    p = counts / n
    pa = float(np.trace(p))
    pi = (p.sum(axis=0) + p.sum(axis=1)) / 2.0
    pe = float(np.sum(pi * (1.0 - pi)) / (q - 1))
    ac1 = (pa - pe) / (1.0 - pe)  # pe <= 1/q < 1, so AC1 is always defined
    # Linearised contribution of a subject in cell (k, l): its own agreement, corrected for
    # how much its categories move the chance agreement.
    agree = np.eye(q)
    pe_cell = ((1.0 - pi)[:, None] + (1.0 - pi)[None, :]) / (2.0 * (q - 1))
    lin = (agree - pe) / (1.0 - pe) - 2.0 * (1.0 - ac1) * (pe_cell - pe) / (1.0 - pe)
    return _finish(Coefficient.AC1, ac1, lin, p, int(n), q, pa, pe, confidence)


def cohen_kappa(table: IntArray, *, confidence: float = 0.95) -> AgreementEstimate:
    """Cohen's (unweighted) kappa for two raters from their contingency table.

    Undefined (NaN, with a note) when the chance agreement is 1, i.e. both raters put every
    subject in the same single category: the kappa paradox AC1 was designed to avoid.
    """
    counts = _as_table(table)
    q = counts.shape[0]
    n = float(counts.sum())
    if n == 0:
        return _undefined(Coefficient.COHEN, 0, q, confidence, "no images to compare")
    p = counts / n
    pa = float(np.trace(p))
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    pe = float(np.dot(rows, cols))
    if pe >= 1.0 - 1e-12:
        return _undefined(
            Coefficient.COHEN,
            int(n),
            q,
            confidence,
            "undefined: both raters used one single category (chance agreement is 1)",
            pa=pa,
            pe=pe,
        )
    kappa = (pa - pe) / (1.0 - pe)
    agree = np.eye(q)
    # Subject in cell (k, l): chance agreement moves by the reader's share of k and the
    # reference's share of l (Gwet's handbook, Cohen's kappa for two raters).
    pe_cell = (cols[:, None] + rows[None, :]) / 2.0
    lin = (agree - pe) / (1.0 - pe) - 2.0 * (1.0 - kappa) * (pe_cell - pe) / (1.0 - pe)
    return _finish(Coefficient.COHEN, kappa, lin, p, int(n), q, pa, pe, confidence)


def _finish(
    coefficient: Coefficient,
    value: float,
    linearised: FloatArray,
    p: FloatArray,
    n: int,
    q: int,
    pa: float,
    pe: float,
    confidence: float,
) -> AgreementEstimate:
    if n < 2:
        return AgreementEstimate(
            coefficient,
            value,
            math.nan,
            math.nan,
            math.nan,
            math.nan,
            n,
            q,
            pa,
            pe,
            confidence,
            "one subject only: no standard error",
        )
    variance = float(np.sum(p * (linearised - value) ** 2)) / (n - 1)
    se = math.sqrt(max(variance, 0.0))
    note = ""
    if se < _ZERO_SE:
        se = 0.0
        ci_low = ci_high = value
        p_value = 0.0 if value != 0.0 else math.nan
        note = (
            "perfect agreement: no sampling variability, so the interval has no width"
            if pa >= 1.0
            else "no sampling variability: every subject contributes the same"
        )
    else:
        t_crit = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1))
        ci_low = max(-1.0, value - t_crit * se)
        ci_high = min(1.0, value + t_crit * se)
        p_value = float(2.0 * stats.t.sf(abs(value) / se, n - 1))
    return AgreementEstimate(
        coefficient, float(value), se, ci_low, ci_high, p_value, n, q, pa, pe, confidence, note
    )


def _undefined(
    coefficient: Coefficient,
    n: int,
    q: int,
    confidence: float,
    note: str,
    *,
    pa: float = math.nan,
    pe: float = math.nan,
) -> AgreementEstimate:
    nan = math.nan
    return AgreementEstimate(coefficient, nan, nan, nan, nan, nan, n, q, pa, pe, confidence, note)


def coefficient_values(tables: FloatArray, coefficient: Coefficient) -> FloatArray:
    """Point values of a coefficient for a stack of tables, shape (..., q, q) -> (...).

    Vectorised for the bootstrap. Cohen's kappa is NaN where chance agreement is 1; both are
    NaN for an empty table.
    """
    counts = np.asarray(tables, dtype=np.float64)
    q = counts.shape[-1]
    n = counts.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = counts / n[..., None, None]
        pa = np.trace(p, axis1=-2, axis2=-1)
        rows, cols = p.sum(axis=-1), p.sum(axis=-2)
        if coefficient is Coefficient.AC1:
            pi = (rows + cols) / 2.0
            pe = np.sum(pi * (1.0 - pi), axis=-1) / (q - 1)
        else:
            pe = np.sum(rows * cols, axis=-1)
            pe = np.where(pe >= 1.0 - 1e-12, np.nan, pe)
        values: FloatArray = (pa - pe) / (1.0 - pe)
    return values
