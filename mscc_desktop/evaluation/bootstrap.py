"""Comparing two readers' agreement with the same reference: paired bootstrap over studies.

The paper compares the model's Gwet's kappa with each radiologist's on the same images. The two
coefficients are correlated (same images, same reference), and images within a study are
correlated too (neighbouring slices of one lesion), so the resampling unit is the STUDY: each
bootstrap sample draws studies with replacement and keeps all of a drawn study's images, for
both readers at once (paired). Resampling images instead would treat the ~50 images of a study
as independent and make the interval too narrow.

The interval is the percentile interval of the bootstrap differences. The two-sided p-value
(H0: no difference) inverts that interval: twice the smaller share of resampled differences on
either side of zero, with the usual +1 correction (Davison & Hinkley 1997, eq. 4.11) so it is
never exactly 0; with the default 2000 resamples the smallest reportable p is about 0.001.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from mscc_desktop.core.tasks import CancelToken, check_cancel
from mscc_desktop.evaluation.agreement import Coefficient, coefficient_values
from mscc_desktop.evaluation.per_study import study_calls
from mscc_desktop.evaluation.readings import AlignedSet
from mscc_desktop.evaluation.schemes import Scheme, codes_for

FloatArray = NDArray[np.float64]
DEFAULT_RESAMPLES = 2000
_CHUNK = 250  # resamples per matrix product: bounds memory and lets a cancel land quickly


class Level(StrEnum):
    """What one subject of the agreement is."""

    IMAGE = "image"
    STUDY = "study"  # "any high-grade image in the study" (Table 11)


@dataclass(frozen=True, slots=True)
class ReaderComparison:
    """Difference in an agreement coefficient, reader A minus reader B, with its bootstrap CI."""

    level: Level
    scheme: Scheme
    coefficient: Coefficient
    reader_a: str
    reader_b: str
    value_a: float
    value_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    n_resamples: int
    n_studies: int
    seed: int | None
    confidence: float = 0.95
    note: str = ""


def _study_tables(aligned: AlignedSet, name: str, scheme: Scheme, level: Level) -> FloatArray:
    """(n_studies, q, q) contingency tables of reference vs reader, one per study."""
    reader = aligned.reader(name)
    n_studies = aligned.n_studies
    if level is Level.STUDY:
        if scheme is not Scheme.HIGH_GRADE:
            raise ValueError("the per-study analysis is defined for high grade only")
        calls = study_calls(aligned, reader)
        ref, read, index, q = (
            calls.truth.astype(np.int64),
            calls.decision.astype(np.int64),
            np.arange(n_studies),
            2,
        )
    else:
        q = scheme.n_categories
        ref = codes_for(scheme, aligned.reference)
        read = codes_for(scheme, reader.codes)
        index = aligned.study_index
    flat = np.bincount(index * q * q + ref * q + read, minlength=n_studies * q * q)
    return flat.reshape(n_studies, q, q).astype(np.float64)


def compare_agreement(
    aligned: AlignedSet,
    reader_a: str,
    reader_b: str,
    *,
    scheme: Scheme = Scheme.THREE_CLASS,
    level: Level = Level.IMAGE,
    coefficient: Coefficient = Coefficient.AC1,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int | None = 0,
    confidence: float = 0.95,
    cancel: CancelToken | None = None,
) -> ReaderComparison:
    """Paired study-level bootstrap of the difference in agreement between two readers.

    Parameters
    ----------
    aligned
        Reference and readers on the same images (:func:`~.readings.align`).
    reader_a, reader_b
        Reader names; the difference is A minus B.
    scheme, level
        Which classification, and whether subjects are images or studies (study level is
        defined for the high-grade dichotomy only).
    coefficient
        AC1 (the paper's choice) or Cohen's kappa.
    n_resamples
        Bootstrap samples of studies (default 2000).
    seed
        Seed of the random generator: the same seed gives the same interval and p-value.
    confidence
        Level of the percentile interval.
    cancel
        Polled between chunks of resamples.
    """
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1")
    tables_a = _study_tables(aligned, reader_a, scheme, level)
    tables_b = _study_tables(aligned, reader_b, scheme, level)
    value_a = float(coefficient_values(tables_a.sum(axis=0), coefficient))
    value_b = float(coefficient_values(tables_b.sum(axis=0), coefficient))
    difference = value_a - value_b
    n_studies = aligned.n_studies
    base = ReaderComparison(
        level=level,
        scheme=scheme,
        coefficient=coefficient,
        reader_a=reader_a,
        reader_b=reader_b,
        value_a=value_a,
        value_b=value_b,
        difference=difference,
        ci_low=math.nan,
        ci_high=math.nan,
        p_value=math.nan,
        n_resamples=n_resamples,
        n_studies=n_studies,
        seed=seed,
        confidence=confidence,
    )
    if n_studies < 2:
        return replace(
            base, note="one study only: a bootstrap over studies cannot estimate the variability"
        )

    rng = np.random.default_rng(seed)
    flat_a = tables_a.reshape(n_studies, -1)
    flat_b = tables_b.reshape(n_studies, -1)
    q = tables_a.shape[-1]
    uniform = np.full(n_studies, 1.0 / n_studies)
    differences: list[FloatArray] = []
    done = 0
    while done < n_resamples:
        check_cancel(cancel)
        size = min(_CHUNK, n_resamples - done)
        # A multinomial draw is how often each study is picked in n_studies draws with
        # replacement: the weights of one bootstrap sample.
        weights = rng.multinomial(n_studies, uniform, size=size).astype(np.float64)
        boot_a = coefficient_values((weights @ flat_a).reshape(size, q, q), coefficient)
        boot_b = coefficient_values((weights @ flat_b).reshape(size, q, q), coefficient)
        differences.append(boot_a - boot_b)
        done += size
    boot = np.concatenate(differences)
    finite = boot[np.isfinite(boot)]
    notes: list[str] = []
    if finite.size < boot.size:
        notes.append(f"{boot.size - finite.size} resamples left the coefficient undefined")
    if n_studies < 10:
        notes.append(f"only {n_studies} studies: the bootstrap interval is unreliable")
    if finite.size == 0 or math.isnan(difference):
        return replace(base, note="; ".join(notes or ["difference undefined"]))
    alpha = 1.0 - confidence
    ci_low, ci_high = (float(v) for v in np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0]))
    below = (int(np.sum(finite <= 0.0)) + 1) / (finite.size + 1)
    above = (int(np.sum(finite >= 0.0)) + 1) / (finite.size + 1)
    p_value = min(1.0, 2.0 * min(below, above))
    return replace(base, ci_low=ci_low, ci_high=ci_high, p_value=p_value, note="; ".join(notes))
