"""Sensitivity and specificity with exact (Clopper-Pearson) intervals, plus the AUC.

Clopper & Pearson (1934): the interval inverts two one-sided binomial tests, so its bounds are
beta quantiles, ``Beta(a/2; k, n-k+1)`` and ``Beta(1-a/2; k+1, n-k)``, with 0 and 1 at the edges.
These are the "exact 95% CI" of the paper's Tables 8, 10 and 11 (Stata's ``ci proportions``
default), e.g. 47/50 -> 83.45-98.75 and 16/16 -> 79.41-100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from mscc_desktop.evaluation.auc import AucEstimate, AucSource, delong_auc

BoolArray = NDArray[np.bool_]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Proportion:
    """``count`` of ``total`` with an exact interval; NaN (undefined) when ``total`` is 0."""

    count: int
    total: int
    value: float
    ci_low: float
    ci_high: float
    confidence: float = 0.95

    @property
    def defined(self) -> bool:
        return self.total > 0


def clopper_pearson(count: int, total: int, *, confidence: float = 0.95) -> Proportion:
    """Exact binomial (Clopper-Pearson) interval for ``count`` successes in ``total`` trials.

    ``total == 0`` gives an undefined proportion (NaN), not an error: a reference with no
    positive cases has no sensitivity, and the tables say so.
    """
    if total < 0 or count < 0 or count > total:
        raise ValueError(f"a proportion needs 0 <= count <= total, got {count}/{total}")
    if total == 0:
        return Proportion(0, 0, math.nan, math.nan, math.nan, confidence)
    alpha = 1.0 - confidence
    low = 0.0 if count == 0 else float(stats.beta.ppf(alpha / 2.0, count, total - count + 1))
    high = (
        1.0 if count == total else float(stats.beta.ppf(1 - alpha / 2.0, count + 1, total - count))
    )
    return Proportion(count, total, count / total, low, high, confidence)


@dataclass(frozen=True, slots=True)
class DiagnosticAccuracy:
    """A reader's 2 x 2 table against the reference, with its derived measures."""

    tp: int
    fn: int
    tn: int
    fp: int
    sensitivity: Proportion  # tp / (tp + fn)
    specificity: Proportion  # tn / (tn + fp)
    auc: AucEstimate

    @property
    def n_positive(self) -> int:
        return self.tp + self.fn

    @property
    def n_negative(self) -> int:
        return self.tn + self.fp

    @property
    def notes(self) -> tuple[str, ...]:
        """Why a measure is undefined, in words for a table."""
        notes: list[str] = []
        if not self.sensitivity.defined:
            notes.append("sensitivity undefined: no positive cases in the reference")
        if not self.specificity.defined:
            notes.append("specificity undefined: no negative cases in the reference")
        if self.auc.note and (self.sensitivity.defined and self.specificity.defined):
            notes.append(f"AUC {self.auc.note}")
        return tuple(notes)


def diagnostic_accuracy(
    truth: BoolArray,
    decision: BoolArray,
    scores: FloatArray | None = None,
    *,
    confidence: float = 0.95,
) -> DiagnosticAccuracy:
    """Sensitivity, specificity and AUC of a reader's decisions against the reference.

    Parameters
    ----------
    truth
        The reference's positive cases.
    decision
        The reader's positive calls.
    scores
        The reader's continuous score for the positive side (e.g. P(high)); without it, the AUC
        is that of the binary decision, (sensitivity + specificity) / 2, with DeLong's CI.
    confidence
        Level of every interval.
    """
    y = np.asarray(truth, dtype=bool)
    d = np.asarray(decision, dtype=bool)
    if y.shape != d.shape:
        raise ValueError("truth and decision differ in length")
    tp = int(np.sum(y & d))
    fn = int(np.sum(y & ~d))
    tn = int(np.sum(~y & ~d))
    fp = int(np.sum(~y & d))
    if scores is None:
        auc = delong_auc(y, d.astype(np.float64), source=AucSource.LABELS, confidence=confidence)
    else:
        auc = delong_auc(y, scores, source=AucSource.PROBABILITIES, confidence=confidence)
    return DiagnosticAccuracy(
        tp=tp,
        fn=fn,
        tn=tn,
        fp=fp,
        sensitivity=clopper_pearson(tp, tp + fn, confidence=confidence),
        specificity=clopper_pearson(tn, tn + fp, confidence=confidence),
        auc=auc,
    )
