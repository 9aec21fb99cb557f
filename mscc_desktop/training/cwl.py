"""Combined window learning (CWL) grader: window-specific batch norm + convolutional prototypes.

Hallinan et al. 2023 (see ``../shared/PAPER_NOTES.md``):

* one backbone whose convolutions are shared by the three CT windows, but with **one set of
  batch-norm layers per window** (:class:`WindowBatchNorm2d`);
* a **prototype head**: one learnable prototype per class in feature space, logit
  ``-||f - p_c||² / T`` with ``T = 10`` (:class:`PrototypeHead`);
* loss = class-weighted cross-entropy (weight ``1 - share``) + ``λ ||f - p_y||²`` with
  ``λ = 0.5``, computed per window on equal-size per-window batches and summed
  (:func:`cwl_loss`);
* inference: every available window through its own BN set, softmax per window; the average
  fusion happens outside the network (:func:`mscc_desktop.inference.probabilities.fuse_windows`).

Layout: the grader takes ``(N, k, S, S)`` crops (one channel per window) and the indices of the
``k`` windows they are in (all ``W`` by default). Internally the batch is window-major,
``(k·N, 1, S, S)``, so each window's samples are one contiguous block that its BN set
normalises with its own batch statistics in training and its own running statistics in eval.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional

from mscc_desktop.training.backbones import build_body


class WindowBatchNorm2d(nn.Module):
    """``n_windows`` BatchNorm2d sets; the active windows decide which set sees which block.

    The input is window-major: ``len(self.windows)`` equal blocks along the batch axis, block
    ``i`` holding samples of window ``self.windows[i]``.
    """

    def __init__(self, num_features: int, n_windows: int) -> None:
        super().__init__()
        self.bns = nn.ModuleList(nn.BatchNorm2d(num_features) for _ in range(n_windows))
        self.windows: tuple[int, ...] = tuple(range(n_windows))

    @classmethod
    def from_batch_norm(cls, bn: nn.BatchNorm2d, n_windows: int) -> WindowBatchNorm2d:
        """Replace ``bn`` by ``n_windows`` copies of it (same init, same running stats)."""
        module = cls(bn.num_features, n_windows)
        for target in module.bns:
            target.load_state_dict(bn.state_dict())
        return module

    def forward(self, x: Tensor) -> Tensor:
        if len(self.windows) == 1:
            return self.bns[self.windows[0]](x)  # type: ignore[no-any-return]
        # reshape (not chunk) keeps the batch size symbolic when the graph is exported
        blocks = x.reshape(len(self.windows), -1, *x.shape[1:])
        outs = [self.bns[w](blocks[i]) for i, w in enumerate(self.windows)]
        return torch.cat(outs, dim=0)


def convert_to_window_bn(module: nn.Module, n_windows: int) -> nn.Module:
    """Replace every ``BatchNorm2d`` inside ``module`` by a :class:`WindowBatchNorm2d`."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, WindowBatchNorm2d.from_batch_norm(child, n_windows))
        else:
            convert_to_window_bn(child, n_windows)
    return module


class PrototypeHead(nn.Module):
    """One learnable prototype per class; logit_c = -||f - p_c||² / T."""

    def __init__(self, feature_dim: int, n_classes: int, *, temperature: float) -> None:
        super().__init__()
        self.temperature = float(temperature)
        # Small random prototypes: features start near zero (zero-init residual branches), so
        # prototypes of a comparable scale give the cross-entropy a useful gradient at once.
        self.prototypes = nn.Parameter(torch.randn(n_classes, feature_dim) * 0.1)

    def squared_distances(self, features: Tensor) -> Tensor:
        """``(B, C)`` squared Euclidean distances of ``features`` ``(B, F)`` to the prototypes."""
        diff = features.unsqueeze(1) - self.prototypes.unsqueeze(0)
        return (diff * diff).sum(dim=-1)

    def forward(self, features: Tensor) -> Tensor:
        return -self.squared_distances(features) / self.temperature


