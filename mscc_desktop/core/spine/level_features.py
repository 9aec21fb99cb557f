"""What the level estimator measures on each axial slice, around the canal centre.

**Rib reach.** Ribs are the landmarks a reader counts from: T1 to T12 carry a rib pair, C7
and L1 do not. On each slice the bone (above :data:`BONE_HU`) joined to the vertebra is
found: pixels within :data:`SEED_RADIUS_MM` of the canal centre (pedicles, laminae, the back
of the body) and everything connected to them after a small closing that bridges the thin
joint spaces of the costovertebral and costotransverse joints. How far that bone reaches to
each side of the canal is the slice's *reach*. A transverse process ends within about 50 mm
of the canal (C7 about 35-45 mm, L3 up to about 55 mm); a rib joined to its vertebra runs on
far beyond. The clavicles and scapulae are not joined to the spine, so they do not count
however close they lie.

Working per slice keeps the measure independent of the spacing, and the small window
(:data:`LATERAL_MM` each side, :data:`ANTERIOR_MM` in front of the canal to
:data:`POSTERIOR_MM` behind it) keeps it cheap: about a millisecond a slice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from mscc_desktop.core.spine.centreline import Centreline
from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report
from mscc_desktop.core.volume import Volume

F64 = npt.NDArray[np.float64]

BONE_HU = 180.0
SEED_RADIUS_MM = 18.0
CLOSING_MM = 1.5
LATERAL_MM = 130.0
ANTERIOR_MM = 60.0
POSTERIOR_MM = 40.0


@dataclass(frozen=True, slots=True, eq=False)
class SliceFeatures:
    """Per-slice measurements, ``(slice,)`` arrays in slice order.

    ``reach_right_mm``/``reach_left_mm``: how far bone joined to the vertebra reaches to the
    patient's right (lower column numbers) and left of the canal centre.
    """

    reach_right_mm: F64
    reach_left_mm: F64


def slice_features(
    volume: Volume,
    centreline: Centreline,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> SliceFeatures:
    """Measure every slice of ``volume`` (``hu`` is ``(slice, row, col)``) around its canal."""
    n = volume.n_slices
    right = np.zeros(n)
    left = np.zeros(n)
    for k in range(n):
        check_cancel(cancel)
        right[k], left[k] = _reach(
            volume.hu[k],
            float(centreline.rows_px[k]),
            float(centreline.cols_px[k]),
            volume.pixel_spacing_mm,
        )
        if k % 16 == 0:
            report(progress, (k + 1) / n, f"ribs: slice {k + 1} of {n}")
    report(progress, 1.0, "ribs measured")
    return SliceFeatures(reach_right_mm=right, reach_left_mm=left)


def _reach(
    image: npt.NDArray[np.generic],
    row: float,
    col: float,
    spacing_mm: tuple[float, float],
) -> tuple[float, float]:
    row_mm, col_mm = spacing_mm
    n_rows, n_cols = image.shape
    r0 = max(0, round(row - ANTERIOR_MM / row_mm))
    r1 = min(n_rows, round(row + POSTERIOR_MM / row_mm) + 1)
    c0 = max(0, round(col - LATERAL_MM / col_mm))
    c1 = min(n_cols, round(col + LATERAL_MM / col_mm) + 1)
    if r1 <= r0 or c1 <= c0:
        return 0.0, 0.0
    bone = np.asarray(image[r0:r1, c0:c1]) > BONE_HU
    steps = max(1, round(CLOSING_MM / min(row_mm, col_mm)))
    # Pad so the closing does not erode bone that touches the window's edge.
    padded = np.pad(bone, steps)
    closed = ndimage.binary_closing(padded, iterations=steps)[steps:-steps, steps:-steps]
    labels, count = ndimage.label(closed)
    if count == 0:
        return 0.0, 0.0
    dy = (np.arange(r0, r1) - row)[:, None] * row_mm
    dx = (np.arange(c0, c1) - col)[None, :] * col_mm
    seed = (dy**2 + dx**2 < SEED_RADIUS_MM**2) & closed
    ids = np.unique(labels[seed])
    ids = ids[ids > 0]
    if ids.size == 0:
        return 0.0, 0.0
    joined = np.isin(labels, ids)
    columns = np.flatnonzero(joined.any(axis=0))
    offsets = dx[0, columns]
    right = float(-offsets.min()) if offsets.min() < 0 else 0.0
    left = float(offsets.max()) if offsets.max() > 0 else 0.0
    return right, left
