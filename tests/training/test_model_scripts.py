"""The measurement scripts of the model work run end to end on a tiny model (seconds)."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from mscc_desktop.synth.output import generate_dataset
from mscc_desktop.synth.params import GeneratorConfig
from mscc_desktop.training.acceptance import (
    acceptance_metrics,
    choose_thresholds,
    collect_predictions,
)
from mscc_desktop.training.datasets import LabelledStudy
from mscc_desktop.training.engine import load_checkpoint
from mscc_desktop.training.export import export_model
from mscc_desktop.training.study_reader import find_studies
from tests.training.disk_data import write_study

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"script_{name}", SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated_test_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two small generated studies with low-grade disease, written like the recipe's."""
    folder = tmp_path_factory.mktemp("test-set")
    config = GeneratorConfig(
        matrix=128, class_mix=(0.2, 0.6, 0.2), no_disease_fraction=0.0, render_slices=10
    )
    generate_dataset(folder, 2, seed=5, config=config, workers=1)
    (folder / "dataset.json").write_text(
        json.dumps(
            {
                "seeds": [5],
                "config": {
                    "class_mix": list(config.class_mix),
                    "no_disease_fraction": config.no_disease_fraction,
                    "render_slices": config.render_slices,
                    "max_slices": config.max_slices,
                },
            }
        )
    )
    return folder


