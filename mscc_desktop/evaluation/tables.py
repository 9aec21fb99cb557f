"""The paper's Tables 6-11 (and a comparisons table) built from an :class:`EvaluationReport`.

Numbering follows Hallinan et al. (2023):

- Table 6: inter-rater agreement, three-grade classification (normal / low / high)
- Table 7: inter-rater agreement, normal versus any grade of MSCC
- Table 8: sensitivity, specificity and AUC, normal versus any grade of MSCC
- Table 9: inter-rater agreement, normal/low versus high-grade MSCC
- Table 10: sensitivity, specificity and AUC, normal/low versus high-grade MSCC
- Table 11: high-grade MSCC per CT study ("any high-grade image in the study")
- Comparisons: AC1 of the base reader minus each other reader, paired bootstrap over studies

Each table has display rows (rounded as the paper prints them: coefficients to 3 decimals,
percentages to 2) and CSV rows (full precision, proportions as fractions 0-1, empty cells for
undefined values).
"""

from __future__ import annotations

from collections.abc import Callable

from mscc_desktop.evaluation.bootstrap import Level, ReaderComparison
from mscc_desktop.evaluation.report import EvaluationReport, ReaderResult, SchemeAgreement
from mscc_desktop.evaluation.schemes import Scheme
from mscc_desktop.evaluation.table_format import (
    ACCURACY_CSV_COLUMNS,
    AGREEMENT_CSV_COLUMNS,
    COMPARISON_CSV_COLUMNS,
    STUDY_CSV_COLUMNS,
    CsvValue,
    ReportTable,
    accuracy_csv,
    agreement_cells,
    agreement_csv,
    auc_text,
    format_estimate,
    format_p,
    format_percent,
    join_notes,
    num,
)


def _agreement_notes(agreement: SchemeAgreement) -> str:
    ac1, kappa = agreement.ac1.note, agreement.kappa.note
    if ac1 and ac1 == kappa:
        return f"AC1 and kappa: {ac1}"
    return join_notes(f"AC1: {ac1}" if ac1 else "", f"kappa: {kappa}" if kappa else "")


_AGREEMENT_HEADERS = (
    "Reader",
    "Images",
    "Gwet's AC1 (95% CI)",
    "P value",
    "Agreement",
    "Cohen's kappa (95% CI)",
    "P value",
    "Agreement",
    "Notes",
)


def agreement_table(report: EvaluationReport, scheme: Scheme, key: str) -> ReportTable:
    """Tables 6, 7 and 9: AC1 and Cohen's kappa of each reader under ``scheme``."""
    rows: list[tuple[str, ...]] = []
    csv_rows: list[tuple[CsvValue, ...]] = []
    for reader in report.readers:
        agreement = reader.agreement[scheme]
        note = _agreement_notes(agreement)
        rows.append(
            (
                reader.name,
                str(reader.n_images),
                *agreement_cells(agreement.ac1),
                *agreement_cells(agreement.kappa),
                note,
            )
        )
        csv_rows.append(
            (
                reader.name,
                reader.n_images,
                *agreement_csv(agreement.ac1),
                *agreement_csv(agreement.kappa),
                agreement.ac1.percent_agreement,
                note,
            )
        )
    slug = {Scheme.THREE_CLASS: "three_class", Scheme.ANY_MSCC: "normal_vs_any"}.get(
        scheme, "high_grade"
    )
    return ReportTable(
        key=key,
        file_stem=f"{key}_agreement_{slug}",
        title=f"{key.replace('table', 'Table ')}: inter-rater agreement, {scheme.display_name}",
        caption=(
            f"Gwet's AC1 (the paper's \"Gwet's kappa\") and Cohen's kappa of each reader against "
            f"the reference standard ({report.reference_name}), one subject per image. "
            "95% CI and p-value (H0: coefficient = 0) from Gwet's linearised variance, "
            "t distribution with n - 1 df. Agreement: Landis & Koch."
        ),
        headers=_AGREEMENT_HEADERS,
        rows=tuple(rows),
        csv_columns=AGREEMENT_CSV_COLUMNS,
        csv_rows=tuple(csv_rows),
    )


