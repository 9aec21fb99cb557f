"""Export: ONNX equals torch (dynamic batch), fp16 storage, the model folder verifies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mscc_desktop.cli import main
from mscc_desktop.core.errors import ModelIntegrityError
from mscc_desktop.core.windows import PAPER_WINDOWS
from mscc_desktop.inference.backends.onnx import OnnxBackend
from mscc_desktop.inference.model_folder import load_model_folder
from mscc_desktop.training.datasets import LabelledStudy, build_detector_samples
from mscc_desktop.training.export import export_model, load_networks


@pytest.fixture(scope="module")
def exported(trained_runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models") / "tiny-synth"
    export_model(
        trained_runs["detector"] / "best.pt",
        trained_runs["grader"] / "best.pt",
        out,
        torch_files=True,
        version="0.1.0",
    )
    return out


def _images(studies: list[LabelledStudy]) -> np.ndarray:
    samples = build_detector_samples(studies[-1:], size=64)
    return samples.inputs(range(5))


def test_onnx_matches_torch_for_any_batch_size(
    exported: Path, trained_runs: dict[str, Path], tiny_studies: list[LabelledStudy]
) -> None:
    nets = load_networks(
        trained_runs["detector"] / "best.pt",
        trained_runs["grader"] / "best.pt",
        fp16_weights=False,
    )
    backend = OnnxBackend(exported / "detector.onnx", exported / "grader.onnx", threads=1)
    images = _images(tiny_studies)
    crops = np.random.default_rng(0).normal(size=(7, 3, 32, 32)).astype(np.float32)
    for n in (1, 2, 5):
        with torch.no_grad():
            boxes, scores = nets.detector(torch.from_numpy(images[:n]))
        onnx_boxes, onnx_scores = backend.detect(images[:n])
        assert onnx_boxes.shape == (n, 4) and onnx_scores.shape == (n,)
        assert np.abs(onnx_boxes - boxes.numpy()).max() <= 0.5
        np.testing.assert_allclose(onnx_scores, scores.numpy(), atol=1e-4)
    assert (scores > 0).any()  # real boxes were compared, not only empty ones
    for n in (1, 7):
        with torch.no_grad():
            probs = nets.grader(torch.from_numpy(crops[:n])).numpy()
        onnx_probs = backend.grade(crops[:n])
        assert onnx_probs.shape == (n, 3, 3)
        assert np.abs(onnx_probs - probs).max() <= 1e-4
        np.testing.assert_allclose(onnx_probs.sum(axis=2), 1.0, atol=1e-5)


def test_manifest_describes_the_exported_model(exported: Path) -> None:
    manifest = load_model_folder(exported)
    assert manifest.model_id == "tiny-synth" and manifest.version == "0.1.0"
    assert manifest.detector.input_size == 64 and manifest.grader.input_size == 32
    assert manifest.grader.crop_margin == 0.5
    assert [w.width for w in manifest.window_objects] == [w.width for w in PAPER_WINDOWS.values()]
    assert manifest.synthetic_only and "synthetic" in manifest.intended_use
    assert manifest.architecture["export"]["opset"] >= 17
    assert manifest.architecture["detector"]["config"]["name"] == "tiny"
    assert manifest.training_data.n_studies == 4
    names = {f.name for f in manifest.files}
    assert names == {"detector.onnx", "grader.onnx", "detector.pt2", "grader.pt2"}
    assert manifest.detector_torch_path == exported / "detector.pt2"


def test_torch_programs_run_like_the_onnx_files(
    exported: Path, tiny_studies: list[LabelledStudy]
) -> None:
    images = torch.from_numpy(_images(tiny_studies))
    backend = OnnxBackend(exported / "detector.onnx", exported / "grader.onnx", threads=1)
    detector = torch.export.load(str(exported / "detector.pt2")).module()
    with torch.no_grad():
        boxes, _ = detector(images[:3])
    assert np.abs(boxes.numpy() - backend.detect(images[:3].numpy())[0]).max() <= 0.5
    grader = torch.export.load(str(exported / "grader.pt2")).module()
    crops = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        probs = grader(crops).numpy()
    assert np.abs(probs - backend.grade(crops.numpy())).max() <= 1e-4


def test_fp16_weights_halve_the_files_and_keep_the_answers(
    exported: Path,
    trained_runs: dict[str, Path],
    tmp_path: Path,
    tiny_studies: list[LabelledStudy],
) -> None:
    half = export_model(
        trained_runs["detector"] / "best.pt",
        trained_runs["grader"] / "best.pt",
        tmp_path / "half",
        fp16_weights=True,
    )
    full = load_model_folder(exported)
    size = {f.name: f.size_bytes for f in full.files}
    for entry in half.files:
        assert entry.size_bytes < 0.7 * size[entry.name]
    a = OnnxBackend(exported / "detector.onnx", exported / "grader.onnx", threads=1)
    b = OnnxBackend(tmp_path / "half" / "detector.onnx", tmp_path / "half" / "grader.onnx",
                    threads=1)  # fmt: skip
    crops = np.random.default_rng(1).normal(size=(4, 3, 32, 32)).astype(np.float32)
    assert np.abs(a.grade(crops) - b.grade(crops)).max() < 0.02
    images = _images(tiny_studies)
    assert np.abs(a.detect(images)[0] - b.detect(images)[0]).max() < 1.0


def test_export_command_writes_a_verified_model(
    trained_runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evaluation = tmp_path / "eval.json"
    evaluation.write_text(json.dumps({"ap50": 0.5}))
    out = tmp_path / "models" / "cli-model"
    code = main([
        "export", "--detector", str(trained_runs["detector"] / "best.pt"),
        "--grader", str(trained_runs["grader"] / "best.pt"), "--out", str(out),
        "--version", "2.0.0", "--evaluation", str(evaluation),
    ])  # fmt: skip
    assert code == 0
    assert "exported cli-model 2.0.0" in capsys.readouterr().out
    manifest = load_model_folder(out)
    assert manifest.evaluation == {"ap50": 0.5}
    (out / "grader.onnx").write_bytes(b"tampered")
    with pytest.raises(ModelIntegrityError):
        load_model_folder(out)
    # Swapped checkpoints are caught before anything is written.
    code = main([
        "export", "--detector", str(trained_runs["grader"] / "best.pt"),
        "--grader", str(trained_runs["detector"] / "best.pt"), "--out", str(tmp_path / "x"),
    ])  # fmt: skip
    assert code == 1
    assert "not a detector checkpoint" in capsys.readouterr().err
