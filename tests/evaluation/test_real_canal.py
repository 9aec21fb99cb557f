"""The shipped model on real CT: the canal is found on the hand-labelled slices, nothing is
called high grade (none of the shared real slices shows epidural disease)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mscc_desktop.core.config import DEFAULT_MODEL_ID, models_dir
from mscc_desktop.core.errors import EvaluationInputError
from mscc_desktop.evaluation.real_canal import (
    IOU_FOUND,
    check_canal,
    labelled_real_slices,
    summarise_checks,
)

BOXES = Path(__file__).resolve().parents[1] / "data" / "real_canal_boxes"


def test_every_hand_drawn_box_is_paired_with_its_slice_name(tmp_path: Path) -> None:
    # Without the real files the pairing refuses with a message naming the missing image.
    with pytest.raises(EvaluationInputError, match="not in"):
        labelled_real_slices(BOXES, tmp_path)


@pytest.mark.real_data
def test_shipped_model_finds_the_canal_on_real_ct_and_calls_nothing_high(
    real_data_dir: Path,
) -> None:
    folder = models_dir() / DEFAULT_MODEL_ID
    if not (folder / "manifest.json").is_file():
        pytest.skip(f"no shipped model in {folder}")
    from mscc_desktop.inference.backends import create_backend, resolve_model

    slices = labelled_real_slices(BOXES, real_data_dir)
    assert len(slices) == 28
    manifest = resolve_model(folder)
    checks = check_canal(slices, create_backend(manifest, "onnx-cpu"), manifest)
    summary = summarise_checks(checks)
    missed = [c.name for c in checks if c.iou < IOU_FOUND]
    assert summary.found_share >= 0.9, f"canal missed on {missed}"
    assert summary.n_high == 0, [c.name for c in checks if c.group and c.group.value == "high"]
