"""Slice geometry: plane kind, display orientation, slice order, spacing, gaps, tilt.

Pure numpy on positions and orientations, so every rule here is testable without files.

DICOM (0020,0037) Image Orientation (Patient) holds two unit vectors: the first is the
direction of increasing column index (along a row), the second that of increasing row index.
The slice normal is their cross product; slices are ordered by (0020,0032) Image Position
(Patient) projected on it, never by file name or (0020,0013) Instance Number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.notices import Notice, NoticeCode, Severity
from mscc_desktop.core.volume import Vector3

AXIAL_LIMIT_DEG = 35.0
"""A plane whose normal is within this angle of an axis is that axis's plane (axial with
gantry tilt reaches about 30°); beyond it the series is oblique."""

DUPLICATE_TOLERANCE_MM = 0.05
"""Slices closer than this along the normal are at the same position."""

GAP_FACTOR = 1.5
"""A step larger than this many median spacings means slices are missing."""

UNEVEN_TOLERANCE_MM = 0.05
UNEVEN_FRACTION = 0.05
"""A step differing from the median by more than max(0.05 mm, 5 %) is uneven spacing."""

TILT_TOLERANCE_DEG = 0.5
"""Smaller stacking/normal angles are rounding noise, not a tilted gantry."""


class PlaneKind(StrEnum):
    AXIAL = "axial"
    CORONAL = "coronal"
    SAGITTAL = "sagittal"
    OBLIQUE = "oblique"
    UNKNOWN = "unknown"


def _unit(vector: npt.ArrayLike) -> npt.NDArray[np.float64]:
    array = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(array))
    return array / norm if norm > 0 else array


def axes(orientation: Sequence[float]) -> tuple[Vector3, Vector3, Vector3]:
    """(col_axis, row_axis, normal) of an Image Orientation (Patient) value."""
    col_axis = _unit(orientation[:3])
    row_axis = _unit(orientation[3:6])
    normal = _unit(np.cross(col_axis, row_axis))
    return (_vec(col_axis), _vec(row_axis), _vec(normal))


def _vec(array: npt.ArrayLike) -> Vector3:
    values = np.asarray(array, dtype=np.float64)
    return (float(values[0]), float(values[1]), float(values[2]))


def plane_kind(orientation: Sequence[float] | None) -> tuple[PlaneKind, float]:
    """The plane of an orientation and the angle (degrees) of its normal from that axis."""
    if orientation is None:
        return (PlaneKind.UNKNOWN, 0.0)
    normal = np.abs(np.asarray(axes(orientation)[2]))
    dominant = int(np.argmax(normal))
    angle = math.degrees(math.acos(min(1.0, float(normal[dominant]))))
    if angle > AXIAL_LIMIT_DEG:
        return (PlaneKind.OBLIQUE, angle)
    return ((PlaneKind.SAGITTAL, PlaneKind.CORONAL, PlaneKind.AXIAL)[dominant], angle)


# Display targets (col_axis, row_axis) per plane, in LPS. Axial: the radiological view
# (patient right on the viewer's left, anterior up). Coronal: right on the left, head up.
# Sagittal: anterior on the left, head up.
_TARGETS: dict[PlaneKind, tuple[Vector3, Vector3]] = {
    PlaneKind.AXIAL: ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    PlaneKind.CORONAL: ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    PlaneKind.SAGITTAL: ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
}


@dataclass(frozen=True, slots=True)
class DisplayTransform:
    """How stored ``(row, col)`` pixels become display pixels: transpose, then flips."""

    transpose: bool = False
    flip_rows: bool = False
    flip_cols: bool = False

    def apply(self, image: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        """The display view of one stored ``(row, col)`` image (a view, no copy)."""
        out = image.T if self.transpose else image
        if self.flip_rows:
            out = out[::-1, :]
        if self.flip_cols:
            out = out[:, ::-1]
        return out

    def stored_view(self, display: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        """The view of a display ``(row, col)`` array laid out like the stored pixels.

        Writing stored pixels into it puts them where :meth:`apply` would (the inverse).
        """
        out = display
        if self.flip_cols:
            out = out[:, ::-1]
        if self.flip_rows:
            out = out[::-1, :]
        return out.T if self.transpose else out

    def shape(self, rows: int, cols: int) -> tuple[int, int]:
        return (cols, rows) if self.transpose else (rows, cols)


@dataclass(frozen=True, slots=True)
class DisplayGeometry:
    """Display orientation of a series: the transform and the resulting axes and spacing."""

    transform: DisplayTransform
    col_axis: Vector3
    row_axis: Vector3
    normal: Vector3
    pixel_spacing_mm: tuple[float, float]  # (row, col) after any transpose

    def first_voxel_mm(self, stored_position: Vector3, rows: int, cols: int) -> Vector3:
        """Centre of display pixel (0, 0) from the stored (0020,0032) (stored pixel (0, 0))."""
        d_rows, d_cols = self.transform.shape(rows, cols)
        position = np.asarray(stored_position, dtype=np.float64)
        if self.transform.flip_rows:
            # Display axes point the flipped way, so display (0,0) lies at the far end of the
            # unflipped axis: go back along the flipped axis.
            position = position - (d_rows - 1) * self.pixel_spacing_mm[0] * np.asarray(
                self.row_axis
            )
        if self.transform.flip_cols:
            position = position - (d_cols - 1) * self.pixel_spacing_mm[1] * np.asarray(
                self.col_axis
            )
        return _vec(position)


def display_geometry(
    orientation: Sequence[float] | None, pixel_spacing_mm: tuple[float, float]
) -> DisplayGeometry:
    """Transpose/flips that bring stored pixels to the standard display of their plane.

    Oblique planes use the targets of their nearest plane; a missing orientation keeps the
    stored layout (and an assumed axial orientation).
    """
    if orientation is None:
        return DisplayGeometry(
            DisplayTransform(), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), pixel_spacing_mm
        )
    col_axis, row_axis, _ = (np.asarray(v) for v in axes(orientation))
    normal = np.abs(np.asarray(axes(orientation)[2]))
    nearest = (PlaneKind.SAGITTAL, PlaneKind.CORONAL, PlaneKind.AXIAL)[int(np.argmax(normal))]
    target_col, target_row = (np.asarray(v) for v in _TARGETS[nearest])
    straight = abs(col_axis @ target_col) + abs(row_axis @ target_row)
    crossed = abs(col_axis @ target_row) + abs(row_axis @ target_col)
    transpose = bool(crossed > straight)
    spacing = pixel_spacing_mm
    if transpose:
        col_axis, row_axis = row_axis, col_axis
        spacing = (pixel_spacing_mm[1], pixel_spacing_mm[0])
    flip_cols = bool(col_axis @ target_col < 0)
    flip_rows = bool(row_axis @ target_row < 0)
    if flip_cols:
        col_axis = -col_axis
    if flip_rows:
        row_axis = -row_axis
    return DisplayGeometry(
        transform=DisplayTransform(transpose, flip_rows, flip_cols),
        col_axis=_vec(col_axis),
        row_axis=_vec(row_axis),
        normal=_vec(_unit(np.cross(col_axis, row_axis))),
        pixel_spacing_mm=spacing,
    )


@dataclass(frozen=True, slots=True)
class SliceLayout:
    """Order and spacing of slices along the normal.

    ``order`` indexes the input positions, head first (descending along the normal), one
    per distinct position; ``duplicates`` lists the input indices left out.
    """

    order: tuple[int, ...]
    z_mm: npt.NDArray[np.float64]
    duplicates: tuple[int, ...]
    spacing_mm: float
    missing_slices: int
    uneven: bool
    tilt_deg: float
    notices: tuple[Notice, ...]


def layout_slices(
    positions_mm: npt.ArrayLike,
    normal: Vector3,
    *,
    declared_tilt_deg: float | None = None,
) -> SliceLayout:
    """Sort slices along ``normal``, drop duplicates and report gaps, unevenness and tilt.

    Parameters
    ----------
    positions_mm
        ``(n, 3)`` (0020,0032) Image Position (Patient) of each slice's first display voxel.
    normal
        Unit slice normal (display col_axis × row_axis).
    declared_tilt_deg
        (0018,1120) Gantry/Detector Tilt, if recorded.
    """
    points = np.asarray(positions_mm, dtype=np.float64).reshape(-1, 3)
    z = points @ np.asarray(normal, dtype=np.float64)
    # Stable sort on -z: head first; equal positions keep input order (first one is kept).
    sorted_idx = np.argsort(-z, kind="stable")
    kept: list[int] = []
    duplicates: list[int] = []
    for index in sorted_idx:
        if kept and abs(z[kept[-1]] - z[index]) < DUPLICATE_TOLERANCE_MM:
            duplicates.append(int(index))
        else:
            kept.append(int(index))
    z_kept = z[kept]
    notices: list[Notice] = []
    if duplicates:
        notices.append(
            Notice(
                NoticeCode.DUPLICATE,
                f"{len(duplicates)} slice(s) share a position with another slice; "
                "one image per position was kept.",
            )
        )
    steps = -np.diff(z_kept)
    spacing = float(np.median(steps)) if steps.size else 0.0
    missing = 0
    uneven = False
    if steps.size and spacing > 0:
        gap_steps = steps > GAP_FACTOR * spacing
        for where in np.flatnonzero(gap_steps):
            count = max(1, round(float(steps[where]) / spacing) - 1)
            missing += count
            notices.append(
                Notice(
                    NoticeCode.GAP,
                    f"{count} slice(s) missing between z = {z_kept[where]:.1f} and "
                    f"{z_kept[where + 1]:.1f} mm (expected spacing {spacing:.2f} mm).",
                )
            )
        tolerance = max(UNEVEN_TOLERANCE_MM, UNEVEN_FRACTION * spacing)
        regular = steps[~gap_steps]
        if regular.size and float(np.max(np.abs(regular - spacing))) > tolerance:
            uneven = True
            notices.append(
                Notice(
                    NoticeCode.UNEVEN_SPACING,
                    f"Slice spacing varies from {float(np.min(steps)):.2f} to "
                    f"{float(np.max(steps)):.2f} mm (median {spacing:.2f} mm).",
                )
            )
    tilt = 0.0
    if len(kept) >= 2:
        stack = points[kept[-1]] - points[kept[0]]
        length = float(np.linalg.norm(stack))
        if length > 0:
            cosine = abs(float(stack @ np.asarray(normal))) / length
            tilt = math.degrees(math.acos(min(1.0, cosine)))
    if tilt < TILT_TOLERANCE_DEG:
        tilt = 0.0
    if declared_tilt_deg is not None and abs(declared_tilt_deg) >= TILT_TOLERANCE_DEG:
        tilt = max(tilt, abs(declared_tilt_deg))
    if tilt > 0.0:
        notices.append(
            Notice(
                NoticeCode.GANTRY_TILT,
                f"Gantry tilt of {tilt:.1f}°: slices are not stacked square to the image "
                "plane, so positions along the slice axis are approximate.",
            )
        )
    return SliceLayout(
        order=tuple(kept),
        z_mm=z_kept,
        duplicates=tuple(duplicates),
        spacing_mm=spacing,
        missing_slices=missing,
        uneven=uneven,
        tilt_deg=tilt,
        notices=tuple(notices),
    )


def missing_geometry_notice(what: str) -> Notice:
    return Notice(
        NoticeCode.MISSING_GEOMETRY,
        f"{what}: slice positions or orientation are missing, so slices are shown in "
        "instance-number order and distances are unknown.",
        Severity.WARNING,
    )
