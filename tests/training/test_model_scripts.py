"""The measurement scripts of the model work run end to end on a tiny model (seconds)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from mscc_desktop.synth.output import generate_dataset
from mscc_desktop.synth.params import GeneratorConfig
from mscc_desktop.training.export import export_model

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
