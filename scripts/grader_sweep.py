#!/usr/bin/env python
"""Train several grader variants side by side and compare them, synthetic and real.

A sim-to-real experiment harness for the shipped grader (issue 4): each variant is the
``compact`` grader config with some settings changed (``mscc-desktop train grader --set``),
trained on the same generated studies with the same seed. Each best checkpoint is then graded
with the *ground-truth* canal boxes (detector error left out), in torch:

* validation studies (the checkpoint's own split): the P(high) threshold for 97 % per-image
  sensitivity, chosen as the shipped-model recipe chooses it;
* the synthetic test studies: three-class AC1, high-grade sensitivity/specificity at that
  threshold, high-grade AUC;
* the hand-labelled real CT slices (``tests/data/real_canal_boxes``, no epidural disease):
  mean fused P(normal/low/high), and how many are called high at the chosen threshold and
  at 0.5.

    python scripts/grader_sweep.py --work /tmp/sweep --real-data ../shared/data \\
        --variant e5 --variant shape=augmentation:ct_shape \\
        --variant tight=augmentation:ct_shape_soft,crop_margin:0.25 --parallel 3

Generates the recipe's training and test studies into ``--work`` when they are missing (the
same generator settings and seeds as ``scripts/train_shipped_model.py``). Runs on a GPU when
there is one (``--device``), else on the CPU; ``--time-limit`` stops training runs that are
still going (their best checkpoint so far is evaluated, and the table says so).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REAL_BOXES = ROOT / "tests" / "data" / "real_canal_boxes"


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """``NAME`` or ``NAME=key:value,key:value`` → (name, config overrides)."""
    name, _, rest = text.partition("=")
    overrides: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition(":")
        if not sep:
            raise argparse.ArgumentTypeError(f"variant setting {item!r} needs key:value")
        overrides[key.strip()] = value.strip()
    if not name.strip():
        raise argparse.ArgumentTypeError(f"variant {text!r} needs a name")
    return name.strip(), overrides


# ------------------------------------------------------------------------ data
def generate(work: Path, args: argparse.Namespace) -> None:
    """The recipe's training and test studies (its own generator settings), unless present."""
    workers = max(1, (os.cpu_count() or 2) - 1)
    cmd = [sys.executable, str(ROOT / "scripts" / "train_shipped_model.py"), "--work", str(work),
           "--generate-only", "--generate-workers", str(workers),
           "--train-studies", str(args.train_studies), "--test-studies", str(args.test_studies),
           "--seed", str(args.seed), "--test-seed", str(args.test_seed),
           "--render-slices", str(args.render_slices)]  # fmt: skip
    subprocess.run(cmd, check=True)


# ------------------------------------------------------------------------ training
def train_all(
    work: Path, variants: list[tuple[str, dict[str, str]]], args: argparse.Namespace
) -> dict[str, str]:
    """Train every variant (``--parallel`` at a time); returns name → how it ended."""
    status: dict[str, str] = {}
    pending = list(variants)
    running: dict[str, tuple[subprocess.Popen[bytes], float]] = {}
    deadline = args.started + args.time_limit if args.time_limit else None
    while pending or running:
        while pending and len(running) < args.parallel:
            name, overrides = pending.pop(0)
            out = work / "sweep" / name
            if (out / "summary.json").exists():
                status[name] = "finished earlier"
                continue
            cmd = [sys.executable, "-m", "mscc_desktop", "train", "grader",
                   "--data", str(work / "train"), "--config", "compact", "--out", str(out),
                   "--seed", str(args.seed), "--no-progress", "--device", args.device,
                   "--workers", str(args.workers), "--threads", str(args.threads)]  # fmt: skip
            if args.epochs:
                cmd += ["--epochs", str(args.epochs)]
            for key, value in overrides.items():
                cmd += ["--set", f"{key}={value}"]
            out.mkdir(parents=True, exist_ok=True)
            with (out / "train.log").open("wb") as log:
                process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
            running[name] = (process, time.monotonic())
            print(f"started {name}: {' '.join(cmd[3:])}", flush=True)
        for name, (process, started) in list(running.items()):
            if process.poll() is not None:
                status[name] = f"exit {process.returncode} after {time.monotonic() - started:.0f} s"
                del running[name]
                print(f"{name}: {status[name]}", flush=True)
        if deadline is not None and time.monotonic() > deadline:
            for name, (process, started) in running.items():
                process.terminate()
                process.wait()
                status[name] = f"stopped at the time limit after {time.monotonic() - started:.0f} s"
            for name, _ in pending:
                status[name] = "not started (time limit)"
            break
        time.sleep(2.0)
    return status


