"""``mscc-desktop train`` and the study reader on a labelled folder on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mscc_desktop.cli import main
from mscc_desktop.training.datasets import LabelledStudy
from mscc_desktop.training.engine import load_checkpoint
from mscc_desktop.training.study_reader import load_studies
from tests.training.disk_data import write_study


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, tiny_studies: list[LabelledStudy]) -> Path:
    root = tmp_path_factory.mktemp("labelled")
    for seed, study in enumerate(tiny_studies[:3]):
        write_study(study, root / study.name, seed=seed)
    return root


def test_reader_matches_labels_to_slices_by_uid(
    data_dir: Path, tiny_studies: list[LabelledStudy]
) -> None:
    loaded = load_studies(data_dir)
    assert [s.name for s in loaded] == [s.name for s in tiny_studies[:3]]
    for original, back in zip(tiny_studies, loaded, strict=False):
        np.testing.assert_array_equal(back.hu, original.hu)
        assert [lab.group for lab in back.labels] == [lab.group for lab in original.labels]
        for a, b in zip(original.labels, back.labels, strict=True):
            assert a.box is not None and b.box is not None
            assert abs(a.box.x0 - b.box.x0) < 1 and abs(a.box.y1 - b.box.y1) < 1  # VOC integers


def test_train_both_networks_from_the_command_line(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for network in ("grader", "detector"):
        code = main([
            "train", network, "--data", str(data_dir), "--config", "tiny",
            "--out", str(tmp_path / network), "--epochs", "1", "--seed", "3", "--no-progress",
            "--lr", "0.005", "--batch-size", "3",
        ])  # fmt: skip
        assert code == 0, capsys.readouterr().err
        checkpoint = load_checkpoint(tmp_path / network / "best.pt", kind=network)
        assert checkpoint["config"]["batch_size"] == 3
        assert checkpoint["config"]["optimiser"]["lr"] == 0.005
        assert checkpoint["training_data"]["n_studies"] == 3
        assert (tmp_path / network / "metrics.csv").is_file()
    assert "best checkpoint" in capsys.readouterr().out


def test_set_changes_the_config_recorded_in_the_checkpoint(data_dir: Path, tmp_path: Path) -> None:
    code = main([
        "train", "grader", "--data", str(data_dir), "--config", "tiny", "--out", str(tmp_path),
        "--epochs", "1", "--no-progress", "--set", "crop_margin=0.3",
        "--set", "augmentation=ct_shape_soft",
    ])  # fmt: skip
    assert code == 0
    config = load_checkpoint(tmp_path / "best.pt", kind="grader")["config"]
    assert config["crop_margin"] == 0.3 and config["augmentation"] == "ct_shape_soft"


def test_train_reports_a_bad_data_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["train", "grader", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r")])
    assert code == 1
    assert "no such data folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    code = main(["train", "detector", "--data", str(tmp_path / "empty"), "--out", str(tmp_path)])
    assert code == 1
    assert "no labelled studies" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["detector", "grader"])
def test_unknown_config_names_the_choices(kind: str) -> None:
    from mscc_desktop.training.configs import detector_config, grader_config

    lookup = detector_config if kind == "detector" else grader_config
    with pytest.raises(ValueError, match=rf"unknown {kind} config 'nope': use paper, compact"):
        lookup("nope")
