"""One evaluation: every reader against the reference, at image and study level, compared.

:func:`evaluate_predictions` is the single entry point the CLI (reader files), the model path
(``--model``) and tests feed; the tables, Markdown, CSV and PDF are views of its
:class:`EvaluationReport`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mscc_desktop.core.errors import EvaluationInputError
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report
from mscc_desktop.evaluation.accuracy import DiagnosticAccuracy, diagnostic_accuracy
from mscc_desktop.evaluation.agreement import (
    AgreementEstimate,
    Coefficient,
    cohen_kappa,
    confusion_table,
    gwet_ac1,
)
from mscc_desktop.evaluation.auc import RocCurve, roc_curve
from mscc_desktop.evaluation.bootstrap import (
    DEFAULT_RESAMPLES,
    Level,
    ReaderComparison,
    compare_agreement,
)
from mscc_desktop.evaluation.per_study import StudyCalls, study_calls
from mscc_desktop.evaluation.readings import (
    AlignedReader,
    AlignedSet,
    IntArray,
    Readings,
    align,
    group_counts,
)
from mscc_desktop.evaluation.schemes import (
    DICHOTOMIES,
    Scheme,
    codes_for,
    positive,
    positive_score,
)


@dataclass(frozen=True, slots=True)
class SchemeAgreement:
    """AC1 and Cohen's kappa of one reader under one scheme, with the contingency table."""

    scheme: Scheme
    table: tuple[tuple[int, ...], ...]  # rows: reference category, columns: reader's
    ac1: AgreementEstimate
    kappa: AgreementEstimate


@dataclass(frozen=True, slots=True)
class StudyResult:
    """The per-study high-grade analysis of one reader (Table 11)."""

    agreement: SchemeAgreement
    accuracy: DiagnosticAccuracy
    roc: RocCurve


@dataclass(frozen=True, slots=True)
class ReaderResult:
    """Everything measured for one reader."""

    name: str
    has_probabilities: bool
    n_images: int
    agreement: Mapping[Scheme, SchemeAgreement]  # all three schemes
    accuracy: Mapping[Scheme, DiagnosticAccuracy]  # the two dichotomies
    roc: Mapping[Scheme, RocCurve]  # the two dichotomies
    per_study: StudyResult


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    """Readers against one reference standard on one set of images."""

    reference_name: str
    reference_source: str
    n_images: int
    n_studies: int
    n_studies_high_grade: int  # studies with a high-grade image in the reference
    n_excluded_degenerative: int
    include_degenerative: bool
    reference_counts: Mapping[GradeGroup, int]
    readers: tuple[ReaderResult, ...]
    comparisons: tuple[ReaderComparison, ...]
    confidence: float
    n_resamples: int
    seed: int | None

    def reader(self, name: str) -> ReaderResult:
        for result in self.readers:
            if result.name == name:
                return result
        raise KeyError(name)


def _scheme_agreement(
    scheme: Scheme, reference: IntArray, reader: IntArray, confidence: float
) -> SchemeAgreement:
    table = confusion_table(
        codes_for(scheme, reference), codes_for(scheme, reader), scheme.n_categories
    )
    return SchemeAgreement(
        scheme=scheme,
        table=tuple(tuple(int(v) for v in row) for row in table),
        ac1=gwet_ac1(table, confidence=confidence),
        kappa=cohen_kappa(table, confidence=confidence),
    )


def _study_result(calls: StudyCalls, confidence: float) -> StudyResult:
    truth = calls.truth.astype(int)
    decision = calls.decision.astype(int)
    table = confusion_table(truth, decision, 2)
    agreement = SchemeAgreement(
        scheme=Scheme.HIGH_GRADE,
        table=tuple(tuple(int(v) for v in row) for row in table),
        ac1=gwet_ac1(table, confidence=confidence),
        kappa=cohen_kappa(table, confidence=confidence),
    )
    accuracy = diagnostic_accuracy(calls.truth, calls.decision, calls.scores, confidence=confidence)
    scores = calls.scores if calls.scores is not None else calls.decision.astype(float)
    return StudyResult(agreement, accuracy, roc_curve(calls.truth, scores))


