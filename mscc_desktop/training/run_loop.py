"""The scaffolding both training loops share: opening a run (resume, seed, data split), the
epoch loader, one optimiser step, and the end of an epoch (metrics row, checkpoints, summary).

The detector and the grader differ in their data, model, loss and validation; everything here
is the same for both and lives once, so resume and checkpoint behaviour cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler

from mscc_desktop.core.tasks import CancelToken
from mscc_desktop.training import distributed
from mscc_desktop.training.datasets import LabelledStudy, split_by_study
from mscc_desktop.training.engine import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    METRICS_FILE,
    MetricsLog,
    Progress,
    TrainOptions,
    load_checkpoint,
    restore_rng_state,
    rng_state,
    save_checkpoint,
    seed_everything,
    status_printer,
)
from mscc_desktop.training.study_reader import StudySource, study_source

_Run = TypeVar("_Run")


def run_distributed(
    train: Callable[
        [
            TrainOptions,
            distributed.DistContext,
            Sequence[LabelledStudy] | None,
            CancelToken | None,
        ],
        _Run,
    ],
    options: TrainOptions,
    studies: Sequence[LabelledStudy] | None,
    cancel: CancelToken | None,
) -> _Run:
    """Run ``train`` in this process's distributed context (one process, or one rank under
    ``torchrun``), shutting the context down however it ends."""
    context = distributed.init_distributed(options.device)
    try:
        return train(options, context, studies, cancel)
    finally:
        distributed.shutdown(context)


@dataclass(frozen=True, slots=True)
class RunStart:
    """What a run starts from: the checkpoint it resumes (or None), its studies and split."""

    out: Path
    checkpoint: dict[str, Any] | None
    source: StudySource
    train_names: tuple[str, ...]
    val_names: tuple[str, ...]

    def metrics_log(self) -> MetricsLog:
        return MetricsLog(self.out / METRICS_FILE)

    def indices(self, study_names: Sequence[str]) -> tuple[list[int], list[int]]:
        """Sample indices of the training and validation studies; validation falls back to
        the training samples (with a warning by the caller) when it would be empty."""
        train_set, val_set = set(self.train_names), set(self.val_names)
        train_idx = [i for i, n in enumerate(study_names) if n in train_set]
        val_idx = [i for i, n in enumerate(study_names) if n in val_set]
        return train_idx, val_idx


# Settings a resumed run may change: more epochs (the user's call), and the grader's feature
# size, which the checkpoint records once the network is built.
RESUMABLE_CHANGES = frozenset({"epochs", "feature_dim"})


def _flat(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optimiser.lr": 0.01, ...}``, lists and tuples alike (a checkpoint may hold either)."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = json.loads(json.dumps(value))
    return flat


def check_resumed_config(saved: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    """Refuse to resume with other settings than the run started with (say, ``--resume``
    without the original ``--set``): it would go on training silently with the defaults."""
    before, now = _flat(saved), _flat(config)
    changed = sorted(
        key
        for key in before.keys() | now.keys()
        if key not in RESUMABLE_CHANGES and before.get(key) != now.get(key)
    )
    if changed:
        listed = "; ".join(f"{k}: {before.get(k)!r} → {now.get(k)!r}" for k in changed[:6])
        raise ValueError(
            f"--resume: this command's settings differ from the run's ({listed}). Give the "
            "same --config, --set, --batch-size and --lr as when the run started (only "
            "--epochs may change)."
        )


def open_run(
    options: TrainOptions,
    context: distributed.DistContext,
    studies: Sequence[LabelledStudy] | None,
    cancel: CancelToken | None,
    *,
    kind: str,
    config: Mapping[str, Any],
) -> RunStart:
    """Create the output folder, load ``last.pt`` with ``--resume`` (refused when ``config``,
    the settings this command resolved, differs from the run's), seed, and split the studies
    (a resumed run keeps its checkpoint's split)."""
    out = options.out_dir
    out.mkdir(parents=True, exist_ok=True)
    if options.threads:
        torch.set_num_threads(options.threads)
    resume_from = out / LAST_CHECKPOINT if options.resume else None
    if resume_from is not None and not resume_from.exists():
        raise FileNotFoundError(f"--resume: no {LAST_CHECKPOINT} in {out}")
    checkpoint = load_checkpoint(resume_from, kind=kind) if resume_from else None
    if checkpoint is not None:
        check_resumed_config(checkpoint["config"], config)
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
    return RunStart(out, checkpoint, source, tuple(train_names), tuple(val_names))


def epoch_loader(
    dataset: Dataset[Any],
    options: TrainOptions,
    context: distributed.DistContext,
    *,
    batch_size: int,
    drop_last: bool,
    collate_fn: Callable[..., Any] | None = None,
) -> tuple[DataLoader[Any], DistributedSampler[int] | RandomSampler]:
    """A shuffling loader (seeded, or sharded under DDP) and its sampler."""
    sampler: DistributedSampler[int] | RandomSampler
    if context.distributed:
        sampler = DistributedSampler(dataset, seed=options.seed, drop_last=True)
    else:
        # torch types Dataset without __len__; every dataset given here has one.
        sized = cast(Sized, dataset)
        sampler = RandomSampler(sized, generator=torch.Generator().manual_seed(options.seed))
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=options.workers,
        collate_fn=collate_fn,
        drop_last=drop_last,
        persistent_workers=options.workers > 0,
    )
    return loader, sampler


def set_epoch(sampler: DistributedSampler[int] | RandomSampler, seed: int, epoch: int) -> None:
    """Reshuffle for ``epoch`` reproducibly (also after a resume)."""
    if isinstance(sampler, DistributedSampler):
        sampler.set_epoch(epoch)
    else:
        sampler.generator = torch.Generator().manual_seed(seed * 1000 + epoch)


def resume_counters(
    checkpoint: Mapping[str, Any] | None,
    optimizer: torch.optim.Optimizer,
    metrics_log: MetricsLog,
    context: distributed.DistContext,
) -> tuple[int, int, dict[str, Any] | None]:
    """``(start_epoch, step, best)``: zeros for a new run; for a resumed one the optimiser and
    random state are restored and the metrics file is cut back to the checkpoint's epoch."""
    if checkpoint is None:
        return 0, 0, None
    optimizer.load_state_dict(checkpoint["optimizer"])
    restore_rng_state(checkpoint["rng"])
    if context.is_main:
        metrics_log.truncate_after(checkpoint["epoch"] + 1)
    return checkpoint["epoch"] + 1, checkpoint["step"], checkpoint.get("best_metrics")


def optimiser_step(
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    parameters: Iterable[torch.nn.Parameter],
    grad_clip_norm: float | None,
) -> None:
    """Backward, optional gradient clipping, step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
    if grad_clip_norm:
        torch.nn.utils.clip_grad_norm_(parameters, grad_clip_norm)
    optimizer.step()


def train_means(
    sums: Mapping[str, float], n_steps: int, context: distributed.DistContext
) -> dict[str, float]:
    """Per-step means of the summed training losses, averaged over DDP ranks."""
    n = max(1, n_steps)
    return {k: distributed.mean_across(v / n, context) for k, v in sums.items()}


def end_epoch(
    run: RunStart,
    *,
    epoch: int,
    step: int,
    lr: float,
    progress: Progress,
    metrics_log: MetricsLog,
    means: Mapping[str, float],
    val: Mapping[str, float],
    improved: bool,
    payload: Mapping[str, Any],
    message: str,
) -> None:
    """Append the epoch's metrics row, print ``message`` and write ``last.pt`` (and
    ``best.pt`` when ``improved``). ``payload`` holds the network-specific checkpoint fields;
    the fields every checkpoint has are added here."""
    row: dict[str, Any] = {"epoch": epoch + 1, "step": step, "lr": lr}
    row["elapsed_s"] = progress.elapsed_s
    row.update({f"train_{k}": v for k, v in means.items()})
    row.update({f"val_{k}": v for k, v in val.items()})
    metrics_log.append(row)
    progress.write(message + (" (best)" if improved else ""))
    full = {
        **payload,
        "epoch": epoch,
        "step": step,
        "val_metrics": dict(val),
        "split": {"train": list(run.train_names), "val": list(run.val_names)},
        "rng": rng_state(),
    }
    save_checkpoint(run.out / LAST_CHECKPOINT, full)
    if improved:
        save_checkpoint(run.out / BEST_CHECKPOINT, full)


def write_summary(
    out: Path, kind: str, config: Mapping[str, Any], best: Mapping[str, Any] | None
) -> None:
    """``summary.json``: the run finished (the shipped-model recipe skips finished runs)."""
    if best is not None:
        (out / "summary.json").write_text(
            json.dumps({"kind": kind, "config": dict(config), "best": dict(best)}, indent=2)
        )
