"""How stable is the recipe's threshold rule? Validation studies against a calibration set.

For each trained run (an exported model folder and the grader's run folder, whose checkpoint
records which training studies it held out for validation) this script collects the
pipeline's predictions on

* the grader's validation studies (under ``--train``),
* a calibration set (``--calibration``: generated studies never trained on), and
* the test set (``--test``),

chooses the decision thresholds with :func:`mscc_desktop.training.acceptance.choose_thresholds`
on the validation studies and, separately, on the calibration set, and reports for each
choice the test-set figures (AC1, high-grade sensitivity/specificity, per-study specificity)
and, with ``--real-data``, how many of the hand-labelled real CT slices are called high. A
study-level bootstrap (``--bootstrap`` resamples) shows how far the P(high) threshold moves
with the studies it is chosen on: its 5th, 50th and 95th percentiles per set.

Nothing here tunes anything: the rule is the recipe's, and the test and real slices are only
reported. Example (E7-E13 of ``docs/TRAINING_EXPERIMENTS.md``)::

    python scripts/threshold_stability.py --train WORK/train --calibration CAL \\
        --test WORK/test --real-data ../shared/data \\
        --run E7=MODELS/e7:RUNS/e7/grader --run E12=MODELS/e12:RUNS/e12/grader --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from mscc_desktop.core.findings import Thresholds
from mscc_desktop.training.acceptance import (
    DEFAULT_MIN_SENSITIVITY,
    Predictions,
    acceptance_metrics,
    choose_thresholds,
    collect_predictions,
)
from mscc_desktop.training.study_reader import find_studies

ROOT = Path(__file__).resolve().parents[1]
REAL_BOXES = ROOT / "tests" / "data" / "real_canal_boxes"


def _run_spec(text: str) -> tuple[str, Path, Path]:
    name, sep, paths = text.partition("=")
    model, sep2, run = paths.rpartition(":")
    if not (sep and sep2 and name and model and run):
        raise argparse.ArgumentTypeError(f"expected NAME=MODEL_DIR:GRADER_RUN_DIR, got {text!r}")
    return name, Path(model), Path(run)


def bootstrap_high_threshold(
    predictions: Predictions,
    resamples: int,
    rng: np.random.Generator,
    min_sensitivity: float = DEFAULT_MIN_SENSITIVITY,
) -> list[float]:
    """5th, 50th and 95th percentile of the chosen P(high) threshold over study resamples."""
    n = len(predictions.study_names)
    highs = [
        choose_thresholds(
            predictions.of_studies(rng.choice(n, n).tolist()), min_sensitivity=min_sensitivity
        ).high
        for _ in range(resamples)
    ]
    return [round(float(np.percentile(highs, q)), 3) for q in (5, 50, 95)]


def _real_high(model: Path, real_data: Path, thresholds: Thresholds) -> dict[str, int]:
    from mscc_desktop.evaluation.real_canal import (
        check_canal,
        labelled_real_slices,
        summarise_checks,
    )
    from mscc_desktop.inference.backends import create_backend, resolve_model

    manifest = resolve_model(model)
    checks = check_canal(
        labelled_real_slices(REAL_BOXES, real_data),
        create_backend(manifest, "onnx-cpu"),
        manifest,
        thresholds=thresholds,
    )
    summary = summarise_checks(checks)
    return {"n_slices": summary.n_slices, "n_found": summary.n_found,
            "n_high": summary.n_high, "n_low": summary.n_low}  # fmt: skip


def assess_run(
    model: Path,
    grader_run: Path,
    *,
    train: Path,
    calibration: Path,
    test: Path,
    real_data: Path | None,
    resamples: int,
    seed: int,
    min_sensitivity: float = DEFAULT_MIN_SENSITIVITY,
) -> dict[str, Any]:
    """Thresholds from the validation studies and from the calibration set, judged on test."""
    from mscc_desktop.training.engine import load_checkpoint

    split = load_checkpoint(grader_run / "best.pt", kind="grader")["split"]
    sets = {
        "validation": collect_predictions(model, [train / name for name in split["val"]]),
        "calibration": collect_predictions(model, find_studies(calibration)),
    }
    test_predictions = collect_predictions(model, find_studies(test))
    rng = np.random.default_rng(seed)
    result: dict[str, Any] = {}
    for name, predictions in sets.items():
        chosen = choose_thresholds(predictions, min_sensitivity=min_sensitivity)
        metrics = acceptance_metrics(test_predictions, chosen)
        row: dict[str, Any] = {
            "min_sensitivity": min_sensitivity,
            "n_studies": len(predictions.study_names),
            "n_high_grade_slices": predictions.n_high_grade,
            "thresholds": asdict(chosen),
            "high_threshold_bootstrap_5_50_95": bootstrap_high_threshold(
                predictions, resamples, rng, min_sensitivity
            ),
            "test": {
                key: metrics[key]
                for key in (
                    "three_class_ac1",
                    "high_grade_image_sensitivity",
                    "high_grade_image_specificity",
                    "high_grade_study_sensitivity",
                    "high_grade_study_specificity",
                )
            },
        }
        if real_data is not None:
            row["real_ct"] = _real_high(model, real_data, chosen)
        result[name] = row
    return result


def _table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| run | chosen on | studies / high slices | P(high) thr. | bootstrap 5-50-95 % "
        "| test AC1 | test sens / spec | per-study spec | real high |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run, by_set in results.items():
        for name, row in by_set.items():
            t = row["test"]
            real = row.get("real_ct")
            real_text = f"{real['n_high']}/{real['n_slices']}" if real else "-"
            boot = "-".join(f"{v:.3f}" for v in row["high_threshold_bootstrap_5_50_95"])
            lines.append(
                f"| {run} | {name} | {row['n_studies']} / {row['n_high_grade_slices']} "
                f"| {row['thresholds']['high']:.3f} | {boot} | {t['three_class_ac1']:.3f} "
                f"| {t['high_grade_image_sensitivity']:.3f} / "
                f"{t['high_grade_image_specificity']:.3f} "
                f"| {t['high_grade_study_specificity']:.2f} | {real_text} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=_run_spec, action="append", required=True,
                        metavar="NAME=MODEL_DIR:GRADER_RUN_DIR")  # fmt: skip
    parser.add_argument("--train", type=Path, required=True, help="the runs' training studies")
    parser.add_argument("--calibration", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--real-data", type=Path, help="shared real CT folder (optional)")
    parser.add_argument("--bootstrap", type=int, default=100, help="study resamples per set")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument(
        "--min-sensitivity",
        type=float,
        default=DEFAULT_MIN_SENSITIVITY,
        help="the threshold rule's per-image high-grade sensitivity (the recipe's: 0.97)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    results: dict[str, dict[str, Any]] = {}
    for name, model, grader_run in args.run:
        print(f"=== {name}", file=sys.stderr, flush=True)
        results[name] = assess_run(
            model,
            grader_run,
            train=args.train,
            calibration=args.calibration,
            test=args.test,
            real_data=args.real_data,
            resamples=args.bootstrap,
            seed=args.seed,
            min_sensitivity=args.min_sensitivity,
        )
    print(_table(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
