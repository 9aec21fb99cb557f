"""``mscc-desktop analyze`` end to end on generated study folders."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from mscc_desktop import storage
from mscc_desktop.cli import EXIT_ERROR, EXIT_NOTHING, EXIT_OK, EXIT_REFUSED, main
from mscc_desktop.cli.analyze_cmd import SeriesOutcome, _exit_code
from mscc_desktop.core.errors import DicomReadError
from mscc_desktop.inference import backends
from tests.factories.dicom_factory import mr_series, series_info, write_series
from tests.factories.fake_backend import FakeBackend
from tests.factories.model_settings import FAKE_SETTINGS
from tests.inference.conftest import tiny_model_dir, tiny_model_folder  # noqa: F401 (fixtures)
from tests.inference.phantoms import phantom_slice

SETTINGS = FAKE_SETTINGS


def write_study(root: Path, name: str, fills: list[float], *, patient: str) -> None:
    hu = np.stack([phantom_slice(fill=f) for f in fills])
    info = series_info(
        patient_id=patient,
        patient_name=f"Test^{patient}",
        accession_number=f"ACC-{patient}",
        contrast_agent="IOPAMIDOL",
        study_description="CT CHEST ABDOMEN",
    )
    write_series(root / name, hu=hu, info=info, spacing_mm=4.0, seed=name)


@pytest.fixture
def studies(tmp_path: Path) -> Path:
    root = tmp_path / "incoming"
    write_study(root, "a", [0.0] * 12, patient="NORMAL1")
    write_study(root, "b", [0.0] * 4 + [1.0, 1.0, 0.0, 1.0] + [0.0] * 4, patient="HIGH1")
    write_study(root, "c", [0.0] * 6 + [0.5, 0.5] + [0.0] * 4, patient="LOW1")
    return root


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """analyze runs the fake backend (heuristic grader) with fixed settings."""
    monkeypatch.setattr(backends, "load_model_settings", lambda *_a, **_k: SETTINGS)
    monkeypatch.setattr(
        backends,
        "create_backend",
        lambda *_a, **_k: FakeBackend(grade_means=(0.5,) * 3, grade_stds=(0.25,) * 3),
    )


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_batch_triage_lists_high_grade_first_and_stores_everything(
    studies: Path, tmp_path: Path, fake_model: None, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_digest(studies)
    db_path, json_path = tmp_path / "out" / "store.sqlite", tmp_path / "out" / "results.json"
    code = main(["analyze", str(studies), "--db", str(db_path), "--json", str(json_path), "-q"])
    out = capsys.readouterr().out
    assert code == EXIT_OK
    rows = [line for line in out.splitlines() if line[:3].strip().isdigit()]
    assert len(rows) == 3
    assert "HIGH" in rows[0] and "HIGH1" in rows[0]
    assert "low" in rows[1] and "LOW1" in rows[1]
    assert "normal" in rows[2] and "NORMAL1" in rows[2]

    document = json.loads(json_path.read_text())
    assert document["format"] == "mscc-desktop-analysis"
    first = document["series"][0]
    assert first["patient_id"] == "HIGH1" and first["flag"] == "HIGH"
    findings = first["analysis"]["findings"]
    (lesion,) = findings["lesions"]
    assert (lesion["group"], lesion["first_slice"], lesion["last_slice"]) == ("high", 4, 7)
    assert lesion["n_abnormal_slices"] == 3  # slice 6 is a bridged one-slice gap
    assert len(findings["slices"]) == 12 and findings["high_grade"] is True
    assert first["analysis"]["model"]["sha256"] == "ef" * 32

    db = storage.open_store(db_path)
    try:
        stored = storage.load_analysis(db, first["store_analysis_id"])
        assert stored.result.findings is not None and stored.result.findings.high_grade
        assert len(storage.list_studies(db)) == 3
    finally:
        db.close()
    assert tree_digest(studies) == before  # the source folders are byte-identical


def test_real_onnx_model_runs_end_to_end(
    studies: Path,
    tmp_path: Path,
    tiny_model_folder: Path,  # noqa: F811 (fixture)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backends, "nvidia_gpus", lambda: ())
    json_path = tmp_path / "r.json"
    code = main(
        [
            "analyze", str(studies / "a"), "--model", str(tiny_model_folder),
            "--backend", "onnx-cpu", "--no-db", "--json", str(json_path), "--batch-size", "5",
        ]
    )  # fmt: skip
    assert code == EXIT_OK
    (series,) = json.loads(json_path.read_text())["series"]
    assert series["analysis"]["backend"]["runtime"].startswith("ONNX Runtime")
    assert series["analysis"]["model"]["id"] == "tiny-synth"
    assert series["store_analysis_id"] is None


def test_folder_without_ct_means_nothing_to_do(
    tmp_path: Path, fake_model: None, capsys: pytest.CaptureFixture[str]
) -> None:
    mr_series(tmp_path / "mr")
    (tmp_path / "notes.txt").write_text("not dicom")
    assert main(["analyze", str(tmp_path), "--no-db", "-q"]) == EXIT_NOTHING
    assert "NONE" in capsys.readouterr().out


def test_output_inside_the_source_folder_is_refused(
    studies: Path, fake_model: None, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_digest(studies)
    target = studies / "a" / "results.json"
    assert main(["analyze", str(studies), "--json", str(target), "--no-db"]) == EXIT_ERROR
    assert "never writes into a source folder" in capsys.readouterr().err
    assert tree_digest(studies) == before


def test_a_series_that_fails_to_load_does_not_stop_the_batch(
    studies: Path, tmp_path: Path, fake_model: None, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from mscc_desktop.core import dicom

    real_load = dicom.load_series

    def flaky(entry, **kwargs):  # type: ignore[no-untyped-def]
        if entry.info.patient_id == "LOW1":
            raise DicomReadError("IM00001.dcm: pixel data cannot be decoded.")
        return real_load(entry, **kwargs)

    monkeypatch.setattr(dicom, "load_series", flaky)
    json_path = tmp_path / "r.json"
    code = main(["analyze", str(studies), "--no-db", "-q", "--json", str(json_path)])
    assert code == EXIT_ERROR
    flags = [s["flag"] for s in json.loads(json_path.read_text())["series"]]
    assert flags == ["HIGH", "normal", "FAILED"]
    out = capsys.readouterr().out
    assert "cannot be decoded" in out
    # The failed series has no P(high) and no cut-off: a dash in the worklist, never "nan".
    failed_row = next(line for line in out.splitlines() if " FAILED " in line)
    assert failed_row.split()[2:4] == ["–", "–"] and "nan" not in out.lower().split()


def test_exit_code_for_all_refused() -> None:
    from datetime import UTC, datetime

    from mscc_desktop.core.findings import (
        AnalysisResult,
        AnalysisStatus,
        ModelProvenance,
        Thresholds,
    )

    now = datetime.now(UTC)
    refused = AnalysisResult(
        "1.2", None, ModelProvenance("m", "1", "0" * 64, "x", "y"), Thresholds(), (), now, now,
        AnalysisStatus.REFUSED,
    )  # fmt: skip
    outcome = SeriesOutcome(study=None, entry=object(), result=refused)  # type: ignore[arg-type]
    assert _exit_code([outcome]) == EXIT_REFUSED
    assert _exit_code([]) == EXIT_NOTHING


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    text = capsys.readouterr().out
    for code in ("0 ", "1 ", "2 ", "3 ", "130"):
        assert f"  {code}" in text
    assert "--backend" in text and "onnx-cuda" in text


@pytest.mark.real_data
def test_real_ct_folder_is_triaged_without_errors(
    real_data_dir: Path,
    tmp_path: Path,
    tiny_model_folder: Path,  # noqa: F811 (fixture)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Real vendor files: every axial CT series is analysed, the rest is listed with why."""
    monkeypatch.setattr(backends, "nvidia_gpus", lambda: ())
    before = tree_digest(real_data_dir)
    json_path = tmp_path / "real.json"
    args = ["analyze", str(real_data_dir), "--model", str(tiny_model_folder), "--no-db", "-q"]
    assert main([*args, "--json", str(json_path)]) == EXIT_OK
    series = json.loads(json_path.read_text())["series"]
    analysed = [s for s in series if s["analysis"] is not None]
    assert any(s["n_slices"] >= 70 for s in analysed)  # the Philips thorax series
    assert all(s["error"] is None for s in analysed)
    reasons = " ".join(s["error"] or "" for s in series if s["flag"] == "NONE")
    assert "localizer" in reasons and "sagittal" in reasons
    thorax = max(analysed, key=lambda s: s["n_slices"])
    codes = {n["code"] for n in thorax["analysis"]["notices"]}
    assert "no_contrast" in codes  # a non-contrast planning CT, and the tag is empty
    assert tree_digest(real_data_dir) == before


