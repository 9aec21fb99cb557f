"""Sagittal and coronal reformats of an axial CT volume, straight or along the canal.

A reformat is an image whose rows run head → feet along the slice axis (see
:class:`~mscc_desktop.core.spine.grid.ZGrid`, uniform millimetres from the real slice
positions) and whose columns run along one in-plane axis of the volume:

* **sagittal**: columns are the volume's rows (anterior → posterior); the plane is one
  column of each slice (a patient-x position);
* **coronal**: columns are the volume's columns (patient right → left); the plane is one
  row of each slice (a patient-y position).

A *straight* plane cuts every slice at the same place of slice 0's frame; a *curved* plane
cuts each slice through its canal centre (:class:`~mscc_desktop.core.spine.centreline.
Centreline`), so a scoliotic spine stays in a sagittal view and a kyphotic one in a coronal
view. Pixels with no data (gap rows, or parts of a shifted slice that lie outside the image)
are NaN: draw them as "no data", never as tissue.

Typical GUI use::

    line = centreline_from_results(volume, findings.slices)
    view = curved_reformat(volume, line, Plane.SAGITTAL)        # or straight_reformat(...)
    y = view.grid.row_of_slice(current)                         # current-slice line
    current = view.slice_of_row(clicked_row)                    # click → axial slice
    top, bottom = view.grid.rows_of_z_range(lesion.z_to_mm, lesion.z_from_mm)  # band
    for notice in view.notices: ...                             # gap / tilt warnings
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.notices import Notice, NoticeCode, Severity
from mscc_desktop.core.spine.centreline import Centreline
from mscc_desktop.core.spine.grid import ZGrid, in_plane_offsets, z_grid
from mscc_desktop.core.volume import Volume
from mscc_desktop.core.windows import Window, window_to_uint8

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


class Plane(StrEnum):
    SAGITTAL = "sagittal"
    CORONAL = "coronal"


@dataclass(frozen=True, slots=True)
class AxialPoint:
    """A place in the axial stack: slice index and fractional pixel ``(row, col)`` of it."""

    slice_index: int
    row_px: float
    col_px: float


@dataclass(frozen=True, slots=True, eq=False)
class Reformat:
    """A sagittal or coronal image of a volume and the geometry to map it back.

    ``image_hu`` is ``(n_rows, n_u)`` float32 HU: rows follow :attr:`grid` (row ``i`` at
    ``grid.z_of_row(i)``, ``grid.step_mm`` apart); columns are ``u_spacing_mm`` apart along
    the volume's rows (sagittal) or columns (coronal), in slice 0's pixel frame. NaN marks
    pixels without data. ``cut_px[k]`` is where slice ``k`` was cut, in that slice's own
    pixels: the column (sagittal) or row (coronal), for drawing the plane on the axial view.
    """

    image_hu: F32
    plane: Plane
    curved: bool
    grid: ZGrid
    u_spacing_mm: float
    cut_px: F64
    offsets_px: tuple[F64, F64]  # (d_row, d_col) of each slice, see grid.in_plane_offsets
    notices: tuple[Notice, ...]

    @property
    def no_data(self) -> npt.NDArray[np.bool_]:
        """``(n_rows, n_u)`` True where there is nothing to show (gaps, outside a slice)."""
        return np.isnan(self.image_hu)

    def to_uint8(self, window: Window) -> npt.NDArray[np.uint8]:
        """The image in ``window`` as display grey levels (no-data pixels black; paint
        :attr:`no_data` in a colour of its own so a gap never reads as air)."""
        return window_to_uint8(np.nan_to_num(self.image_hu, nan=window.lower_hu - 1.0), window)

    @property
    def aspect(self) -> float:
        """Height / width of one pixel (1.0 when ``step_mm == u_spacing_mm``)."""
        return self.grid.step_mm / self.u_spacing_mm

    def slice_of_row(self, row: float) -> int | None:
        """The axial slice to show for a click at fractional ``row`` (see ZGrid)."""
        return self.grid.slice_of_row(row)

    def to_axial(self, row: float, u: float) -> AxialPoint | None:
        """The axial slice and pixel under reformat point ``(row, u)`` (nearest slice)."""
        index = self.slice_of_row(row)
        if index is None:
            return None
        d_row, d_col = self.offsets_px
        if self.plane is Plane.SAGITTAL:
            return AxialPoint(index, u - float(d_row[index]), float(self.cut_px[index]))
        return AxialPoint(index, float(self.cut_px[index]), u - float(d_col[index]))

    def from_axial(self, slice_index: int, row_px: float, col_px: float) -> tuple[float, float]:
        """Reformat ``(row, u)`` of pixel ``(row_px, col_px)`` of slice ``slice_index``.

        The point is projected onto the plane (its distance from the cut is dropped), e.g. to
        draw a canal box's centre on the sagittal track.
        """
        d_row, d_col = self.offsets_px
        row = self.grid.row_of_slice(slice_index)
        if self.plane is Plane.SAGITTAL:
            return row, row_px + float(d_row[slice_index])
        return row, col_px + float(d_col[slice_index])


def default_step_mm(volume: Volume) -> float:
    """Row spacing giving square pixels: the in-plane spacing across the plane's columns."""
    return float(min(volume.pixel_spacing_mm))


