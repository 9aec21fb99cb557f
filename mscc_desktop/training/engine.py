"""What both training loops share: options, seeding, optimiser and schedule, checkpoints
(with resume), the metrics CSV and the progress bar.

Checkpoints are plain ``torch.save`` dicts written atomically: ``last.pt`` after every epoch
(resume point) and ``best.pt`` whenever the validation metric improves. They hold the config,
so ``mscc-desktop export`` can rebuild the network without being told its sizes.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from mscc_desktop.training.configs import (
    DetectorConfig,
    GraderConfig,
    OptimiserConfig,
    with_overrides,
)

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
METRICS_FILE = "metrics.csv"


@dataclass(frozen=True, slots=True)
class TrainOptions:
    """Command-line choices common to both networks; ``None`` means "the config's default"."""

    data_dir: Path | None
    out_dir: Path
    config: str = "compact"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 0
    resume: bool = False
    val_fraction: float = 0.15
    workers: int = 0
    init_weights: Path | None = None
    # Fine-tuning: start from a finished run's weights (and, for the grader, its window
    # normalisation); the optimiser, schedule and data split are new.
    init_checkpoint: Path | None = None
    device: str = "auto"
    slice_stride: int = 1
    show_progress: bool = True
    threads: int | None = None
    overrides: Mapping[str, str] = field(default_factory=dict)  # config KEY=VALUE (--set)


_NetConfig = TypeVar("_NetConfig", DetectorConfig, GraderConfig)


def resolve_config(config: _NetConfig, options: TrainOptions) -> _NetConfig:
    """The config a run trains with: the named one, its ``--set`` overrides, then
    ``--epochs``, ``--batch-size`` and ``--lr``."""
    config = with_overrides(config, options.overrides)
    changes: dict[str, Any] = {}
    if options.epochs is not None:
        changes["epochs"] = options.epochs
    if options.batch_size is not None:
        changes["batch_size"] = options.batch_size
    if options.lr is not None:
        changes["optimiser"] = replace(config.optimiser, lr=options.lr)
    return replace(config, **changes)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def build_optimizer(
    backbone: Iterable[nn.Parameter],
    head: Iterable[nn.Parameter],
    config: OptimiserConfig,
    *,
    lr: float,
    decay_head: bool = True,
) -> torch.optim.Optimizer:
    """SGD with momentum (or AdamW, ``config.algorithm``); the backbone group runs at
    ``lr * backbone_lr_ratio``.

    Weight decay is not applied to normalisation parameters and biases (1-D tensors), the
    usual practice that keeps batch-norm scales from collapsing toward zero, nor to the head
    when ``decay_head`` is false (class prototypes: decay would pull them together).
    """
    groups: list[dict[str, Any]] = []
    for params, rate, may_decay in (
        (list(backbone), lr * config.backbone_lr_ratio, True),
        (list(head), lr, decay_head),
    ):
        trainable = [p for p in params if p.requires_grad]
        decay = [p for p in trainable if p.ndim > 1 and may_decay]
        no_decay = [p for p in trainable if p.ndim <= 1 or not may_decay]
        if decay:
            groups.append({"params": decay, "lr": rate, "weight_decay": config.weight_decay})
        if no_decay:
            groups.append({"params": no_decay, "lr": rate, "weight_decay": 0.0})
    for group in groups:
        group["initial_lr"] = group["lr"]
    if config.algorithm == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=(config.momentum, 0.999))
    if config.algorithm != "sgd":
        raise ValueError(f"unknown optimiser {config.algorithm!r}: use sgd or adamw")
    return torch.optim.SGD(groups, lr=lr, momentum=config.momentum)


def lr_factor(step: int, total_steps: int, config: OptimiserConfig) -> float:
    """Multiplier of the base rates at ``step``: linear warm-up, then constant or cosine."""
    if config.warmup_steps > 0 and step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if not config.cosine or total_steps <= config.warmup_steps:
        return 1.0
    progress = (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps)
    progress = min(max(progress, 0.0), 1.0)
    floor = config.final_lr_fraction
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> float:
    """Apply ``factor`` to every group's initial rate; returns the largest rate now in use."""
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] * factor
    return max(float(g["lr"]) for g in optimizer.param_groups)


def save_checkpoint(path: Path, payload: Mapping[str, Any]) -> None:
    """``torch.save`` to a temporary file and rename it: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=".ckpt-", suffix=".pt", dir=path.parent)
    os.close(handle)
    try:
        torch.save(dict(payload, format=CHECKPOINT_FORMAT), tmp_name)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, *, kind: str | None = None) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (on the CPU).

    Raises ``ValueError`` when it is not one of ours or is of the wrong ``kind``.
    """
    data = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an mscc-desktop training checkpoint")
    if kind is not None and data.get("kind") != kind:
        raise ValueError(f"{path} is a {data.get('kind')} checkpoint, not a {kind} checkpoint")
    return data


def rng_state() -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }


def restore_rng_state(state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


class MetricsLog:
    """Appends one row per epoch to ``metrics.csv`` (header written once; resume-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, row: Mapping[str, Any]) -> None:
        new = not self.path.exists()
        fields = list(row)
        if not new:
            with self.path.open(newline="", encoding="utf-8") as handle:
                header = next(csv.reader(handle), [])
            if header:
                fields = header + [k for k in row if k not in header]
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: _fmt(row.get(k, "")) for k in fields})

    def truncate_after(self, epoch: int) -> None:
        """Drop rows of epochs after ``epoch`` (a resumed run redoes them)."""
        if not self.path.exists():
            return
        with self.path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
            fields = list(rows[0]) if rows else []
        kept = [r for r in rows if int(r.get("epoch", 0) or 0) <= epoch]
        with self.path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            if fields:
                writer.writeheader()
            writer.writerows(kept)


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def status_printer(enabled: bool) -> Callable[[str], None]:
    """Prints status lines to stderr when ``enabled`` (main process, progress on); always logs."""

    def _print(text: str) -> None:
        if enabled:
            print(text, file=sys.stderr, flush=True)
        logger.info(text)

    return _print


class Progress:
    """One progress bar over the whole run (all epochs) with ETA; silent when disabled.

    Uses tqdm (a dependency of the ``train`` extra) on the main process only.
    """

    def __init__(self, *, total: int, initial: int, enabled: bool, desc: str) -> None:
        self._bar: Any = None
        self._start = time.monotonic()
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                initial=initial,
                desc=desc,
                unit="step",
                dynamic_ncols=True,
                file=sys.stderr,
                smoothing=0.05,
            )

    def step(self, **postfix: float | int | str) -> None:
        if self._bar is not None:
            self._bar.set_postfix(
                {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in postfix.items()},
                refresh=False,
            )
            self._bar.update(1)

    def write(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text)
        else:
            logger.info(text)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._start
