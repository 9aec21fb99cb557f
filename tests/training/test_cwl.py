"""Combined window learning: window-specific batch norm, prototype head and loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mscc_desktop.inference.probabilities import fuse_windows
from mscc_desktop.training.cwl import (
    CWLGrader,
    GraderExport,
    PrototypeHead,
    WindowBatchNorm2d,
    class_weights,
    cwl_loss,
)


def _batch(seed: int = 0, n: int = 8, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Crops whose windows have very different statistics (as bone vs spine windows do)."""
    g = torch.Generator().manual_seed(seed)
    crops = torch.randn((n, 3, size, size), generator=g)
    crops[:, 0] = crops[:, 0] * 3.0 + 2.0
    crops[:, 2] = crops[:, 2] * 0.3 - 1.0
    target = torch.arange(n) % 3
    crops[target == 2, :, : size // 2] += 1.5  # the "high" class is visibly different
    return crops, target


def test_prototype_logits_follow_the_formula() -> None:
    head = PrototypeHead(16, 3, temperature=10.0)
    features = torch.randn(5, 16)
    expected = torch.stack(
        [-((features - head.prototypes[c]) ** 2).sum(dim=1) / 10.0 for c in range(3)], dim=1
    )
    torch.testing.assert_close(head(features), expected)


def test_every_conv_is_shared_and_only_batch_norm_is_per_window() -> None:
    model = CWLGrader("tiny")
    window_bns = [m for m in model.modules() if isinstance(m, WindowBatchNorm2d)]
    plain_bns = [
        m
        for m in model.modules()
        if isinstance(m, torch.nn.BatchNorm2d) and not any(m in list(w.bns) for w in window_bns)
    ]
    assert window_bns and not plain_bns
    assert all(len(w.bns) == 3 for w in window_bns)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].in_channels == 1  # one window per pass through the shared convolutions


def test_training_decreases_the_loss_and_makes_the_window_bn_sets_differ() -> None:
    torch.manual_seed(0)
    model = CWLGrader("tiny")
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    weights = class_weights([3, 3, 2])
    crops, target = _batch()
    losses = []
    for _ in range(30):
        _, logits = model(crops)
        loss, _, _ = cwl_loss(
            logits,
            target,
            weights=weights,
            temperature=10.0,
            compactness_weight=0.5,
            feature_dim=model.feature_dim,
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])
    stem = model.backbone.bn1
    bone, abdomen, spine = (stem.bns[w] for w in range(3))
    # Running statistics follow each window's own data ...
    assert bone.running_mean.mean() > spine.running_mean.mean() + 0.1
    assert not torch.allclose(bone.running_var, spine.running_var, rtol=0.05)
    # ... and the learned affine parameters diverge too.
    assert not torch.allclose(bone.weight, abdomen.weight)
    assert not torch.allclose(abdomen.bias, spine.bias)


def test_compactness_term_is_the_squared_distance_to_the_own_prototype() -> None:
    torch.manual_seed(1)
    model = CWLGrader("tiny").eval()
    crops, target = _batch(n=6)
    features, logits = model(crops)
    _, ce, compactness = cwl_loss(
        logits,
        target,
        weights=torch.ones(3),
        temperature=10.0,
        compactness_weight=0.5,
        feature_dim=model.feature_dim,
    )
    protos = model.head.prototypes[target]  # (N, F)
    expected = sum(
        ((features[:, w] - protos) ** 2).sum(dim=1).mean() / model.feature_dim for w in range(3)
    )
    torch.testing.assert_close(compactness, expected, rtol=1e-4, atol=1e-5)
    expected_ce = sum(torch.nn.functional.cross_entropy(logits[:, w], target) for w in range(3))
    torch.testing.assert_close(ce, expected_ce)


def test_class_weights_are_one_minus_the_share() -> None:
    torch.testing.assert_close(class_weights([80, 10, 10]), torch.tensor([0.2, 0.9, 0.9]))
    with pytest.raises(ValueError):
        class_weights([0, 0, 0])


def test_missing_window_inference_uses_only_the_available_windows() -> None:
    torch.manual_seed(2)
    model = CWLGrader("tiny")
    crops, _ = _batch()
    model.train()
    for _ in range(3):  # give each BN set its own running statistics
        model(crops)
    model.eval()
    export = GraderExport(model)
    with torch.no_grad():
        full = export(crops).numpy()
        _, logits = model(crops[:, [0, 2]], windows=(0, 2))
        partial = torch.softmax(logits, dim=-1).numpy()
        _, spine_logits = model(crops[:, [2]], windows=(2,))
    # A window's probabilities do not depend on which other windows are present.
    np.testing.assert_allclose(partial[:, 0], full[:, 0], atol=1e-5)
    np.testing.assert_allclose(partial[:, 1], full[:, 2], atol=1e-5)
    np.testing.assert_allclose(torch.softmax(spine_logits, -1)[:, 0], full[:, 2], atol=1e-5)
    # Average fusion over the two available windows, with the missing one ignored even when
    # its input was garbage.
    garbage = crops.clone()
    garbage[:, 1] = 1e3
    with torch.no_grad():
        noisy = export(garbage).numpy()
    fused = fuse_windows(noisy, available=[True, False, True])
    np.testing.assert_allclose(fused, partial.mean(axis=1), atol=1e-5)
    assert not np.allclose(fuse_windows(noisy), fused, atol=1e-3)


def test_window_indices_are_checked() -> None:
    model = CWLGrader("tiny").eval()
    crops, _ = _batch(n=2)
    with pytest.raises(ValueError, match="crop channels"):
        model(crops, windows=(0, 1))
    with pytest.raises(ValueError, match="outside"):
        model(crops[:, :1], windows=(3,))