class CWLGrader(nn.Module):
    """Shared-convolution grader with window-specific BN and a prototype head.

    ``forward(crops, windows)`` maps ``(N, k, S, S)`` crops in windows ``windows`` (indices into
    the model's window order; all windows by default) to ``(N, k, F)`` features and
    ``(N, k, C)`` logits.
    """

    def __init__(
        self, arch: str, *, n_windows: int = 3, n_classes: int = 3, temperature: float = 10.0
    ) -> None:
        super().__init__()
        self.n_windows = n_windows
        body = build_body(arch, in_channels=1)
        self.feature_dim = body.spec.out_channels[3]
        self.backbone = convert_to_window_bn(body, n_windows)
        self.head = PrototypeHead(self.feature_dim, n_classes, temperature=temperature)
        self._window_bns = [m for m in self.modules() if isinstance(m, WindowBatchNorm2d)]

    def _route(self, windows: tuple[int, ...]) -> None:
        for bn in self._window_bns:
            bn.windows = windows

    def features(self, crops: Tensor, windows: Sequence[int] | None = None) -> Tensor:
        """``(N, k, S, S)`` crops → ``(N, k, F)`` pooled features, each window via its BN set."""
        chosen = tuple(range(self.n_windows)) if windows is None else tuple(windows)
        if crops.shape[1] != len(chosen):
            raise ValueError(f"{crops.shape[1]} crop channels for windows {chosen}")
        if any(not 0 <= w < self.n_windows for w in chosen):
            raise ValueError(f"window indices {chosen} outside 0..{self.n_windows - 1}")
        n, k, s1, s2 = crops.shape
        self._route(chosen)
        window_major = crops.transpose(0, 1).reshape(k * n, 1, s1, s2)
        maps: Tensor = self.backbone(window_major)
        pooled = maps.mean(dim=(2, 3))  # (k·N, F)
        return pooled.reshape(k, n, -1).transpose(0, 1)

    def forward(self, crops: Tensor, windows: Sequence[int] | None = None) -> tuple[Tensor, Tensor]:
        feats = self.features(crops, windows)
        n, k, f = feats.shape
        logits = self.head(feats.reshape(n * k, f)).reshape(n, k, -1)
        return feats, logits

    def backbone_parameters(self) -> list[nn.Parameter]:
        return list(self.backbone.parameters())

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.head.parameters())


class GraderExport(nn.Module):
    """The exported grader: ``crops`` ``(N, W, S, S)`` → per-window softmax ``(N, W, 3)``."""

    def __init__(self, grader: CWLGrader) -> None:
        super().__init__()
        self.grader = grader

    def forward(self, crops: Tensor) -> Tensor:
        _, logits = self.grader(crops)
        return torch.softmax(logits, dim=-1)


def class_weights(counts: Sequence[int]) -> Tensor:
    """The paper's class weights: ``1 - share`` of each class in the training set."""
    total = float(sum(counts))
    if total <= 0:
        raise ValueError("no training samples to compute class weights from")
    return torch.tensor([1.0 - c / total for c in counts], dtype=torch.float32)


def cwl_loss(
    logits: Tensor,
    target: Tensor,
    *,
    weights: Tensor,
    temperature: float,
    compactness_weight: float,
    feature_dim: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """Sum over windows of class-weighted cross-entropy + λ·compactness.

    The compactness term is ``||f - p_y||²`` averaged over the F feature dimensions (what
    ``torch.nn.functional.mse_loss(f, p_y)`` computes). It is read off the logits
    (``logit_y = -||f - p_y||²/T``), so the loss needs nothing outside the model's forward pass
    (which keeps DDP's gradient bookkeeping simple).

    Why the mean over dimensions: with the plain sum and λ = 0.5, training from random weights
    collapses every feature and every prototype onto one point within a few epochs (the
    compactness term is ~F times stronger than the cross-entropy's push apart; measured on the
    tiny config: cross-entropy stuck at ln 3 per window, compactness → 0). Per dimension, λ = 0.5
    is of the order prototype-learning papers use for the sum (λ/F ≈ 1e-3).

    Parameters
    ----------
    logits
        ``(N, k, C)`` prototype logits from :class:`CWLGrader`: one equal-size block of N
        samples per window, each normalised by its own BN set.
    target
        ``(N,)`` class indices (the same slice in every window).
    weights
        ``(C,)`` class weights for the cross-entropy (:func:`class_weights`).
    temperature
        T of the prototype head.
    compactness_weight
        λ: weight of the squared distance between a feature and its class prototype.
    feature_dim
        F, the feature dimension (the squared distance is divided by it).

    Returns
    -------
    total, cross_entropy, compactness
        Scalars summed over windows; ``total`` is what to back-propagate.
    """
    n_windows = logits.shape[1]
    ce_total = logits.new_zeros(())
    pl_total = logits.new_zeros(())
    index = target.view(-1, 1)
    for w in range(n_windows):
        window_logits = logits[:, w]
        ce_total = ce_total + functional.cross_entropy(window_logits, target, weight=weights)
        own_distance = -temperature * window_logits.gather(1, index).squeeze(1)
        pl_total = pl_total + own_distance.mean() / feature_dim
    return ce_total + compactness_weight * pl_total, ce_total, pl_total
