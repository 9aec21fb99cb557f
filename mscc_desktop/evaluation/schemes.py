"""The paper's three ways of scoring a grade: three classes and two dichotomies.

Hallinan et al. (2023) report agreement for the three groups (normal / low / high) and for two
dichotomies: normal versus any MSCC (low or high), and normal/low versus high grade. For each
dichotomy the positive class is the MSCC side, and a reader that gives probabilities scores an
image by the probability of that side (P(low) + P(high), or P(high)).
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from mscc_desktop.core.grades import GROUP_ORDER, GradeGroup

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

NORMAL_CODE = GradeGroup.NORMAL.position
LOW_CODE = GradeGroup.LOW.position
HIGH_CODE = GradeGroup.HIGH.position


class Scheme(StrEnum):
    """How grade groups are compared."""

    THREE_CLASS = "three_class"  # normal / low / high
    ANY_MSCC = "normal_vs_any"  # normal vs low-or-high (positive: any MSCC)
    HIGH_GRADE = "high_grade"  # normal-or-low vs high (positive: high grade)

    @property
    def display_name(self) -> str:
        return _TITLES[self]

    @property
    def n_categories(self) -> int:
        return len(GROUP_ORDER) if self is Scheme.THREE_CLASS else 2

    @property
    def is_dichotomy(self) -> bool:
        return self is not Scheme.THREE_CLASS

    @property
    def positive_label(self) -> str:
        """What a positive case is, for table captions (dichotomies only)."""
        return _POSITIVE_LABELS.get(self, "-")


_TITLES: dict[Scheme, str] = {
    Scheme.THREE_CLASS: "Three-grade MSCC classification (normal / low / high)",
    Scheme.ANY_MSCC: "Normal versus any grade of MSCC",
    Scheme.HIGH_GRADE: "Normal/low versus high-grade MSCC",
}

_POSITIVE_LABELS: dict[Scheme, str] = {
    Scheme.ANY_MSCC: "any MSCC (low or high grade)",
    Scheme.HIGH_GRADE: "high-grade MSCC",
}

DICHOTOMIES: tuple[Scheme, ...] = (Scheme.ANY_MSCC, Scheme.HIGH_GRADE)


def codes_for(scheme: Scheme, group_codes: IntArray) -> IntArray:
    """Category codes under ``scheme`` from group codes (positions in ``GROUP_ORDER``).

    Three classes keep the codes 0/1/2; a dichotomy gives 1 for the positive side, else 0.
    """
    codes = np.asarray(group_codes, dtype=np.int64)
    if scheme is Scheme.THREE_CLASS:
        return codes
    return positive(scheme, codes).astype(np.int64)


def positive(scheme: Scheme, group_codes: IntArray) -> BoolArray:
    """Whether each group code is on the positive side of a dichotomy."""
    codes = np.asarray(group_codes, dtype=np.int64)
    result: BoolArray
    if scheme is Scheme.ANY_MSCC:
        result = codes != NORMAL_CODE
    elif scheme is Scheme.HIGH_GRADE:
        result = codes == HIGH_CODE
    else:
        raise ValueError("the three-class scheme has no positive side")
    return result


def positive_score(scheme: Scheme, probabilities: FloatArray) -> FloatArray:
    """Score of the positive side from (n, 3) probabilities in ``GROUP_ORDER``."""
    probs = np.asarray(probabilities, dtype=np.float64)
    if scheme is Scheme.ANY_MSCC:
        # 1 - P(normal) would also do; the sum keeps the two dichotomies' scores consistent
        # with core.findings.classify, which thresholds P(low) + P(high).
        return probs[:, LOW_CODE] + probs[:, HIGH_CODE]
    if scheme is Scheme.HIGH_GRADE:
        return probs[:, HIGH_CODE]
    raise ValueError("the three-class scheme has no positive score")