def test_grade_evidence_check_joins_every_low_grade_slice_to_its_geometry(
    trained_runs: dict[str, Path], generated_test_set: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    export_model(trained_runs["detector"] / "best.pt", trained_runs["grader"] / "best.pt", model)
    out = tmp_path / "evidence.json"
    # The tiny model's detector was trained on 64-pixel slices: its calls are noise, but every
    # 1a and 1b slice must be re-rendered and matched (the script asserts the grades agree).
    code = _script("grade_evidence_check").main(
        ["--model", str(model), "--test", str(generated_test_set), "--json", str(out)]
    )
    assert code == 0
    result = json.loads(out.read_text())
    labels = [
        line.split(",")[4]
        for study in sorted(generated_test_set.glob("synth_*"))
        for line in (study / "labels.csv").read_text().splitlines()[1:]
        if not line.endswith(",1")  # degenerative slices are left out
    ]
    for grade, key in (("1a", "1a_by_tumour_px"), ("1b", "1b_by_gap_px")):
        assert sum(row["n"] for row in result[key]) == labels.count(grade)
        assert sum(row["n"] for row in result[f"{grade}_by_contrast_sd"]) == labels.count(grade)
    assert labels.count("1a") + labels.count("1b") > 0  # the test set has something to join


def test_proposal_sweep_exports_each_setting(
    trained_runs: dict[str, Path], generated_test_set: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sweep.json"
    code = _script("detector_proposal_sweep").main([
        "--detector", str(trained_runs["detector"] / "best.pt"),
        "--grader", str(trained_runs["grader"] / "best.pt"),
        "--test", str(generated_test_set), "--variants", "20/5", "10/2",
        "--out", str(tmp_path / "sweep"), "--repeats", "2", "--json", str(out),
    ])  # fmt: skip
    assert code == 0
    rows = json.loads(out.read_text())
    assert list(rows) == ["20/5", "10/2"]
    for name, row in rows.items():
        pre, post = name.split("/")
        manifest = json.loads(
            (tmp_path / "sweep" / f"pre{pre}-post{post}" / "model" / "manifest.json").read_text()
        )
        config = manifest["architecture"]["detector"]["config"]
        assert (config["rpn_pre_nms_top_n_test"], config["rpn_post_nms_top_n_test"]) == (
            int(pre),
            int(post),
        )
        assert 0.0 <= row["canal_ap50"] <= 1.0 and row["detector_ms_per_slice"] > 0


def _threshold_stability(
    trained_runs: dict[str, Path],
    tiny_studies: list[LabelledStudy],
    test_set: Path,
    tmp_path: Path,
    *options: str,
) -> tuple[Path, dict[str, Any]]:
    """Export the tiny model, write its training studies, run threshold_stability.py with
    the test set as calibration and test: (model folder, the run's result)."""
    model = tmp_path / "model"
    export_model(trained_runs["detector"] / "best.pt", trained_runs["grader"] / "best.pt", model)
    train = tmp_path / "train"
    for number, study in enumerate(tiny_studies):
        write_study(study, train / study.name, seed=number)
    out = tmp_path / "stability.json"
    code = _script("threshold_stability").main([
        "--run", f"tiny={model}:{trained_runs['grader']}", "--train", str(train),
        "--calibration", str(test_set), "--test", str(test_set), "--json", str(out), *options,
    ])  # fmt: skip
    assert code == 0
    return model, json.loads(out.read_text())["tiny"]


def test_threshold_stability_compares_validation_and_calibration_thresholds(
    trained_runs: dict[str, Path],
    tiny_studies: list[LabelledStudy],
    generated_test_set: Path,
    tmp_path: Path,
) -> None:
    model, result = _threshold_stability(
        trained_runs, tiny_studies, generated_test_set, tmp_path, "--bootstrap", "5"
    )
    assert set(result) == {"validation", "calibration"}
    split = load_checkpoint(trained_runs["grader"] / "best.pt", kind="grader")["split"]
    assert result["validation"]["n_studies"] == len(split["val"]) > 0
    assert result["calibration"]["n_studies"] == 2
    for row in result.values():
        low, mid, high = row["high_threshold_bootstrap_5_50_95"]
        assert 0.05 <= low <= mid <= high <= 0.95  # choose_thresholds clips to [0.05, 0.95]
        assert 0.0 <= row["test"]["high_grade_image_specificity"] <= 1.0
    # Calibration and test are the same studies here: the thresholds must be the rule's on
    # those predictions, and the "test" figures those predictions under them.
    predictions = collect_predictions(model, find_studies(generated_test_set))
    chosen = choose_thresholds(predictions)
    calibration = result["calibration"]
    assert calibration["thresholds"] == asdict(chosen)
    metrics = acceptance_metrics(predictions, chosen)
    for key, value in calibration["test"].items():
        assert value == pytest.approx(metrics[key], nan_ok=True)


def test_threshold_stability_rejects_a_malformed_run() -> None:
    module = _script("threshold_stability")
    with pytest.raises(SystemExit):
        module.main(["--run", "no-separators", "--train", "a", "--calibration", "b",
                     "--test", "c"])  # fmt: skip


def test_threshold_stability_applies_the_chosen_sensitivity_rule(
    trained_runs: dict[str, Path],
    tiny_studies: list[LabelledStudy],
    generated_test_set: Path,
    tmp_path: Path,
) -> None:
    model, result = _threshold_stability(
        trained_runs, tiny_studies, generated_test_set, tmp_path,
        "--bootstrap", "3", "--min-sensitivity", "0.5",
    )  # fmt: skip
    calibration = result["calibration"]
    assert calibration["min_sensitivity"] == 0.5
    predictions = collect_predictions(model, find_studies(generated_test_set))
    assert calibration["thresholds"] == asdict(choose_thresholds(predictions, min_sensitivity=0.5))


def test_real_false_positive_measures_recover_known_density_and_noise() -> None:
    from mscc_desktop.core.findings import Box
    from mscc_desktop.training import real_false_positives as module

    size, cx, cy = 96, 48.0, 48.0
    box = Box(cx - 14.0, cy - 11.0, cx + 14.0, cy + 11.0)
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    hu = np.full((size, size), 700.0, np.float32)  # bone around the canal
    hu[((cols - cx) / 14.0) ** 2 + ((rows - cy) / 11.0) ** 2 <= 1.0] = 45.0
    assert module.canal_density(hu, box) == pytest.approx(45.0, abs=0.5)
    # A smooth ramp inside the canal is structure, not noise; white noise of SD 20 is noise.
    ramp = hu + np.where(hu < 100, (cols - cx) * 2.0, 0.0).astype(np.float32)
    assert module.canal_noise(ramp, box) < 1.0
    noisy = hu + np.random.default_rng(0).normal(0.0, 20.0, hu.shape).astype(np.float32)
    assert module.canal_noise(noisy, box) == pytest.approx(20.0, rel=0.2)
    # Banding: grain averages out along rows and columns; a horizontal streak pattern stays in
    # the row means only; a smooth trend is removed.
    row_band, col_band = module.canal_banding(noisy, box)
    assert row_band < 8.0 and col_band < 8.0
    stripes = np.where(hu < 100, 15.0 * np.sign(np.sin(rows * np.pi / 2.0)), 0.0)
    row_band, col_band = module.canal_banding(hu + stripes.astype(np.float32), box)
    assert row_band > 10.0 and col_band < 1.0
    assert max(module.canal_banding(ramp, box)) < 0.5


def test_real_false_positives_measures_a_model_on_synthetic_studies(
    trained_runs: dict[str, Path], generated_test_set: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    export_model(trained_runs["detector"] / "best.pt", trained_runs["grader"] / "best.pt", model)
    out = tmp_path / "rfp.json"
    code = _script("real_false_positives").main([
        "--model", str(model), "--test", str(generated_test_set), "--real-data", "",
        "--json", str(out),
    ])  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    assert "real" not in result  # no real data given: the synthetic parts only
    shares = result["generator_canals"]
    assert 0.0 < shares["uniform_and_sac_above_40_hu"] < shares["uniform"] < 1.0
    graded = 0
    for name in ("synthetic_normal", "synthetic_low", "synthetic_high"):
        for row in result[name]["density"]:
            assert 0.0 <= row["mean_p_high"] <= 1.0 and 0.0 <= row["share_above_threshold"] <= 1
            graded += row["n"]
    predictions = collect_predictions(model, find_studies(generated_test_set))
    labelled = (predictions.truth_group >= 0) & ~predictions.degenerative
    assert graded == int(labelled.sum()) > 0  # every graded slice falls in one density bin
    changes = result["perturbed_normals"]
    assert set(changes) == {"unchanged", "horizontal_streaks_20_hu", "blotches_15_hu"}
    for change in changes.values():
        assert 0.0 <= change["mean_p_high"] <= 1.0 and 0.0 <= change["share_above_threshold"] <= 1
    banding = np.asarray(result["synthetic_normal"]["banding_row_col_hu_p10_50_90"])
    assert banding.shape == (2, 3) and np.all(np.diff(banding, axis=1) >= 0)
