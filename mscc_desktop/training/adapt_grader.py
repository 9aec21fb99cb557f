"""The deeper steps of site adaptation: the grader's torch weights re-fitted to a site's data.

``adapt`` (:mod:`.adapt`) always recalibrates temperature and operating point. With enough
reviewed studies, and a base model folder that carries its grader's trainable weights
(:data:`GRADER_WEIGHTS_FILE`, written by ``export --trainable-weights``), it goes deeper:

* **prototypes and window-BN statistics** (:func:`refit_statistics`): every window's batch-norm
  running statistics are re-estimated on the site's slices (a new scanner, kernel or dose moves
  them; this uses no label), and each class prototype becomes the mean feature of the site's
  slices of that class (where the site has enough of them; else it moves with the features'
  overall shift). No gradient step: little to over-fit.
* **fine-tuning the last stage** (:func:`fine_tune_last_stage`): the last residual stage and the
  prototype head are trained a few epochs with the paper's loss (class-weighted cross-entropy
  + compactness, per window) on augmented crops; the stem and first three stages stay frozen,
  their BN statistics too.

The crops are the ones the app grades: the canal boxes of the site data are the detector's
(``dataset export --reviewed`` writes them), cut and normalised exactly as at inference.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report, sub_progress
from mscc_desktop.training.configs import GraderConfig
from mscc_desktop.training.cwl import CWLGrader, GraderExport, class_weights, cwl_loss
from mscc_desktop.training.datasets import GraderSamples, build_grader_samples
from mscc_desktop.training.grader_weights import (
    GRADER_WEIGHTS_FILE,
    TrainableGrader,
    save_grader_weights,
)
from mscc_desktop.training.study_reader import load_study
from mscc_desktop.training.train_grader import GraderDataset

logger = logging.getLogger(__name__)

MIN_CLASS_SLICES = 20  # fewer slices of a class than this: its prototype only follows the shift


def site_samples(
    folders: Sequence[Path], config: GraderConfig, *, cancel: CancelToken | None = None
) -> GraderSamples:
    """Canal patches of every graded, boxed slice of the labelled study ``folders``."""

    def studies() -> Any:
        for folder in folders:
            check_cancel(cancel)
            yield load_study(folder)

    return build_grader_samples(studies(), config, cancel=cancel)


def _plain_batches(trainable: TrainableGrader, samples: GraderSamples, batch_size: int) -> Any:
    dataset = GraderDataset(
        samples, range(len(samples)), trainable.config,
        mean=trainable.mean, std=trainable.std, augment=False, seed=0,
    )  # fmt: skip
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        yield torch.stack([c for c, _ in items]), torch.tensor([t for _, t in items])


def _window_batch_norms(grader: CWLGrader) -> list[nn.BatchNorm2d]:
    return [m for m in grader.backbone.modules() if isinstance(m, nn.BatchNorm2d)]


@torch.no_grad()
def features_of(
    trainable: TrainableGrader, samples: GraderSamples, *, batch_size: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, W, F)`` features of every sample in every window, and the ``(N,)`` classes."""
    trainable.grader.eval()
    feats, targets = [], []
    for crops, target in _plain_batches(trainable, samples, batch_size):
        feats.append(trainable.grader.features(crops))
        targets.append(target)
    return torch.cat(feats), torch.cat(targets)


