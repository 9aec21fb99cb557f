"""Formatting of the evaluation tables: rounding as the paper prints, CSV columns and cells."""

from __future__ import annotations

import math
from dataclasses import dataclass

from mscc_desktop.evaluation.accuracy import DiagnosticAccuracy, Proportion
from mscc_desktop.evaluation.agreement import AgreementEstimate
from mscc_desktop.evaluation.auc import AucEstimate

CsvValue = str | int | float | None

_AC1_COLUMNS = ("ac1", "ac1_se", "ac1_ci_low", "ac1_ci_high", "ac1_p", "ac1_strength")
_KAPPA_COLUMNS = tuple(c.replace("ac1", "kappa") for c in _AC1_COLUMNS)
_COUNT_COLUMNS = ("n_positive", "n_negative", "tp", "fn", "tn", "fp")
_ACCURACY_COLUMNS = (
    *("sensitivity", "sensitivity_ci_low", "sensitivity_ci_high"),
    *("specificity", "specificity_ci_low", "specificity_ci_high"),
    *("auc", "auc_se", "auc_ci_low", "auc_ci_high", "auc_source"),
)

AGREEMENT_CSV_COLUMNS: tuple[str, ...] = (
    "reader",
    "n_images",
    *_AC1_COLUMNS,
    *_KAPPA_COLUMNS,
    "percent_agreement",
    "note",
)
"""Columns of tables 6, 7 and 9 (values as fractions; empty cell = undefined)."""
ACCURACY_CSV_COLUMNS: tuple[str, ...] = (
    "reader",
    "n_images",
    *_COUNT_COLUMNS,
    *_ACCURACY_COLUMNS,
    "note",
)
"""Columns of tables 8 and 10."""
STUDY_CSV_COLUMNS: tuple[str, ...] = (
    "reader",
    "n_studies",
    *_COUNT_COLUMNS,
    *_AC1_COLUMNS,
    *_KAPPA_COLUMNS,
    *_ACCURACY_COLUMNS,
    "note",
)
"""Columns of table 11."""
COMPARISON_CSV_COLUMNS: tuple[str, ...] = (
    "level",
    "scheme",
    "coefficient",
    "reader_a",
    "reader_b",
    "value_a",
    "value_b",
    "difference",
    "ci_low",
    "ci_high",
    "p_value",
    "n_resamples",
    "n_studies",
    "seed",
    "note",
)
"""Columns of the comparisons table."""


@dataclass(frozen=True, slots=True)
class ReportTable:
    """One output table: display form for Markdown/PDF, full-precision form for CSV."""

    key: str  # "table6" ... "table11", "comparisons"
    file_stem: str  # CSV file name without ".csv"
    title: str
    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    csv_columns: tuple[str, ...]
    csv_rows: tuple[tuple[CsvValue, ...], ...]


def num(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def format_p(p: float) -> str:
    """p-value as the paper prints it: "<0.001" or three decimals."""
    if math.isnan(p):
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def format_estimate(value: float, low: float, high: float, *, digits: int = 3) -> str:
    """ "0.872 (0.859-0.886)"; "undefined" for NaN; the interval omitted when unknown."""
    if math.isnan(value):
        return "undefined"
    text = f"{value:.{digits}f}"
    if math.isnan(low) or math.isnan(high):
        return text
    return f"{text} ({low:.{digits}f}–{high:.{digits}f})"


def format_percent(proportion: Proportion) -> str:
    if not proportion.defined:
        return "undefined"
    return format_estimate(
        100 * proportion.value, 100 * proportion.ci_low, 100 * proportion.ci_high, digits=2
    )


def agreement_cells(estimate: AgreementEstimate) -> tuple[str, str, str]:
    return (
        format_estimate(estimate.value, estimate.ci_low, estimate.ci_high),
        format_p(estimate.p_value),
        estimate.strength.value,
    )


def agreement_csv(estimate: AgreementEstimate) -> tuple[CsvValue, ...]:
    return (
        num(estimate.value),
        num(estimate.se),
        num(estimate.ci_low),
        num(estimate.ci_high),
        num(estimate.p_value),
        estimate.strength.value,
    )


def accuracy_csv(accuracy: DiagnosticAccuracy) -> tuple[CsvValue, ...]:
    sens, spec, auc = accuracy.sensitivity, accuracy.specificity, accuracy.auc
    return (
        num(sens.value),
        num(sens.ci_low),
        num(sens.ci_high),
        num(spec.value),
        num(spec.ci_low),
        num(spec.ci_high),
        num(auc.value),
        num(auc.se),
        num(auc.ci_low),
        num(auc.ci_high),
        auc.source.value,
    )


def auc_text(auc: AucEstimate) -> str:
    return format_estimate(auc.value, auc.ci_low, auc.ci_high)


def join_notes(*parts: str | tuple[str, ...]) -> str:
    flat: list[str] = []
    for part in parts:
        for note in (part,) if isinstance(part, str) else part:
            if note and note not in flat:
                flat.append(note)
    return "; ".join(flat)
