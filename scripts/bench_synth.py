"""Benchmark the synthetic-study generator: a 120-slice 512² study, target <= 10 s.

    python scripts/bench_synth.py [--repeats 3] [--workers 1 2] [--out /tmp/bench_synth]

For each worker count it generates the demo study (120 slices, 3 mm, 512², the same
parameters every run) and writes it as DICOM + VOC + labels.csv + study.json, and reports
the median wall time of generation, of writing and of both, and for the serial run the CPU
time of each (what the wall time would be on an idle machine). The machine is shared and
noisy, so a fixed numpy workload (FFT of 512² float32 slices) is timed in the same run as a
baseline and the load average is printed: compare ratios, not only seconds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.fft

from mscc_desktop.synth import demo_study, generate_study, write_study


def baseline_seconds() -> float:
    """Time of 120 forward+inverse 512² FFTs: a yardstick for this machine right now."""
    data = np.random.default_rng(0).standard_normal((512, 512)).astype(np.float32)
    start = time.perf_counter()
    for _ in range(120):
        scipy.fft.irfft2(scipy.fft.rfft2(data), s=data.shape)
    return time.perf_counter() - start


def run_once(workers: int, out: Path) -> tuple[float, float, float, float]:
    """(generate wall, write wall, generate CPU, write CPU) in seconds.

    CPU is this process's own time: the whole generation when ``workers == 1`` (the
    forkserver's workers are not our children, so their time is not visible here).
    """
    params = demo_study()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    study = generate_study(params, workers=workers)
    t1 = time.perf_counter()
    cpu1 = time.process_time()
    target = out / f"w{workers}"
    if target.exists():
        shutil.rmtree(target)
    write_study(study, target)
    t2 = time.perf_counter()
    cpu2 = time.process_time()
    assert study.hu.shape == (120, 512, 512)
    return t1 - t0, t2 - t1, cpu1 - cpu0, cpu2 - cpu1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", default=None, help="scratch folder (default: a temp folder)")
    args = parser.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench_synth_"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
    base = [baseline_seconds() for _ in range(args.repeats)]
    print(f"baseline (120 FFT round trips 512²): median {statistics.median(base):.2f} s")
    for workers in args.workers:
        runs = [run_once(workers, out) for _ in range(args.repeats)]
        gen = statistics.median(r[0] for r in runs)
        write = statistics.median(r[1] for r in runs)
        total = statistics.median(r[0] + r[1] for r in runs)
        gen_cpu = statistics.median(r[2] for r in runs)
        write_cpu = statistics.median(r[3] for r in runs)
        ratio = total / statistics.median(base)
        verdict = "meets" if total <= 10.0 else "MISSES"
        cpu_text = (
            f"; CPU: generate {gen_cpu:.2f} s + write {write_cpu:.2f} s"
            if workers == 1
            else f"; CPU of the main process: write {write_cpu:.2f} s"
        )
        print(
            f"workers={workers}: wall: generate {gen:.2f} s ({1000 * gen / 120:.0f} ms/slice), "
            f"write {write:.2f} s, total {total:.2f} s = {ratio:.1f}x baseline -> {verdict} "
            f"the 10 s target{cpu_text}"
        )
    if not args.out:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
