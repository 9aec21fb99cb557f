"""The evaluation PDF: every table and the ROC charts, also when a class is missing."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import pytest

from mscc_desktop.core.errors import ExportError
from mscc_desktop.evaluation import evaluate_predictions, write_pdf
from tests.evaluation.helpers import readings


def _text(path: Path) -> str:
    pdf = pdfium.PdfDocument(path)
    text = " ".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    return " ".join(text.split())  # table cells wrap; compare words, not line breaks


def test_pdf_without_high_grade_cases_says_undefined(tmp_path: Path) -> None:
    rows = [("S1", "a", "normal"), ("S1", "b", "low"), ("S2", "c", "normal")]
    probs = [(0.8, 0.1, 0.1), (0.3, 0.6, 0.1), (0.7, 0.2, 0.1)]
    report = evaluate_predictions(
        readings("reference", rows), [readings("Model", rows, probabilities=probs)]
    )
    text = _text(write_pdf(report, tmp_path / "evaluation.pdf"))
    assert "Model: undefined" in text  # the high-grade ROC legends: no positive case
    assert "Model: AUC 1.000" in text  # normal vs any MSCC is defined
    assert "sensitivity undefined: no positive cases in the reference" in text
    for table in ("Table 6", "Table 7", "Table 8", "Table 9", "Table 10", "Table 11"):
        assert table in text
    assert "Comparisons" not in text  # one reader: nothing to compare


def test_pdf_write_failure_is_an_export_error(tmp_path: Path) -> None:
    rows = [("S1", "a", "normal"), ("S2", "b", "high")]
    report = evaluate_predictions(readings("reference", rows), [readings("R", rows)])
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(ExportError, match="cannot write the evaluation PDF"):
        write_pdf(report, blocked / "evaluation.pdf")
