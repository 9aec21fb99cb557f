"""The output tables for a toy reader match a hand computation, cell by cell."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mscc_desktop.evaluation import (
    EvaluationReport,
    Scheme,
    evaluate_predictions,
    markdown_report,
    report_tables,
    write_tables,
)
from mscc_desktop.evaluation.table_format import (
    ACCURACY_CSV_COLUMNS,
    AGREEMENT_CSV_COLUMNS,
    COMPARISON_CSV_COLUMNS,
    STUDY_CSV_COLUMNS,
)
from tests.evaluation.helpers import readings

# study, image, reference, toy reader
TOY = [
    ("S1", "a", "normal", "normal"),
    ("S1", "b", "low", "low"),
    ("S1", "c", "high", "high"),
    ("S1", "d", "normal", "low"),
    ("S2", "e", "normal", "normal"),
    ("S2", "f", "normal", "normal"),
    ("S2", "g", "high", "low"),
    ("S3", "h", "normal", "normal"),
    ("S3", "i", "low", "normal"),
    ("S3", "j", "normal", "normal"),
]

# Hand computation (rows reference, columns reader; n = 10).
# Three grades: [[5, 1, 0], [1, 1, 0], [0, 1, 1]]; pa = 7/10.
#   pi = ((6+6)/20, (2+3)/20, (2+1)/20) = (0.60, 0.25, 0.15)
#   pe = (0.6*0.4 + 0.25*0.75 + 0.15*0.85) / 2 = 0.2775 -> AC1 = 0.4225 / 0.7225
#   Cohen pe = 0.6*0.6 + 0.2*0.3 + 0.2*0.1 = 0.44 -> kappa = 0.26 / 0.56
# Normal vs any: positives b, c, g, i; reader calls b, c, d, g -> TP 3, FN 1 (i), TN 5, FP 1 (d)
#   [[5, 1], [1, 3]]: pa = 0.8, pi = (0.6, 0.4), pe = 0.48 -> AC1 = 0.32 / 0.52
#   Cohen pe = 0.36 + 0.16 = 0.52 -> kappa = 0.28 / 0.48; sens 3/4, spec 5/6
# High grade: positives c, g; reader calls c -> TP 1, FN 1 (g), TN 8, FP 0
#   [[8, 0], [1, 1]]: pa = 0.9, pi = (0.85, 0.15), pe = 0.255 -> AC1 = 0.645 / 0.745
#   Cohen pe = 0.8*0.9 + 0.2*0.1 = 0.74 -> kappa = 0.16 / 0.26; sens 1/2, spec 8/8
# Per study (any high-grade image): reference S1 +, S2 +, S3 -; reader S1 +, S2 -, S3 -
#   TP 1, FN 1, TN 1, FP 0; [[1, 0], [1, 1]]: pa = 2/3, pi = (0.5, 0.5), pe = 0.5 -> AC1 = 1/3
#   Cohen pe = (1/3)(2/3) + (2/3)(1/3) = 4/9 -> kappa = (2/9) / (5/9) = 0.4; sens 1/2, spec 1/1
# Label-only AUC = (sens + spec) / 2.
HAND = {
    "table6": {"ac1": 0.4225 / 0.7225, "kappa": 0.26 / 0.56, "percent_agreement": 0.7},
    "table7": {"ac1": 0.32 / 0.52, "kappa": 0.28 / 0.48, "percent_agreement": 0.8},
    "table9": {"ac1": 0.645 / 0.745, "kappa": 0.16 / 0.26, "percent_agreement": 0.9},
    "table8": {"tp": 3, "fn": 1, "tn": 5, "fp": 1, "sensitivity": 3 / 4, "specificity": 5 / 6},
    "table10": {"tp": 1, "fn": 1, "tn": 8, "fp": 0, "sensitivity": 1 / 2, "specificity": 1.0},
    "table11": {
        "tp": 1, "fn": 1, "tn": 1, "fp": 0, "sensitivity": 1 / 2, "specificity": 1.0,
        "ac1": 1 / 3, "kappa": 0.4,
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def toy_report() -> EvaluationReport:
    reference = readings("reference", [(s, i, r) for s, i, r, _ in TOY])
    toy = readings("Toy", [(s, i, t) for s, i, _, t in TOY])
    perfect = readings("Perfect", [(s, i, r) for s, i, r, _ in TOY])
    return evaluate_predictions(reference, [toy, perfect], n_resamples=200, seed=3)


def _csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return {row["reader"]: row for row in reader}


def test_csv_tables_match_the_hand_computation(
    toy_report: EvaluationReport, tmp_path: Path
) -> None:
    written = {p.name for p in write_tables(toy_report, tmp_path)}
    assert written == {
        "evaluation.md",
        "table6_agreement_three_class.csv",
        "table7_agreement_normal_vs_any.csv",
        "table8_accuracy_normal_vs_any.csv",
        "table9_agreement_high_grade.csv",
        "table10_accuracy_high_grade.csv",
        "table11_per_study_high_grade.csv",
        "comparisons.csv",
    }
    stems = {t.key: t.file_stem for t in report_tables(toy_report)}
    for key, expected in HAND.items():
        rows = _csv(tmp_path / f"{stems[key]}.csv")
        row = rows["Toy"]
        for column, value in expected.items():
            assert float(row[column]) == pytest.approx(value, abs=1e-12), (key, column)
        if key in ("table8", "table10", "table11"):
            label_auc = (expected["sensitivity"] + expected["specificity"]) / 2
            assert float(row["auc"]) == pytest.approx(label_auc, abs=1e-12)
            assert row["auc_source"] == "labels"
        # The perfect reader agrees perfectly everywhere.
        if "ac1" in expected:
            assert float(rows["Perfect"]["ac1"]) == 1.0


def test_csv_columns_are_the_documented_ones(toy_report: EvaluationReport, tmp_path: Path) -> None:
    write_tables(toy_report, tmp_path)
    expected = {
        "table6_agreement_three_class.csv": AGREEMENT_CSV_COLUMNS,
        "table8_accuracy_normal_vs_any.csv": ACCURACY_CSV_COLUMNS,
        "table11_per_study_high_grade.csv": STUDY_CSV_COLUMNS,
        "comparisons.csv": COMPARISON_CSV_COLUMNS,
    }
    for name, columns in expected.items():
        header = (tmp_path / name).read_text(encoding="utf-8").splitlines()[0]
        assert header == ",".join(columns)
    assert AGREEMENT_CSV_COLUMNS[:4] == ("reader", "n_images", "ac1", "ac1_se")
    assert "kappa_ci_high" in STUDY_CSV_COLUMNS and "auc_source" in STUDY_CSV_COLUMNS


def test_markdown_rows_are_rounded_as_in_the_paper(toy_report: EvaluationReport) -> None:
    text = markdown_report(toy_report)
    ac1 = toy_report.reader("Toy").agreement[Scheme.THREE_CLASS].ac1
    assert f"| Toy | 10 | 0.585 ({ac1.ci_low:.3f}–{ac1.ci_high:.3f}) |" in text
    # Table 8: sensitivity 75.00 %, specificity 83.33 %, counts shown for checking by hand.
    assert "| Toy | 3 / 1 / 5 / 1 | 75.00 (19.41–99.37) | 83.33 (35.88–99.58) | 0.792" in text
    assert "## Table 11: high-grade MSCC per CT study" in text
    assert "3 studies, 2 with a high-grade image in the reference" in text
    assert "Comparisons: difference in Gwet's AC1 between readers" in text


def test_comparison_rows_are_reader_a_minus_reader_b(toy_report: EvaluationReport) -> None:
    three_class = toy_report.comparisons[0]
    assert (three_class.reader_a, three_class.reader_b) == ("Toy", "Perfect")
    assert three_class.difference == pytest.approx(0.4225 / 0.7225 - 1.0, abs=1e-12)
    assert "only 3 studies" in three_class.note
    assert len(toy_report.comparisons) == 4  # three image-level schemes + per study


def test_undefined_values_are_empty_cells_and_words(tmp_path: Path) -> None:
    """No high-grade image anywhere: high-grade sensitivity and AUC are undefined, not errors."""
    rows = [("S1", "a", "normal"), ("S1", "b", "low"), ("S2", "c", "normal")]
    report = evaluate_predictions(readings("reference", rows), [readings("R", rows)])
    write_tables(report, tmp_path)
    table10 = _csv(tmp_path / "table10_accuracy_high_grade.csv")
    assert table10["R"]["sensitivity"] == ""
    assert table10["R"]["auc"] == ""
    assert "no positive cases" in table10["R"]["note"]
    assert "| R | 0 / 0 / 3 / 0 | undefined |" in markdown_report(report)
