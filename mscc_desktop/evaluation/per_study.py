"""Per-study analysis: "any high-grade image in the study" (the paper's Table 11).

A study is positive for the reference when any of its (non-excluded) images is graded high, and
positive for a reader when the reader grades any of them high. A reader that gives
probabilities scores a study by the largest P(high) over its images, which is what the AUC of
Table 11 ranks; a label-only reader's score is its binary call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mscc_desktop.evaluation.readings import AlignedReader, AlignedSet, IntArray
from mscc_desktop.evaluation.schemes import HIGH_CODE

BoolArray = NDArray[np.bool_]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class StudyCalls:
    """Reference truth, reader decision and reader score, one entry per study."""

    truth: BoolArray
    decision: BoolArray
    scores: FloatArray | None  # max P(high) per study, or None for a label-only reader


def _any_per_study(flags: BoolArray, study_index: IntArray, n_studies: int) -> BoolArray:
    counts = np.bincount(study_index, weights=flags.astype(np.float64), minlength=n_studies)
    result: BoolArray = counts > 0
    return result


def reference_study_truth(aligned: AlignedSet) -> BoolArray:
    """Whether each study has a high-grade image in the reference."""
    return _any_per_study(aligned.reference == HIGH_CODE, aligned.study_index, aligned.n_studies)


def study_calls(aligned: AlignedSet, reader: AlignedReader) -> StudyCalls:
    """Collapse a reader's image grades (and P(high)) to one call (and score) per study."""
    truth = reference_study_truth(aligned)
    decision = _any_per_study(reader.codes == HIGH_CODE, aligned.study_index, aligned.n_studies)
    scores: FloatArray | None = None
    if reader.probabilities is not None:
        scores = np.full(aligned.n_studies, -np.inf)
        np.maximum.at(scores, aligned.study_index, reader.probabilities[:, HIGH_CODE])
    return StudyCalls(truth, decision, scores)
