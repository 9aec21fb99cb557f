"""Small synthetic volumes for the pipeline tests: a body with a vertebra around a canal.

Each slice is a soft-tissue ellipse in air with a bony ring around a CSF-filled canal (what
:func:`tests.factories.fake_backend.ring_canal` finds). ``fill`` paints enhancing
tissue (80 HU) into that share of the canal's rows from the front: 0 normal, ~0.35 low,
1 high for the fake's heuristic grader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.findings import Box
from mscc_desktop.core.volume import SeriesInfo, Volume

CANAL_CENTRE = (80, 64)  # (row, col) on a 128 x 128 slice
CANAL_RADIUS = 7
RING_RADIUS = 14

CT_INFO = SeriesInfo(
    modality="CT",
    series_instance_uid="1.2.826.0.1.3680043.8.498.1",
    study_instance_uid="1.2.826.0.1.3680043.8.498.2",
    series_description="CT CHEST ABDOMEN",
    contrast_agent="IOHEXOL",
    body_part="CHESTABDOMEN",
    image_type=("ORIGINAL", "PRIMARY", "AXIAL"),
)


def canal_box(shape: tuple[int, int] = (128, 128)) -> Box:
    """The true canal box (slice pixels) of :func:`phantom_slice`."""
    scale_r, scale_c = shape[0] / 128, shape[1] / 128
    r, c = CANAL_CENTRE[0] * scale_r, CANAL_CENTRE[1] * scale_c
    rr, rc = CANAL_RADIUS * scale_r, CANAL_RADIUS * scale_c
    return Box(c - rc, r - rr, c + rc, r + rr)


def phantom_slice(
    *, fill: float = 0.0, canal: bool = True, shape: tuple[int, int] = (128, 128)
) -> npt.NDArray[np.int16]:
    """One axial slice in HU (``(row, col)``)."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    rows *= 128 / shape[0]
    cols *= 128 / shape[1]
    hu = np.full(shape, -1000.0)
    body = ((rows - 64) / 58) ** 2 + ((cols - 64) / 60) ** 2 <= 1.0
    hu[body] = 40.0
    if canal:
        dist = np.hypot(rows - CANAL_CENTRE[0], cols - CANAL_CENTRE[1])
        hu[dist <= RING_RADIUS] = 800.0  # cortical bone ring (vertebral arch and body)
        inside = dist < CANAL_RADIUS
        hu[inside] = 5.0  # CSF
        top = CANAL_CENTRE[0] - CANAL_RADIUS
        tissue = inside & (rows < top + fill * 2 * CANAL_RADIUS)
        hu[tissue] = 80.0  # enhancing epidural tumour, entering from the front
    return np.asarray(np.rint(hu), dtype=np.int16)


def make_volume(
    hu: npt.NDArray[np.int16] | npt.NDArray[np.float32],
    *,
    spacing_mm: float = 4.0,
    thickness_mm: float | None = 4.0,
    info: SeriesInfo = CT_INFO,
    z_mm: Sequence[float] | None = None,
    normal: tuple[float, float, float] = (0.0, 0.0, 1.0),
    **changes: object,
) -> Volume:
    """A :class:`Volume` around ``hu`` (head first, z decreasing by ``spacing_mm``)."""
    n = hu.shape[0]
    z = np.asarray(z_mm if z_mm is not None else [-spacing_mm * i for i in range(n)], float)
    positions = np.column_stack([np.zeros(n), np.zeros(n), z])
    volume = Volume(
        hu=hu,
        z_mm=z,
        positions_mm=positions,
        pixel_spacing_mm=(0.8, 0.8),
        slice_spacing_mm=spacing_mm if n > 1 else 0.0,
        slice_thickness_mm=thickness_mm,
        col_axis=(1.0, 0.0, 0.0),
        row_axis=(0.0, 1.0, 0.0),
        normal=normal,
        sop_instance_uids=tuple(f"1.2.3.{i + 1}" for i in range(n)),
        source_files=tuple(Path(f"IM{i + 1:05d}.dcm") for i in range(n)),
        frame_indices=(0,) * n,
        info=info,
    )
    return replace(volume, **changes) if changes else volume  # type: ignore[arg-type]


def phantom_volume(
    fills: Sequence[float | None], *, shape: tuple[int, int] = (128, 128), **kwargs: object
) -> Volume:
    """One slice per entry: its canal fill, or ``None`` for a slice without a canal."""
    slices = [phantom_slice(fill=f or 0.0, canal=f is not None, shape=shape) for f in fills]
    return make_volume(np.stack(slices), **kwargs)  # type: ignore[arg-type]


def long_volume(n: int, **kwargs: object) -> Volume:
    """``n`` normal slices covering ``n`` × 4 mm (for coverage-independent tests)."""
    return phantom_volume([0.0] * n, **kwargs)
