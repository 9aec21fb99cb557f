"""The ONNX Runtime backend on tiny exported models: same numbers as torch, clear failures."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mscc_desktop.core.errors import ModelIntegrityError
from mscc_desktop.core.findings import AnalysisStatus
from mscc_desktop.inference.backends.onnx import OnnxBackend
from mscc_desktop.inference.pipeline import ModelSettings, analyse_volume
from tests.inference.phantoms import phantom_volume

torch = pytest.importorskip("torch")


def test_onnx_matches_torch_for_both_networks(tiny_model_dir: Path) -> None:
    from tests.inference.tiny_models import DETECTOR_SIZE, GRADER_SIZE, build

    backend = OnnxBackend(
        tiny_model_dir / "detector.onnx", tiny_model_dir / "grader.onnx", threads=1
    )
    detector, grader = build()
    rng = np.random.default_rng(1)
    for batch in (1, 5):  # the exported batch axis is dynamic
        images = rng.random((batch, 3, DETECTOR_SIZE, DETECTOR_SIZE), dtype=np.float32)
        crops = rng.standard_normal((batch, 3, GRADER_SIZE, GRADER_SIZE), dtype=np.float32)
        boxes, scores = backend.detect(images)
        probs = backend.grade(crops)
        with torch.no_grad():
            ref_boxes, ref_scores = detector(torch.from_numpy(images))
            ref_probs = grader(torch.from_numpy(crops))
        assert boxes.shape == (batch, 4) and scores.shape == (batch,)
        assert probs.shape == (batch, 3, 3)
        np.testing.assert_allclose(boxes, ref_boxes.numpy(), atol=1e-3)
        np.testing.assert_allclose(scores, ref_scores.numpy(), atol=1e-5)
        np.testing.assert_allclose(probs, ref_probs.numpy(), atol=1e-5)
        # window-specific batch norm: the three windows give different answers
        assert not np.allclose(probs[:, 0], probs[:, 1], atol=1e-4)


def test_reports_runtime_and_cpu_threads(tiny_model_dir: Path) -> None:
    import onnxruntime

    backend = OnnxBackend(
        tiny_model_dir / "detector.onnx", tiny_model_dir / "grader.onnx", threads=2
    )
    assert backend.runtime == f"ONNX Runtime {onnxruntime.__version__}"
    assert backend.device == "CPU · 2 threads"
    assert backend.name == "onnx-cpu" and backend.fallback_warning is None


def test_damaged_model_file_is_refused_with_its_name(tiny_model_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "grader.onnx"
    data = (tiny_model_dir / "grader.onnx").read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelIntegrityError, match=r"grader\.onnx"):
        OnnxBackend(tiny_model_dir / "detector.onnx", broken)


def test_missing_model_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelIntegrityError, match="missing"):
        OnnxBackend(tmp_path / "detector.onnx", tmp_path / "grader.onnx")


def test_pipeline_runs_on_the_onnx_backend(tiny_settings: ModelSettings) -> None:
    assert tiny_settings.detector_onnx is not None and tiny_settings.grader_onnx is not None
    backend = OnnxBackend(tiny_settings.detector_onnx, tiny_settings.grader_onnx, threads=1)
    volume = phantom_volume([0.0, 1.0, None, 0.5, 0.0])
    result = analyse_volume(volume, backend, tiny_settings, batch_size=2)
    assert result.status is AnalysisStatus.COMPLETE and result.findings is not None
    assert result.provenance.backend.startswith("ONNX Runtime")
    for slice_result in result.findings.slices:
        # the random detector scores ~0.5: whichever side of the threshold, the slice is
        # either graded with probabilities that sum to 1 or marked canal-not-found
        if slice_result.probabilities is not None:
            assert sum(slice_result.probabilities) == pytest.approx(1.0, abs=1e-5)
            assert slice_result.group is not None


def test_model_folder_is_not_written(tiny_model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(tiny_model_dir, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    backend = OnnxBackend(copy / "detector.onnx", copy / "grader.onnx")
    backend.detect(np.zeros((1, 3, 64, 64), np.float32))
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before
