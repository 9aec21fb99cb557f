"""Run the load, pipeline, report and GUI benchmarks on two checkouts, alternating, in one run.

A structural change must not slow anything down; on a shared machine only a same-run
comparison means anything. Each benchmark runs in the ``--before`` checkout (e.g. a
``git worktree`` of the previous commit) and in this one, alternately (before, after, before,
after, ...), each in its own process with its own tree first on ``PYTHONPATH``. The full
outputs are kept in ``--out``; the lines that carry the figures are printed side by side.

Usage: ``python scripts/compare_commits.py --before /tmp/wt-before [--rounds 2] [--out DIR]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

# Small settings: the point is the ratio of the two trees, not the absolute figure.
BENCHMARKS: dict[str, list[str]] = {
    "load": ["scripts/bench_load.py", "--slices", "120", "--repeats", "2"],
    "pipeline": ["scripts/bench_pipeline.py", "--slices", "40", "--backends", "onnx-cpu",
                 "--no-baseline"],
    "report": ["scripts/bench_report.py", "--slices", "120", "--runs", "3"],
    "gui": ["scripts/bench_gui.py", "--steps", "100", "--slices", "60", "--launches", "2"],
}  # fmt: skip


def run(tree: Path, command: list[str], log: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree), QT_QPA_PLATFORM="offscreen")
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, *command], cwd=tree, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    log.write_text(result.stdout + "\n--- stderr ---\n" + result.stderr)
    if result.returncode:
        print(f"  {log.name}: exit {result.returncode} (see {log})")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, type=Path, help="the earlier checkout")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS))
    parser.add_argument("--out", type=Path, default=Path("compare-commits"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    trees = {"before": args.before.resolve(), "after": HERE}
    for name in args.only or list(BENCHMARKS):
        print(f"== {name}: {' '.join(BENCHMARKS[name])}")
        for k in range(args.rounds):
            for label, tree in trees.items():
                log = args.out / f"{name}-{label}-{k}.txt"
                wall = run(tree, BENCHMARKS[name], log)
                figures = [
                    line.strip()
                    for line in log.read_text().split("--- stderr ---")[0].splitlines()
                    if any(ch.isdigit() for ch in line) and line.strip()
                ]
                print(f"  round {k} {label:6s} ({wall:5.1f} s)")
                for line in figures[-8:]:
                    print(f"      {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
