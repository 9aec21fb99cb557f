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

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler

from mscc_desktop.core.tasks import CancelToken, check_cancel
from mscc_desktop.inference.backend import fuse_windows
from mscc_desktop.training import distributed
from mscc_desktop.training.configs import GraderConfig, grader_config
from mscc_desktop.training.cwl import CWLGrader, class_weights, cwl_loss
from mscc_desktop.training.datasets import (
    GraderSamples,
    LabelledStudy,
    build_grader_samples,
    grader_crop,
    split_by_study,
    window_statistics,
)
from mscc_desktop.training.engine import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    METRICS_FILE,
    MetricsLog,
    Progress,
    TrainOptions,
    build_optimizer,
    load_checkpoint,
    lr_factor,
    restore_rng_state,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_lr,
    status_printer,
)
from mscc_desktop.training.metrics import grading_metrics
from mscc_desktop.training.networks import load_init_weights
from mscc_desktop.training.study_reader import study_source, training_data_summary

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


def _resolve_config(options: TrainOptions) -> GraderConfig:
    config = grader_config(options.config)
    changes: dict[str, Any] = {}
    if options.epochs is not None:
        changes["epochs"] = options.epochs
    if options.batch_size is not None:
        changes["batch_size"] = options.batch_size
    if options.lr is not None:
        changes["optimiser"] = replace(config.optimiser, lr=options.lr)
    return replace(config, **changes)


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
    context = distributed.init_distributed(options.device)
    try:
        return _train(options, context, studies, cancel)
    finally:
        distributed.shutdown(context)


def _train(
    options: TrainOptions,
    context: distributed.DistContext,
    studies: Sequence[LabelledStudy] | None,
    cancel: CancelToken | None,
) -> GraderRun:
    out = options.out_dir
    out.mkdir(parents=True, exist_ok=True)
    if options.threads:
        torch.set_num_threads(options.threads)
    resume_from = out / LAST_CHECKPOINT if options.resume else None
    if resume_from is not None and not resume_from.exists():
        raise FileNotFoundError(f"--resume: no {LAST_CHECKPOINT} in {out}")
    checkpoint = load_checkpoint(resume_from, kind="grader") if resume_from else None
    config = _resolve_config(options)
    seed_everything(options.seed + context.rank)

    source = study_source(
        options.data_dir,
        studies,
        log=status_printer(options.show_progress and context.is_main),
        cancel=cancel,
    )
    if checkpoint is not None:
        train_names, val_names = checkpoint["split"]["train"], checkpoint["split"]["val"]
    else:
        train_names, val_names = split_by_study(
            source.names, val_fraction=options.val_fraction, seed=options.seed
        )
    train_set, val_set = set(train_names), set(val_names)
    samples = build_grader_samples(source.studies, config, cancel=cancel)
    train_idx = [i for i, n in enumerate(samples.study_names) if n in train_set]
    val_idx = [i for i, n in enumerate(samples.study_names) if n in val_set]
    if not val_idx:
        logger.warning("no validation studies: validating on the training slices")
        val_idx = train_idx
    train_only = samples.subset(train_idx)
    if checkpoint is not None:
        mean, std = tuple(checkpoint["norm_mean"]), tuple(checkpoint["norm_std"])
        counts = list(checkpoint["class_counts"])
    else:
        mean, std = window_statistics(train_only, config)
        counts = train_only.class_counts()
    weights = class_weights(counts).to(context.device)

    model = CWLGrader(config.arch, n_windows=config.n_windows, temperature=config.temperature)
    if options.init_weights is not None and checkpoint is None:
        _init_from_file(model, options.init_weights)
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
    model = model.to(context.device)
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
    sampler: DistributedSampler[int] | RandomSampler
    if context.distributed:
        sampler = DistributedSampler(dataset, seed=options.seed, drop_last=True)
    else:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(options.seed))
    loader = DataLoader(
        dataset,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=options.workers,
        # BN needs >1 sample per window batch: drop a ragged last batch when there are enough
        drop_last=len(dataset) >= 2 * config.batch_size * context.world_size,
        persistent_workers=options.workers > 0,
    )
    steps_per_epoch = max(1, len(loader))
    total_steps = steps_per_epoch * config.epochs
    start_epoch, step, best = 0, 0, None
    metrics_log = MetricsLog(out / METRICS_FILE)
    if checkpoint is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        start_epoch, step = checkpoint["epoch"] + 1, checkpoint["step"]
        best = checkpoint.get("best_metrics")
        restore_rng_state(checkpoint["rng"])
        if context.is_main:
            metrics_log.truncate_after(checkpoint["epoch"] + 1)
    data_summary = training_data_summary(
        options.data_dir, source.names, len(samples), train_names, val_names
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
            if isinstance(sampler, DistributedSampler):
                sampler.set_epoch(epoch)
            else:
                sampler.generator = torch.Generator().manual_seed(options.seed * 1000 + epoch)
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
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.optimiser.grad_clip_norm:
                    torch.nn.utils.clip_grad_norm_(
                        model.parameters(), config.optimiser.grad_clip_norm
                    )
                optimizer.step()
                step += 1
                fused = torch.softmax(logits.detach(), dim=-1).mean(dim=1)
                acc = float((fused.argmax(dim=1) == target).float().mean())
                for key, value in (("loss", loss), ("ce", ce), ("compactness", pl)):
                    sums[key] += float(value.detach())
                sums["accuracy"] += acc
                progress.step(epoch=epoch + 1, loss=float(loss.detach()), acc=acc, lr=lr)
            n_steps = max(1, len(loader))
            train_means = {
                k: distributed.mean_across(v / n_steps, context) for k, v in sums.items()
            }
            if context.is_main:
                val = evaluate_grader(model, val_dataset, device=context.device)
                score = (val["ac1"], val["balanced_accuracy"])
                improved = best is None or score > (best["ac1"], best["balanced_accuracy"])
                if improved:
                    best = val
                row = {"epoch": epoch + 1, "step": step, "lr": lr, "elapsed_s": progress.elapsed_s}
                row.update({f"train_{k}": v for k, v in train_means.items()})
                row.update({f"val_{k}": v for k, v in val.items()})
                metrics_log.append(row)
                progress.write(
                    f"epoch {epoch + 1}/{config.epochs}: loss {train_means['loss']:.4f}, "
                    f"val AC1 {val['ac1']:.3f}, balanced accuracy {val['balanced_accuracy']:.3f}"
                    + (" (best)" if improved else "")
                )
                payload = {
                    "kind": "grader",
                    "config": replace(config, feature_dim=model.feature_dim).to_dict(),
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "epoch": epoch,
                    "step": step,
                    "best_metrics": best,
                    "val_metrics": val,
                    "norm_mean": list(mean),
                    "norm_std": list(std),
                    "class_counts": counts,
                    "split": {"train": list(train_names), "val": list(val_names)},
                    "seed": options.seed,
                    "world_size": context.world_size,
                    "rng": rng_state(),
                    "training_data": data_summary,
                }
                save_checkpoint(out / LAST_CHECKPOINT, payload)
                if improved:
                    save_checkpoint(out / BEST_CHECKPOINT, payload)
            distributed.barrier(context)
    finally:
        progress.close()
    if context.is_main and best is not None:
        (out / "summary.json").write_text(
            json.dumps({"kind": "grader", "config": config.to_dict(), "best": best}, indent=2)
        )
    return GraderRun(out, out / BEST_CHECKPOINT, dict(best or {}), config.epochs - start_epoch)
