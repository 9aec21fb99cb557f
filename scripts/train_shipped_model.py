"""Reproduce the shipped model: generate data, train both networks, export, evaluate.

One command, fixed seeds, runs on a 2-core CPU with the ``compact`` config (target <= 90 min in
total) or faster on a GPU::

    python scripts/train_shipped_model.py --fp16-weights --work /tmp/mscc-train \
        --out models/mscc-compact-synth

Steps (each skipped when its output exists and ``--force`` is not given, so an interrupted
run picks up where it stopped; training itself resumes from ``last.pt``):

1. The generator (``mscc_desktop.synth``) writes the training studies (seed ``--seed``), a
   calibration set for the thresholds (``--calibration-seed``) and a separate test set
   (seed ``--test-seed``), the last two never used in training, each with a
   ``dataset.json`` describing the generator, its version, settings and seeds (copied into the
   manifest). Each study renders ``--render-slices`` slices spread over its whole C7-L3 scan:
   more patients and lesions for the same rendering time. The training studies carry more
   disease than the paper's mix (``--train-class-mix``); the test set keeps the default.
2. ``mscc-desktop train detector`` and ``mscc-desktop train grader`` on the training studies,
   side by side with one thread each (on two cores shared with other work this beats two
   threads per job, whose threads wait on each other), or ``--sequential``.
3. ``mscc-desktop export`` into ``--out``, with an int8 copy of the detector for the CPU
   backend calibrated on the training studies (``--int8-calibration``).
4. Decision thresholds (canal score, P(high), P(low)+P(high)) are chosen on a separate
   *calibration* set (seed ``--calibration-seed``, the training studies' disease mix, never
   trained on and never used to pick a checkpoint) with
   :func:`mscc_desktop.training.acceptance.choose_thresholds`, and written into the manifest.
   Its 40 studies hold about 300 high-grade slices, so the 97 %-sensitivity threshold rests on
   about ten of them; the grader's 9 validation studies (about 45) let it swing from 0.05 to
   0.37 between training seeds (see ``mscc_desktop/training/README.md``, "Thresholds"). The
   validation studies' figures at the chosen thresholds are reported beside it.
5. The exported model runs through the app's own pipeline on the test studies
   (:func:`mscc_desktop.training.acceptance.evaluate_model_folder`); the numbers go into the
   manifest (``evaluation``) and ``--work/evaluation.json``. Then ``mscc-desktop evaluate
   --model --write-manifest`` adds the paper's statistics with CIs (``paper_statistics``) and
   writes its tables to ``--work/paper-tables``.
6. With ``--real-data DIR`` (default: ``$MSCC_REAL_DATA``) the model also runs on the
   hand-labelled real CT slices (``tests/data/real_canal_boxes``, see
   ``scripts/eval_real_canal.py``) and that summary, overall and per subset, goes into the
   evaluation block too. It is a check, not a tuning set: nothing in the recipe looks at it.

Wall-clock and CPU time (this process and its children) of every step are printed and saved
in ``--work/timings.json``, with the load average (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from mscc_desktop.core.config import DEFAULT_MODEL_ID
from mscc_desktop.synth.output import generate_dataset
from mscc_desktop.synth.params import GENERATOR_NAME, GENERATOR_VERSION, GeneratorConfig

ROOT = Path(__file__).resolve().parents[1]
REAL_BOXES = ROOT / "tests" / "data" / "real_canal_boxes"


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class _Clock:
    """Wall and CPU seconds of named steps."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def record(self, name: str, wall_start: float, cpu_start: float) -> None:
        self.wall[name] = round(time.perf_counter() - wall_start, 1)
        self.cpu[name] = round(_cpu_seconds() - cpu_start, 1)
        print(f"=== {name} took {self.wall[name]:.0f} s (CPU {self.cpu[name]:.0f} s)", flush=True)


def _run(cmd: list[str], clock: _Clock, name: str) -> None:
    print(f"\n=== {name}: {' '.join(cmd)}", flush=True)
    wall, cpu = time.perf_counter(), _cpu_seconds()
    subprocess.run(cmd, check=True)
    clock.record(name, wall, cpu)


def _cli() -> list[str]:
    return [sys.executable, "-m", "mscc_desktop"]


def _generate_one(folder: Path, seed: int, index: int, config: GeneratorConfig) -> None:
    generate_dataset(folder, 1, seed, config, start=index, workers=1)


