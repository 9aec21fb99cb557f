"""A process that keeps saving analyses, reviews and key images to a store (for crash tests).

Run as ``python -m tests.storage.store_writer STORE --tag T [--count N] [--die-after-steps K]``
from the repository root. After each fully committed iteration it prints
``committed <analysis id>`` and flushes, so a parent can check that nothing acknowledged is
ever lost. ``--die-after-steps K`` makes the process SIGKILL itself from inside SQLite's
progress handler after K handler calls: a kill in the middle of a statement or transaction,
reproducible from its number, with no timing involved.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import sys
from pathlib import Path

from sqlite_utils import Database

from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.review import ReviewDecision
from mscc_desktop.storage import (
    begin_analysis,
    prepare_store,
    save_analysis,
    save_review,
    set_key_image,
    upsert_series,
)
from mscc_desktop.storage.connection import open_store
from tests.storage import builders

PROGRESS_EVERY_N_OPS = 50
N_SLICES = 120


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("store", type=Path)
    parser.add_argument("--tag", default="w")
    parser.add_argument("--count", type=int, default=0, help="iterations; 0 = until killed")
    parser.add_argument("--die-after-steps", type=int, default=0)
    parser.add_argument("--count-steps", action="store_true", help="print handler calls per save")
    parser.add_argument(
        "--wait-for-go", action="store_true", help="print 'ready', start on a line from stdin"
    )
    args = parser.parse_args(argv)

    steps = [0]
    if args.die_after_steps or args.count_steps:
        # Build the connection by hand so that the handler also covers creation and migration.
        conn = sqlite3.connect(args.store, timeout=15.0)

        def tick() -> int:
            steps[0] += 1
            if args.die_after_steps and steps[0] >= args.die_after_steps:
                os.kill(os.getpid(), signal.SIGKILL)
            return 0

        conn.set_progress_handler(tick, PROGRESS_EVERY_N_OPS)
        db = prepare_store(Database(conn))
    else:
        db = open_store(args.store)

    info = builders.series_info(
        patient_name=f"WRITER^{args.tag.upper()}",
        patient_id=f"PID-{args.tag}",
        study_uid=f"1.2.826.0.1.3680043.8.498.77.{os.getpid()}",
        series_uid=f"1.2.826.0.1.3680043.8.498.77.{os.getpid()}.1",
    )
    series = upsert_series(
        db, info, source_path=args.store.parent / f"src-{args.tag}", fingerprint="fp1:w", n_files=1
    )
    if args.wait_for_go:  # a start barrier, so that two writers really overlap
        print("ready", flush=True)
        sys.stdin.readline()
    iteration = 0
    while args.count == 0 or iteration < args.count:
        before = steps[0]
        started = begin_analysis(
            db, series, provenance=builders.PROVENANCE, thresholds=builders.THRESHOLDS
        )
        result = builders.result(info, n_slices=N_SLICES, seed=iteration)
        analysis_id = save_analysis(db, series, result, analysis_id=started, user=args.tag)
        save_review(
            db,
            analysis_id,
            1,
            decision=ReviewDecision.REGRADE,
            regraded_group=GradeGroup.LOW,
            vertebral_level="T7-8",
            comment=f"iteration {iteration}",
            user=args.tag,
        )
        set_key_image(db, series.id, iteration % N_SLICES, marked=iteration % 2 == 0, user=args.tag)
        if args.count_steps:
            print(f"steps {steps[0] - before}", flush=True)
        print(f"committed {analysis_id}", flush=True)
        iteration += 1
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
