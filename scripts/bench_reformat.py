"""How long a sagittal or coronal reformat of a 512 × 512 × 400 int16 volume takes.

    python scripts/bench_reformat.py [--slices 400] [--repeats 15]

Target (issue 23): at most 100 ms per reformat. Times the four views the GUI offers
(straight and curved, sagittal and coronal) with square pixels (0.8 mm rows over a 2.5 mm
stack with some uneven spacing, so about 1,250 rows), median over ``--repeats`` runs after
one warm-up, and for context a same-run baseline of the obvious approach:
``scipy.ndimage.map_coordinates`` sampling the plane's points from the whole volume.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from scipy import ndimage

from mscc_desktop.core.spine.centreline import centreline_from_centres
from mscc_desktop.core.spine.grid import z_grid
from mscc_desktop.core.spine.reformat import Plane, curved_reformat, straight_reformat
from mscc_desktop.core.volume import SeriesInfo, Volume


def _volume(n: int) -> Volume:
    rng = np.random.default_rng(0)
    hu = rng.integers(-1000, 1500, size=(n, 512, 512), dtype=np.int16)
    steps = np.full(n - 1, 2.5)
    steps[::7] = 2.4  # uneven, as real stacks can be
    z = np.concatenate([[0.0], -np.cumsum(steps)])
    positions = np.column_stack([np.full(n, -200.0), np.full(n, -200.0), z])
    return Volume(
        hu=hu,
        z_mm=z,
        positions_mm=positions,
        pixel_spacing_mm=(0.8, 0.8),
        slice_spacing_mm=2.5,
        slice_thickness_mm=2.5,
        col_axis=(1.0, 0.0, 0.0),
        row_axis=(0.0, 1.0, 0.0),
        normal=(0.0, 0.0, 1.0),
        sop_instance_uids=tuple(str(k) for k in range(n)),
        source_files=tuple(Path(f"{k}.dcm") for k in range(n)),
        frame_indices=(0,) * n,
        info=SeriesInfo(),
    )


def _median_ms(run: Callable[[], object], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def _naive_sagittal(volume: Volume, column: float) -> np.ndarray:
    grid = z_grid(volume.z_mm, step_mm=0.8)
    rows = np.arange(volume.shape[1], dtype=np.float64)
    k = np.nan_to_num(grid.slice_position)[:, None] * np.ones_like(rows)[None, :]
    r = np.broadcast_to(rows, k.shape)
    c = np.full(k.shape, column)
    result: np.ndarray = ndimage.map_coordinates(volume.hu, [k, r, c], order=1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    volume = _volume(args.slices)
    n = volume.n_slices
    k = np.arange(n)
    centres: list[tuple[float, float] | None] = [
        (300.0 + 20.0 * np.sin(i / 40.0), 256.0 + 30.0 * np.sin(i / 60.0)) for i in k
    ]
    line = centreline_from_centres(volume, centres)
    cases: dict[str, Callable[[], object]] = {
        "straight sagittal": lambda: straight_reformat(volume, Plane.SAGITTAL),
        "straight coronal": lambda: straight_reformat(volume, Plane.CORONAL),
        "curved sagittal": lambda: curved_reformat(volume, line, Plane.SAGITTAL),
        "curved coronal": lambda: curved_reformat(volume, line, Plane.CORONAL),
        "centreline (400 centres)": lambda: centreline_from_centres(volume, centres),
        "baseline: map_coordinates sagittal": lambda: _naive_sagittal(volume, 255.5),
    }
    shape = straight_reformat(volume, Plane.SAGITTAL).image_hu.shape
    print(f"volume {volume.shape} int16, reformat {shape[0]} x {shape[1]} float32")
    for name, run in cases.items():
        ms = _median_ms(run, args.repeats if "baseline" not in name else max(3, args.repeats // 5))
        print(f"{name:38s} {ms:8.1f} ms (median)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
