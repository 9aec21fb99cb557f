"""The uniform millimetre grid along the slice axis that sagittal and coronal reformats use.

A reformat row ``i`` lies at ``z_mm = z_top_mm - i * step_mm`` (row 0 is the most superior,
as slice 0 is). Each row is filled from the two slices that bracket its z, weighted by
distance, using the slices' **real** positions: unevenly spaced stacks come out with true
proportions, and rows that fall in a gap (two neighbouring slices further apart than
:data:`~mscc_desktop.core.dicom.geometry.GAP_FACTOR` times the median spacing) are marked as
gap rows and left empty rather than stretched across.

Also here: each slice's in-plane offset from slice 0, from (0020,0032) Image Position
(Patient). A tilted gantry (or a moving table origin) shifts every slice's first voxel within
the image plane; reformats sample each slice at its true place by undoing that offset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.dicom.geometry import GAP_FACTOR
from mscc_desktop.core.volume import Volume

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class ZGrid:
    """Rows of a reformat along the slice axis, and where each row comes from.

    ``slice_position[i]`` is the fractional slice index of row ``i`` (``2.25``: a quarter of the
    way from slice 2 to slice 3), NaN for rows in a gap. ``slice_z_mm`` are the volume's slice
    positions (head first, decreasing), kept for the inverse mappings.
    """

    z_top_mm: float
    step_mm: float
    n_rows: int
    slice_position: F64
    slice_z_mm: F64

    @property
    def z_mm(self) -> F64:
        """``(n_rows,)`` z of every row (decreasing)."""
        return self.z_top_mm - self.step_mm * np.arange(self.n_rows, dtype=np.float64)

    @property
    def gap_rows(self) -> npt.NDArray[np.bool_]:
        """``(n_rows,)`` True where the row falls in a gap between slices (no data)."""
        return np.isnan(self.slice_position)

    def row_of_z(self, z_mm: float) -> float:
        """Fractional reformat row of position ``z_mm`` (may lie outside ``0..n_rows-1``)."""
        return (self.z_top_mm - z_mm) / self.step_mm

    def z_of_row(self, row: float) -> float:
        """Position (mm along the slice normal) of fractional row ``row``."""
        return self.z_top_mm - row * self.step_mm

    def row_of_slice(self, index: int) -> float:
        """Fractional row at which slice ``index`` lies (draw the current-slice line there)."""
        return self.row_of_z(float(self.slice_z_mm[index]))

    def slice_of_row(self, row: float) -> int | None:
        """The slice nearest to fractional row ``row`` (a click on the reformat).

        Rows above the first or below the last slice clamp to it. In a gap the nearer slice of
        the two that bound it is returned, so a click always moves the axial view somewhere
        real; ``None`` only when the volume has no slices.
        """
        if self.slice_z_mm.size == 0:
            return None
        return int(np.argmin(np.abs(self.slice_z_mm - self.z_of_row(row))))

    def rows_of_z_range(self, z_a_mm: float, z_b_mm: float) -> tuple[float, float]:
        """(upper row, lower row) covering the z range between ``z_a_mm`` and ``z_b_mm``.

        For a finding that spans slices, pass its ``z_to_mm`` and ``z_from_mm``; the band is
        widened by half a step each way so a one-slice finding is still visible.
        """
        top, bottom = max(z_a_mm, z_b_mm), min(z_a_mm, z_b_mm)
        return (self.row_of_z(top) - 0.5, self.row_of_z(bottom) + 0.5)


def z_grid(slice_z_mm: npt.ArrayLike, *, step_mm: float) -> ZGrid:
    """The uniform grid from the first to the last slice at ``step_mm`` spacing.

    Parameters
    ----------
    slice_z_mm
        ``(slice,)`` positions along the normal, head first (strictly decreasing), as in
        :attr:`Volume.z_mm`.
    step_mm
        Row spacing of the reformat; pass the in-plane pixel spacing for square pixels.
    """
    z = np.asarray(slice_z_mm, dtype=np.float64).reshape(-1)
    if step_mm <= 0 or not np.isfinite(step_mm):
        raise ValueError(f"reformat step must be a positive number of mm, got {step_mm!r}")
    if z.size == 0:
        raise ValueError("a reformat needs at least one slice")
    if z.size > 1 and not np.all(np.diff(z) < 0):
        raise ValueError("slice positions must be strictly decreasing (head first)")
    top = float(z[0])
    n_rows = int(np.floor((top - float(z[-1])) / step_mm + 1e-6)) + 1
    rows_z = top - step_mm * np.arange(n_rows, dtype=np.float64)
    if z.size == 1:
        return ZGrid(top, step_mm, n_rows, np.zeros(n_rows), z)
    # Index k of the slice at or above each row: z[k] >= row_z > z[k + 1].
    ascending = z[::-1]
    k = z.size - 1 - np.searchsorted(ascending, rows_z, side="left")
    k = np.clip(k, 0, z.size - 2)
    upper, lower = z[k], z[k + 1]
    fraction = np.clip((upper - rows_z) / (upper - lower), 0.0, 1.0)
    position = k + fraction
    steps = -np.diff(z)
    spacing = float(np.median(steps))
    in_gap = steps[k] > GAP_FACTOR * spacing
    # A row exactly on a slice bounding a gap still shows that slice.
    on_slice = (fraction < 1e-6) | (fraction > 1.0 - 1e-6)
    position[in_gap & ~on_slice] = np.nan
    return ZGrid(top, step_mm, n_rows, position, z)


def in_plane_offsets(volume: Volume) -> tuple[F64, F64]:
    """Each slice's first-voxel offset from slice 0's, in (row, column) pixels.

    Zero for an ordinary stack. Under gantry tilt the slices slide along the row axis as the
    table moves; a point at pixel ``(r, c)`` of slice 0's frame is at ``(r - d_row[k],
    c - d_col[k])`` in slice ``k``.
    """
    delta = volume.positions_mm - volume.positions_mm[0]
    row_mm, col_mm = volume.pixel_spacing_mm
    d_row = delta @ np.asarray(volume.row_axis, dtype=np.float64) / row_mm
    d_col = delta @ np.asarray(volume.col_axis, dtype=np.float64) / col_mm
    # Sub-micrometre jitter in stored positions is not a shift worth resampling for.
    d_row[np.abs(d_row) < 1e-3] = 0.0
    d_col[np.abs(d_col) < 1e-3] = 0.0
    return d_row, d_col