# ------------------------------------------------------------------------ evaluation
_STUDIES: dict[Path, Any] = {}


def _fused(model: Any, crops: np.ndarray, device: Any) -> np.ndarray:
    """Average-fused probabilities ``(N, 3)`` of crops ``(N, W, S, S)``."""
    import torch

    from mscc_desktop.inference.probabilities import fuse_windows

    out = []
    with torch.inference_mode():
        for start in range(0, len(crops), 64):
            batch = torch.from_numpy(crops[start : start + 64]).to(device)
            _, logits = model(batch)
            out.append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
    return fuse_windows(np.concatenate(out).astype(np.float32))


def _synthetic(
    model: Any, config: Any, checkpoint: dict[str, Any], folders: list[Path], device: Any
) -> Any:
    """Oracle-box predictions (ground-truth canal boxes, score 1) on labelled study folders."""
    from mscc_desktop.training.acceptance import Predictions
    from mscc_desktop.training.datasets import build_grader_samples, grader_crop
    from mscc_desktop.training.study_reader import load_study

    for folder in folders:  # every variant grades the same studies: read them once
        if folder not in _STUDIES:
            _STUDIES[folder] = load_study(folder)
    samples = build_grader_samples([_STUDIES[f] for f in folders], config)
    mean, std = checkpoint["norm_mean"], checkpoint["norm_std"]
    crops = np.stack(
        [grader_crop(samples, i, config, mean=mean, std=std) for i in range(len(samples))]
    )
    probs = _fused(model, crops, device)
    names = sorted(set(samples.study_names))
    n = len(samples)
    boxes = np.tile(np.asarray([[0.0, 0.0, 10.0, 10.0]]), (n, 1))
    return Predictions(
        study_names=tuple(names),
        study=np.asarray([names.index(s) for s in samples.study_names], np.int64),
        truth_box=boxes,
        truth_group=np.asarray(samples.groups, np.int64),
        degenerative=np.zeros(n, bool),
        box=boxes.copy(),
        score=np.ones(n),
        probabilities=probs.astype(np.float64),
        backend="torch, ground-truth boxes",
    )