_ACCURACY_HEADERS = (
    "Reader",
    "TP / FN / TN / FP",
    "Sensitivity % (95% CI)",
    "Specificity % (95% CI)",
    "AUC (95% CI)",
    "AUC from",
    "Notes",
)


def accuracy_table(report: EvaluationReport, scheme: Scheme, key: str) -> ReportTable:
    """Tables 8 and 10: sensitivity, specificity (exact CI) and AUC (DeLong CI)."""
    rows: list[tuple[str, ...]] = []
    csv_rows: list[tuple[CsvValue, ...]] = []
    for reader in report.readers:
        acc = reader.accuracy[scheme]
        note = join_notes(acc.notes)
        rows.append(
            (
                reader.name,
                f"{acc.tp} / {acc.fn} / {acc.tn} / {acc.fp}",
                format_percent(acc.sensitivity),
                format_percent(acc.specificity),
                auc_text(acc.auc),
                acc.auc.source.value,
                note,
            )
        )
        csv_rows.append(
            (
                reader.name,
                reader.n_images,
                acc.n_positive,
                acc.n_negative,
                acc.tp,
                acc.fn,
                acc.tn,
                acc.fp,
                *accuracy_csv(acc),
                note,
            )
        )
    slug = "normal_vs_any" if scheme is Scheme.ANY_MSCC else "high_grade"
    return ReportTable(
        key=key,
        file_stem=f"{key}_accuracy_{slug}",
        title=f"{key.replace('table', 'Table ')}: sensitivity, specificity and AUC, "
        f"{scheme.display_name}",
        caption=(
            f"Positive: {scheme.positive_label}; one subject per image. Sensitivity and "
            "specificity with exact (Clopper-Pearson) 95% CI; AUC with DeLong 95% CI, from the "
            "reader's probabilities when given ('probabilities'), else from its labels "
            "('labels': AUC = (sensitivity + specificity) / 2)."
        ),
        headers=_ACCURACY_HEADERS,
        rows=tuple(rows),
        csv_columns=ACCURACY_CSV_COLUMNS,
        csv_rows=tuple(csv_rows),
    )


_STUDY_HEADERS = (
    "Reader",
    "TP / FN / TN / FP",
    "Gwet's AC1 (95% CI)",
    "P value",
    "Cohen's kappa (95% CI)",
    "P value",
    "Sensitivity % (95% CI)",
    "Specificity % (95% CI)",
    "AUC (95% CI)",
    "AUC from",
    "Notes",
)


def study_table(report: EvaluationReport, key: str = "table11") -> ReportTable:
    """Table 11: high-grade MSCC per CT study."""
    rows: list[tuple[str, ...]] = []
    csv_rows: list[tuple[CsvValue, ...]] = []
    for reader in report.readers:
        study = reader.per_study
        acc, agr = study.accuracy, study.agreement
        note = join_notes(_agreement_notes(agr), acc.notes)
        rows.append(
            (
                reader.name,
                f"{acc.tp} / {acc.fn} / {acc.tn} / {acc.fp}",
                format_estimate(agr.ac1.value, agr.ac1.ci_low, agr.ac1.ci_high),
                format_p(agr.ac1.p_value),
                format_estimate(agr.kappa.value, agr.kappa.ci_low, agr.kappa.ci_high),
                format_p(agr.kappa.p_value),
                format_percent(acc.sensitivity),
                format_percent(acc.specificity),
                auc_text(acc.auc),
                acc.auc.source.value,
                note,
            )
        )
        csv_rows.append(
            (
                reader.name,
                report.n_studies,
                acc.n_positive,
                acc.n_negative,
                acc.tp,
                acc.fn,
                acc.tn,
                acc.fp,
                *agreement_csv(agr.ac1),
                *agreement_csv(agr.kappa),
                *accuracy_csv(acc),
                note,
            )
        )
    return ReportTable(
        key=key,
        file_stem=f"{key}_per_study_high_grade",
        title="Table 11: high-grade MSCC per CT study",
        caption=(
            f"{report.n_studies} studies, {report.n_studies_high_grade} with a high-grade image in "
            "the reference. A study is positive when any of its images is graded high grade; a "
            "reader with probabilities scores a study by its largest P(high) (used for the AUC)."
        ),
        headers=_STUDY_HEADERS,
        rows=tuple(rows),
        csv_columns=STUDY_CSV_COLUMNS,
        csv_rows=tuple(csv_rows),
    )


