"""Reproduce the shipped model: generate data, train both networks, export, evaluate.

One command, fixed seeds, runs on a 2-core CPU with the ``compact`` config (target <= 90 min in
total) or faster on a GPU::

    python scripts/train_shipped_model.py --work /tmp/mscc-train --out models/mscc-compact-synth

Steps (each skipped when its output exists and ``--force`` is not given, so an interrupted
run picks up where it stopped; training itself resumes from ``last.pt``):

1. ``mscc-desktop synth`` writes the training studies (seed ``--seed``) and a separate test set
   (seed ``--test-seed``, never used in training), each with a ``dataset.json`` describing the
   generator, its version and the seeds (copied into the manifest).
2. ``mscc-desktop train detector`` and ``mscc-desktop train grader`` on the training studies.
3. ``mscc-desktop export`` into ``--out``.
4. The exported model runs through the app's own pipeline on the test studies
   (:func:`mscc_desktop.training.acceptance.evaluate_model_folder`); the numbers go into the
   manifest (``evaluation``) and ``--work/evaluation.json``.

Timings of every step are printed and saved in ``--work/timings.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from mscc_desktop.core.config import DEFAULT_MODEL_ID


def _run(cmd: list[str], timings: dict[str, float], name: str) -> None:
    print(f"\n=== {name}: {' '.join(cmd)}", flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    timings[name] = round(time.perf_counter() - start, 1)
    print(f"=== {name} took {timings[name]:.0f} s", flush=True)


def _cli() -> list[str]:
    return [sys.executable, "-m", "mscc_desktop"]


def _generate(folder: Path, *, studies: int, seed: int, force: bool, timings: dict[str, float],
              name: str, extra: list[str]) -> None:  # fmt: skip
    if (folder / "dataset.json").exists() and not force:
        print(f"=== {name}: {folder} exists, kept")
        return
    if folder.exists():
        shutil.rmtree(folder)
    _run([*_cli(), "synth", str(folder), "--studies", str(studies), "--seed", str(seed), *extra],
         timings, name)  # fmt: skip
    from mscc_desktop.synth.params import GENERATOR_NAME, GENERATOR_VERSION

    info = {
        "synthetic": True,
        "generator": GENERATOR_NAME,
        "generator_version": GENERATOR_VERSION,
        "seeds": [seed],
        "n_studies": studies,
        "description": (
            f"{studies} synthetic staging-CT phantoms (C7-L3, contrast-enhanced, Bilsky-graded "
            f"epidural disease) from {GENERATOR_NAME} {GENERATOR_VERSION}, seed {seed}; "
            "no patient data."
        ),
    }
    (folder / "dataset.json").write_text(json.dumps(info, indent=2) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("build/shipped-model"))
    parser.add_argument("--out", type=Path, default=Path("models") / DEFAULT_MODEL_ID)
    parser.add_argument("--config", default="compact", choices=("compact", "paper", "tiny"))
    parser.add_argument("--train-studies", type=int, default=40)
    parser.add_argument("--test-studies", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20240)
    parser.add_argument("--test-seed", type=int, default=90731)
    parser.add_argument("--detector-epochs", type=int)
    parser.add_argument("--grader-epochs", type=int)
    parser.add_argument(
        "--slice-stride",
        type=int,
        default=2,
        help="detector: every N-th labelled slice (neighbours look alike)",
    )
    parser.add_argument("--version", default="1.0.0")
    parser.add_argument("--fp16-weights", action="store_true")
    parser.add_argument("--torch-files", action="store_true")
    parser.add_argument(
        "--synth-args",
        default="--max-slices 120",
        help="extra arguments for mscc-desktop synth (default caps studies at 120 slices)",
    )
    parser.add_argument("--force", action="store_true", help="redo steps whose output exists")
    args = parser.parse_args()
    if args.seed == args.test_seed:
        parser.error("--test-seed must differ from --seed (the test set is never trained on)")

    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    total_start = time.perf_counter()
    extra = args.synth_args.split()
    _generate(work / "train", studies=args.train_studies, seed=args.seed, force=args.force,
              timings=timings, name="generate training data", extra=extra)  # fmt: skip
    _generate(work / "test", studies=args.test_studies, seed=args.test_seed, force=args.force,
              timings=timings, name="generate test data", extra=extra)  # fmt: skip

    runs = work / "runs"
    for network, epochs in (("detector", args.detector_epochs), ("grader", args.grader_epochs)):
        run_dir = runs / network
        if (run_dir / "summary.json").exists() and not args.force:
            print(f"=== train {network}: {run_dir} finished earlier, kept")
            continue
        cmd = [*_cli(), "train", network, "--data", str(work / "train"), "--config", args.config,
               "--out", str(run_dir), "--seed", str(args.seed)]  # fmt: skip
        if network == "detector":
            cmd += ["--slice-stride", str(args.slice_stride)]
        if epochs:
            cmd += ["--epochs", str(epochs)]
        if (run_dir / "last.pt").exists() and not args.force:
            cmd.append("--resume")
        _run(cmd, timings, f"train {network}")

    cmd = [*_cli(), "export", "--detector", str(runs / "detector" / "best.pt"),
           "--grader", str(runs / "grader" / "best.pt"), "--out", str(args.out),
           "--id", args.out.name, "--version", args.version]  # fmt: skip
    if args.fp16_weights:
        cmd.append("--fp16-weights")
    if args.torch_files:
        cmd.append("--torch-files")
    _run(cmd, timings, "export")

    print("\n=== evaluate on the held-out test studies", flush=True)
    start = time.perf_counter()
    from mscc_desktop.inference.manifest import update_model_folder
    from mscc_desktop.training.acceptance import evaluate_model_folder

    evaluation = evaluate_model_folder(args.out, work / "test")
    evaluation["test_seed"] = args.test_seed
    timings["evaluate"] = round(time.perf_counter() - start, 1)
    timings["total"] = round(time.perf_counter() - total_start, 1)
    evaluation["recipe_seconds"] = timings
    evaluation["machine"] = f"{os.cpu_count()} CPUs"
    manifest = update_model_folder(args.out, evaluation=evaluation)
    (work / "evaluation.json").write_text(json.dumps(evaluation, indent=2) + "\n")
    (work / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    print(json.dumps(evaluation, indent=2))
    size_mb = sum(f.size_bytes for f in manifest.files) / 1e6
    print(f"\nmodel {manifest.model_id} {manifest.version} sha256 {manifest.short_sha}, "
          f"{size_mb:.1f} MB, total {timings['total'] / 60:.1f} min")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