def _generate(folder: Path, *, studies: int, seed: int, config: GeneratorConfig, force: bool,
              clock: _Clock, name: str, workers: int = 2) -> None:  # fmt: skip
    """Write ``studies`` synthetic studies (in this process: the generator's own workers)."""
    if (folder / "dataset.json").exists() and not force:
        print(f"=== {name}: {folder} exists, kept")
        return
    if folder.exists():
        shutil.rmtree(folder)
    print(f"\n=== {name}: {studies} studies, seed {seed}, {config}", flush=True)
    wall, cpu = time.perf_counter(), _cpu_seconds()
    # Worker processes (two on the 2-core machine), each rendering whole studies serially:
    # the same files as one process (every study has its own seed), and their CPU time is
    # counted (the generator's own forkserver workers would escape the accounting).
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        jobs = [pool.submit(_generate_one, folder, seed, index, config) for index in range(studies)]
        for job in jobs:
            job.result()
    clock.record(name, wall, cpu)
    mix = "/".join(f"{share:.0%}" for share in config.class_mix)
    spread = (
        f", {config.render_slices} slices spread over each scan" if config.render_slices else ""
    )
    info = {
        "synthetic": True,
        "generator": GENERATOR_NAME,
        "generator_version": GENERATOR_VERSION,
        "seeds": [seed],
        "n_studies": studies,
        "config": {
            "class_mix": list(config.class_mix),
            "no_disease_fraction": config.no_disease_fraction,
            "render_slices": config.render_slices,
            "max_slices": config.max_slices,
            "canal_heterogeneity": config.canal_heterogeneity,
        },
        "description": (
            f"{studies} synthetic staging-CT phantoms (C7-L3, Bilsky-graded epidural disease, "
            f"target normal/low/high slices {mix}{spread}) from {GENERATOR_NAME} "
            f"{GENERATOR_VERSION}, seed {seed}; no patient data."
        ),
    }
    (folder / "dataset.json").write_text(json.dumps(info, indent=2) + "\n")


def _train_both(
    commands: dict[str, list[str]], clock: _Clock, *, parallel: bool, logs: Path
) -> None:
    """Train the networks, side by side (one thread each) or one after the other."""
    if not parallel:
        for network, cmd in commands.items():
            _run(cmd, clock, f"train {network}")
        return
    logs.mkdir(parents=True, exist_ok=True)
    started: dict[int, tuple[str, float, subprocess.Popen[bytes]]] = {}
    for network, cmd in commands.items():
        print(f"\n=== train {network} (log {logs / network}.log): {' '.join(cmd)}", flush=True)
        with (logs / f"{network}.log").open("wb") as log:
            process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        started[process.pid] = (network, time.perf_counter(), process)
    failed = []
    while started:
        pid, status, usage = os.wait4(-1, 0)
        if pid not in started:
            continue
        network, wall, process = started.pop(pid)
        process.returncode = os.waitstatus_to_exitcode(status)
        clock.wall[f"train {network}"] = round(time.perf_counter() - wall, 1)
        clock.cpu[f"train {network}"] = round(usage.ru_utime + usage.ru_stime, 1)
        print(f"=== train {network} finished ({process.returncode}) after "
              f"{clock.wall[f'train {network}']:.0f} s", flush=True)  # fmt: skip
        if process.returncode != 0:
            failed.append(network)
    if failed:
        raise SystemExit(f"training failed: {', '.join(failed)} (see {logs})")


