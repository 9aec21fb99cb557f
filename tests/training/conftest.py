"""Fixtures for the training tests: tiny labelled studies and tiny trained checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from mscc_desktop.training.datasets import LabelledStudy  # noqa: E402
from mscc_desktop.training.engine import TrainOptions  # noqa: E402
from tests.training.factories import make_studies  # noqa: E402


@pytest.fixture(scope="session")
def tiny_studies() -> list[LabelledStudy]:
    return make_studies(4, n_slices=12, size=64)


@pytest.fixture(scope="session")
def trained_runs(
    tmp_path_factory: pytest.TempPathFactory, tiny_studies: list[LabelledStudy]
) -> dict[str, Path]:
    """Run folders of a tiny detector (3 epochs) and a tiny grader (2 epochs)."""
    from mscc_desktop.training.train_detector import train_detector
    from mscc_desktop.training.train_grader import train_grader

    root = tmp_path_factory.mktemp("runs")
    torch.manual_seed(0)
    det = train_detector(
        TrainOptions(None, root / "detector", config="tiny", epochs=3, show_progress=False),
        studies=tiny_studies,
    )
    gra = train_grader(
        TrainOptions(None, root / "grader", config="tiny", epochs=2, show_progress=False),
        studies=tiny_studies,
    )
    return {"detector": det.out_dir, "grader": gra.out_dir}