def straight_reformat(
    volume: Volume,
    plane: Plane,
    *,
    position_px: float | None = None,
    step_mm: float | None = None,
) -> Reformat:
    """A flat sagittal or coronal plane through the volume.

    Parameters
    ----------
    volume
        The loaded series; ``hu`` is ``(slice, row, col)``.
    plane
        :attr:`Plane.SAGITTAL` cuts a column, :attr:`Plane.CORONAL` a row.
    position_px
        Which column (sagittal) or row (coronal) of slice 0's frame, fractional allowed.
        ``None``: the middle of the image. For the canal, pass
        :meth:`Centreline.median_col_px` / :meth:`Centreline.median_row_px`.
    step_mm
        Row spacing of the result; default :func:`default_step_mm` (square pixels).
    """
    d_row, d_col = in_plane_offsets(volume)
    _, n_r, n_c = volume.shape
    if position_px is None:
        position_px = ((n_c if plane is Plane.SAGITTAL else n_r) - 1) / 2.0
    cut = position_px - (d_col if plane is Plane.SAGITTAL else d_row)
    return _reformat(volume, plane, cut, False, step_mm, (d_row, d_col))


def curved_reformat(
    volume: Volume,
    centreline: Centreline,
    plane: Plane,
    *,
    step_mm: float | None = None,
) -> Reformat:
    """A plane that bends with the canal: each slice is cut through its canal centre.

    Sagittal follows the centreline's columns (lateral curvature, scoliosis), coronal its
    rows (kyphosis and lordosis). ``centreline`` must have one centre per slice of
    ``volume``.
    """
    if centreline.rows_px.shape[0] != volume.n_slices:
        raise ValueError(
            f"centreline has {centreline.rows_px.shape[0]} slices, volume {volume.n_slices}"
        )
    cut = centreline.cols_px if plane is Plane.SAGITTAL else centreline.rows_px
    return _reformat(volume, plane, cut, True, step_mm, in_plane_offsets(volume))


def _reformat(
    volume: Volume,
    plane: Plane,
    cut_px: F64,
    curved: bool,
    step_mm: float | None,
    offsets: tuple[F64, F64],
) -> Reformat:
    step = default_step_mm(volume) if step_mm is None else float(step_mm)
    grid = z_grid(volume.z_mm, step_mm=step)
    d_row, d_col = offsets
    traces = _traces(volume.hu, plane, np.asarray(cut_px, dtype=np.float64))
    along = d_row if plane is Plane.SAGITTAL else d_col
    if np.any(along != 0.0):
        traces = _shift(traces, along)
    image = _along_z(traces, grid.slice_position)
    row_mm, col_mm = volume.pixel_spacing_mm
    return Reformat(
        image_hu=image,
        plane=plane,
        curved=curved,
        grid=grid,
        u_spacing_mm=float(row_mm if plane is Plane.SAGITTAL else col_mm),
        cut_px=np.asarray(cut_px, dtype=np.float64),
        offsets_px=(d_row, d_col),
        notices=_notices(volume, grid, offsets),
    )


