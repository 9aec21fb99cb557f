"""The canal detector: batch-first top-1 wrapper equals torchvision's own inference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mscc_desktop.training.configs import detector_config, detector_config_from_dict
from mscc_desktop.training.datasets import LabelledStudy, build_detector_samples
from mscc_desktop.training.detector_export import CanalDetector
from mscc_desktop.training.engine import load_checkpoint
from mscc_desktop.training.networks import build_detector


def _trained(run: Path) -> torch.nn.Module:
    ckpt = load_checkpoint(run / "best.pt", kind="detector")
    model = build_detector(detector_config_from_dict(ckpt["config"]))
    model.load_state_dict(ckpt["model"])
    return model.eval()


def test_top1_box_equals_torchvision_first_detection(
    trained_runs: dict[str, Path], tiny_studies: list[LabelledStudy]
) -> None:
    model = _trained(trained_runs["detector"])
    samples = build_detector_samples(tiny_studies[:1], size=64)
    images = torch.from_numpy(samples.inputs(range(5)))
    wrapper = CanalDetector(model, input_size=64).eval()
    with torch.no_grad():
        boxes, scores = wrapper(images)
        reference = model(list(images))
    found = 0
    for i, ref in enumerate(reference):
        if len(ref["scores"]):
            found += 1
            torch.testing.assert_close(boxes[i], ref["boxes"][0], atol=1e-3, rtol=0)
            torch.testing.assert_close(scores[i], ref["scores"][0], atol=1e-5, rtol=0)
        else:
            assert float(scores[i]) == 0.0 and torch.all(boxes[i] == 0)
    assert found >= 1  # the comparison above compared real boxes


def test_detector_never_upsamples_and_keeps_the_batch() -> None:
    config = detector_config("tiny")
    model = build_detector(config).eval()
    assert model.transform.min_size == (64,) and model.transform.max_size == 64
    wrapper = CanalDetector(model, input_size=64).eval()
    with torch.no_grad():
        boxes, scores = wrapper(torch.rand(4, 3, 64, 64))
    assert boxes.shape == (4, 4) and scores.shape == (4,)
    assert torch.all(boxes >= 0) and torch.all(boxes <= 64)


def test_detector_training_step_reduces_the_loss(tiny_studies: list[LabelledStudy]) -> None:
    torch.manual_seed(0)
    model = build_detector(detector_config("tiny")).train()
    samples = build_detector_samples(tiny_studies[:1], size=64)
    images = list(torch.from_numpy(samples.inputs(range(4))))
    targets = [
        {"boxes": torch.from_numpy(b).view(1, 4), "labels": torch.ones(1, dtype=torch.int64)}
        for b in samples.detector_boxes(range(4))
    ]
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    losses = []
    for _ in range(15):
        loss = sum(model(images, targets).values())
        optimiser.zero_grad()
        loss.backward()  # type: ignore[union-attr]
        optimiser.step()
        losses.append(float(loss.detach()))  # type: ignore[union-attr]
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])


def test_detector_samples_map_boxes_into_detector_pixels(
    tiny_studies: list[LabelledStudy],
) -> None:
    study = tiny_studies[0]
    samples = build_detector_samples([study], size=32)  # half the 64-pixel slice
    assert len(samples) == len(study.labels) and samples.hu[0].dtype == np.int16
    assert samples.inputs([0, 1]).shape == (2, 3, 32, 32)
    first = study.labels[0].box
    assert first is not None
    np.testing.assert_allclose(
        samples.detector_boxes([0])[0], np.asarray(first.as_tuple()) / 2, atol=1e-4
    )
    with pytest.raises(ValueError):
        build_detector_samples([LabelledStudy("empty", study.hu, ())], size=32)
