#!/usr/bin/env python
"""Why does a synthetic-trained grader call disease-free real canals high? Four measurements.

The measurements are :mod:`mscc_desktop.training.real_false_positives`'s (its docstring lists
them); this script parses the options, writes the JSON and prints a summary::

    MSCC_REAL_DATA=../shared/data python scripts/real_false_positives.py \\
        --model MODEL_DIR --test WORK/test [--train WORK/train \\
        --grader-checkpoint WORK/runs/grader/best.pt] --json out.json

Without real data (``--real-data`` or ``MSCC_REAL_DATA``) only the synthetic parts run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mscc_desktop.training.real_false_positives import (  # noqa: E402
    NEIGHBOURS,
    banding_percentiles,
    measure,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="exported model folder")
    parser.add_argument("--test", type=Path, required=True, help="synthetic test studies")
    parser.add_argument(
        "--real-data",
        default=os.environ.get("MSCC_REAL_DATA", ""),
        help="shared real CT folder (default $MSCC_REAL_DATA; empty: synthetic parts only)",
    )
    parser.add_argument("--boxes", type=Path, default=ROOT / "tests/data/real_canal_boxes")
    parser.add_argument("--train", type=Path, help="training studies (neighbours)")
    parser.add_argument("--grader-checkpoint", type=Path, help="the model's grader checkpoint")
    parser.add_argument("--train-stride", type=int, default=2, help="every n-th training slice")
    parser.add_argument(
        "--called-high",
        type=float,
        default=0.45,
        help="P(high) from which a real slice is studied by shift and neighbours",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    if args.real_data and not Path(args.real_data).is_dir():
        parser.error(f"--real-data {args.real_data} is not a folder")
    result = measure(
        args.model,
        args.test,
        real_data=args.real_data,
        boxes=args.boxes,
        train=args.train,
        grader_checkpoint=args.grader_checkpoint,
        train_stride=args.train_stride,
        called_high=args.called_high,
    )
    real = result.get("real", {})
    text = json.dumps(result, indent=1)
    if args.json:
        args.json.write_text(text + "\n")
    print("generator canals:", result["generator_canals"])
    for key in ("synthetic_normal", "synthetic_high"):
        print(key, "noise p10/50/90", np.round(result[key]["noise_hu_p10_50_90"], 1))
        print(
            "  banding rows / columns p10/50/90",
            *np.round(result[key]["banding_row_col_hu_p10_50_90"], 1).tolist(),
        )
        for row in result[key]["density"]:
            print(
                f"  {row['density_hu']} HU: n {row['n']} mean P(high) {row['mean_p_high']:.3f}"
                f" above threshold {row['share_above_threshold']:.2f}"
            )
    for name, change in result.get("perturbed_normals", {}).items():
        print(
            f"synthetic normals, {name}: mean P(high) {change['mean_p_high']:.3f}"
            f" above threshold {change['share_above_threshold']:.3f}"
        )
    if real:
        banding = banding_percentiles([row["banding_row_col_hu"] for row in real.values()])
        print("real banding rows / columns p10/50/90", *np.round(banding, 1).tolist())
    for name, row in real.items():
        shifted = " ".join(f"{p:.2f}" for p in row.get("p_high_canal_shifted", []))
        swap = row.get("swap")
        swapped = (
            f" swap: real outside {swap['real_surroundings_synthetic_interior']:.2f}"
            f" real inside {swap['synthetic_surroundings_real_interior']:.2f}"
            if swap
            else ""
        )
        print(
            f"{name[-34:]:34s} P(high) {row['p_high']:.2f} density {row['density_hu']:5.0f} "
            f"noise {row['noise_hu']:5.1f} {shifted}{swapped}"
        )
    for name, row in result.get("neighbours", {}).items():
        print(
            f"{name[-34:]:34s} nearest {NEIGHBOURS}: {row['classes']} "
            f"from {row['n_studies']} studies"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
