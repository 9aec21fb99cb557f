"""The shipped model on a freshly generated study: findings and flag match the ground truth.

Skips until ``models/<default id>`` and the ``synth`` command exist. Real ONNX Runtime on the
CPU, the whole path a user takes: DICOM folder → volume → backend → analysis.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

from mscc_desktop.core.config import DEFAULT_MODEL_ID, models_dir
from mscc_desktop.core.findings import AnalysisStatus
from mscc_desktop.core.grades import GradeGroup

REAL_BOXES = Path(__file__).resolve().parents[1] / "data" / "real_canal_boxes"
SEED = 990_001  # never used for training (the training script's seeds are below 10^5)


def _skip_unless_ready() -> Path:
    folder = models_dir() / DEFAULT_MODEL_ID
    if not (folder / "manifest.json").is_file():
        pytest.skip(f"no shipped model in {folder}")
    if importlib.util.find_spec("mscc_desktop.cli.synth_cmd") is None:
        pytest.skip("the synthetic-study generator (mscc-desktop synth) is not available")
    return folder


def test_shipped_model_matches_ground_truth_on_a_generated_study(tmp_path: Path) -> None:
    folder = _skip_unless_ready()
    from mscc_desktop.cli import main
    from mscc_desktop.core.dicom import open_folder
    from mscc_desktop.inference.backends import create_backend, resolve_model
    from mscc_desktop.inference.pipeline import analyse_volume

    assert main(["synth", str(tmp_path), "--studies", "1", "--seed", str(SEED)]) == 0
    (study,) = [p for p in tmp_path.iterdir() if (p / "labels.csv").is_file()]
    with (study / "labels.csv").open(newline="") as handle:
        truth = {
            row["sop_instance_uid"]: GradeGroup(row["group"]) for row in csv.DictReader(handle)
        }
    volume = open_folder(study / "dicom").volume
    manifest = resolve_model(folder)
    result = analyse_volume(volume, create_backend(manifest, "onnx-cpu"), manifest)
    assert result.status is AnalysisStatus.COMPLETE and result.findings is not None
    findings = result.findings
    slices = [s for s in findings.slices if s.sop_instance_uid in truth]
    assert len(slices) == len(truth)
    found = sum(s.canal_found for s in slices) / len(slices)
    assert found >= 0.9, f"canal found on {found:.0%} of slices"
    truly_high = any(g is GradeGroup.HIGH for g in truth.values())
    assert findings.high_grade == truly_high
    # every true high-grade slice lies inside a lesion the model reports as high grade
    high_lesions = [les for les in findings.lesions if les.group is GradeGroup.HIGH]
    for s in slices:
        if truth[s.sop_instance_uid] is GradeGroup.HIGH:
            assert any(les.first_slice - 1 <= s.index <= les.last_slice + 1 for les in high_lesions)
    agree = sum(s.group is truth[s.sop_instance_uid] for s in slices if s.canal_found)
    assert agree / max(1, sum(s.canal_found for s in slices)) >= 0.85


def test_shipped_manifest_records_evaluation_that_meets_the_targets() -> None:
    """Issue 4's acceptance, as measured by scripts/train_shipped_model.py on its test set."""
    folder = models_dir() / DEFAULT_MODEL_ID
    if not (folder / "manifest.json").is_file():
        pytest.skip(f"no shipped model in {folder}")
    from mscc_desktop.inference.backends import resolve_model

    manifest = resolve_model(folder)
    evaluation = manifest.evaluation
    assert evaluation["n_studies"] >= 20
    assert evaluation["test_seed"] not in manifest.training_data.seeds
    assert evaluation["canal_ap50"] >= 0.98
    assert evaluation["three_class_ac1"] >= 0.90
    assert evaluation["high_grade_image_sensitivity"] >= 0.95
    assert evaluation["high_grade_image_specificity"] >= 0.95
    assert evaluation["high_grade_study_sensitivity"] >= 0.95
    # The thresholds evaluated are the ones the app uses.
    th = manifest.thresholds
    assert evaluation["thresholds"] == {
        "high": th.high,
        "any_mscc": th.any_mscc,
        "canal_score": th.canal_score,
    }
    real = evaluation.get("real_ct_canal_check")
    if real is not None:
        # Recorded on the whole hand-checked set as it stands (it grew from 28 slices to every
        # slice of 12 patients): re-run the check after the boxes change.
        n_boxes = len(list(REAL_BOXES.rglob("*.xml")))
        assert real["n_slices"] == n_boxes, "real-CT check recorded on an older box set"
        assert real["found_share_iou50"] >= 0.9 and real["n_graded_high"] == 0
    size = sum(f.stat().st_size for f in models_dir().rglob("*") if f.is_file())
    assert size <= 40e6
