"""Area under the ROC curve with DeLong's variance, and ROC curve points.

The AUC is the Mann-Whitney probability that a positive case scores above a negative one (ties
count one half). Its variance follows DeLong, DeLong & Clarke-Pearson (1988, Biometrics
44:837-845), computed with the midrank algorithm of Sun & Xu (2014, IEEE Signal Process Lett
21:1389-1393) in O(n log n). The confidence interval is the normal (Wald) interval
AUC +/- z * SE clipped to [0, 1], which reproduces the per-study AUC intervals Hallinan et al.
(2023, Table 11) published from Stata.

For a reader who gives only labels, the scores are the binary decisions: the AUC is then
(sensitivity + specificity) / 2 and DeLong's variance still applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray
from scipy import stats

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


class AucSource(StrEnum):
    """What the AUC was computed from."""

    PROBABILITIES = "probabilities"
    LABELS = "labels"  # binary decisions: AUC = (sensitivity + specificity) / 2


@dataclass(frozen=True, slots=True)
class AucEstimate:
    """AUC with DeLong standard error and interval; NaN with a ``note`` when undefined."""

    value: float
    se: float
    ci_low: float
    ci_high: float
    n_positive: int
    n_negative: int
    source: AucSource
    confidence: float = 0.95
    note: str = ""

    @property
    def defined(self) -> bool:
        return not math.isnan(self.value)


@dataclass(frozen=True, slots=True, eq=False)
class RocCurve:
    """ROC curve points from (0, 0) to (1, 1), one per distinct score threshold."""

    false_positive_rate: FloatArray
    true_positive_rate: FloatArray
    thresholds: FloatArray  # score at or above which a case is called positive (inf first)


def midranks(values: FloatArray) -> FloatArray:
    """1-based ranks with ties given the mean of the ranks they span."""
    x = np.asarray(values, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    # Start index of each run of equal values, and the run each sorted element belongs to.
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], x.size]
    run_rank = (starts + ends + 1) / 2.0  # mean of 1-based ranks starts+1 .. ends
    run_of = np.repeat(np.arange(starts.size), ends - starts)
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = run_rank[run_of]
    return ranks


def delong_auc(
    truth: BoolArray,
    scores: FloatArray,
    *,
    source: AucSource = AucSource.PROBABILITIES,
    confidence: float = 0.95,
) -> AucEstimate:
    """AUC of ``scores`` for ``truth`` with DeLong's standard error (fast midrank algorithm).

    Parameters
    ----------
    truth
        True for positive cases.
    scores
        Higher means more likely positive (probabilities, or 0/1 decisions).
    source
        Recorded on the result so tables can say whether probabilities were available.
    confidence
        Level of the two-sided normal interval.
    """
    y = np.asarray(truth, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape:
        raise ValueError("truth and scores differ in length")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite numbers")
    m, n = int(y.sum()), int((~y).sum())
    nan = math.nan
    if m == 0 or n == 0:
        missing = "positive" if m == 0 else "negative"
        note = f"undefined: no {missing} cases in the reference"
        return AucEstimate(nan, nan, nan, nan, m, n, source, confidence, note)
    pos, neg = s[y], s[~y]
    tx, ty = midranks(pos), midranks(neg)
    tz = midranks(np.concatenate([pos, neg]))
    auc = float((tz[:m].sum() - m * (m + 1) / 2.0) / (m * n))
    # Structural components: for each positive, the share of negatives it beats; for each
    # negative, the share of positives that beat it (ties count one half).
    v10 = (tz[:m] - tx) / n
    v01 = 1.0 - (tz[m:] - ty) / m
    if m < 2 or n < 2:
        note = "one case in a class: DeLong's variance needs at least two of each"
        return AucEstimate(auc, nan, nan, nan, m, n, source, confidence, note)
    variance = float(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n)
    se = math.sqrt(max(variance, 0.0))
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    low, high = max(0.0, auc - z * se), min(1.0, auc + z * se)
    return AucEstimate(auc, se, low, high, m, n, source, confidence)


def roc_curve(truth: BoolArray, scores: FloatArray) -> RocCurve:
    """ROC points for every distinct threshold; empty arrays when a class is missing."""
    y = np.asarray(truth, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    m, n = int(y.sum()), int((~y).sum())
    if m == 0 or n == 0:
        empty = np.zeros(0, dtype=np.float64)
        return RocCurve(empty, empty, empty)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    fp = np.cumsum(~y_sorted)
    # Keep the last index of each run of equal scores: a threshold admits all ties at once.
    last = np.r_[np.flatnonzero(s_sorted[1:] != s_sorted[:-1]), s_sorted.size - 1]
    fpr = np.r_[0.0, fp[last] / n]
    tpr = np.r_[0.0, tp[last] / m]
    thresholds = np.r_[np.inf, s_sorted[last]]
    return RocCurve(fpr.astype(np.float64), tpr.astype(np.float64), thresholds)
