"""``mscc-desktop info``: the report, JSON, exit codes, and no patient data in logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from mscc_desktop.cli import EXIT_ERROR, EXIT_NOTHING, EXIT_OK, main
from tests.factories import dicom_factory as factory


def _study(folder: Path) -> None:
    factory.write_series(folder / "ax", n_slices=12)
    factory.localizer(folder / "scout")
    made = factory.write_series(
        folder / "gappy",
        n_slices=14,
        seed="g",
        info=factory.series_info(series_number=6, series_description="Gappy"),
    )
    made.paths[5].unlink()
    factory.junk_files(folder / "junk")
    factory.truncated_copy(made.paths[0], folder / "junk" / "cut")


def test_text_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _study(tmp_path)
    assert main(["info", str(tmp_path)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "Patient Test^Patient (ID P1, born 1960-01-01)" in out
    assert '[PICKED] Series 2 "Axial 2.5 mm"' in out
    assert "12 slice(s), 64×64, pixel 0.8×0.8 mm, thickness 2.5 mm, spacing 2.5 mm" in out
    assert "transfer syntax: Explicit VR Little Endian" in out
    assert "NOT analysable: localizer (scout) image" in out
    assert "not picked: inconsistent series (gap)" in out
    assert "warning: 1 slice(s) missing" in out
    assert "cut: file ends before its image attributes (truncated or damaged)" in out
    assert "Non-DICOM files skipped (5)" in out


def test_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _study(tmp_path)
    assert main(["info", str(tmp_path), "--json"]) == EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert data["n_analysable"] == 2 and data["n_non_dicom"] == 5
    (patient,) = data["patients"]
    (study,) = patient["studies"]
    by_description = {s["description"]: s for s in study["series"]}
    axial = by_description["Axial 2.5 mm"]
    assert axial["picked"] and axial["n_slices"] == 12 and axial["slice_thickness_mm"] == 2.5
    assert axial["transfer_syntaxes"][0]["name"] == "Explicit VR Little Endian"
    assert axial["image_orientation"] == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    gappy = by_description["Gappy"]
    assert not gappy["picked"] and "gap" in gappy["why_not_picked"]
    assert any(n["code"] == "gap" for n in gappy["notices"])
    assert by_description["Topogram"]["kind"] == "localizer"
    assert {s["kind"] for s in data["skipped"]} == {"not_dicom", "unreadable"}


def test_nothing_analysable_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    factory.localizer(tmp_path)
    assert main(["info", str(tmp_path)]) == EXIT_NOTHING
    assert "No analysable series" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["info", str(empty), "--json"]) == EXIT_NOTHING


def test_missing_path_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(tmp_path / "nope")]) == EXIT_ERROR
    assert "does not exist" in capsys.readouterr().err


def test_no_patient_data_in_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _study(tmp_path)
    caplog.set_level(logging.DEBUG)
    assert main(["info", str(tmp_path), "-v"]) == EXIT_OK
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "Test^Patient" not in text and "P1" not in text and "ACC1" not in text


def test_report_names_the_kernels_behind_the_pick(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    factory.two_kernel_series(tmp_path)
    assert main(["info", str(tmp_path)]) == EXIT_OK
    out = capsys.readouterr().out
    assert '[PICKED] Series 3 "Thorax B40f"' in out
    assert "kernel: B40f (soft-tissue: Siemens body kernel, sharpness index 40)" in out
    assert "kernel: B70f (sharp: Siemens body kernel, sharpness index 70)" in out
    assert "picked: soft-tissue kernel B40f preferred over B70f (sharp)" in out
    assert "not picked: same slices, sharper kernel B70f (sharp)" in out


def test_json_report_names_the_kernels_behind_the_pick(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    factory.two_kernel_series(tmp_path)
    assert main(["info", str(tmp_path), "--json"]) == EXIT_OK
    (study,) = json.loads(capsys.readouterr().out)["patients"][0]["studies"]
    assert "soft-tissue kernel B40f preferred over B70f (sharp)" in study["pick_reason"]
    by_kernel = {s["convolution_kernel"]: s for s in study["series"]}
    assert by_kernel["B40f"]["picked"] and by_kernel["B40f"]["kernel"]["class"] == "soft_tissue"
    assert by_kernel["B70f"]["kernel"]["class"] == "sharp"
    assert by_kernel["B70f"]["why_not_picked"] == "same slices, sharper kernel B70f (sharp)"
    assert by_kernel["B70f"]["noise_hu"] is None  # the kernels decided: nothing measured
