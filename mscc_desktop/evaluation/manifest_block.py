"""One reader's results as a plain, JSON-ready dict: what a model manifest's ``evaluation``
block records (``mscc-desktop evaluate --model ... --write-manifest``)."""

from __future__ import annotations

from typing import Any

from mscc_desktop.evaluation.accuracy import DiagnosticAccuracy, Proportion
from mscc_desktop.evaluation.agreement import AgreementEstimate
from mscc_desktop.evaluation.auc import AucEstimate
from mscc_desktop.evaluation.report import EvaluationReport
from mscc_desktop.evaluation.schemes import Scheme


def _estimate(value: AgreementEstimate | AucEstimate | Proportion) -> dict[str, float]:
    return {
        "value": round(float(value.value), 4),
        "ci_low": round(float(value.ci_low), 4),
        "ci_high": round(float(value.ci_high), 4),
    }


def _accuracy(accuracy: DiagnosticAccuracy) -> dict[str, Any]:
    return {
        "sensitivity": _estimate(accuracy.sensitivity),
        "specificity": _estimate(accuracy.specificity),
        "auc": _estimate(accuracy.auc),
        "tp_fn_tn_fp": [accuracy.tp, accuracy.fn, accuracy.tn, accuracy.fp],
    }


def reader_summary(report: EvaluationReport, name: str) -> dict[str, Any]:
    """The paper's headline figures for reader ``name``, each with its 95 % CI: three-class
    Gwet's AC1 and Cohen's kappa, high grade and any MSCC per image (sensitivity,
    specificity, AUC), and the per-study high-grade analysis."""
    reader = report.reader(name)
    three = reader.agreement[Scheme.THREE_CLASS]
    return {
        "reference": report.reference_name,
        "n_images": reader.n_images,
        "n_studies": report.n_studies,
        "n_studies_high_grade": report.n_studies_high_grade,
        "degenerative_excluded": report.n_excluded_degenerative,
        "confidence": report.confidence,
        "three_class_ac1": _estimate(three.ac1),
        "three_class_kappa": _estimate(three.kappa),
        "three_class_table": [list(row) for row in three.table],
        "high_grade_per_image": _accuracy(reader.accuracy[Scheme.HIGH_GRADE]),
        "any_mscc_per_image": _accuracy(reader.accuracy[Scheme.ANY_MSCC]),
        "high_grade_per_study": _accuracy(reader.per_study.accuracy),
    }