def _choose_thresholds(
    model_dir: Path, calibration_dir: Path, train_dir: Path, run_dir: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pick the decision thresholds on the calibration studies and write them to the manifest.

    Returns the calibration set's and the grader's validation studies' figures at those
    thresholds (the validation studies picked the grader's checkpoint, so they are not used
    to choose the thresholds).
    """
    from mscc_desktop.inference.manifest import update_model_folder
    from mscc_desktop.training.acceptance import (
        acceptance_metrics,
        choose_thresholds,
        collect_predictions,
    )
    from mscc_desktop.training.engine import load_checkpoint
    from mscc_desktop.training.study_reader import find_studies

    calibration_predictions = collect_predictions(model_dir, find_studies(calibration_dir))
    chosen = choose_thresholds(calibration_predictions)
    update_model_folder(model_dir, thresholds=chosen)
    calibration = acceptance_metrics(calibration_predictions, chosen)
    calibration["n_high_grade_slices"] = calibration_predictions.n_high_grade
    split = load_checkpoint(run_dir / "best.pt", kind="grader")["split"]
    folders = [train_dir / name for name in split["val"]]
    validation = acceptance_metrics(collect_predictions(model_dir, folders), chosen)
    validation["studies"] = list(split["val"])
    return calibration, validation


def real_canal_summary(model_dir: Path, real_data: Path) -> dict[str, Any]:
    """The real-CT canal check (``scripts/eval_real_canal.py``), overall and per subset."""
    from mscc_desktop.evaluation.real_canal import (
        check_canal,
        labelled_real_slices,
        summarise_checks,
    )
    from mscc_desktop.inference.backends import create_backend, resolve_model

    slices = labelled_real_slices(REAL_BOXES, real_data)
    manifest = resolve_model(model_dir)
    checks = check_canal(slices, create_backend(manifest, "onnx-cpu"), manifest)
    result: dict[str, Any] = dict(summarise_checks(checks).to_dict())
    for subset in sorted({c.name.split("/")[0] for c in checks}):
        part = [c for c in checks if c.name.split("/")[0] == subset]
        result[subset] = summarise_checks(part).to_dict()
    result["boxes"] = "tests/data/real_canal_boxes (hand-checked, see its README)"
    result["slices"] = {c.name: round(c.iou, 3) for c in checks}
    return result


def _mix(text: str) -> tuple[float, float, float]:
    parts = [float(x) for x in text.split(",")]
    if len(parts) != 3 or min(parts) < 0 or sum(parts) <= 0:
        raise argparse.ArgumentTypeError(f"need three shares like 0.65,0.175,0.175: {text!r}")
    total = sum(parts)
    return (parts[0] / total, parts[1] / total, parts[2] / total)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("build/shipped-model"))
    parser.add_argument("--out", type=Path, default=Path("models") / DEFAULT_MODEL_ID)
    parser.add_argument("--config", default="compact", choices=("compact", "paper", "tiny"))
    parser.add_argument("--train-studies", type=int, default=60)
    parser.add_argument("--test-studies", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20240)
    parser.add_argument("--test-seed", type=int, default=90731)
    parser.add_argument(
        "--calibration-studies",
        type=int,
        default=40,
        help="studies (training disease mix) on which the decision thresholds are chosen",
    )
    parser.add_argument("--calibration-seed", type=int, default=61113)
    parser.add_argument(
        "--render-slices",
        type=int,
        default=60,
        help="slices rendered per study, spread over its whole C7-L3 scan (0: every slice)",
    )
    parser.add_argument(
        "--train-class-mix",
        type=_mix,
        default=(0.65, 0.175, 0.175),
        help="normal,low,high slice shares of the TRAINING studies (the test set keeps the "
        "generator's default, near the paper's 80/10/10)",
    )
    parser.add_argument("--train-no-disease", type=float, default=0.15)
    parser.add_argument(
        "--canal-heterogeneity",
        action="store_true",
        help="experiment E22: blotches and streaks in every canal (GeneratorConfig)",
    )
    parser.add_argument("--matrix", type=int, default=512)
    parser.add_argument("--detector-epochs", type=int)
    parser.add_argument("--grader-epochs", type=int)
    parser.add_argument(
        "--slice-stride",
        type=int,
        default=1,
        help="detector: every N-th labelled slice (neighbours look alike)",
    )
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="train the networks one after the other with all cores (default: side by side, "
        "one thread each: faster on 2 shared cores)",
    )
    parser.add_argument(
        "--generate-workers", type=int, default=2, help="processes writing studies (default 2)"
    )
    parser.add_argument(
        "--generate-only",
        action="store_true",
        help="write the training and test studies into --work, then stop (for experiments "
        "such as scripts/grader_sweep.py)",
    )
    parser.add_argument("--version", default="1.0.0")
    parser.add_argument("--fp16-weights", action="store_true")
    parser.add_argument("--torch-files", action="store_true")
    parser.add_argument(
        "--real-data",
        type=Path,
        default=Path(os.environ["MSCC_REAL_DATA"]) if os.environ.get("MSCC_REAL_DATA") else None,
        help="shared real CT folder for the real-CT canal check (default $MSCC_REAL_DATA)",
    )
    parser.add_argument("--force", action="store_true", help="redo steps whose output exists")
    args = parser.parse_args()
    if len({args.seed, args.test_seed, args.calibration_seed}) < 3:
        parser.error("--seed, --calibration-seed and --test-seed must differ (the calibration "
                     "and test sets are never trained on)")  # fmt: skip

    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    clock = _Clock()
    load_start = os.getloadavg()
    total_wall, total_cpu = time.perf_counter(), _cpu_seconds()
    spread = args.render_slices or None
    train_config = GeneratorConfig(
        matrix=args.matrix,
        render_slices=spread,
        class_mix=args.train_class_mix,
        no_disease_fraction=args.train_no_disease,
        canal_heterogeneity=args.canal_heterogeneity,
    )
    test_config = GeneratorConfig(
        matrix=args.matrix, render_slices=spread, canal_heterogeneity=args.canal_heterogeneity
    )
    _generate(work / "train", studies=args.train_studies, seed=args.seed, config=train_config,
              force=args.force, clock=clock, name="generate training data",
              workers=args.generate_workers)  # fmt: skip
    _generate(work / "calibration", studies=args.calibration_studies,
              seed=args.calibration_seed, config=train_config, force=args.force, clock=clock,
              name="generate calibration data", workers=args.generate_workers)  # fmt: skip
    _generate(work / "test", studies=args.test_studies, seed=args.test_seed, config=test_config,
              force=args.force, clock=clock, name="generate test data",
              workers=args.generate_workers)  # fmt: skip
    if args.generate_only:
        return 0

    runs = work / "runs"
    threads = "2" if args.sequential else "1"
    commands: dict[str, list[str]] = {}
    for network, epochs in (("detector", args.detector_epochs), ("grader", args.grader_epochs)):
        run_dir = runs / network
        if (run_dir / "summary.json").exists() and not args.force:
            print(f"=== train {network}: {run_dir} finished earlier, kept")
            continue
        cmd = [*_cli(), "train", network, "--data", str(work / "train"), "--config", args.config,
               "--out", str(run_dir), "--seed", str(args.seed), "--no-progress",
               "--threads", threads]  # fmt: skip
        if network == "detector":
            cmd += ["--slice-stride", str(args.slice_stride)]
        if epochs:
            cmd += ["--epochs", str(epochs)]
        if (run_dir / "last.pt").exists() and not args.force:
            cmd.append("--resume")
        commands[network] = cmd
    _train_both(commands, clock, parallel=not args.sequential, logs=runs)

    cmd = [*_cli(), "export", "--detector", str(runs / "detector" / "best.pt"),
           "--grader", str(runs / "grader" / "best.pt"), "--out", str(args.out),
           "--id", args.out.name, "--version", args.version,
           # The int8 detector the CPU backend runs, calibrated on the training studies; the
           # evaluation below runs on the CPU backend, so its figures are the int8 detector's.
           "--int8-calibration", str(work / "train")]  # fmt: skip
    if args.fp16_weights:
        cmd.append("--fp16-weights")
    if args.torch_files:
        cmd.append("--torch-files")
    _run(cmd, clock, "export")

    print("\n=== choose thresholds on the calibration studies", flush=True)
    wall, cpu = time.perf_counter(), _cpu_seconds()
    calibration, validation = _choose_thresholds(
        args.out, work / "calibration", work / "train", runs / "grader"
    )
    clock.record("choose thresholds", wall, cpu)
    print(json.dumps(calibration["thresholds"]), flush=True)

    print("\n=== evaluate on the held-out test studies", flush=True)
    wall, cpu = time.perf_counter(), _cpu_seconds()
    from mscc_desktop.inference.manifest import load_model_folder, update_model_folder
    from mscc_desktop.training.acceptance import evaluate_model_folder

    evaluation = evaluate_model_folder(args.out, work / "test")
    evaluation["test_seed"] = args.test_seed
    evaluation["calibration"] = {**calibration, "seed": args.calibration_seed}
    evaluation["validation"] = validation
    clock.record("evaluate", wall, cpu)
    if args.real_data is not None:
        print("\n=== real-CT canal check", flush=True)
        wall, cpu = time.perf_counter(), _cpu_seconds()
        evaluation["real_ct_canal_check"] = real_canal_summary(args.out, args.real_data)
        clock.record("real-CT check", wall, cpu)
    # The paper's statistics with their CIs, by the same command a site would run on its own
    # labelled studies (it records them in the manifest as "paper_statistics").
    _run([*_cli(), "evaluate", "--model", str(work / "test"), "--model-id", str(args.out),
          "--backend", "onnx-cpu", "--write-manifest", "--out", str(work / "paper-tables")],
         clock, "paper statistics")  # fmt: skip
    evaluation["paper_statistics"] = load_model_folder(args.out).evaluation["paper_statistics"]
    clock.wall["total"] = round(time.perf_counter() - total_wall, 1)
    clock.cpu["total"] = round(_cpu_seconds() - total_cpu, 1)
    evaluation["recipe_seconds"] = clock.wall
    evaluation["recipe_cpu_seconds"] = clock.cpu
    evaluation["machine"] = (
        f"{os.cpu_count()} CPUs; load average {load_start[0]:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end"
    )
    manifest = update_model_folder(args.out, evaluation=evaluation)
    (work / "evaluation.json").write_text(json.dumps(evaluation, indent=2) + "\n")
    timings = {"wall_seconds": clock.wall, "cpu_seconds": clock.cpu}
    (work / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    print(json.dumps(evaluation, indent=2))
    size_mb = sum(f.size_bytes for f in manifest.files) / 1e6
    print(f"\nmodel {manifest.model_id} {manifest.version} sha256 {manifest.short_sha}, "
          f"{size_mb:.1f} MB, total {clock.wall['total'] / 60:.1f} min "
          f"(CPU {clock.cpu['total'] / 60:.1f} min)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
