#!/usr/bin/env python
"""How stable is the recipe's threshold rule? Validation studies against a calibration set.

The measurement is :mod:`mscc_desktop.training.threshold_stability`; this script parses the
runs and options, prints the table and writes the JSON. Example (E7-E13 of
``docs/TRAINING_EXPERIMENTS.md``)::

    python scripts/threshold_stability.py --train WORK/train --calibration CAL \\
        --test WORK/test --real-data ../shared/data \\
        --run E7=MODELS/e7:RUNS/e7/grader --run E12=MODELS/e12:RUNS/e12/grader --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mscc_desktop.training.acceptance import DEFAULT_MIN_SENSITIVITY
from mscc_desktop.training.threshold_stability import assess_run, stability_table

ROOT = Path(__file__).resolve().parents[1]
REAL_BOXES = ROOT / "tests" / "data" / "real_canal_boxes"


def _run_spec(text: str) -> tuple[str, Path, Path]:
    name, sep, paths = text.partition("=")
    model, sep2, run = paths.rpartition(":")
    if not (sep and sep2 and name and model and run):
        raise argparse.ArgumentTypeError(f"expected NAME=MODEL_DIR:GRADER_RUN_DIR, got {text!r}")
    return name, Path(model), Path(run)


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
            real_boxes=REAL_BOXES,
            resamples=args.bootstrap,
            seed=args.seed,
            min_sensitivity=args.min_sensitivity,
        )
    print(stability_table(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