def evaluate(run: Path, work: Path, real_data: Path | None, device_name: str) -> dict[str, Any]:
    import torch

    from mscc_desktop.evaluation.auc import delong_auc
    from mscc_desktop.evaluation.real_canal import drawn_box_crops, labelled_real_slices
    from mscc_desktop.training.acceptance import acceptance_metrics, choose_thresholds
    from mscc_desktop.training.engine import load_checkpoint
    from mscc_desktop.training.export import grader_from_checkpoint
    from mscc_desktop.training.study_reader import find_studies

    device = torch.device(device_name)
    checkpoint = load_checkpoint(run / "best.pt", kind="grader")
    model, config = grader_from_checkpoint(checkpoint)
    model = model.to(device)
    val = _synthetic(
        model, config, checkpoint, [work / "train" / n for n in checkpoint["split"]["val"]], device
    )
    thresholds = choose_thresholds(val)
    test = _synthetic(model, config, checkpoint, list(find_studies(work / "test")), device)
    metrics = acceptance_metrics(test, thresholds)
    is_high = test.truth_group == 2
    auc = delong_auc(is_high, test.probabilities[:, 2])
    row: dict[str, Any] = {
        "epochs_done": int(checkpoint.get("epoch", -1)) + 1 if "epoch" in checkpoint else None,
        "threshold_high": thresholds.high,
        "test_ac1": round(metrics["three_class_ac1"], 3),
        "test_high_sensitivity": round(metrics["high_grade_image_sensitivity"], 3),
        "test_high_specificity": round(metrics["high_grade_image_specificity"], 3),
        "test_high_auc": round(float(auc.value), 3),
        "test_confusion": metrics["confusion_table"],
    }
    if real_data is not None:
        slices = labelled_real_slices(REAL_BOXES, real_data)
        crops = drawn_box_crops(
            slices,
            size=config.crop_size,
            margin=config.crop_margin,
            mean=checkpoint["norm_mean"],
            std=checkpoint["norm_std"],
        )
        real = _fused(model, np.concatenate(crops), device)
        row.update(
            real_mean_p=[round(float(v), 3) for v in real.mean(axis=0)],
            real_max_p_high=round(float(real[:, 2].max()), 3),
            real_high_at_threshold=int((real[:, 2] >= thresholds.high).sum()),
            real_high_at_half=int((real[:, 2] >= 0.5).sum()),
            real_argmax_normal=int((real.argmax(axis=1) == 0).sum()),
            real_n=len(real),
        )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument(
        "--variant",
        action="append",
        type=parse_variant,
        required=True,
        help="NAME or NAME=key:value,key:value (grader config settings)",
    )
    parser.add_argument("--real-data", type=Path)
    parser.add_argument("--train-studies", type=int, default=60)
    parser.add_argument("--test-studies", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20240)
    parser.add_argument("--test-seed", type=int, default=90731)
    parser.add_argument("--render-slices", type=int, default=60)
    parser.add_argument("--epochs", type=int, help="default: the compact config's")
    parser.add_argument("--parallel", type=int, default=1, help="variants trained at once")
    parser.add_argument("--workers", type=int, default=2, help="data-loader workers per run")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per run")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument(
        "--time-limit",
        type=float,
        help="seconds from the start (data generation and training): runs still going then "
        "are stopped and their best checkpoint so far is evaluated",
    )
    parser.add_argument("--json", type=Path, help="write the table as JSON")
    args = parser.parse_args()

    started = time.perf_counter()
    args.started = time.monotonic()
    generate(args.work, args)
    print(f"data ready after {time.perf_counter() - started:.0f} s", flush=True)
    status = train_all(args.work, args.variant, args)
    import torch

    device = "cuda" if args.device != "cpu" and torch.cuda.is_available() else "cpu"
    rows: dict[str, Any] = {}
    for name, overrides in args.variant:
        run = args.work / "sweep" / name
        if not (run / "best.pt").exists():
            rows[name] = {"settings": overrides, "status": status.get(name, "no checkpoint")}
            continue
        rows[name] = {"settings": overrides, "status": status.get(name, "?"),
                      **evaluate(run, args.work, args.real_data, device)}  # fmt: skip
        print(json.dumps({name: rows[name]}), flush=True)
        if args.json:  # after each variant: a run cut short still leaves what it measured
            args.json.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"\nsweep done after {time.perf_counter() - started:.0f} s")
    print(
        f"{'variant':16} {'AC1':>5} {'sens':>5} {'spec':>5} {'AUC':>5} {'thr':>5}  "
        f"{'real P(n/l/h)':20} high@thr high@.5"
    )
    for name, row in rows.items():
        if "test_ac1" not in row:
            print(f"{name:16} {row['status']}")
            continue
        real = " / ".join(f"{v:.2f}" for v in row.get("real_mean_p", []))
        print(
            f"{name:16} {row['test_ac1']:5.3f} {row['test_high_sensitivity']:5.2f} "
            f"{row['test_high_specificity']:5.2f} {row['test_high_auc']:5.3f} "
            f"{row['threshold_high']:5.2f}  {real:20} {row.get('real_high_at_threshold', '-'):>8} "
            f"{row.get('real_high_at_half', '-'):>7}   {row['status']}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
