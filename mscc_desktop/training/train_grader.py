"""Train the CWL grader (``mscc-desktop train grader``).

Every step takes a batch of slices and shows each one in all three windows: three equal-size
per-window batches, each normalised by its own batch-norm set, and the three per-window losses
(class-weighted cross-entropy + λ·compactness) are summed (:func:`~mscc_desktop.training.cwl.
cwl_loss`). Crops are the ground-truth canal box with the authors' augmentation (random resized
crop 0.8-1.2, horizontal flip) plus a centre jitter for detector error, a small rotation and
HU-domain kernel, noise and calibration changes (:mod:`~mscc_desktop.training.augment`).
Per-window normalisation statistics come from the training crops and travel in the
checkpoint to the manifest.

Validation runs on held-out studies with un-augmented crops (exactly the inference crop) and
average fusion of the per-window softmax; ``best.pt`` follows Gwet's AC1, then balanced
accuracy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch.utils.data import Dataset

from mscc_desktop.core.tasks import CancelToken, check_cancel
from mscc_desktop.inference.probabilities import fuse_windows
from mscc_desktop.training import distributed
from mscc_desktop.training.configs import GraderConfig, grader_config
from mscc_desktop.training.cwl import CWLGrader, class_weights, cwl_loss
from mscc_desktop.training.datasets import (
    GraderSamples,
    LabelledStudy,
    build_grader_samples,
    grader_crop,
    window_statistics,
)
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
from mscc_desktop.training.metrics import grading_metrics
from mscc_desktop.training.networks import load_init_weights
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
from mscc_desktop.training.weight_average import WeightAverage

logger = logging.getLogger(__name__)


class GraderDataset(Dataset[tuple[torch.Tensor, int]]):
    """Augmented (or, for validation, plain) crops of cached patches in all windows."""

    def __init__(
        self,
        samples: GraderSamples,
        indices: Sequence[int],
        config: GraderConfig,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        augment: bool,
        seed: int,
    ) -> None:
        self.samples = samples
        self.indices = list(indices)
        self.config = config
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, int]:
        index = self.indices[item]
        rng = np.random.default_rng((self.seed, self.epoch, index)) if self.augment else None
        crop = grader_crop(self.samples, index, self.config, mean=self.mean, std=self.std, rng=rng)
        return torch.from_numpy(crop), int(self.samples.groups[index])


@dataclass(frozen=True, slots=True)
class GraderRun:
    """What a finished training run produced."""

    out_dir: Path
    best_checkpoint: Path
    best_metrics: dict[str, float]
    epochs_run: int


@torch.no_grad()
def evaluate_grader(
    model: CWLGrader, dataset: GraderDataset, *, device: torch.device, batch_size: int = 64
) -> dict[str, float]:
    """Fused-probability metrics of ``model`` on un-augmented crops."""
    was_training = model.training
    model.eval()
    probs: list[np.ndarray] = []
    targets: list[int] = []
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        crops = torch.stack([c for c, _ in items]).to(device)
        _, logits = model(crops)
        probs.append(torch.softmax(logits, dim=-1).cpu().numpy())
        targets.extend(t for _, t in items)
    model.train(was_training)
    if not probs:
        return {"accuracy": 0.0, "balanced_accuracy": 0.0, "ac1": 0.0}
    fused = fuse_windows(np.concatenate(probs).astype(np.float32))
    return grading_metrics(fused, np.asarray(targets, np.int64))


def _init_from_file(model: CWLGrader, path: Path) -> None:
    """ImageNet-style weights: plain BN keys are copied into every window's BN set."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    expanded: dict[str, torch.Tensor] = {}
    bn_names = {n.rsplit(".bns.", 1)[0] for n, _ in model.backbone.named_buffers() if ".bns." in n}
    for key, value in state.items():
        prefix, _, leaf = key.rpartition(".")
        if prefix in bn_names:
            for w in range(model.n_windows):
                expanded[f"{prefix}.bns.{w}.{leaf}"] = value
        else:
            expanded[key] = value
    tmp = path.with_suffix(".cwl-expanded.tmp")
    torch.save(expanded, tmp)
    try:
        load_init_weights(model.backbone, tmp)
    finally:
        tmp.unlink(missing_ok=True)


def train_grader(
    options: TrainOptions,
    *,
    studies: Sequence[LabelledStudy] | None = None,
    cancel: CancelToken | None = None,
) -> GraderRun:
    """Train (or resume training) the CWL grader; see the module docstring."""
    return run_distributed(_train, options, studies, cancel)


