"""Fixtures for the inference tests: model settings for the fake and tiny exported models."""

from __future__ import annotations

from pathlib import Path

import pytest

from mscc_desktop.inference.pipeline import ModelSettings
from tests.factories.model_settings import fake_model_settings


@pytest.fixture
def settings() -> ModelSettings:
    """Settings of a model with a 96-pixel detector and 32-pixel grader crops."""
    return fake_model_settings(model_id="test-model", model_version="0.0.1", model_sha256="ab" * 32)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with tiny ONNX and torch.export files obeying the model I/O contract."""
    pytest.importorskip("torch")
    from tests.inference.tiny_models import write_model_folder

    folder = tmp_path_factory.mktemp("tiny-model")
    write_model_folder(folder)
    return folder


@pytest.fixture
def tiny_settings(tiny_model_dir: Path) -> ModelSettings:
    from tests.inference.tiny_models import DETECTOR_SIZE, GRADER_SIZE

    return ModelSettings(
        model_id="tiny",
        model_version="0.0.0",
        model_sha256="cd" * 32,
        detector_size=DETECTOR_SIZE,
        grader_size=GRADER_SIZE,
        crop_margin=0.25,
        grader_mean=(0.4, 0.3, 0.2),
        grader_std=(0.3, 0.3, 0.3),
        folder=tiny_model_dir,
        detector_onnx=tiny_model_dir / "detector.onnx",
        grader_onnx=tiny_model_dir / "grader.onnx",
        detector_torch=tiny_model_dir / "detector.pt2",
        grader_torch=tiny_model_dir / "grader.pt2",
    )


@pytest.fixture(scope="session")
def tiny_model_folder(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny networks as an installed model folder: manifest.json with checksums."""
    import shutil

    from mscc_desktop.core.findings import Thresholds
    from mscc_desktop.core.windows import PAPER_WINDOWS
    from mscc_desktop.inference.manifest import (
        DetectorSpec,
        GraderSpec,
        ModelManifest,
        TrainingData,
        WindowSpec,
    )
    from mscc_desktop.inference.model_folder import write_model_folder
    from tests.inference.tiny_models import DETECTOR_SIZE, GRADER_SIZE

    folder = tmp_path_factory.mktemp("models") / "tiny-synth"
    shutil.copytree(tiny_model_dir, folder)
    manifest = ModelManifest(
        model_id="tiny-synth",
        version="0.0.1",
        created="2024-01-01T00:00:00Z",
        description="Random-weight test model",
        windows=tuple(WindowSpec(p, w.width, w.level) for p, w in PAPER_WINDOWS.items()),
        detector=DetectorSpec("detector.onnx", DETECTOR_SIZE, torch_file="detector.pt2"),
        grader=GraderSpec(
            "grader.onnx", GRADER_SIZE, 0.25, (0.4, 0.3, 0.2), (0.3, 0.3, 0.3), "grader.pt2"
        ),
        thresholds=Thresholds(),
        training_data=TrainingData(synthetic=True, description="none: random weights"),
    )
    write_model_folder(
        manifest,
        folder,
        file_names=["detector.onnx", "grader.onnx", "detector.pt2", "grader.pt2"],
    )
    return folder
