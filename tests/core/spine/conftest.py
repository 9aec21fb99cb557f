"""Small hand-built volumes whose reformats can be computed by hand."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from mscc_desktop.core.volume import SeriesInfo, Volume

MakeVolume = Callable[..., Volume]


def build_volume(
    hu: npt.NDArray[np.generic],
    z_mm: list[float] | npt.NDArray[np.float64],
    *,
    spacing_mm: tuple[float, float] = (1.0, 1.0),
    shifts_mm: list[tuple[float, float]] | None = None,
    tilt_deg: float = 0.0,
) -> Volume:
    """Axial volume (rows posterior, columns left) with slices at ``z_mm``.

    ``shifts_mm[k]`` moves slice k's first voxel by (x, y) mm, as a tilted gantry does.
    """
    z = np.asarray(z_mm, dtype=np.float64)
    n = z.shape[0]
    shifts = np.zeros((n, 2)) if shifts_mm is None else np.asarray(shifts_mm, dtype=np.float64)
    positions = np.column_stack([shifts[:, 0] - 100.0, shifts[:, 1] - 80.0, z])
    return Volume(
        hu=hu,  # type: ignore[arg-type]
        z_mm=z,
        positions_mm=positions,
        pixel_spacing_mm=spacing_mm,
        slice_spacing_mm=float(np.median(-np.diff(z))) if n > 1 else 0.0,
        slice_thickness_mm=None,
        col_axis=(1.0, 0.0, 0.0),
        row_axis=(0.0, 1.0, 0.0),
        normal=(0.0, 0.0, 1.0),
        sop_instance_uids=tuple(f"1.2.3.{k}" for k in range(n)),
        source_files=tuple(Path(f"s{k}.dcm") for k in range(n)),
        frame_indices=(0,) * n,
        info=SeriesInfo(),
        gantry_tilt_deg=tilt_deg,
    )


@pytest.fixture
def make_volume() -> MakeVolume:
    return build_volume
