"""The demo study (generated once, shows every grade) and the ``synth`` command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mscc_desktop.cli import main
from mscc_desktop.core.grades import BilskyGrade
from mscc_desktop.core.labels import read_labels_csv, read_study_json
from mscc_desktop.synth import ensure_demo_study


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("data")
    return ensure_demo_study(data, matrix=64)


def test_demo_shows_every_grade_and_a_mimic(demo_dir: Path) -> None:
    labels = read_labels_csv(demo_dir.parent / "labels.csv")
    assert len(labels) == 120
    assert {lab.bilsky_grade for lab in labels} == set(BilskyGrade)
    assert any(lab.degenerative for lab in labels)
    assert len(list(demo_dir.glob("*.dcm"))) == 120
    record = read_study_json(demo_dir.parent / "study.json")
    assert {les.peak_grade for les in record.lesions if les.kind == "epidural"} == {
        BilskyGrade.G1A,
        BilskyGrade.G1B,
        BilskyGrade.G1C,
        BilskyGrade.G2,
        BilskyGrade.G3,
    }


def test_demo_is_generated_once(demo_dir: Path) -> None:
    first = demo_dir / "IM00001.dcm"
    stamp = first.stat().st_mtime_ns
    again = ensure_demo_study(demo_dir.parent.parent, matrix=64)
    assert again == demo_dir
    assert first.stat().st_mtime_ns == stamp


def test_half_written_demo_is_replaced(tmp_path: Path) -> None:
    broken = tmp_path / "demo" / "dicom"
    broken.mkdir(parents=True)
    (broken / "IM00001.dcm").write_bytes(b"truncated")
    (tmp_path / ".demo.partial-12345").mkdir()
    progress: list[float] = []
    result = ensure_demo_study(tmp_path, matrix=64, progress=lambda f, _t: progress.append(f))
    assert (result.parent / "study.json").is_file()
    assert len(list(result.glob("*.dcm"))) == 120
    assert not (tmp_path / ".demo.partial-12345").exists()
    assert progress and progress[-1] == 1.0


def test_synth_command_writes_the_dataset_layout(tmp_path: Path, capsys) -> None:
    code = main(
        [
            "synth",
            str(tmp_path),
            "--studies",
            "2",
            "--seed",
            "7",
            "--matrix",
            "64",
            "--max-slices",
            "12",
            "--slice-spacing",
            "5",
        ]
    )
    assert code == 0
    for name in ("synth_0000", "synth_0001"):
        study = tmp_path / name
        assert len(list((study / "dicom").glob("*.dcm"))) == 12
        assert len(list((study / "voc").glob("*.xml"))) == 12
        assert (study / "labels.csv").is_file() and (study / "study.json").is_file()
    assert "2 studies" in capsys.readouterr().out
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no leftovers


def test_synth_command_rejects_bad_options(tmp_path: Path, capsys) -> None:
    assert main(["synth", str(tmp_path), "--levels", "L3-C7"]) == 1
    assert main(["synth", str(tmp_path), "--class-mix", "1,2"]) == 1
    assert "class-mix" in capsys.readouterr().err
