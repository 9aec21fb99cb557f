"""Can the image show a synthetic slice's Bilsky grade? The grader's calls against the geometry.

    python scripts/grade_evidence_check.py --model DIR --test WORK/test [--json out.json]

The measurement is :mod:`mscc_desktop.training.grade_evidence` (its docstring says what it
tables and why); this script prints the tables and writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from mscc_desktop.training.grade_evidence import TABLES, grade_evidence


def _print(title: str, unit: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{title}")
    print(f"{unit:>14} {'n':>4} {'normal':>7} {'low':>5} {'high':>5} {'not graded':>10}")
    for r in rows:
        span = (
            f"< {r['to']:g}"
            if not np.isfinite(r["from"])
            else f"{r['from']:g}-{r['to']:g}"
            if np.isfinite(r["to"])
            else f">= {r['from']:g}"
        )
        print(f"{span:>14} {r['n']:4d} {r['normal']:7d} {r['low']:5d} {r['high']:5d} "
              f"{r['not graded']:10d}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="model folder")
    parser.add_argument("--test", type=Path, required=True, help="generated test studies")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    result = grade_evidence(args.model, args.test)
    for grade, key, _bins, what, unit in TABLES:
        _print(f"{grade} slices by {what}", unit, result[f"{grade}_by_{key}"])
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