def _train(
    options: TrainOptions,
    context: distributed.DistContext,
    studies: Sequence[LabelledStudy] | None,
    cancel: CancelToken | None,
) -> GraderRun:
    config = resolve_config(grader_config(options.config), options)
    run = open_run(options, context, studies, cancel, kind="grader", config=config.to_dict())
    checkpoint = run.checkpoint
    samples = build_grader_samples(run.source.studies, config, cancel=cancel)
    train_idx, val_idx = run.indices(samples.study_names)
    if not val_idx:
        logger.warning("no validation studies: validating on the training slices")
        val_idx = train_idx
    train_only = samples.subset(train_idx)
    start = (
        load_checkpoint(options.init_checkpoint, kind="grader")
        if checkpoint is None and options.init_checkpoint is not None
        else None
    )
    if checkpoint is not None:
        mean, std = tuple(checkpoint["norm_mean"]), tuple(checkpoint["norm_std"])
        counts = list(checkpoint["class_counts"])
    elif start is not None:
        # The network's inputs keep the normalisation it learnt with; the class weights
        # follow the new data.
        mean, std = tuple(start["norm_mean"]), tuple(start["norm_std"])
        counts = train_only.class_counts()
    else:
        mean, std = window_statistics(train_only, config)
        counts = train_only.class_counts()
    weights = class_weights(counts).to(context.device)

    model = CWLGrader(config.arch, n_windows=config.n_windows, temperature=config.temperature)
    if options.init_weights is not None and checkpoint is None:
        _init_from_file(model, options.init_weights)
    if start is not None:
        model.load_state_dict(start["model"])
    if checkpoint is not None:
        # With weight averaging "model" holds the average (what is exported) and
        # "training_model" the weights the optimiser was moving.
        model.load_state_dict(checkpoint.get("training_model", checkpoint["model"]))
    model = model.to(context.device)
    average = (
        WeightAverage(model, config.weight_average_decay)
        if config.weight_average_decay > 0
        else None
    )
    if average is not None and checkpoint is not None and "training_model" in checkpoint:
        average.load(checkpoint["model"], int(checkpoint["averaged_updates"]))
    # The averaged network is a copy of the trained one: same class (WeightAverage.module).
    used = model if average is None else cast(CWLGrader, average.module)
    net = distributed.wrap_model(model, context)
    optimizer = build_optimizer(
        model.backbone_parameters(),
        model.head_parameters(),
        config.optimiser,
        lr=config.optimiser.lr,
        decay_head=False,
    )
    dataset = GraderDataset(
        samples, train_idx, config, mean=mean, std=std, augment=True, seed=options.seed
    )
    val_dataset = GraderDataset(
        samples, val_idx, config, mean=mean, std=std, augment=False, seed=options.seed
    )
    loader, sampler = epoch_loader(
        dataset,
        options,
        context,
        batch_size=config.batch_size,
        # BN needs >1 sample per window batch: drop a ragged last batch when there are enough
        drop_last=len(dataset) >= 2 * config.batch_size * context.world_size,
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
        desc="grader",
    )
    lr = config.optimiser.lr
    try:
        for epoch in range(start_epoch, config.epochs):
            dataset.epoch = epoch
            set_epoch(sampler, options.seed, epoch)
            net.train()
            sums = {"loss": 0.0, "ce": 0.0, "compactness": 0.0, "accuracy": 0.0}
            for crops, target in loader:
                check_cancel(cancel)
                lr = set_lr(optimizer, lr_factor(step, total_steps, config.optimiser))
                crops = crops.to(context.device)
                target = target.to(context.device)
                _, logits = net(crops)
                loss, ce, pl = cwl_loss(
                    logits,
                    target,
                    weights=weights,
                    temperature=config.temperature,
                    compactness_weight=config.compactness_weight,
                    feature_dim=model.feature_dim,
                )
                optimiser_step(optimizer, loss, model.parameters(), config.optimiser.grad_clip_norm)
                step += 1
                if average is not None:
                    average.update(model)
                fused = torch.softmax(logits.detach(), dim=-1).mean(dim=1)
                acc = float((fused.argmax(dim=1) == target).float().mean())
                for key, value in (("loss", loss), ("ce", ce), ("compactness", pl)):
                    sums[key] += float(value.detach())
                sums["accuracy"] += acc
                progress.step(epoch=epoch + 1, loss=float(loss.detach()), acc=acc, lr=lr)
            means = train_means(sums, len(loader), context)
            if context.is_main:
                val = evaluate_grader(used, val_dataset, device=context.device)
                score = (val["ac1"], val["balanced_accuracy"])
                improved = best is None or score > (best["ac1"], best["balanced_accuracy"])
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
                        "kind": "grader",
                        "config": replace(config, feature_dim=model.feature_dim).to_dict(),
                        "model": used.state_dict(),
                        **(
                            {}
                            if average is None
                            else {
                                "training_model": model.state_dict(),
                                "averaged_updates": average.updates,
                            }
                        ),
                        "optimizer": optimizer.state_dict(),
                        "best_metrics": best,
                        "norm_mean": list(mean),
                        "norm_std": list(std),
                        "class_counts": counts,
                        "seed": options.seed,
                        "world_size": context.world_size,
                        "training_data": data_summary,
                    },
                    message=f"epoch {epoch + 1}/{config.epochs}: loss {means['loss']:.4f}, "
                    f"val AC1 {val['ac1']:.3f}, balanced accuracy "
                    f"{val['balanced_accuracy']:.3f}",
                )
            distributed.barrier(context)
    finally:
        progress.close()
    if context.is_main:
        write_summary(run.out, "grader", config.to_dict(), best)
    out = run.out
    return GraderRun(out, out / BEST_CHECKPOINT, dict(best or {}), config.epochs - start_epoch)
