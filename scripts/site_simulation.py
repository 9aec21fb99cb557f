"""Benchmark: a simulated site adapts the shipped model; base vs adapted on held-out patients.

Synthetic staging-CT studies are analysed by the shipped model into a fresh store, reviewed by
a scripted reader who is wrong on purpose 10 % of the time, exported as site data and used to
adapt the model (``mscc-desktop adapt``); the held-out patients' figures of both models are
printed side by side. ``--shuffle`` shuffles the exported labels first: a harmful adaptation
that the guard rails must refuse.

Usage: ``python scripts/site_simulation.py [--studies 24] [--seed 7] [--shuffle] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    from mscc_desktop.cli import main as cli
    from mscc_desktop.training.site_simulation import shuffle_labels, simulate_site

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--error-rate", type=float, default=0.1)
    parser.add_argument("--shuffle", action="store_true", help="adapt on shuffled labels")
    parser.add_argument("--keep", metavar="DIR", help="work here and keep it")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="site-sim-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    site = simulate_site(work, n_studies=args.studies, seed=args.seed, error_rate=args.error_rate)
    print(
        f"{site.n_studies} studies analysed and reviewed in {time.perf_counter() - started:.0f} s; "
        f"reader verdicts {site.verdicts}, {site.reader_errors} deliberately wrong"
    )
    if args.shuffle:
        shuffle_labels(site.dataset, args.seed)
        print("labels shuffled (a harmful adaptation)")
    started = time.perf_counter()
    code = cli(
        ["adapt", "--data", str(site.dataset), "--out", str(work / "adapted"), "--id",
         "site-sim", "--seed", str(args.seed), "-q"]
    )  # fmt: skip
    print(f"adapt finished in {time.perf_counter() - started:.0f} s with exit code {code}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
