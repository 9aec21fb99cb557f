"""Acceptance numbers of an exported model come from the app's pipeline on labelled studies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mscc_desktop.training.acceptance import evaluate_model_folder
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
