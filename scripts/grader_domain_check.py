"""Where does a trained grader see disease that is not there? A sim-to-real diagnostic.

    python scripts/grader_domain_check.py --model MODEL_DIR --test SYNTH_TEST_DIR \\
        [--real-data ../shared/data]

The diagnostic is :mod:`mscc_desktop.training.grader_domain_check` (its docstring says what
it compares); this script prints its lines.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REAL_BOXES = ROOT / "tests" / "data" / "real_canal_boxes"

from mscc_desktop.training.grader_domain_check import domain_check  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True, help="synthetic test studies")
    parser.add_argument("--real-data", type=Path, help="the shared real CT folder")
    args = parser.parse_args()
    domain_check(args.model, args.test, real_data=args.real_data, real_boxes=REAL_BOXES, say=print)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
