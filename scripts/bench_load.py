"""Benchmark: our DICOM loader against a naive single-threaded pydicom loop.

Generates a 300-slice 512×512 CT series (uncompressed and JPEG 2000 lossless) with the
product's writer, then loads each with

* ``ours``  — ``open_folder`` (scan headers, pick, load: parallel decode into one array);
* ``naive`` — ``dcmread`` every file, sort by position, ``np.stack`` the pixel arrays and
  apply the rescale (one thread).

Every measurement runs in a fresh Python process (so memory peaks do not mix and the
worker-pool start-up is counted); runs alternate between the loaders. Reports slices/s
(median of the repeats, first load in the process, i.e. cold pool) and peak memory: the
process's peak RSS growth during the load, and ``tracemalloc``'s peak (numpy and pydicom
allocations), both relative to the volume's size (300×512×512 int16 = 150 MiB).

The "CPU s / wall s" column shows the parallelism achieved. On a shared machine Linux's
scheduler autogroups split CPU time per session, so when other sessions keep the cores busy a
session's extra processes gain nothing: compare the ratios only when the load average at the
start is well below the core count.

Usage: ``python scripts/bench_load.py [--slices 300] [--repeats 3] [--data DIR]``
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
import tracemalloc
from pathlib import Path

import numpy as np

MIB = 1024 * 1024


def _status_bytes(field: str) -> int:
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status, in bytes."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the peak covers only the load."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def generate(folder: Path, n_slices: int, syntax: str) -> None:
    from mscc_desktop.core.dicom import CtSeriesSpec, FileNaming, TransferSyntax, write_ct_series
    from mscc_desktop.core.volume import SeriesInfo

    rng = np.random.default_rng(0)
    rr, cc = np.mgrid[0:512, 0:512]
    body = ((rr - 256) / 200.0) ** 2 + ((cc - 256) / 230.0) ** 2 <= 1
    spine = ((rr - 360) / 30.0) ** 2 + ((cc - 256) / 30.0) ** 2 <= 1
    hu = np.empty((n_slices, 512, 512), dtype=np.int16)
    for k in range(n_slices):
        image = np.where(body, 40, -1000).astype(np.int16)
        image[spine] = 700
        image += rng.integers(-15, 16, size=image.shape, dtype=np.int16)  # realistic noise
        hu[k] = image
    spec = CtSeriesSpec(
        pixel_spacing_mm=(0.8, 0.8),
        z_positions_mm=tuple(-1.0 * k for k in range(n_slices)),
        slice_thickness_mm=1.0,
        info=SeriesInfo(patient_name="Bench^Mark", patient_id="B1", series_number=1),
        transfer_syntax=TransferSyntax(syntax),
        naming=FileNaming.RANDOM,
        seed="bench",
    )
    write_ct_series(hu, spec, folder)


def naive_load(folder: Path) -> np.ndarray:
    """What a quick script does: read everything, sort by z, stack, rescale."""
    from pydicom import dcmread

    datasets = [dcmread(path) for path in sorted(folder.iterdir())]
    datasets.sort(key=lambda ds: -float(ds.ImagePositionPatient[2]))
    volume = np.stack([ds.pixel_array for ds in datasets]).astype(np.int16)
    slope = int(float(datasets[0].RescaleSlope))
    intercept = int(float(datasets[0].RescaleIntercept))
    volume *= slope
    volume += intercept
    return volume


def ours_load(folder: Path) -> np.ndarray:
    from mscc_desktop.core.dicom import open_folder

    return open_folder(folder).volume.hu


def _cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time of a process (from /proc), including its decoder workers."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _worker_cpu_seconds() -> float:
    from mscc_desktop.core.dicom import parallel

    pool = parallel._pool  # benchmark-only peek at the shared pool's worker processes
    if pool is None:
        return 0.0
    return sum(_cpu_seconds(pid) for pid in list(pool._processes or {}))


def measure(loader: str, folder: Path, trace: bool) -> dict[str, float]:
    """One cold load in this (fresh) process: seconds, slices and memory growth.

    ``trace`` turns tracemalloc on: it slows allocation-heavy code (and threads contend on
    its lock), so timed runs leave it off and a separate run measures traced memory.
    """
    import pydicom  # noqa: F401 - imports outside the timing

    import mscc_desktop.core.dicom  # noqa: F401

    function = ours_load if loader == "ours" else naive_load
    _reset_peak()
    baseline = _status_bytes("VmRSS")
    if trace:
        tracemalloc.start()
    cpu_before = _cpu_seconds()
    start = time.perf_counter()
    volume = function(folder)
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu_before + _worker_cpu_seconds()
    traced_peak = tracemalloc.get_traced_memory()[1] if trace else 0
    tracemalloc.stop()
    return {
        "seconds": seconds,
        "slices": int(volume.shape[0]),
        "volume_bytes": int(volume.nbytes),
        "rss_growth": _status_bytes("VmHWM") - baseline,
        "traced_peak": traced_peak,
        "cpu_seconds": cpu,
        "checksum": float(np.asarray(volume, dtype=np.int64).sum()),
    }


def _child(loader: str, folder: Path, trace: bool = False) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--measure", loader, "--folder", str(folder)]
        + (["--trace"] if trace else []),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _scan_seconds(folder: Path, workers: int) -> float:
    from mscc_desktop.core.dicom import scan_folder

    times = []
    for _ in range(3):
        start = time.perf_counter()
        scan_folder(folder, workers=workers)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


Row = tuple[str, dict[str, list[dict[str, float]]], dict[str, float], float, float]


def _run_series(label: str, folder: Path, repeats: int) -> Row:
    """Alternate naive/ours fresh-process loads; then one traced run each; scan timings."""
    results: dict[str, list[dict[str, float]]] = {"ours": [], "naive": []}
    traced: dict[str, float] = {}
    for _ in range(repeats):
        for loader in ("naive", "ours"):
            results[loader].append(_child(loader, folder))
    for loader in ("naive", "ours"):
        traced[loader] = _child(loader, folder, trace=True)["traced_peak"]
    checks = {r["checksum"] for rs in results.values() for r in rs}
    assert len(checks) == 1, "the two loaders disagree on the voxels"
    return (label, results, traced, _scan_seconds(folder, 1), _scan_seconds(folder, 4))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, help="keep/reuse the generated series in this folder")
    parser.add_argument("--measure", choices=("ours", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(args.folder, args.slices, args.generate)
        return 0
    if args.measure:
        print(json.dumps(measure(args.measure, args.folder, args.trace)))
        return 0
    syntaxes = {"uncompressed": "1.2.840.10008.1.2.1", "JPEG 2000": "1.2.840.10008.1.2.4.90"}
    print(
        f"machine: {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}, "
        f"load average at start {os.getloadavg()[0]:.1f}"
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="mscc-bench-") as tmp:
        for label, syntax in syntaxes.items():
            base = args.data if args.data is not None else Path(tmp)
            folder = base / f"{label.replace(' ', '_')}_{args.slices}"
            if folder.is_dir() and len(list(folder.iterdir())) == args.slices:
                print(f"reusing {folder}")
                rows.append(_run_series(label, folder, args.repeats))
                continue
            start = time.perf_counter()
            # In a child process, so this process stays small (its RSS would be inherited).
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--generate",
                    syntax,
                    "--folder",
                    str(folder),
                    "--slices",
                    str(args.slices),
                ],
                check=True,
            )
            print(
                f"generated {args.slices} slices ({label}) in {time.perf_counter() - start:.1f} s"
            )
            rows.append(_run_series(label, folder, args.repeats))
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    print()
    print(
        "| series | loader | slices/s (median) | vs naive | CPU s / wall s "
        "| peak RSS growth | tracemalloc peak |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, results, traced_peaks, _, _ in rows:
        speed = {
            k: statistics.median(r["slices"] / r["seconds"] for r in v) for k, v in results.items()
        }
        for loader in ("naive", "ours"):
            runs = results[loader]
            volume = runs[0]["volume_bytes"]
            rss = max(r["rss_growth"] for r in runs) / volume
            traced_ratio = traced_peaks[loader] / volume
            cpu = statistics.median(r["cpu_seconds"] for r in runs)
            wall = statistics.median(r["seconds"] for r in runs)
            print(
                f"| {label} | {loader} | {speed[loader]:.0f} "
                f"| {speed[loader] / speed['naive']:.2f}× | {cpu:.1f} / {wall:.1f} "
                f"| {rss:.2f}× volume | {traced_ratio:.2f}× volume |"
            )
    print()
    print(
        f"volume: {args.slices}×512×512 int16 = {args.slices * 512 * 512 * 2 / MIB:.0f} MiB;"
        " 'ours' includes the header scan and the worker start-up (cold process)."
    )
    for label, _, _, scan_1, scan_4 in rows:
        print(
            f"{label}: header scan {scan_1 * 1000:.0f} ms with 1 thread, {scan_4 * 1000:.0f} ms"
            " with 4 threads"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
