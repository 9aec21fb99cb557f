"""Store timings on a real file: open, save, load, list. Not a test (no assertions on time).

Run: ``python -m tests.storage.bench_store [--studies 500] [--slices 120]`` from the repository
root. Prints the median of several runs for each operation.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mscc_desktop.core.review import ReviewDecision
from mscc_desktop.storage import (
    list_studies,
    load_analysis,
    load_latest_analysis,
    open_store,
    save_analysis,
    save_review,
    upsert_series,
)
from tests.storage import builders


def _median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--studies", type=int, default=500)
    parser.add_argument("--slices", type=int, default=120)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.sqlite"
        open_ms = _median_ms(lambda: open_store(path).close(), 1)  # creation + migration
        db = open_store(path)
        series_ids = []
        for n in range(args.studies):
            info = builders.series_info(
                patient_id=f"P{n}", study_uid=f"1.2.{n}", series_uid=f"1.2.{n}.1"
            )
            series = upsert_series(
                db, info, source_path=Path(folder) / str(n), fingerprint="fp1:x", n_files=1
            )
            save_analysis(db, series, builders.result(info, n_slices=args.slices, seed=n))
            series_ids.append((series, info))
        series, info = series_ids[-1]
        analysis = builders.result(info, n_slices=args.slices, seed=1)
        save_ms = _median_ms(lambda: save_analysis(db, series, analysis), 15)
        latest = load_latest_analysis(
            db,
            series.id,
            model_id=builders.PROVENANCE.model_id,
            model_sha256=builders.PROVENANCE.model_sha256,
        )
        assert latest is not None
        load_ms = _median_ms(lambda: load_analysis(db, latest.id), 15)
        review_ms = _median_ms(
            lambda: save_review(
                db, latest.id, 1, decision=ReviewDecision.ACCEPT, comment=str(time.time())
            ),
            15,
        )
        list_ms = _median_ms(lambda: list_studies(db), 5)
        reopen_ms = _median_ms(lambda: open_store(path).close(), 5)
        db.close()
        size_mb = path.stat().st_size / 1e6
    print(f"store with {args.studies} studies x {args.slices} slices ({size_mb:.1f} MB):")
    print(f"  create + migrate      {open_ms:8.1f} ms")
    print(f"  reopen existing       {reopen_ms:8.1f} ms")
    print(f"  save_analysis         {save_ms:8.1f} ms  (one transaction, fsync FULL)")
    print(f"  load_analysis         {load_ms:8.1f} ms")
    print(f"  save_review           {review_ms:8.1f} ms")
    print(f"  list_studies          {list_ms:8.1f} ms")


if __name__ == "__main__":
    main()
