"""Train the Faster R-CNN canal detector (``mscc-desktop train detector``).

One process, or several under ``torchrun`` (DDP). Each epoch: a shuffled pass over the cached
training slices (augmented in HU, see :mod:`~mscc_desktop.training.augment`), then validation
on held-out *studies* with the exported top-1 detector
(:class:`~mscc_desktop.training.detector_export.CanalDetector`) so the numbers describe what
ships. ``last.pt`` is written every epoch, ``best.pt`` when validation
AP50 (then mean IoU) improves, and a row per epoch goes to ``metrics.csv``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from mscc_desktop.core.tasks import CancelToken, check_cancel
from mscc_desktop.training import distributed
from mscc_desktop.training.augment import Augmentation, augmentation
from mscc_desktop.training.configs import DetectorConfig, detector_config
from mscc_desktop.training.datasets import (
    DetectorSamples,
    LabelledStudy,
    build_detector_samples,
    detector_sample,
)
from mscc_desktop.training.detector_export import CanalDetector
from mscc_desktop.training.engine import (
    BEST_CHECKPOINT,
    Progress,
    TrainOptions,
    build_optimizer,
    load_checkpoint,
    lr_factor,
    resolve_config,
    set_lr,
)
from mscc_desktop.training.metrics import detection_metrics
from mscc_desktop.training.networks import build_detector, freeze_batch_norm, load_init_weights
from mscc_desktop.training.run_loop import (
    end_epoch,
    epoch_loader,
    open_run,
    optimiser_step,
    resume_counters,
    run_distributed,
    set_epoch,
    train_means,
    write_summary,
)
from mscc_desktop.training.study_reader import training_data_summary

logger = logging.getLogger(__name__)


class DetectorDataset(Dataset[tuple[torch.Tensor, dict[str, torch.Tensor]]]):
    """Cached detector slices, augmented in HU per the config's preset (seeded per epoch)."""

    def __init__(
        self,
        samples: DetectorSamples,
        indices: Sequence[int],
        *,
        augment: Augmentation,
        seed: int,
    ) -> None:
        self.samples = samples
        self.indices = list(indices)
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        index = self.indices[item]
        rng = np.random.default_rng((self.seed, self.epoch, index))
        image, box = detector_sample(self.samples, index, self.augment, rng)
        if np.isnan(box).any():
            boxes = torch.zeros((0, 4), dtype=torch.float32)
        else:
            boxes = torch.from_numpy(box).view(1, 4)
        labels = torch.ones((boxes.shape[0],), dtype=torch.int64)
        return torch.from_numpy(image), {"boxes": boxes, "labels": labels}


def _collate(
    batch: list[tuple[torch.Tensor, dict[str, torch.Tensor]]],
) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    return [b[0] for b in batch], [b[1] for b in batch]


@dataclass(frozen=True, slots=True)
class DetectorRun:
    """What a finished training run produced."""

    out_dir: Path
    best_checkpoint: Path
    best_metrics: dict[str, float]
    epochs_run: int


@torch.no_grad()
def evaluate_detector(
    model: torch.nn.Module,
    samples: DetectorSamples,
    indices: Sequence[int],
    *,
    config: DetectorConfig,
    device: torch.device,
    batch_size: int = 8,
) -> dict[str, float]:
    """Top-1 detection metrics of ``model`` on the given cached slices (exported semantics)."""
    was_training = model.training
    wrapper = CanalDetector(model, input_size=config.input_size).to(device).eval()
    boxes, scores = [], []
    for start in range(0, len(indices), batch_size):
        chunk = list(indices[start : start + batch_size])
        images = torch.from_numpy(samples.inputs(chunk)).to(device)
        b, s = wrapper(images)
        boxes.append(b.cpu().numpy())
        scores.append(s.cpu().numpy())
    model.train(was_training)
    if not boxes:
        return {"ap50": 0.0, "mean_iou": 0.0, "found": 0.0, "mean_score": 0.0}
    truth = samples.detector_boxes(indices)
    return detection_metrics(np.concatenate(boxes), np.concatenate(scores), truth)


def train_detector(
    options: TrainOptions,
    *,
    studies: Sequence[LabelledStudy] | None = None,
    cancel: CancelToken | None = None,
) -> DetectorRun:
    """Train (or resume training) the detector; see the module docstring."""
    return run_distributed(_train, options, studies, cancel)


