"""``mscc-desktop train detector|grader``: train one of the two networks on labelled studies.

Needs the ``train`` extra (torch, torchvision). The training package is loaded by name only
when the command runs, so the rest of the CLI never imports torch. Multi-GPU (or multi-process
CPU) training: ``torchrun --nproc-per-node=N -m mscc_desktop train grader ...``.

Defaults are the chosen config's (``paper``: the published optimiser settings; ``compact``: the
CPU recipe, see ``docs/TRAINING.md``); every option below overrides them.
Exit codes: 0 trained, 1 error (bad data, missing torch), 130 cancelled.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from mscc_desktop.cli import EXIT_ERROR, EXIT_OK

TRAINING_EXTRA_HINT = (
    "Training needs PyTorch: install the 'train' extra (pip install 'mscc-desktop[train]')."
)


def training_available() -> bool:
    """True when torch and torchvision can be imported (checked without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "torchvision"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("network", choices=("detector", "grader"), help="which network to train")
    parser.add_argument(
        "--data",
        required=True,
        metavar="DIR",
        help="labelled data folder: <study>/labels.csv, <study>/dicom/, LabelImg VOC files",
    )
    parser.add_argument(
        "--config",
        default="compact",
        choices=("paper", "compact", "tiny"),
        help="network sizes and optimiser defaults (default: compact; tiny is for tests)",
    )
    parser.add_argument(
        "--out", required=True, metavar="RUN_DIR", help="run folder (checkpoints, metrics.csv)"
    )
    parser.add_argument("--epochs", type=int, help="epochs (default: the config's)")
    parser.add_argument("--batch-size", type=int, help="slices per step and process")
    parser.add_argument("--lr", type=float, help="base learning rate")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.15,
        help="share of studies held out for validation (default 0.15)",
    )
    parser.add_argument("--workers", type=int, default=0, help="data-loader worker processes")
    parser.add_argument(
        "--init-weights",
        metavar="PATH",
        help="local backbone weights to start from (e.g. ImageNet; never downloaded)",
    )
    parser.add_argument(
        "--init-checkpoint",
        metavar="CKPT",
        help="fine-tune: start from this run's best.pt or last.pt of the same network "
        "(the grader keeps its window normalisation); optimiser and split are new",
    )
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument(
        "--slice-stride",
        type=int,
        default=1,
        help="detector: use every N-th labelled slice (neighbours are near-duplicates)",
    )
    parser.add_argument("--threads", type=int, help="CPU threads for torch")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one config setting, e.g. --set augmentation=ct_shape --set crop_margin=0.4 "
        "--set optimiser.lr=0.001 (repeatable; recorded in the checkpoint's config)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def settings_from_text(items: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` texts (``--set``) as a dict; ``ValueError`` names the first malformed one."""
    settings: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"needs KEY=VALUE, not {item!r}")
        settings[key.strip()] = value.strip()
    return settings


def run(args: argparse.Namespace) -> int:
    if not training_available():
        print(f"mscc-desktop train: {TRAINING_EXTRA_HINT}", file=sys.stderr)
        return EXIT_ERROR
    if args.epochs is not None and args.epochs < 1:
        print("mscc-desktop train: --epochs must be at least 1", file=sys.stderr)
        return EXIT_ERROR
    if not 0.0 <= args.val_fraction < 1.0:
        print("mscc-desktop train: --val-fraction must be in [0, 1)", file=sys.stderr)
        return EXIT_ERROR
    try:
        overrides = settings_from_text(args.set)
    except ValueError as error:
        print(f"mscc-desktop train: --set {error}", file=sys.stderr)
        return EXIT_ERROR
    # Imported here, not at the top: only this command may pay for torch (pyproject's import
    # contracts let the CLI import training, and no one else).
    from mscc_desktop.training import cli as training_cli

    options = training_cli.TrainOptions(
        data_dir=Path(args.data),
        out_dir=Path(args.out),
        config=args.config,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        resume=args.resume,
        val_fraction=args.val_fraction,
        workers=args.workers,
        init_weights=Path(args.init_weights) if args.init_weights else None,
        init_checkpoint=Path(args.init_checkpoint) if args.init_checkpoint else None,
        device=args.device,
        slice_stride=max(1, args.slice_stride),
        show_progress=not args.no_progress,
        threads=args.threads,
        overrides=overrides,
    )
    return EXIT_OK if training_cli.run_training(args.network, options) else EXIT_ERROR