@torch.no_grad()
def reestimate_batch_norm(
    trainable: TrainableGrader,
    samples: GraderSamples,
    *,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> int:
    """Re-estimate every window's BN running statistics on ``samples``; returns the BN count.

    Running mean and variance are reset and accumulated as a plain average over all the site's
    crops (``momentum=None``), each window through its own BN set (the forward pass routes the
    window-major blocks). No label is used.
    """
    grader = trainable.grader
    bns = _window_batch_norms(grader)
    saved = [(bn.momentum, bn.training) for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over every batch
    grader.eval()
    for bn in bns:
        bn.train()
    total = math.ceil(len(samples) / batch_size)
    for number, (crops, _) in enumerate(_plain_batches(trainable, samples, batch_size)):
        check_cancel(cancel)
        grader.features(crops)
        report(progress, (number + 1) / total, "Re-estimating the window BN statistics")
    for bn, (momentum, training) in zip(bns, saved, strict=True):
        bn.momentum = momentum
        bn.train(training)
    grader.eval()
    return len(bns)


@torch.no_grad()
def reestimate_prototypes(
    trainable: TrainableGrader,
    features: torch.Tensor,
    target: torch.Tensor,
    *,
    shift: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Each class prototype becomes the mean of its slices' ``(N, W, F)`` features (from
    :func:`features_of`) over the windows; a class with fewer than :data:`MIN_CLASS_SLICES`
    slices keeps its prototype, moved by ``shift`` (the overall feature mean's shift, where
    the features moved). Returns what changed."""
    prototypes = trainable.grader.head.prototypes
    moved: dict[str, Any] = {}
    for c in range(prototypes.shape[0]):
        picked = features[target == c]
        if picked.shape[0] >= MIN_CLASS_SLICES:
            new = picked.mean(dim=(0, 1))
            how = f"class mean of {picked.shape[0]} slices"
        else:
            new = prototypes[c] + (shift if shift is not None else 0.0)
            how = f"shifted ({picked.shape[0]} slices, fewer than {MIN_CLASS_SLICES})"
        moved[str(c)] = {"how": how, "distance": float((new - prototypes[c]).norm())}
        prototypes[c] = new
    return moved


def refit_statistics(
    trainable: TrainableGrader,
    samples: GraderSamples,
    *,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, Any]:
    """Re-estimate every window's BN statistics on ``samples``, then the class prototypes
    (:func:`reestimate_batch_norm`, :func:`reestimate_prototypes`; a class with few slices
    follows the shift of the overall feature mean). Returns what changed (for the manifest)."""
    before, _ = features_of(trainable, samples, batch_size=batch_size)
    n_bns = reestimate_batch_norm(
        trainable, samples, batch_size=batch_size,
        progress=sub_progress(progress, 0.0, 0.8), cancel=cancel,
    )  # fmt: skip
    after, target = features_of(trainable, samples, batch_size=batch_size)
    shift = after.mean(dim=(0, 1)) - before.mean(dim=(0, 1))
    moved = reestimate_prototypes(trainable, after, target, shift=shift)
    report(progress, 1.0, "Prototypes re-estimated")
    return {"bn_sets": n_bns, "slices": len(samples), "prototypes": moved}


def _last_stage(grader: CWLGrader) -> nn.Module:
    stage = getattr(grader.backbone, "layer4", None)
    if not isinstance(stage, nn.Module):
        raise TypeError("the grader's backbone has no last residual stage (layer4)")
    return stage


def _freeze_all_but_last_stage(grader: CWLGrader) -> list[nn.Parameter]:
    trainable = set()
    for module in (_last_stage(grader), grader.head):
        for param in module.parameters():
            trainable.add(id(param))
    params = []
    for param in grader.parameters():
        keep = id(param) in trainable
        param.requires_grad_(keep)
        if keep:
            params.append(param)
    return params


def _train_mode_last_stage(grader: CWLGrader) -> None:
    """Eval mode everywhere (frozen BN statistics) except the last stage's BN sets."""
    grader.eval()
    _last_stage(grader).train()


def fine_tune_last_stage(
    trainable: TrainableGrader,
    samples: GraderSamples,
    *,
    epochs: int = 4,
    lr: float = 3e-4,
    batch_size: int = 32,
    seed: int = 0,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, Any]:
    """Train the last residual stage and the prototype head on augmented site crops.

    The paper's loss (:func:`~mscc_desktop.training.cwl.cwl_loss`) with the site's class
    weights; AdamW with a cosine decay; the first three stages are frozen (weights and BN
    statistics), which keeps a few hundred slices from undoing what the base learnt.
    Returns the mean loss of each epoch.
    """
    grader, config = trainable.grader, trainable.config
    torch.manual_seed(seed)
    params = _freeze_all_but_last_stage(grader)
    weights = class_weights(samples.class_counts(3))
    dataset = GraderDataset(
        samples, range(len(samples)), config,
        mean=trainable.mean, std=trainable.std, augment=True, seed=seed,
    )  # fmt: skip
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(dataset) / batch_size)
    total = max(1, epochs * steps_per_epoch)
    rng = np.random.default_rng(seed)
    losses: list[float] = []
    step = 0
    try:
        for epoch in range(epochs):
            dataset.epoch = epoch
            _train_mode_last_stage(grader)
            order = rng.permutation(len(dataset))
            running = 0.0
            for start in range(0, len(order), batch_size):
                check_cancel(cancel)
                picks = order[start : start + batch_size]
                if len(picks) < 2:  # BN needs two samples per window block
                    continue
                items = [dataset[int(i)] for i in picks]
                crops = torch.stack([c for c, _ in items])
                target = torch.tensor([t for _, t in items])
                for group in optimiser.param_groups:
                    group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
                _, logits = grader(crops)
                loss, _, _ = cwl_loss(
                    logits, target, weights=weights, temperature=config.temperature,
                    compactness_weight=config.compactness_weight, feature_dim=grader.feature_dim,
                )  # fmt: skip
                optimiser.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                nn.utils.clip_grad_norm_(params, 10.0)
                optimiser.step()
                running += float(loss.detach()) * len(picks)
                step += 1
                report(progress, step / total, f"Fine-tuning, epoch {epoch + 1} of {epochs}")
            losses.append(running / max(1, len(order)))
    finally:
        for param in grader.parameters():
            param.requires_grad_(True)
        grader.eval()
    return {"epochs": epochs, "lr": lr, "slices": len(samples), "epoch_losses": losses}


def export_grader(
    trainable: TrainableGrader, out_dir: Path, *, detector_file: str, grader_file: str, fp16: bool
) -> float:
    """Write the grader as ONNX into ``out_dir`` (checked against torch by the app's ONNX
    backend, with the folder's detector) and its weights beside it; returns the largest
    probability difference ONNX vs torch."""
    from mscc_desktop.training.export import round_to_fp16, write_grader_onnx

    grader = trainable.grader.eval()
    if fp16:  # what the ONNX file will hold: the check then compares like with like
        round_to_fp16(grader)
    worst = write_grader_onnx(
        GraderExport(grader).eval(), trainable.config, out_dir / grader_file,
        detector_path=out_dir / detector_file, fp16=fp16,
    )  # fmt: skip
    save_grader_weights(trainable, out_dir / GRADER_WEIGHTS_FILE)
    return worst
