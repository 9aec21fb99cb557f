"""The pipeline's CPU-side pre-processing, and how it overlaps with a GPU-like backend.

    python scripts/bench_preprocess.py [--slices 120] [--study DIR] [--switch-intervals S ...]

1. Milliseconds per slice (batch of 8, 512² slices, median of 5) for windowing in the three
   paper windows, the detector input at 512 (the paper config: no resampling) and 320 (the
   compact config), and the grader crops at 224 and 160.
2. A 120-slice analysis with a simulated GPU backend whose calls hold the GIL in Python for
   about as long as the torch backend's dispatch does on an H100 (4 ms per slice to detect,
   15 ms per grader call), with 1, 2 and 4 preparing threads (and, with
   ``--switch-intervals 0.005 0.0005``, at several GIL switch intervals): the seconds the
   analysis spends outside the backend ("rest") are the pre-processing it failed to hide.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from mscc_desktop.core.findings import Box
from mscc_desktop.core.volume import Volume
from mscc_desktop.core.windows import PAPER_WINDOWS, window_stack
from mscc_desktop.inference.model_settings import ModelSettings
from mscc_desktop.inference.pipeline import analyse_volume
from mscc_desktop.inference.preprocess import detector_input, grader_input


def _ms_per_slice(run: Callable[[], Any], n_slices: int, repeats: int = 5) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0 / n_slices


def stage_costs() -> None:
    rng = np.random.default_rng(0)
    hu = rng.integers(-1000, 1500, (8, 512, 512)).astype(np.int16)
    windows = tuple(PAPER_WINDOWS.values())
    windowed = np.ascontiguousarray(window_stack(hu, windows).swapaxes(0, 1))
    boxes = [Box(240, 300, 262, 322)] * 8
    print("pre-processing, ms per slice (batch of 8, 512² slices, one thread)")
    print(f"  three windows             {_ms_per_slice(lambda: window_stack(hu, windows), 8):6.2f}")
    for size in (512, 320):
        cost = _ms_per_slice(lambda size=size: detector_input(windowed, size=size), 8)
        print(f"  detector input {size}        {cost:6.2f}")
    for size in (224, 160):
        cost = _ms_per_slice(
            lambda size=size: grader_input(
                windowed, boxes, size=size, margin=0.25, mean=(0.5,) * 3, std=(0.2,) * 3
            ),
            8,
        )
        print(f"  grader crops {size}          {cost:6.2f}")


class PythonBoundBackend:
    """Holds the GIL in Python for ``detect_s_per_slice`` per slice and ``grade_s`` per call,
    like the torch backend's dispatch of an exported graph on a fast GPU."""

    name = "simulated-cuda"
    runtime = "simulation"
    device = "GIL-bound"
    fallback_warning = None

    def __init__(self, size: int, detect_s_per_slice: float = 0.004, grade_s: float = 0.015):
        self.size = size
        self.detect_s_per_slice, self.grade_s = detect_s_per_slice, grade_s
        self.inside_s = 0.0

    def _hold_gil(self, seconds: float) -> None:
        start = time.perf_counter()
        end = start + seconds
        count = 0
        while time.perf_counter() < end:
            count += 1
        self.inside_s += time.perf_counter() - start

    def detect(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, s = images.shape[0], self.size
        self._hold_gil(self.detect_s_per_slice * n)
        box = np.array([[0.45 * s, 0.55 * s, 0.5 * s, 0.6 * s]], np.float32)
        return np.tile(box, (n, 1)), np.ones(n, np.float32)

    def grade(self, crops: np.ndarray) -> np.ndarray:
        self._hold_gil(self.grade_s)
        return np.full((crops.shape[0], 3, 3), 1.0 / 3.0, np.float32)


def overlap(n_slices: int, study: Path | None, switch_intervals: list[float]) -> None:
    import tempfile

    from scripts.bench_pipeline import _load_volume, write_study

    with tempfile.TemporaryDirectory() as scratch:
        if study is None:  # the pipeline benchmark's generated study
            study = write_study(Path(scratch) / "study", n_slices=n_slices, size=512)
        volume: Volume = _load_volume(study)[0]
    settings = ModelSettings(
        model_id="bench",
        model_version="1",
        model_sha256="0" * 64,
        detector_size=512,
        grader_size=224,
        crop_margin=0.25,
        grader_mean=(0.5,) * 3,
        grader_std=(0.2,) * 3,
    )
    print(f"\n{n_slices}-slice analysis, simulated GIL-bound GPU backend, batch 16")
    print("  GIL switch interval   threads   total s   backend s   rest s")
    # The first analysis of a process is slower (caches, thread start): not a measurement.
    analyse_volume(volume, PythonBoundBackend(512), settings, batch_size=16)
    default = sys.getswitchinterval()
    try:
        for interval in switch_intervals:
            sys.setswitchinterval(interval)
            for threads in (1, 2, 4):
                totals, rests = [], []
                for _ in range(3):
                    backend = PythonBoundBackend(512)
                    start = time.perf_counter()
                    analyse_volume(volume, backend, settings, batch_size=16, prep_threads=threads)
                    totals.append(time.perf_counter() - start)
                    rests.append(totals[-1] - backend.inside_s)
                total, rest = statistics.median(totals), statistics.median(rests)
                print(
                    f"  {interval * 1000:13.1f} ms   {threads:7d}   {total:7.2f}"
                    f"   {total - rest:9.2f}   {rest:6.2f}"
                )
    finally:
        sys.setswitchinterval(default)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=120)
    parser.add_argument("--study", type=Path, help="a study folder (default: generate one)")
    parser.add_argument(
        "--switch-intervals",
        type=float,
        nargs="+",
        default=[sys.getswitchinterval()],
        metavar="S",
        help="Python GIL switch intervals to compare (default: this Python's, 0.005)",
    )
    args = parser.parse_args()
    stage_costs()
    overlap(args.slices, args.study, args.switch_intervals)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
