"""A model folder for the installer test: the shipped model when the tree has one, else the
tiny random-weight networks of ``tests/inference/tiny_models.py`` under the default id.

The tiny model obeys the model I/O contract and is verified like a real one, so the bundle
test exercises the same loader, checksums and ONNX Runtime path; its findings are
meaningless, which does not matter for comparing the bundle with the source tree.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mscc_desktop.core.config import DEFAULT_MODEL_ID, models_dir

MANIFEST = "manifest.json"


def shipped_model() -> Path | None:
    """``models/<default id>`` of the source tree when it holds a model."""
    folder = models_dir() / DEFAULT_MODEL_ID
    return folder if (folder / MANIFEST).is_file() else None


def tiny_default_model(root: Path) -> Path:
    """Write the tiny networks as ``root/<default id>/`` with a verified manifest."""
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
    from tests.inference.tiny_models import write_model_folder as write_networks

    folder = root / DEFAULT_MODEL_ID
    write_networks(folder, torch_files=False, seed=7)
    manifest = ModelManifest(
        model_id=DEFAULT_MODEL_ID,
        version="0.0.0-test",
        created="2024-01-01T00:00:00Z",
        description="Random-weight stand-in for the shipped model (installer test only)",
        windows=tuple(WindowSpec(p, w.width, w.level) for p, w in PAPER_WINDOWS.items()),
        detector=DetectorSpec("detector.onnx", DETECTOR_SIZE),
        grader=GraderSpec("grader.onnx", GRADER_SIZE, 0.25, (0.4, 0.3, 0.2), (0.3, 0.3, 0.3)),
        # A low canal threshold lets the random detector's boxes through, so the grader
        # runs on every slice and the comparison covers its probabilities too.
        thresholds=Thresholds(canal_score=0.05),
        training_data=TrainingData(synthetic=True, description="none: random weights"),
    )
    write_model_folder(manifest, folder, file_names=["detector.onnx", "grader.onnx"])
    return folder


def model_for_bundle(root: Path) -> Path:
    """A copy of the model to bundle, in ``root/<id>/`` (the build never reads models/)."""
    shipped = shipped_model()
    if shipped is None:
        return tiny_default_model(root)
    target = root / shipped.name
    shutil.copytree(shipped, target)
    return target
