"""Offline checks of ideas on one protocol fold's cached predictions (issue 20).

    python scripts/protocol_alternatives.py seeds      WORK/protocol/fold0
    python scripts/protocol_alternatives.py ensemble   WORK/protocol/fold0
    python scripts/protocol_alternatives.py centring   WORK/protocol/fold0 [--seed 1]
    python scripts/protocol_alternatives.py compare    WORK/protocol/fold0 OTHER_DIR [--seed 1]

The checks are :mod:`mscc_desktop.training.protocol_alternatives`'s (its docstring says what
each one judges); this script picks one and prints its lines.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mscc_desktop.training.protocol_alternatives import centring, compare, ensemble, seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", choices=("seeds", "ensemble", "centring", "compare"))
    parser.add_argument("fold", type=Path, help="a protocol fold folder (WORK/protocol/foldK)")
    parser.add_argument("other", type=Path, nargs="?", help="compare: the other predictions")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.check == "seeds":
        lines = seeds(args.fold)
    elif args.check == "ensemble":
        lines = ensemble(args.fold)
    elif args.check == "centring":
        lines = centring(args.fold, args.seed)
    else:
        if args.other is None:
            parser.error("compare needs OTHER_DIR")
        lines = compare(args.fold, args.other, args.seed)
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
