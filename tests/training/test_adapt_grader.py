"""The deeper steps of site adaptation re-fit the grader's torch weights: BN statistics and
prototypes from the site's crops, the last stage by fine-tuning, written as a checked model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mscc_desktop.inference.backends.onnx import OnnxBackend
from mscc_desktop.inference.model_folder import load_model_folder
from mscc_desktop.training import adapt_grader
from mscc_desktop.training.adapt import AdaptDepth, adapt_model
from mscc_desktop.training.adapt_grader import features_of, refit_statistics
from mscc_desktop.training.datasets import LabelledStudy, build_grader_samples
from mscc_desktop.training.export import export_model
from mscc_desktop.training.grader_weights import GRADER_WEIGHTS_FILE, load_grader_weights
from mscc_desktop.training.train_grader import GraderDataset
from tests.training.disk_data import write_study
from tests.training.factories import make_studies


@pytest.fixture(scope="module")
def base_with_weights(
    trained_runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("models") / "tiny-trainable"
    export_model(trained_runs["detector"] / "best.pt", trained_runs["grader"] / "best.pt", out,
                 trainable_weights=True, fp16_weights=True)  # fmt: skip
    return out


@pytest.fixture(scope="module")
def site_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site-data")
    for study in make_studies(6, n_slices=10, size=64):
        write_study(study, root / study.name)
    return root


def test_the_weights_file_is_part_of_the_checked_folder_and_equals_the_onnx_grader(
    base_with_weights: Path,
) -> None:
    manifest = load_model_folder(base_with_weights)  # checksums verified
    assert GRADER_WEIGHTS_FILE in {f.name for f in manifest.files}
    assert _weights_vs_onnx(base_with_weights) <= 1e-4


def _weights_vs_onnx(folder: Path) -> float:
    """Largest probability difference between the folder's weights file and its ONNX grader."""
    manifest = load_model_folder(folder)
    trainable = load_grader_weights(folder / GRADER_WEIGHTS_FILE)
    crops = np.random.default_rng(1).normal(size=(5, 3, 32, 32)).astype(np.float32)
    backend = OnnxBackend(manifest.detector_path, manifest.grader_path, threads=1)
    with torch.no_grad():
        _, logits = trainable.grader(torch.from_numpy(crops))
    return float(np.abs(backend.grade(crops) - torch.softmax(logits, -1).numpy()).max())


def test_bn_statistics_become_the_site_s_and_prototypes_its_class_means(
    base_with_weights: Path, tiny_studies: list[LabelledStudy], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adapt_grader, "MIN_CLASS_SLICES", 1)
    trainable = load_grader_weights(base_with_weights / GRADER_WEIGHTS_FILE)
    # A "site" whose scanner reads 80 HU brighter: the statistics must follow it.
    brighter = [LabelledStudy(s.name, s.hu + np.int16(80), s.labels) for s in tiny_studies]
    samples = build_grader_samples(brighter, trainable.config)
    refit_statistics(trainable, samples, batch_size=16)
    grader = trainable.grader
    plain = GraderDataset(
        samples, range(len(samples)), trainable.config,
        mean=trainable.mean, std=trainable.std, augment=False, seed=0,
    )  # fmt: skip
    crops = torch.stack([plain[i][0] for i in range(len(plain))])
    for window in range(3):
        with torch.no_grad():
            stem = grader.backbone.conv1(crops[:, window : window + 1])
        bn = grader.backbone.bn1.bns[window]
        torch.testing.assert_close(bn.running_mean, stem.mean(dim=(0, 2, 3)), atol=1e-4, rtol=1e-4)
    feats, target = features_of(trainable, samples)
    for c in range(3):
        if (target == c).any():
            torch.testing.assert_close(
                grader.head.prototypes[c], feats[target == c].mean(dim=(0, 1)), atol=1e-4, rtol=1e-4
            )


def test_fine_tuning_writes_a_new_checked_grader_with_its_provenance(
    base_with_weights: Path, site_data: Path, tmp_path: Path
) -> None:
    base = load_model_folder(base_with_weights)
    result = adapt_model(base_with_weights, site_data, tmp_path / "adapted", model_id="tiny-site",
                         depth=AdaptDepth.FINE_TUNE, seed=1)  # fmt: skip
    assert result.plan.performed is AdaptDepth.FINE_TUNE
    adapted = load_model_folder(result.folder)  # every checksum verified, weights included
    sha = {f.name: f.sha256 for f in adapted.files}
    base_sha = {f.name: f.sha256 for f in base.files}
    assert sha["detector.onnx"] == base_sha["detector.onnx"]  # only the grader is re-fitted
    assert sha["grader.onnx"] != base_sha["grader.onnx"]
    assert sha[GRADER_WEIGHTS_FILE] != base_sha[GRADER_WEIGHTS_FILE]
    record = adapted.evaluation["site_adaptation"]
    assert record["depth_performed"] == "fine_tune"
    assert record["weights"]["statistics"]["bn_sets"] > 0
    assert len(record["weights"]["fine_tune"]["epoch_losses"]) == 4
    assert record["weights"]["onnx_vs_torch_max_prob"] <= 1e-4
    # weights fit on some adaptation patients, temperature and cut-off on others
    patients = record["patients"]
    assert patients["weights_fit"] + patients["calibration"] == patients["adapt"]
    assert patients["calibration"] >= 1 and patients["held_out"] >= 1
    # the weights file and the ONNX grader of the new folder are the same network
    assert _weights_vs_onnx(result.folder) <= 1e-4


def test_without_weights_the_deeper_steps_are_not_faked(
    trained_runs: dict[str, Path], site_data: Path, tmp_path: Path
) -> None:
    onnx_only = tmp_path / "onnx-only"
    export_model(
        trained_runs["detector"] / "best.pt", trained_runs["grader"] / "best.pt", onnx_only
    )
    result = adapt_model(onnx_only, site_data, tmp_path / "adapted", depth=AdaptDepth.FINE_TUNE)
    assert result.plan.performed is AdaptDepth.CALIBRATE
    assert "--trainable-weights" in result.plan.note
    sha = {f.name: f.sha256 for f in load_model_folder(result.folder).files}
    assert sha == {f.name: f.sha256 for f in load_model_folder(onnx_only).files}
