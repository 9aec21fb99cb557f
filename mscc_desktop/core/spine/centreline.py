"""The spinal canal's centreline: one canal centre per slice, gaps filled, smoothed.

The detector boxes the bony canal on the slices where it finds it
(:attr:`~mscc_desktop.core.findings.SliceResult.box`). A curved reformat and the level
estimator need a centre on *every* slice: missing ones are interpolated along z (held
constant beyond the first and last box), stray boxes far from their neighbours are dropped,
and the track is smoothed by a local-linear fit with Gaussian weights in millimetres of z
(so uneven spacing is weighted correctly and straight stretches stay straight). Work is done
in slice 0's pixel frame, so a tilted stack's per-slice shift
(:func:`~mscc_desktop.core.spine.grid.in_plane_offsets`) is not mistaken for a curve; the
result is given back in each slice's own pixels, ready to draw on the axial view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.errors import UnusableSeriesError
from mscc_desktop.core.findings import SliceResult
from mscc_desktop.core.spine.grid import in_plane_offsets
from mscc_desktop.core.volume import Volume

F64 = npt.NDArray[np.float64]

OUTLIER_MM = 12.0
"""A box whose centre lies further than this from the running median of its neighbours is
ignored (a false detection in the aorta or a rib, not the canal bending)."""


@dataclass(frozen=True, slots=True, eq=False)
class Centreline:
    """Canal centre of every slice, in that slice's own fractional pixels.

    ``rows_px``/``cols_px`` are ``(slice,)``; ``measured[k]`` is True where slice ``k`` had a
    usable box (the others are interpolated).
    """

    rows_px: F64
    cols_px: F64
    measured: npt.NDArray[np.bool_]

    @property
    def n_measured(self) -> int:
        return int(np.count_nonzero(self.measured))

    def median_row_px(self) -> float:
        """Median canal row: the straight coronal plane through the canal."""
        return float(np.median(self.rows_px))

    def median_col_px(self) -> float:
        """Median canal column: the straight sagittal plane through the canal."""
        return float(np.median(self.cols_px))


def centreline_from_results(
    volume: Volume, results: Sequence[SliceResult], *, smooth_mm: float = 12.0
) -> Centreline:
    """The centreline from the detector's per-slice canal boxes.

    ``results`` are matched to slices by :attr:`SliceResult.index`; slices without a result or
    whose canal was not found are interpolated.
    """
    centres: list[tuple[float, float] | None] = [None] * volume.n_slices
    for result in results:
        if result.box is not None and 0 <= result.index < volume.n_slices:
            col, row = result.box.centre
            centres[result.index] = (row, col)
    return centreline_from_centres(volume, centres, smooth_mm=smooth_mm)


def centreline_from_centres(
    volume: Volume,
    centres: Sequence[tuple[float, float] | None],
    *,
    smooth_mm: float = 12.0,
) -> Centreline:
    """The centreline from per-slice canal centres ``(row_px, col_px)`` or ``None``.

    Parameters
    ----------
    volume
        Gives the slice positions and in-plane offsets.
    centres
        One entry per slice, in that slice's own pixels (as a box on the axial view).
    smooth_mm
        Standard deviation of the Gaussian along z; 0 keeps the measured centres as they are.

    Raises
    ------
    UnusableSeriesError
        When no slice has a centre: there is no canal to follow.
    """
    n = volume.n_slices
    if len(centres) != n:
        raise ValueError(f"expected {n} canal centres (one per slice), got {len(centres)}")
    measured = np.array([c is not None for c in centres], dtype=bool)
    if not measured.any():
        raise UnusableSeriesError(
            "The spinal canal was not found on any slice, so there is no centreline to follow; "
            "use a straight plane instead."
        )
    d_row, d_col = in_plane_offsets(volume)
    raw = np.array([c if c is not None else (np.nan, np.nan) for c in centres], dtype=np.float64)
    rows = raw[:, 0] + d_row
    cols = raw[:, 1] + d_col
    z = np.asarray(volume.z_mm, dtype=np.float64)
    row_mm, col_mm = volume.pixel_spacing_mm
    measured &= ~_outliers(z, rows * row_mm, cols * col_mm, measured)
    rows = _fill(z, rows, measured)
    cols = _fill(z, cols, measured)
    if smooth_mm > 0 and n > 1:
        rows = _smooth(z, rows, smooth_mm)
        cols = _smooth(z, cols, smooth_mm)
    return Centreline(rows_px=rows - d_row, cols_px=cols - d_col, measured=measured)


def _outliers(
    z: F64, rows_mm: F64, cols_mm: F64, measured: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Measured centres far from the median of the measured centres within ±25 mm of z."""
    out = np.zeros(z.shape[0], dtype=bool)
    index = np.flatnonzero(measured)
    if index.size < 3:
        return out
    zm, rm, cm = z[index], rows_mm[index], cols_mm[index]
    for j, k in enumerate(index):
        near = np.abs(zm - zm[j]) <= 25.0
        if np.count_nonzero(near) < 3:
            continue
        dr = rm[j] - np.median(rm[near])
        dc = cm[j] - np.median(cm[near])
        out[k] = float(np.hypot(dr, dc)) > OUTLIER_MM
    return out


def _fill(z: F64, values: F64, known: npt.NDArray[np.bool_]) -> F64:
    if not known.any():
        return values
    # np.interp needs increasing x; z decreases with the slice index.
    return np.interp(z, z[known][::-1], values[known][::-1])


def _smooth(z: F64, values: F64, sigma_mm: float) -> F64:
    """Local-linear fit with Gaussian weights in mm: a straight stretch of canal stays straight
    whatever the slice spacing (a plain weighted mean would bend it where spacing changes)."""
    weights = np.exp(-0.5 * ((z[:, None] - z[None, :]) / sigma_mm) ** 2)
    total = weights.sum(axis=1)
    mean_z = weights @ z / total
    mean_v = weights @ values / total
    dz = z[None, :] - mean_z[:, None]
    dv = values[None, :] - mean_v[:, None]
    spread = (weights * dz * dz).sum(axis=1)
    slope = np.where(spread > 1e-9, (weights * dz * dv).sum(axis=1) / np.maximum(spread, 1e-9), 0.0)
    result: F64 = mean_v + slope * (z - mean_z)
    return result
