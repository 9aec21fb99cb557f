"""Acceptance numbers of an exported model come from the app's pipeline on labelled studies."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mscc_desktop.core.findings import Thresholds
from mscc_desktop.training.acceptance import (
    Predictions,
    acceptance_metrics,
    choose_thresholds,
    collect_predictions,
    evaluate_model_folder,
    find_studies,
)
from mscc_desktop.training.datasets import LabelledStudy
from mscc_desktop.training.export import export_model
from tests.training.disk_data import write_study


def test_acceptance_counts_every_labelled_slice(
    trained_runs: dict[str, Path], tiny_studies: list[LabelledStudy], tmp_path: Path
) -> None:
    data = tmp_path / "test-set"
    for seed, study in enumerate(tiny_studies[:2]):
        write_study(study, data / study.name, seed=seed)
    model = tmp_path / "model"
    export_model(trained_runs["detector"] / "best.pt", trained_runs["grader"] / "best.pt", model)
    result = evaluate_model_folder(model, data)
    assert result["n_studies"] == 2 and result["n_slices_graded"] == 24
    table = np.asarray(result["confusion_table"])
    # Rows are the reference classes of the 24 slices (normal, normal, low, high cycle).
    assert table.sum(axis=1).tolist() == [12, 6, 6]
    assert 0.0 <= result["canal_ap50"] <= 1.0 and 0.0 <= result["canal_found_iou50"] <= 1.0
    assert result["backend"].startswith("ONNX Runtime")
    with pytest.raises(FileNotFoundError):
        evaluate_model_folder(model, tmp_path / "missing")
    # Each row names its study and slice, so other truth can be joined to it.
    predictions = collect_predictions(model, find_studies(data))
    assert predictions.slice_index == tuple(range(12)) * 2
    assert predictions.study.tolist() == [0] * 12 + [1] * 12


def _predictions(p_high: list[float], groups: list[int], scores: list[float]) -> Predictions:
    n = len(groups)
    box = np.tile([10.0, 10.0, 30.0, 30.0], (n, 1))
    probs = np.asarray([[1 - p, 0.0, p] for p in p_high])
    return Predictions(
        study_names=("a", "b"),
        study=np.asarray([i % 2 for i in range(n)]),
        truth_box=box.copy(),
        truth_group=np.asarray(groups),
        degenerative=np.zeros(n, bool),
        box=box,
        score=np.asarray(scores),
        probabilities=probs,
        backend="test",
    )


def test_thresholds_come_from_validation_predictions() -> None:
    # 40 high-grade slices with P(high) 0.30..0.99 and 60 normal ones with P(high) <= 0.25.
    high = list(np.linspace(0.30, 0.99, 40))
    normal = list(np.linspace(0.0, 0.25, 60))
    scores = [0.9] * 99 + [0.2]  # one weak but correct canal box
    preds = _predictions(high + normal, [2] * 40 + [0] * 60, scores)
    chosen = choose_thresholds(preds, min_sensitivity=0.97)
    # Keeps >= 97 % of the high-grade slices (39 of 40): just below the second-lowest.
    assert 0.25 < chosen.high <= float(np.sort(high)[1])
    metrics = acceptance_metrics(preds, chosen)
    assert metrics["high_grade_image_sensitivity"] >= 0.97
    assert metrics["high_grade_image_specificity"] == 1.0
    # Losing at most 0.5 % of found canals means keeping even the weak one here.
    assert chosen.canal_score <= 0.2


def test_the_operating_point_may_go_below_the_old_floor_when_asked() -> None:
    """Issue 20's rule: the cut-off that keeps the target sensitivity, however low it is."""
    high = [0.01, 0.012, 0.014, 0.016, *np.linspace(0.3, 0.9, 36)]  # 4 of 40 near 0.01
    normal = list(np.linspace(0.0, 0.004, 60))
    preds = _predictions(high + normal, [2] * 40 + [0] * 60, [0.9] * 100)
    floored = choose_thresholds(preds, min_sensitivity=0.95)
    assert floored.high == 0.05  # issue 4's floor: the target is not met
    assert acceptance_metrics(preds, floored)["high_grade_image_sensitivity"] < 0.95
    chosen = choose_thresholds(preds, min_sensitivity=0.95, lowest_high=0.0)
    assert chosen.high < 0.05
    assert acceptance_metrics(preds, chosen)["high_grade_image_sensitivity"] >= 0.95


def test_a_canal_below_the_threshold_is_neither_found_nor_graded() -> None:
    preds = _predictions([0.9, 0.9], [2, 2], [0.9, 0.3])
    metrics = acceptance_metrics(preds, Thresholds(0.5, 0.5, canal_score=0.5))
    assert metrics["canal_found_iou50"] == 0.5
    assert metrics["high_grade_image_sensitivity"] == 0.5  # the unfound slice counts as normal
    assert metrics["high_grade_study_sensitivity"] == 0.5


def test_calls_are_tabled_per_fine_bilsky_grade() -> None:
    # 1a called normal, 1b called high, 1c right, and one 3 whose canal was not found.
    preds = replace(
        _predictions([0.1, 0.9, 0.9, 0.9], [1, 1, 2, 2], [0.9, 0.9, 0.9, 0.0]),
        truth_grade=("1a", "1b", "1c", "3"),
    )
    metrics = acceptance_metrics(preds, Thresholds(high=0.5, any_mscc=0.5, canal_score=0.5))
    assert metrics["called_by_bilsky_grade"] == {
        "1a": {"normal": 1},
        "1b": {"high": 1},
        "1c": {"high": 1},
        "3": {"canal not found": 1},
    }
    # Predictions without fine grades (older callers) leave the table out, not wrong.
    assert (
        acceptance_metrics(replace(preds, truth_grade=()), Thresholds())["called_by_bilsky_grade"]
        == {}
    )


def test_predictions_of_studies_keeps_each_picked_studys_slices() -> None:
    predictions = _predictions([0.1, 0.2, 0.3, 0.4], [0, 2, 1, 2], [0.9, 0.8, 0.7, 0.6])
    # Slices 0 and 2 belong to study 0 ("a"), 1 and 3 to study 1 ("b").
    resampled = predictions.of_studies([1, 1, 0])
    assert resampled.study.tolist() == [1, 1, 1, 1, 0, 0]
    assert resampled.probabilities[:, 2].tolist() == [0.2, 0.4, 0.2, 0.4, 0.1, 0.3]
    assert resampled.truth_group.tolist() == [2, 2, 2, 2, 0, 1]
    assert resampled.score.tolist() == [0.8, 0.6, 0.8, 0.6, 0.9, 0.7]
    assert resampled.study_names == ("a", "b")
    assert (predictions.n_high_grade, resampled.n_high_grade) == (2, 4)
    assert len(predictions.of_studies([])) == 0