def _train(
    options: TrainOptions,
    context: distributed.DistContext,
    studies: Sequence[LabelledStudy] | None,
    cancel: CancelToken | None,
) -> DetectorRun:
    config = resolve_config(detector_config(options.config), options)
    run = open_run(options, context, studies, cancel, kind="detector", config=config.to_dict())
    checkpoint = run.checkpoint
    samples = build_detector_samples(
        run.source.studies,
        size=config.input_size,
        slice_stride=options.slice_stride,
        cancel=cancel,
    )
    train_idx, val_idx = run.indices(samples.study_names)
    if not val_idx:
        logger.warning("no validation studies: validating on the training slices")
        val_idx = train_idx

    model = build_detector(config)
    if options.init_weights is not None and checkpoint is None:
        load_init_weights(model.backbone.body, options.init_weights)
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
    elif options.init_checkpoint is not None:
        model.load_state_dict(load_checkpoint(options.init_checkpoint, kind="detector")["model"])
    model = model.to(context.device)
    # Frozen batch norm is for fine-tuning pretrained weights (the paper's set-up). From random
    # initialisation it would freeze every residual branch at its zero-initialised scale.
    frozen_norm = not config.trainable_norm and (
        options.init_weights is not None
        or (checkpoint is not None and bool(checkpoint.get("frozen_norm")))
    )
    if not config.trainable_norm and not frozen_norm:
        logger.warning("no --init-weights: batch norm is trained (random initialisation)")
    if frozen_norm:
        freeze_batch_norm(model)
    net = distributed.wrap_model(model, context)
    head = [p for n, p in model.named_parameters() if not n.startswith("backbone.body.")]
    optimizer = build_optimizer(
        model.backbone.body.parameters(), head, config.optimiser, lr=config.optimiser.lr
    )
    preset = augmentation(config.augmentation)
    if preset.geometric is None and preset.flip_probability > 0:
        preset = replace(preset, flip_probability=config.hflip_probability)
    dataset = DetectorDataset(samples, train_idx, augment=preset, seed=options.seed)
    loader, sampler = epoch_loader(
        dataset,
        options,
        context,
        batch_size=config.batch_size,
        drop_last=len(dataset) >= config.batch_size * context.world_size,
        collate_fn=_collate,
    )
    total_steps = max(1, len(loader)) * config.epochs
    metrics_log = run.metrics_log()
    start_epoch, step, best = resume_counters(checkpoint, optimizer, metrics_log, context)
    data_summary = training_data_summary(
        options.data_dir, run.source.names, len(samples), run.train_names, run.val_names
    )
    progress = Progress(
        total=total_steps,
        initial=step,
        enabled=options.show_progress and context.is_main,
        desc="detector",
    )
    lr = config.optimiser.lr
    try:
        for epoch in range(start_epoch, config.epochs):
            dataset.epoch = epoch
            set_epoch(sampler, options.seed, epoch)
            net.train()
            if frozen_norm:
                freeze_batch_norm(model)
            sums: dict[str, float] = {}
            for images, targets in loader:
                check_cancel(cancel)
                lr = set_lr(optimizer, lr_factor(step, total_steps, config.optimiser))
                images = [im.to(context.device) for im in images]
                targets = [{k: v.to(context.device) for k, v in t.items()} for t in targets]
                losses = net(images, targets)
                total: torch.Tensor = sum(losses.values())  # type: ignore[assignment]
                optimiser_step(
                    optimizer, total, model.parameters(), config.optimiser.grad_clip_norm
                )
                step += 1
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach())
                sums["loss"] = sums.get("loss", 0.0) + float(total.detach())
                progress.step(epoch=epoch + 1, loss=float(total.detach()), lr=lr)
            means = train_means(sums, len(loader), context)
            if context.is_main:
                val = evaluate_detector(
                    model, samples, val_idx, config=config, device=context.device
                )
                score = (val["ap50"], val["mean_iou"])
                improved = best is None or score > (best["ap50"], best["mean_iou"])
                if improved:
                    best = val
                end_epoch(
                    run,
                    epoch=epoch,
                    step=step,
                    lr=lr,
                    progress=progress,
                    metrics_log=metrics_log,
                    means=means,
                    val=val,
                    improved=improved,
                    payload={
                        "kind": "detector",
                        "config": config.to_dict(),
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "best_metrics": best,
                        "seed": options.seed,
                        "world_size": context.world_size,
                        "frozen_norm": frozen_norm,
                        "training_data": data_summary,
                    },
                    message=f"epoch {epoch + 1}/{config.epochs}: loss {means['loss']:.4f}, "
                    f"val AP50 {val['ap50']:.3f}, IoU {val['mean_iou']:.3f}",
                )
            distributed.barrier(context)
    finally:
        progress.close()
    if context.is_main:
        write_summary(run.out, "detector", config.to_dict(), best)
    out = run.out
    return DetectorRun(out, out / BEST_CHECKPOINT, dict(best or {}), config.epochs - start_epoch)