def test_an_unexpected_fault_in_one_series_is_listed_and_the_rest_analysed(
    studies: Path, tmp_path: Path, fake_model: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mscc_desktop.inference import pipeline

    real = pipeline.analyse_volume

    def buggy(volume, *args, **kwargs):  # type: ignore[no-untyped-def]
        if volume.info.patient_id == "NORMAL1":
            raise IndexError("a bug")
        return real(volume, *args, **kwargs)

    monkeypatch.setattr(pipeline, "analyse_volume", buggy)
    db_path, json_path = tmp_path / "s.sqlite", tmp_path / "r.json"
    code = main(["analyze", str(studies), "--db", str(db_path), "-q", "--json", str(json_path)])
    assert code == EXIT_ERROR
    series = json.loads(json_path.read_text())["series"]
    assert [s["flag"] for s in series] == ["HIGH", "low", "FAILED"]
    assert "internal error (IndexError)" in series[2]["error"]
    db = storage.open_store(db_path)
    try:
        statuses = {row[0] for row in db.execute("SELECT status FROM analyses").fetchall()}
    finally:
        db.close()
    assert statuses == {"complete", "failed"}  # nothing left looking 'running'


def test_pdf_option_writes_one_summary_per_analysed_series(
    studies: Path, tmp_path: Path, fake_model: None, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_digest(studies)
    pdf_dir = tmp_path / "reports"
    code = main(
        ["analyze", str(studies), "--db", str(tmp_path / "s.sqlite"), "--pdf", str(pdf_dir), "-q"]
    )
    assert code == EXIT_OK
    pdfs = sorted(pdf_dir.glob("*.pdf"))
    assert len(pdfs) == 3
    assert all(p.read_bytes().startswith(b"%PDF-") for p in pdfs)
    assert tree_digest(studies) == before


def test_pdf_option_refuses_a_folder_inside_the_analysed_source(
    studies: Path, tmp_path: Path, fake_model: None, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_digest(studies)
    code = main(["analyze", str(studies), "--no-db", "--pdf", str(studies / "reports"), "-q"])
    assert code != EXIT_OK
    assert not (studies / "reports").exists()
    assert tree_digest(studies) == before


def test_the_worklist_shows_the_cut_off_and_the_model_s_limitations(
    studies: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dataclasses import replace

    from mscc_desktop.core.findings import Thresholds

    limits = ("On real CT it called 12 of 28 disease-free slices high grade (target: none).",)
    settings = replace(
        SETTINGS,
        thresholds=Thresholds(high=0.42, any_mscc=0.5, canal_score=0.5),
        probability_temperature=1.5,
        limitations=limits,
    )
    monkeypatch.setattr(backends, "load_model_settings", lambda *_a, **_k: settings)
    monkeypatch.setattr(
        backends,
        "create_backend",
        lambda *_a, **_k: FakeBackend(grade_means=(0.5,) * 3, grade_stds=(0.25,) * 3),
    )
    json_path = tmp_path / "out" / "results.json"
    code = main(["analyze", str(studies), "--no-db", "--json", str(json_path)])
    captured = capsys.readouterr()
    assert code == EXIT_OK
    out = captured.out
    assert f"Model limitation: {limits[0]}" in out
    header = next(line for line in out.splitlines() if "FLAG" in line)
    assert "P(high) CUT-OFF" in header
    rows = [line for line in out.splitlines() if line[:3].strip().isdigit()]
    assert all(line.split()[3] == "0.42" for line in rows)  # beside every peak P(high)
    assert "the P(high) from which the model calls a slice high grade" in out
    # The per-series progress line and the model line on stderr say it too.
    assert "called high from 0.42" in captured.err
    assert f"model limitation: {limits[0]}" in captured.err
    model = json.loads(json_path.read_text())["series"][0]["analysis"]["model"]
    assert model["probability_temperature"] == 1.5 and model["limitations"] == list(limits)
