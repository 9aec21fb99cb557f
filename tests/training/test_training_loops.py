"""The training loops: checkpoints, metrics CSV, validation, resume, no train/serve skew."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mscc_desktop.core.findings import Box
from mscc_desktop.core.windows import window_stack
from mscc_desktop.inference.preprocess import grader_input
from mscc_desktop.training.configs import grader_config
from mscc_desktop.training.datasets import (
    LabelledStudy,
    augmented_region,
    build_grader_samples,
    grader_crop,
    split_by_study,
    window_statistics,
)
from mscc_desktop.training.engine import TrainOptions, load_checkpoint
from mscc_desktop.training.run_loop import check_resumed_config
from mscc_desktop.training.train_grader import train_grader
from tests.training.factories import make_study


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_runs_write_checkpoints_and_one_metrics_row_per_epoch(
    trained_runs: dict[str, Path],
) -> None:
    det_rows = _rows(trained_runs["detector"] / "metrics.csv")
    assert [r["epoch"] for r in det_rows] == ["1", "2", "3"]
    assert {"train_loss", "val_ap50", "val_mean_iou", "lr"} <= set(det_rows[0])
    assert float(det_rows[-1]["train_loss"]) < float(det_rows[0]["train_loss"])
    det = load_checkpoint(trained_runs["detector"] / "best.pt", kind="detector")
    best_ap = max(float(r["val_ap50"]) for r in det_rows)
    assert det["best_metrics"]["ap50"] == pytest.approx(best_ap, rel=1e-5)
    gra = load_checkpoint(trained_runs["grader"] / "best.pt", kind="grader")
    assert len(gra["norm_mean"]) == 3 and all(s > 0 for s in gra["norm_std"])
    assert sum(gra["class_counts"]) > 0
    train, val = set(gra["split"]["train"]), set(gra["split"]["val"])
    assert val and not train & val  # whole studies held out
    with pytest.raises(ValueError, match="not a detector"):
        load_checkpoint(trained_runs["grader"] / "best.pt", kind="detector")


def test_resume_continues_where_the_run_stopped(
    tmp_path: Path, tiny_studies: list[LabelledStudy]
) -> None:
    options = TrainOptions(None, tmp_path / "run", config="tiny", epochs=1, show_progress=False)
    train_grader(options, studies=tiny_studies)
    first = load_checkpoint(tmp_path / "run" / "last.pt")
    resumed = train_grader(replace(options, epochs=2, resume=True), studies=tiny_studies)
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert resumed.epochs_run == 1
    assert (first["epoch"], last["epoch"]) == (0, 1)
    assert last["step"] == 2 * first["step"]
    assert last["norm_mean"] == first["norm_mean"]  # statistics of the original split
    assert [r["epoch"] for r in _rows(tmp_path / "run" / "metrics.csv")] == ["1", "2"]


def test_resume_with_other_settings_is_refused_before_training(
    tmp_path: Path, tiny_studies: list[LabelledStudy]
) -> None:
    options = TrainOptions(
        None, tmp_path / "run", config="tiny", epochs=1, show_progress=False,
        overrides={"crop_margin": "0.3"},
    )  # fmt: skip
    train_grader(options, studies=tiny_studies)
    before = (tmp_path / "run" / "last.pt").read_bytes()
    # The original --set left out: resuming would silently train on with the default margin.
    forgotten = replace(options, epochs=2, resume=True, overrides={})
    with pytest.raises(ValueError, match=r"crop_margin: 0\.3 → 0\.5.*only --epochs may change"):
        train_grader(forgotten, studies=tiny_studies)
    with pytest.raises(ValueError, match=r"optimiser\.lr"):
        train_grader(replace(options, resume=True, lr=0.5), studies=tiny_studies)
    assert (tmp_path / "run" / "last.pt").read_bytes() == before


def test_resume_config_check_compares_nested_settings_and_allows_more_epochs() -> None:
    saved = {"epochs": 2, "feature_dim": 64, "sizes": (1, 2), "optimiser": {"lr": 0.1}}
    check_resumed_config(saved, {"epochs": 5, "feature_dim": 0, "sizes": [1, 2],
                                 "optimiser": {"lr": 0.1}})  # fmt: skip
    with pytest.raises(ValueError, match=r"optimiser\.lr: 0\.1 → 0\.2"):
        check_resumed_config(saved, {**saved, "optimiser": {"lr": 0.2}})
    with pytest.raises(ValueError, match=r"new_key: None → 1"):
        check_resumed_config(saved, {**saved, "new_key": 1})


def test_resume_without_a_checkpoint_is_an_error(tmp_path: Path) -> None:
    options = TrainOptions(None, tmp_path, config="tiny", resume=True, show_progress=False)
    with pytest.raises(FileNotFoundError, match=r"last\.pt"):
        train_grader(options, studies=[make_study("a")])


def test_same_seed_same_model(tmp_path: Path, tiny_studies: list[LabelledStudy]) -> None:
    weights = []
    tiny_studies = tiny_studies[:2]
    for name in ("a", "b"):
        options = TrainOptions(None, tmp_path / name, config="tiny", epochs=1, seed=7,
                               show_progress=False)  # fmt: skip
        train_grader(options, studies=tiny_studies)
        weights.append(load_checkpoint(tmp_path / name / "last.pt")["model"])
    for key in weights[0]:
        torch.testing.assert_close(weights[0][key], weights[1][key])


def test_unaugmented_training_crop_is_the_inference_crop() -> None:
    study = make_study("s", n_slices=4, size=64, seed=3)
    config = grader_config("tiny")
    samples = build_grader_samples([study], config)
    mean, std = window_statistics(samples, config)
    label = study.labels[1]
    assert label.box is not None
    windowed = window_stack(study.hu[label.slice_index])[np.newaxis]
    served = grader_input(
        windowed,
        [label.box],
        size=config.crop_size,
        margin=config.crop_margin,
        mean=mean,
        std=std,
    )[0]
    trained = grader_crop(samples, 1, config, mean=mean, std=std)
    np.testing.assert_allclose(trained, served, atol=1e-5)
    augmented = grader_crop(samples, 1, config, mean=mean, std=std, rng=np.random.default_rng(0))
    assert augmented.shape == served.shape and not np.allclose(augmented, served)


def test_augmented_regions_stay_in_the_authors_ranges() -> None:
    config = grader_config("compact")
    box = Box(100, 120, 130, 144)
    rng = np.random.default_rng(0)
    base_side = max(box.width, box.height) * (1 + 2 * config.crop_margin)
    for _ in range(200):
        x0, y0, x1, y1 = augmented_region(box, config, rng)
        area_scale = (x1 - x0) * (y1 - y0) / base_side**2
        assert 0.8 - 1e-9 <= area_scale <= 1.2 + 1e-9
        assert 0.75 - 1e-9 <= (x1 - x0) / (y1 - y0) <= 4 / 3 + 1e-9


def test_degenerative_slices_are_left_out_of_grader_training() -> None:
    study = make_study("s", n_slices=8, size=64, degenerative_every=2)
    config = grader_config("tiny")
    assert len(build_grader_samples([study], config)) == 4
    assert len(build_grader_samples([study], replace(config, exclude_degenerative=False))) == 8


def test_validation_split_is_by_study_and_seeded() -> None:
    names = [f"s{i}" for i in range(20) for _ in range(3)]
    train, val = split_by_study(names, val_fraction=0.2, seed=1)
    assert len(val) == 4 and not set(train) & set(val)
    assert split_by_study(names, val_fraction=0.2, seed=1) == (train, val)
    assert split_by_study(names, val_fraction=0.2, seed=2) != (train, val)


def test_init_weights_fill_every_window_bn_set(tmp_path: Path) -> None:
    from mscc_desktop.training.backbones import build_body
    from mscc_desktop.training.cwl import CWLGrader
    from mscc_desktop.training.train_grader import _init_from_file

    torch.manual_seed(5)
    body = build_body("tiny")  # a plain 3-channel body, as ImageNet weights would be
    torch.nn.init.uniform_(body.bn1.weight, 2.0, 3.0)
    path = tmp_path / "imagenet-like.pth"
    torch.save(body.state_dict(), path)
    model = CWLGrader("tiny")
    _init_from_file(model, path)
    for w in range(3):
        torch.testing.assert_close(model.backbone.bn1.bns[w].weight, body.bn1.weight)
    # The 3-channel stem is summed into the 1-channel stem.
    torch.testing.assert_close(
        model.backbone.conv1.weight, body.conv1.weight.sum(dim=1, keepdim=True)
    )


def test_data_loader_workers(tmp_path: Path, tiny_studies: list[LabelledStudy]) -> None:
    options = TrainOptions(
        None, tmp_path / "w", config="tiny", epochs=1, workers=1, show_progress=False
    )
    run = train_grader(options, studies=tiny_studies[:2])
    assert run.best_checkpoint.is_file()
