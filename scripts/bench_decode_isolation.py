"""Benchmark: what isolating the native decoders in worker processes costs (issue 25).

Compressed pixel data is decoded in worker processes, so that a decoder crashing on a damaged
file ends a worker, not the app. This compares, in the same run, for JPEG 2000 lossless
series of a few lengths (512×512, the product's writer):

* ``in-process``: ``load_series(workers=1)``, the decoders in the app's own process (what a
  short series did before the change);
* ``isolated``: ``load_series()`` as the app calls it (worker processes, one per CPU).

Every configuration runs in a fresh Python process: its first load includes starting the
workers ("cold"), the next loads reuse them ("warm", the median is shown). Ratios are what to
compare; the machine is shared.

Usage: ``python scripts/bench_decode_isolation.py [--slices 8 100] [--repeats 4]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def generate(folder: Path, n_slices: int) -> None:
    import numpy as np

    from mscc_desktop.core.dicom import CtSeriesSpec, FileNaming, TransferSyntax, write_ct_series
    from mscc_desktop.core.volume import SeriesInfo

    rng = np.random.default_rng(0)
    hu = (rng.normal(40, 20, size=(n_slices, 512, 512))).astype(np.int16)
    hu[:, :, :40] = -1000
    spec = CtSeriesSpec(
        pixel_spacing_mm=(0.7, 0.7),
        z_positions_mm=tuple(-2.5 * k for k in range(n_slices)),
        slice_thickness_mm=2.5,
        info=SeriesInfo(patient_id="BENCH", series_number=1, modality="CT"),
        transfer_syntax=TransferSyntax.JPEG2000_LOSSLESS,
        naming=FileNaming.SEQUENTIAL,
    )
    write_ct_series(hu, spec, folder)


def measure(folder: Path, mode: str, repeats: int) -> dict[str, float]:
    from mscc_desktop.core.dicom.load import load_series
    from mscc_desktop.core.dicom.scan import scan_folder

    (entry,) = scan_folder(folder).series
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        load_series(entry, workers=1 if mode == "in-process" else None)
        times.append(time.perf_counter() - start)
    return {"cold_s": times[0], "warm_s": statistics.median(times[1:])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, nargs="+", default=[8, 100])
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.folder, args.measure, args.repeats)))
        return 0
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    print(f"{'slices':>6}  {'mode':10}  {'cold s':>7}  {'warm s':>7}  {'warm vs in-process':>18}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.slices:
            folder = Path(tmp) / f"j2k_{n}"
            generate(folder, n)
            results = {}
            for mode in ("in-process", "isolated"):
                output = subprocess.run(
                    [sys.executable, __file__, "--measure", mode, "--folder", str(folder),
                     "--repeats", str(args.repeats)],
                    check=True, capture_output=True, text=True,
                ).stdout  # fmt: skip
                results[mode] = json.loads(output.strip().splitlines()[-1])
            base = results["in-process"]["warm_s"]
            for mode, r in results.items():
                print(
                    f"{n:>6}  {mode:10}  {r['cold_s']:7.2f}  {r['warm_s']:7.2f}  "
                    f"{r['warm_s'] / base:17.2f}x"
                )
    print(f"load average {os.getloadavg()[0]:.1f} at end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