def _traces(hu: npt.NDArray[np.generic], plane: Plane, cut: F64) -> F32:
    """``(slice, n_u)``: each slice's line at fractional position ``cut[k]`` (NaN outside)."""
    n, n_r, n_c = hu.shape
    width = n_c if plane is Plane.SAGITTAL else n_r
    inside = (cut >= 0.0) & (cut <= width - 1)
    base = np.clip(np.floor(np.nan_to_num(cut)), 0, max(width - 2, 0)).astype(np.intp)
    weight = np.clip(np.nan_to_num(cut) - base, 0.0, 1.0).astype(np.float32)[:, None]
    ks = np.arange(n)
    nxt = np.minimum(base + 1, width - 1)
    if plane is Plane.SAGITTAL:
        first = hu[ks, :, base].astype(np.float32)
        second = hu[ks, :, nxt].astype(np.float32)
    else:
        first = hu[ks, base, :].astype(np.float32)
        second = hu[ks, nxt, :].astype(np.float32)
    first += weight * (second - first)
    first[~inside] = np.nan
    return first


def _shift(traces: F32, offset: F64) -> F32:
    """Move each trace into slice 0's frame: ``out[k, u] = traces[k, u - offset[k]]``."""
    width = traces.shape[1]
    source = np.arange(width, dtype=np.float64)[None, :] - offset[:, None]
    valid = (source >= 0.0) & (source <= width - 1)
    base = np.clip(np.floor(source), 0, width - 2).astype(np.intp)
    weight = np.clip(source - base, 0.0, 1.0).astype(np.float32)
    a = np.take_along_axis(traces, base, axis=1)
    b = np.take_along_axis(traces, base + 1, axis=1)
    out = a + weight * (b - a)
    out[~valid] = np.nan
    return out


def _along_z(traces: F32, slice_position: F64) -> F32:
    """Rows of the reformat from the slice traces, linear between the bracketing slices."""
    n = traces.shape[0]
    gap = np.isnan(slice_position)
    position = np.where(gap, 0.0, slice_position)
    if n == 1:
        image = np.repeat(traces, position.shape[0], axis=0)
    else:
        k = np.clip(np.floor(position), 0, n - 2).astype(np.intp)
        t = (position - k).astype(np.float32)[:, None]
        image = traces[k]
        between = np.flatnonzero(t[:, 0] > 0.0)
        # Rows exactly on a slice take that slice alone: a neighbour's NaN must not leak in.
        image[between] += t[between] * (traces[k[between] + 1] - image[between])
    image[gap] = np.nan
    return image


def _notices(volume: Volume, grid: ZGrid, offsets: tuple[F64, F64]) -> tuple[Notice, ...]:
    notices: list[Notice] = []
    gap_rows = int(np.count_nonzero(grid.gap_rows))
    if gap_rows:
        notices.append(
            Notice(
                NoticeCode.GAP,
                f"Slices are missing: {gap_rows * grid.step_mm:.0f} mm of the reformat has no "
                "data and is left empty, not stretched.",
            )
        )
    shifted = bool(np.any(offsets[0] != 0.0) or np.any(offsets[1] != 0.0))
    tilt = volume.gantry_tilt_deg
    if tilt > 0.0 and shifted:
        notices.append(
            Notice(
                NoticeCode.GANTRY_TILT,
                f"Gantry tilt of {tilt:.1f}°: each slice is drawn at its recorded position, so "
                f"the vertical axis runs along the slice normal, {tilt:.1f}° from the "
                "patient's head-feet axis. Distances are true.",
                Severity.INFO,
            )
        )
    elif tilt > 0.0:
        notices.append(
            Notice(
                NoticeCode.GANTRY_TILT,
                f"Gantry tilt of {tilt:.1f}° is recorded but the slice positions do not show "
                "it: the reformat may be sheared by that angle.",
            )
        )
    return tuple(notices)
