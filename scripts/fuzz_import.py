"""The long importer fuzz run: mutated DICOM files through scan, pick and load.

Each case is a seed series (synthetic series in every transfer syntax the writer produces,
Enhanced CT multi-frame files, and with ``MSCC_REAL_DATA`` set every file under its
``robustness/`` folder) with one to three structure-aware mutations (see
``tests/hardening/fuzz_mutations.py``). Every case must load a sane volume or report the
problem as a skipped file or an ``MsccError``, within 5 s and without memory growth; see
``tests/hardening/fuzz_runner.py`` for the exact checks. Cases run in spawned worker
processes; a hung case's worker is killed and replaced.

Failing cases are written to ``--out`` (files plus ``case.json``) for triage; small ones
become regression tests under ``tests/hardening/regressions/``.

Usage::

    MSCC_REAL_DATA=../shared/data python scripts/fuzz_import.py --cases 20000 --workers 2

Exit status 0 when no case failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hardening.fuzz_mutations import make_case  # noqa: E402
from tests.hardening.fuzz_runner import Outcome, Verdict, run_cases, save_failure  # noqa: E402
from tests.hardening.fuzz_seeds import (  # noqa: E402
    load_seeds,
    real_seeds,
    save_seeds,
    synthetic_seeds,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20_000, help="number of mutated cases")
    parser.add_argument("--first", type=int, default=0, help="first case id")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--seed", type=int, default=20240601, help="master seed")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per case")
    parser.add_argument("--out", type=Path, default=Path("fuzz-failures"))
    parser.add_argument("--no-real", action="store_true", help="synthetic seeds only")
    parser.add_argument(
        "--write-case", type=int, metavar="ID", help="only write case ID's files to --out"
    )
    args = parser.parse_args(argv)

    seeds = synthetic_seeds() + ([] if args.no_real else real_seeds())
    n_real = sum(not s.synthetic for s in seeds)
    print(f"{len(seeds)} seeds ({n_real} real files), {args.cases} cases, {args.workers} workers")
    if not args.no_real and not n_real:
        print("note: MSCC_REAL_DATA is not set: synthetic seeds only", file=sys.stderr)
    counts: collections.Counter[str] = collections.Counter()
    slowest: list[tuple[float, int]] = []
    started = time.perf_counter()

    def show(outcome: Outcome) -> None:
        counts[outcome.verdict.value] += 1
        slowest.append((outcome.seconds, outcome.case_id))
        done = sum(counts.values())
        if outcome.failed:
            print(f"FAIL case {outcome.case_id} [{outcome.verdict}] {outcome.seed_name}: "
                  f"{outcome.detail.strip().splitlines()[-1][:200]}", flush=True)  # fmt: skip
        if done % 1000 == 0:
            rate = done / (time.perf_counter() - started)
            print(f"{done} cases, {rate:.0f}/s: {dict(counts)}", flush=True)

    with tempfile.TemporaryDirectory(prefix="fuzz-seeds-") as tmp:
        save_seeds(seeds, Path(tmp))
        if args.write_case is not None:
            case = make_case(load_seeds(Path(tmp)), args.write_case, args.seed)
            outcome = Outcome(case.case_id, Verdict.REPORTED, "written on request", 0.0)
            print(save_failure(case, outcome, args.out), *case.mutations, sep="\n")
            return 0
        outcomes = run_cases(
            range(args.first, args.first + args.cases),
            seeds_dir=Path(tmp),
            master_seed=args.seed,
            workers=args.workers,
            timeout_s=args.timeout,
            on_outcome=show,
        )
        failures = [o for o in outcomes if o.failed]
        if failures:
            stored = load_seeds(Path(tmp))
            for outcome in failures:
                save_failure(make_case(stored, outcome.case_id, args.seed), outcome, args.out)
    elapsed = time.perf_counter() - started
    slowest.sort(reverse=True)
    print(f"\n{len(outcomes)} cases in {elapsed:.0f} s ({len(outcomes) / elapsed:.1f}/s)")
    for verdict in Verdict:
        print(f"  {verdict.value:<11}{counts[verdict.value]:>7}")
    print(f"slowest case: {slowest[0][0]:.2f} s (case {slowest[0][1]})" if slowest else "")
    print(f"failures: {len(failures)}" + (f" (written to {args.out})" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
