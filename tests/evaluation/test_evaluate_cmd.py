"""``mscc-desktop evaluate`` end to end: files in, tables, PDF and clear errors out.

(Lives with the evaluation tests because this session owns tests/evaluation only.)
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from mscc_desktop.cli import main
from mscc_desktop.evaluation.table_format import AGREEMENT_CSV_COLUMNS

ROWS = [
    # study, image, reference, rad, (p_normal, p_low, p_high) of the model
    ("S1", "1.1", "normal", "normal", (0.90, 0.05, 0.05)),
    ("S1", "1.2", "1b", "low", (0.20, 0.60, 0.20)),
    ("S1", "1.3", "2", "high", (0.05, 0.15, 0.80)),
    ("S2", "2.1", "normal", "low", (0.70, 0.20, 0.10)),
    ("S2", "2.2", "normal", "normal", (0.85, 0.10, 0.05)),
    ("S3", "3.1", "1c", "low", (0.30, 0.30, 0.40)),
    ("S3", "3.2", "normal", "normal", (0.95, 0.03, 0.02)),
    ("S4", "4.1", "normal", "normal", (0.90, 0.05, 0.05)),
]


def _write_inputs(folder: Path) -> tuple[Path, Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    ref, rad, model = folder / "ref.csv", folder / "rad.csv", folder / "dl.csv"
    with ref.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["study", "image_id", "bilsky_grade", "degenerative"])
        writer.writerows((s, i, g, "yes" if i == "4.1" else "no") for s, i, g, _, _ in ROWS)
    with rad.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["study", "image_id", "group"])
        writer.writerows((s, i, r) for s, i, _, r, _ in ROWS)
    with model.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["study", "image_id", "group", "p_normal", "p_low", "p_high"])
        groups = ["normal", "low", "high"]
        for s, i, _, _, p in ROWS:
            writer.writerow([s, i, groups[max(range(3), key=p.__getitem__)], *p])
    return ref, rad, model


def test_writes_tables_csv_and_pdf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, rad, model = _write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    code = main(
        ["evaluate", "--reference", str(ref), "--reader", f"DL={model}", "--reader",
         f"Rad 1={rad}", "--out", str(out), "--bootstrap", "100"]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "7 images in 3 studies" in printed  # 4.1 excluded as degenerative
    assert "DL: " in printed and "Rad 1: " in printed
    names = sorted(p.name for p in out.iterdir())
    assert "evaluation.pdf" in names and "table11_per_study_high_grade.csv" in names
    header = (out / "table6_agreement_three_class.csv").read_text().splitlines()[0]
    assert header == ",".join(AGREEMENT_CSV_COLUMNS)
    pdf = pdfium.PdfDocument(out / "evaluation.pdf")
    text = "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    for expected in ("ROC curves", "Table 6", "Table 11", "Rad 1", "DL: AUC", "Comparisons"):
        assert expected in text


def test_without_out_prints_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, rad, _ = _write_inputs(tmp_path)
    assert main(["evaluate", "--reference", str(ref), "--reader", str(rad)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# Evaluation against the reference standard")
    assert "| rad | 7 |" in printed  # reader named after the file when no NAME= is given
    assert not (tmp_path / "evaluation.md").exists()


def test_include_degenerative(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, rad, _ = _write_inputs(tmp_path)
    code = main(
        ["evaluate", "--reference", str(ref), "--reader", f"R={rad}", "--include-degenerative"]
    )
    assert code == 0
    assert "| R | 8 |" in capsys.readouterr().out


def test_mismatched_ids_exit_1_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref, rad, _ = _write_inputs(tmp_path)
    lines = rad.read_text().splitlines()
    rad.write_text("\n".join(lines[:-3]) + "\n")  # drop S3 and S4's readings
    assert main(["evaluate", "--reference", str(ref), "--reader", f"R={rad}"]) == 1
    error = capsys.readouterr().err
    assert "2 reference image(s) have no reading (e.g. study 'S3' image '3.1'" in error


def test_unknown_grade_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, rad, _ = _write_inputs(tmp_path)
    rad.write_text(rad.read_text().replace("2.1,low", "2.1,moderate"))
    assert main(["evaluate", "--reference", str(ref), "--reader", f"R={rad}"]) == 1
    assert f"{rad}, line 5, column 'group': unknown grade 'moderate'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["evaluate", "--reader", "R=x.csv"], "give --reference"),
        (["evaluate", "--reference", "REF"], "no reader to evaluate"),
        (["evaluate", "--reference", "REF", "--reader", "=x.csv"], "write NAME=FILE"),
    ],
)
def test_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    ref, _, _ = _write_inputs(tmp_path)
    argv = [str(ref) if a == "REF" else a for a in argv]
    assert main(argv) == 1
    assert expected in capsys.readouterr().err


def test_reference_from_a_labelled_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    (data / "S1").mkdir(parents=True)
    (data / "S1" / "labels.csv").write_text(
        "sop_instance_uid,bilsky_grade,group,degenerative\n1.1,0,normal,false\n1.2,3,high,false\n"
    )
    reader = tmp_path / "r.csv"
    reader.write_text("study,image_id,group\nS1,1.1,normal\nS1,1.2,low\n")
    assert main(["evaluate", "--reference", str(data), "--reader", f"R={reader}"]) == 0
    assert "2 images in 1 studies" in capsys.readouterr().out


def test_model_without_pipeline_says_not_available(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    (data / "S1" / "dicom").mkdir(parents=True)
    (data / "S1" / "labels.csv").write_text("sop_instance_uid,group\n1.1,normal\n")
    real_find_spec = importlib.util.find_spec

    def no_pipeline(name: str, package: str | None = None) -> object:
        if name == "mscc_desktop.inference.pipeline":
            return None
        return real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", no_pipeline)
    assert main(["evaluate", "--model", str(data)]) == 1
    assert "--model is not available yet" in capsys.readouterr().err


def test_model_on_generated_studies_writes_its_statistics_into_the_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole --model path: the pipeline runs a real (tiny, random-weight) ONNX model on
    generated DICOM studies, and --write-manifest records the results, still verifiable."""
    pytest.importorskip("torch")
    from mscc_desktop.inference.backends import resolve_model
    from mscc_desktop.synth import GeneratorConfig
    from mscc_desktop.synth.output import generate_dataset
    from tests.installer.model_folder import tiny_default_model

    data = tmp_path / "data"
    generate_dataset(data, 2, 7, GeneratorConfig(matrix=128, max_slices=6), workers=1)
    model = tiny_default_model(tmp_path / "models")
    before = resolve_model(model)
    n_labels = sum(
        len((study / "labels.csv").read_text().splitlines()) - 1
        for study in data.iterdir()
        if (study / "labels.csv").is_file()
    )
    out = tmp_path / "out"
    argv = ["evaluate", "--model", str(data), "--model-id", str(model), "--backend", "onnx-cpu"]
    argv += ["--write-manifest", "--bootstrap", "20", "--out", str(out), "--no-pdf"]
    assert main(argv) == 0
    assert "recorded in" in capsys.readouterr().out
    assert (out / "model_readings.csv").is_file()
    after = resolve_model(model)  # checksums still verify
    assert after.model_sha256 != before.model_sha256
    stats = after.evaluation["paper_statistics"]
    assert stats["data"] == "data" and stats["n_studies"] == 2
    assert 0 < stats["n_images"] <= n_labels
    for key in ("three_class_ac1", "three_class_kappa"):
        low, value, high = (stats[key][k] for k in ("ci_low", "value", "ci_high"))
        assert low <= value <= high
    per_study = stats["high_grade_per_study"]
    assert set(per_study) == {"sensitivity", "specificity", "auc", "tp_fn_tn_fp"}
    assert sum(per_study["tp_fn_tn_fp"]) == 2
    assert sum(map(sum, stats["three_class_table"])) == stats["n_images"]
    # Entries written by the training recipe are kept.
    assert {k: v for k, v in after.evaluation.items() if k != "paper_statistics"} == dict(
        before.evaluation
    )


def test_write_manifest_needs_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, rad, _ = _write_inputs(tmp_path)
    assert (
        main(["evaluate", "--reference", str(ref), "--reader", f"R={rad}", "--write-manifest"]) == 1
    )
    assert "--write-manifest needs --model" in capsys.readouterr().err