def _analysis_name(comparison: ReaderComparison) -> str:
    if comparison.level is Level.STUDY:
        return "High grade per study"
    return comparison.scheme.display_name


def comparison_table(report: EvaluationReport) -> ReportTable:
    """AC1 differences between the base reader and each other reader."""
    rows: list[tuple[str, ...]] = []
    csv_rows: list[tuple[CsvValue, ...]] = []
    for c in report.comparisons:
        rows.append(
            (
                _analysis_name(c),
                c.reader_a,
                c.reader_b,
                f"{c.value_a:.3f}",
                f"{c.value_b:.3f}",
                format_estimate(c.difference, c.ci_low, c.ci_high),
                format_p(c.p_value),
                c.note,
            )
        )
        csv_rows.append(
            (
                c.level.value,
                c.scheme.value,
                c.coefficient.value,
                c.reader_a,
                c.reader_b,
                num(c.value_a),
                num(c.value_b),
                num(c.difference),
                num(c.ci_low),
                num(c.ci_high),
                num(c.p_value),
                c.n_resamples,
                c.n_studies,
                c.seed,
                c.note,
            )
        )
    return ReportTable(
        key="comparisons",
        file_stem="comparisons",
        title="Comparisons: difference in Gwet's AC1 between readers",
        caption=(
            f"Reader A's AC1 minus reader B's, on the same images. 95% CI: percentile interval "
            f"of {report.n_resamples} paired bootstrap samples of STUDIES (images within a "
            "study are correlated, so studies, not images, are resampled; seed "
            f"{report.seed}). p: two-sided, from the bootstrap distribution."
        ),
        headers=(
            "Analysis",
            "Reader A",
            "Reader B",
            "AC1 A",
            "AC1 B",
            "Difference (95% CI)",
            "P value",
            "Notes",
        ),
        rows=tuple(rows),
        csv_columns=COMPARISON_CSV_COLUMNS,
        csv_rows=tuple(csv_rows),
    )


TABLE_BUILDERS: tuple[Callable[[EvaluationReport], ReportTable], ...] = (
    lambda r: agreement_table(r, Scheme.THREE_CLASS, "table6"),
    lambda r: agreement_table(r, Scheme.ANY_MSCC, "table7"),
    lambda r: accuracy_table(r, Scheme.ANY_MSCC, "table8"),
    lambda r: agreement_table(r, Scheme.HIGH_GRADE, "table9"),
    lambda r: accuracy_table(r, Scheme.HIGH_GRADE, "table10"),
    study_table,
)


def report_tables(report: EvaluationReport) -> tuple[ReportTable, ...]:
    """Tables 6-11, then the comparisons table when readers were compared."""
    tables = [build(report) for build in TABLE_BUILDERS]
    if report.comparisons:
        tables.append(comparison_table(report))
    return tuple(tables)


def reader_notes(reader: ReaderResult) -> str:
    """One line on how a reader was scored (for summaries)."""
    basis = "probabilities" if reader.has_probabilities else "labels only"
    return f"{reader.name}: {reader.n_images} images, AUC from {basis}"
