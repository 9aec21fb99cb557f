"""Markdown and CSV files of an evaluation (the PDF lives in :mod:`.pdf`)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from mscc_desktop.core.errors import ExportError
from mscc_desktop.core.grades import GROUP_ORDER
from mscc_desktop.evaluation.report import EvaluationReport
from mscc_desktop.evaluation.table_format import CsvValue, ReportTable
from mscc_desktop.evaluation.tables import reader_notes, report_tables

MARKDOWN_FILE = "evaluation.md"


def summary_lines(report: EvaluationReport) -> list[str]:
    """What was evaluated, in a few sentences (shared by Markdown and PDF)."""
    counts = ", ".join(
        f"{group.label.lower()} {report.reference_counts[group]}" for group in GROUP_ORDER
    )
    source = f" ({report.reference_source})" if report.reference_source else ""
    lines = [
        f"Reference standard: {report.reference_name}{source}.",
        f"{report.n_images} images in {report.n_studies} studies ({counts}); "
        f"{report.n_studies_high_grade} studies with a high-grade image.",
    ]
    if report.include_degenerative:
        lines.append("Degenerative-flagged images are included (--include-degenerative).")
    else:
        lines.append(
            f"{report.n_excluded_degenerative} degenerative-flagged images excluded "
            "(as in the paper)."
        )
    lines.extend(reader_notes(reader) + "." for reader in report.readers)
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: ReportTable) -> str:
    """A GitHub-flavoured Markdown table with its title and caption."""
    lines = [f"## {table.title}", "", table.caption, ""]
    lines.append("| " + " | ".join(_cell(h) for h in table.headers) + " |")
    lines.append("|" + "|".join("---" for _ in table.headers) + "|")
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows)
    return "\n".join(lines) + "\n"


def markdown_report(report: EvaluationReport) -> str:
    """The whole evaluation as one Markdown document."""
    parts = ["# Evaluation against the reference standard", ""]
    parts.extend(f"- {line}" for line in summary_lines(report))
    parts.append("")
    parts.extend(markdown_table(table) for table in report_tables(report))
    return "\n".join(parts)


def _csv_text(value: CsvValue) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_csv(table: ReportTable, path: str | os.PathLike[str]) -> Path:
    """One table as CSV: header ``table.csv_columns``, empty cells for undefined values."""
    file = Path(path)
    with file.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(table.csv_columns)
        writer.writerows([_csv_text(v) for v in row] for row in table.csv_rows)
    return file


def write_tables(report: EvaluationReport, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``evaluation.md`` and one CSV per table into ``out_dir`` (created if needed)."""
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        written = [folder / MARKDOWN_FILE]
        written[0].write_text(markdown_report(report), encoding="utf-8")
        for table in report_tables(report):
            written.append(write_csv(table, folder / f"{table.file_stem}.csv"))
    except OSError as error:
        raise ExportError(
            f"{folder}: cannot write the evaluation tables ({error.strerror})"
        ) from error
    return written
