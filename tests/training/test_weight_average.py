"""Weight averaging (EMA) of the grader: the formula, batch-norm buffers, checkpoints, resume."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from mscc_desktop.training.datasets import LabelledStudy
from mscc_desktop.training.engine import TrainOptions, load_checkpoint
from mscc_desktop.training.train_grader import train_grader
from mscc_desktop.training.weight_average import WeightAverage, effective_decay


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_average_follows_the_warmed_up_ema_formula_for_weights_and_bn_buffers() -> None:
    net = _net()
    average = WeightAverage(net, decay=0.9)
    expected: dict[str, torch.Tensor] = {}
    for n in range(4):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        net.train()
        net(torch.randn(5, 3))  # moves BN's running statistics and its batch counter
        state = {k: v.clone() for k, v in net.state_dict().items()}
        if n == 0:
            expected = state
        else:
            d = effective_decay(0.9, n - 1)
            expected = {
                k: (expected[k] * d + v * (1 - d)) if v.is_floating_point() else v
                for k, v in state.items()
            }
        average.update(net)
    assert average.updates == 4
    for key, value in average.module.state_dict().items():
        torch.testing.assert_close(value, expected[key])
    # The average is not the last weights, and the warm-up kept the decay below 0.9.
    assert not torch.equal(average.module[0].weight, net[0].weight)
    assert effective_decay(0.9, 0) == pytest.approx(0.1)
    assert effective_decay(0.9, 10_000) == pytest.approx(0.9)


def test_decay_outside_zero_to_one_is_refused() -> None:
    for decay in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError, match="between 0 and 1"):
            WeightAverage(_net(), decay)


def test_grader_run_checkpoints_the_average_and_resumes_it(
    tmp_path: Path, tiny_studies: list[LabelledStudy]
) -> None:
    options = TrainOptions(
        None, tmp_path / "run", config="tiny", epochs=1, show_progress=False,
        overrides={"weight_average_decay": "0.95"},
    )  # fmt: skip
    train_grader(options, studies=tiny_studies)
    first = load_checkpoint(tmp_path / "run" / "last.pt", kind="grader")
    assert first["config"]["weight_average_decay"] == 0.95
    assert first["averaged_updates"] == first["step"] > 1
    # "model" (validated and exported) is the average, not the last training weights.
    differs = [
        key for key, value in first["model"].items()
        if value.is_floating_point() and not torch.equal(value, first["training_model"][key])
    ]  # fmt: skip
    assert any(".bns." in key for key in differs)  # window BN statistics are averaged too
    assert any(".bns." not in key for key in differs)

    train_grader(replace(options, epochs=2, resume=True), studies=tiny_studies)
    last = load_checkpoint(tmp_path / "run" / "last.pt", kind="grader")
    assert last["averaged_updates"] == last["step"] == 2 * first["step"]


def test_grader_without_averaging_keeps_one_set_of_weights(
    tmp_path: Path, tiny_studies: list[LabelledStudy]
) -> None:
    options = TrainOptions(None, tmp_path / "run", config="tiny", epochs=1, show_progress=False)
    train_grader(options, studies=tiny_studies[:2])
    checkpoint = load_checkpoint(tmp_path / "run" / "last.pt", kind="grader")
    assert "training_model" not in checkpoint and "averaged_updates" not in checkpoint
