"""The paper's statistics for any model or reader against a reference standard.

Agreement (Gwet's AC1 and Cohen's kappa), diagnostic accuracy (sensitivity and specificity with
exact CIs, AUC with DeLong CIs), the per-study high-grade analysis and paired-bootstrap reader
comparisons, as in Hallinan et al. (Front. Oncol. 2023), with Tables 6-11 as Markdown, CSV and
PDF. numpy/scipy for the statistics, reportlab for the PDF.

Typical use::

    reference = read_readings_csv("ref.csv", name="reference")
    readers = [read_readings_csv("rad1.csv", name="Rad 1"), read_readings_csv("dl.csv", name="DL")]
    report = evaluate_predictions(reference, readers)
    write_tables(report, "out/")
    write_pdf(report, "out/evaluation.pdf")
"""

from __future__ import annotations

from mscc_desktop.evaluation.accuracy import (
    DiagnosticAccuracy,
    Proportion,
    clopper_pearson,
    diagnostic_accuracy,
)
from mscc_desktop.evaluation.agreement import (
    AgreementEstimate,
    Coefficient,
    Strength,
    cohen_kappa,
    confusion_table,
    gwet_ac1,
    landis_koch,
)
from mscc_desktop.evaluation.auc import AucEstimate, AucSource, RocCurve, delong_auc, roc_curve
from mscc_desktop.evaluation.bootstrap import (
    DEFAULT_RESAMPLES,
    Level,
    ReaderComparison,
    compare_agreement,
)
from mscc_desktop.evaluation.model_reader import AnalyseStudy, model_readings, reading_from_slice
from mscc_desktop.evaluation.pdf import write_pdf
from mscc_desktop.evaluation.readings import AlignedSet, ImageReading, Readings, align
from mscc_desktop.evaluation.readings_io import (
    read_labels_folder,
    read_readings_csv,
    write_readings_csv,
)
from mscc_desktop.evaluation.report import (
    EvaluationReport,
    ReaderResult,
    SchemeAgreement,
    StudyResult,
    evaluate_predictions,
)
from mscc_desktop.evaluation.schemes import Scheme
from mscc_desktop.evaluation.table_format import ReportTable
from mscc_desktop.evaluation.tables import report_tables
from mscc_desktop.evaluation.writers import markdown_report, write_tables

__all__ = [
    "DEFAULT_RESAMPLES",
    "AgreementEstimate",
    "AlignedSet",
    "AnalyseStudy",
    "AucEstimate",
    "AucSource",
    "Coefficient",
    "DiagnosticAccuracy",
    "EvaluationReport",
    "ImageReading",
    "Level",
    "Proportion",
    "ReaderComparison",
    "ReaderResult",
    "Readings",
    "ReportTable",
    "RocCurve",
    "Scheme",
    "SchemeAgreement",
    "Strength",
    "StudyResult",
    "align",
    "clopper_pearson",
    "cohen_kappa",
    "compare_agreement",
    "confusion_table",
    "delong_auc",
    "diagnostic_accuracy",
    "evaluate_predictions",
    "gwet_ac1",
    "landis_koch",
    "markdown_report",
    "model_readings",
    "read_labels_folder",
    "read_readings_csv",
    "reading_from_slice",
    "report_tables",
    "roc_curve",
    "write_pdf",
    "write_readings_csv",
    "write_tables",
]
