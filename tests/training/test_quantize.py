"""The int8 detector for the CPU: export, manifest, checksums, backend choice, agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from mscc_desktop.core.errors import ModelIntegrityError
from mscc_desktop.inference.backends import create_backend
from mscc_desktop.inference.backends.onnx import OnnxBackend
from mscc_desktop.inference.model_folder import load_model_folder
from mscc_desktop.training.datasets import LabelledStudy
from mscc_desktop.training.export import DETECTOR_INT8_FILE, export_model
from mscc_desktop.training.quantize import (
    INT8_BOX_TOLERANCE_PX,
    QuantizationError,
    calibration_images,
    compare_detectors,
)
from tests.training.disk_data import write_study


@pytest.fixture(scope="module")
def int8_model(
    trained_runs: dict[str, Path],
    tiny_studies: list[LabelledStudy],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    data = tmp_path_factory.mktemp("calibration")
    for study in tiny_studies[:2]:
        write_study(study, data / study.name)
    out = tmp_path_factory.mktemp("models") / "tiny-int8"
    export_model(
        trained_runs["detector"] / "best.pt",
        trained_runs["grader"] / "best.pt",
        out,
        fp16_weights=True,
        int8_calibration=data,
    )
    return out


def test_export_lists_a_quantized_detector_with_its_checksum_and_comparison(
    int8_model: Path,
) -> None:
    manifest = load_model_folder(int8_model)
    assert manifest.detector.int8_file == DETECTOR_INT8_FILE
    assert DETECTOR_INT8_FILE in {f.name for f in manifest.files}
    graph = onnx.load(str(int8_model / DETECTOR_INT8_FILE)).graph
    ops = {node.op_type for node in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    int8_weights = [i for i in graph.initializer if i.data_type == onnx.TensorProto.INT8]
    assert int8_weights  # convolution weights stored as int8
    check = manifest.architecture["export"]["int8_detector"]
    assert check["file"] == DETECTOR_INT8_FILE
    assert check["vs_float"]["images"] == 24  # both tiny studies, every slice
    assert check["vs_float"]["max_box_px"] <= INT8_BOX_TOLERANCE_PX


def test_cpu_backend_runs_the_int8_detector_and_says_so(int8_model: Path) -> None:
    manifest = load_model_folder(int8_model)
    backend = create_backend(manifest, "onnx-cpu", threads=1)
    assert backend.device.endswith("· int8 detector")
    float_backend = OnnxBackend(int8_model / "detector.onnx", int8_model / "grader.onnx")
    assert "int8" not in float_backend.device
    images = np.random.default_rng(0).random((3, 3, 64, 64), dtype=np.float32)
    int8_boxes, int8_scores = backend.detect(images)
    float_boxes, float_scores = float_backend.detect(images)
    assert int8_boxes.shape == float_boxes.shape == (3, 4)
    # Not the float detector under another name: the quantized graph gives other numbers.
    assert not np.array_equal(int8_scores, float_scores)


def test_a_tampered_int8_detector_is_refused(int8_model: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    copy.mkdir()
    for item in int8_model.iterdir():
        (copy / item.name).write_bytes(item.read_bytes())
    (copy / DETECTOR_INT8_FILE).write_bytes(b"not a model")
    with pytest.raises(ModelIntegrityError, match=DETECTOR_INT8_FILE):
        load_model_folder(copy)
    (copy / DETECTOR_INT8_FILE).unlink()
    with pytest.raises(ModelIntegrityError, match=DETECTOR_INT8_FILE):
        load_model_folder(copy)


def test_comparison_refuses_lost_canals_and_moved_boxes() -> None:
    boxes = np.array([[10, 10, 30, 30], [12, 12, 32, 32], [0, 0, 0, 0]], np.float32)
    scores = np.array([0.95, 0.55, 0.1], np.float32)
    moved = boxes + np.array([[0.5, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], np.float32)
    # A near-threshold canal may cross 0.5 either way; a clear one may not.
    check = compare_detectors(boxes, scores, moved, np.array([0.9, 0.45, 0.2], np.float32))
    assert (check.found_by_float, check.found_by_both) == (2, 1)
    assert check.max_box_px == pytest.approx(0.5)
    with pytest.raises(QuantizationError, match="lost 1 of 2"):
        compare_detectors(boxes, scores, boxes, np.array([0.3, 0.55, 0.1], np.float32))
    far = boxes + np.float32(INT8_BOX_TOLERANCE_PX + 1)
    with pytest.raises(QuantizationError, match="differ"):
        compare_detectors(boxes, scores, far, scores)


def test_calibration_needs_studies(tmp_path: Path) -> None:
    with pytest.raises(QuantizationError, match="No study folders"):
        calibration_images(tmp_path, size=64)
    (tmp_path / "empty-study").mkdir()
    with pytest.raises(QuantizationError, match="No readable CT"):
        calibration_images(tmp_path, size=64)


def test_an_int8_detector_that_disagrees_is_left_out_and_the_model_still_exported(
    trained_runs: dict[str, Path],
    tiny_studies: list[LabelledStudy],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mscc_desktop.training import quantize
    from mscc_desktop.training.cli import run_export

    data = tmp_path / "calibration"
    write_study(tiny_studies[0], data / tiny_studies[0].name)
    # No box can be that close: every comparison now fails.
    monkeypatch.setattr(quantize, "INT8_BOX_TOLERANCE_PX", -1.0)
    out = tmp_path / "model"
    ok = run_export(
        trained_runs["detector"] / "best.pt",
        trained_runs["grader"] / "best.pt",
        out,
        model_id="tiny-no-int8",
        version="1.0.0",
        description="",
        fp16_weights=True,
        torch_files=False,
        evaluation=None,
        int8_calibration=data,
    )
    assert ok
    assert "no int8 detector" in capsys.readouterr().err
    manifest = load_model_folder(out)  # complete and verified without the int8 file
    assert manifest.detector.int8_file is None
    assert not (out / DETECTOR_INT8_FILE).exists()
    assert DETECTOR_INT8_FILE not in {f.name for f in manifest.files}
    record = manifest.architecture["export"]["int8_detector"]
    assert "differ" in record["refused"] and "file" not in record
    backend = create_backend(manifest, "onnx-cpu")
    assert "int8" not in backend.device
