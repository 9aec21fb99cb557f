"""Accuracy of the automatic vertebral levels on phantoms and on real CT with read levels.

    python scripts/level_accuracy.py [--phantoms 12] [--first-seed 1000] [--matrix 256]
                                     [--real ../shared/data] [--no-real]

The measurement is :mod:`mscc_desktop.evaluation.level_accuracy` (its docstring says what
is scored); this script finds the repository's reference levels and canal boxes, prints
each case and the summary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from mscc_desktop.evaluation.level_accuracy import run_phantoms, run_real

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = ROOT / "tests" / "data" / "vertebral_levels"
CANAL_BOXES = ROOT / "tests" / "data" / "real_canal_boxes"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantoms", type=int, default=12)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--matrix", type=int, default=256)
    parser.add_argument("--real", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--no-real", action="store_true")
    parser.add_argument(
        "--detector",
        nargs="?",
        const="",
        default=None,
        help="real CT: canal boxes from this model (default model if no value) instead of the "
        "hand-checked boxes",
    )
    args = parser.parse_args(argv)
    lines = []
    if args.phantoms:
        print(f"Phantoms ({args.phantoms}, seeds from {args.first_seed}, {args.matrix}²):")
        lines.append(
            run_phantoms(args.phantoms, args.first_seed, args.matrix, say=print).line("phantoms")
        )
    if not args.no_real and args.real.is_dir():
        print("Real CT:")
        source = "hand-checked boxes" if args.detector is None else "detector boxes"
        lines.extend(
            tally.line(f"{label} [{source}]")
            for label, tally in run_real(
                args.real,
                reference_dir=REFERENCE_DIR,
                canal_boxes=CANAL_BOXES,
                detector=args.detector,
                say=print,
            )
        )
    print("\nSummary")
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