def _reader_result(aligned: AlignedSet, reader: AlignedReader, confidence: float) -> ReaderResult:
    agreement = {
        scheme: _scheme_agreement(scheme, aligned.reference, reader.codes, confidence)
        for scheme in Scheme
    }
    accuracy: dict[Scheme, DiagnosticAccuracy] = {}
    rocs: dict[Scheme, RocCurve] = {}
    for scheme in DICHOTOMIES:
        truth = positive(scheme, aligned.reference)
        decision = positive(scheme, reader.codes)
        scores = (
            None if reader.probabilities is None else positive_score(scheme, reader.probabilities)
        )
        accuracy[scheme] = diagnostic_accuracy(truth, decision, scores, confidence=confidence)
        rocs[scheme] = roc_curve(truth, decision.astype(float) if scores is None else scores)
    return ReaderResult(
        name=reader.name,
        has_probabilities=reader.probabilities is not None,
        n_images=aligned.n_images,
        agreement=agreement,
        accuracy=accuracy,
        roc=rocs,
        per_study=_study_result(study_calls(aligned, reader), confidence),
    )


COMPARED: tuple[tuple[Level, Scheme], ...] = (
    (Level.IMAGE, Scheme.THREE_CLASS),
    (Level.IMAGE, Scheme.ANY_MSCC),
    (Level.IMAGE, Scheme.HIGH_GRADE),
    (Level.STUDY, Scheme.HIGH_GRADE),
)
"""The analyses each reader pair is compared on (AC1 differences)."""


def evaluate_predictions(
    reference: Readings,
    readers: Sequence[Readings],
    *,
    include_degenerative: bool = False,
    compare_to: str | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int | None = 0,
    confidence: float = 0.95,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> EvaluationReport:
    """Evaluate readers (radiologists, reports, the model) against a reference standard.

    Parameters
    ----------
    reference
        The reference standard, one reading per image (its ``degenerative`` flags decide the
        exclusion).
    readers
        One or more readers with distinct names, each grading the reference's images.
    include_degenerative
        Keep degenerative-flagged images (the paper excluded them; so does the default).
    compare_to
        The reader every other reader is compared with (AC1 difference, paired bootstrap over
        studies); default the first reader. Nothing is compared when there is one reader.
    n_resamples, seed
        Bootstrap settings of the comparisons.
    confidence
        Level of every interval.
    progress, cancel
        Progress callback and cancel token, checked between readers and comparisons.

    Raises
    ------
    EvaluationInputError
        Readers that do not match the reference, duplicated images, unknown ``compare_to``.
    """
    report(progress, 0.0, "matching readers to the reference")
    aligned = align(reference, readers, include_degenerative=include_degenerative)
    names = [r.name for r in aligned.readers]
    base = names[0] if compare_to is None else compare_to
    if base not in names:
        raise EvaluationInputError(
            f"--compare-to {base!r} is not one of the readers ({', '.join(names)})"
        )
    others = [n for n in names if n != base]
    steps = len(names) + len(others) * len(COMPARED)
    done = 0

    results: list[ReaderResult] = []
    for reader in aligned.readers:
        check_cancel(cancel)
        results.append(_reader_result(aligned, reader, confidence))
        done += 1
        report(progress, done / steps, f"measured reader {reader.name}")

    comparisons: list[ReaderComparison] = []
    for other in others:
        for level, scheme in COMPARED:
            check_cancel(cancel)
            comparisons.append(
                compare_agreement(
                    aligned,
                    base,
                    other,
                    scheme=scheme,
                    level=level,
                    coefficient=Coefficient.AC1,
                    n_resamples=n_resamples,
                    seed=seed,
                    confidence=confidence,
                    cancel=cancel,
                )
            )
            done += 1
            report(progress, done / steps, f"compared {base} with {other}")

    study_truth = results[0].per_study.accuracy.n_positive
    return EvaluationReport(
        reference_name=reference.name,
        reference_source=reference.source,
        n_images=aligned.n_images,
        n_studies=aligned.n_studies,
        n_studies_high_grade=study_truth,
        n_excluded_degenerative=aligned.n_excluded_degenerative,
        include_degenerative=include_degenerative,
        reference_counts=group_counts(aligned.reference),
        readers=tuple(results),
        comparisons=tuple(comparisons),
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
    )
