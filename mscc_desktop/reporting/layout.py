"""Geometry of a key image, shared by the PDF (vector overlay) and the PNG/DICOM painters.

Slices are in display orientation (``Volume`` docstring): rows anterior → posterior, columns
patient right → left. Everything here is in slice pixels ``(row, col)``; boxes use
:class:`~mscc_desktop.core.findings.Box` (x = column, y = row, edges).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.findings import Box
from mscc_desktop.core.volume import Volume
from mscc_desktop.core.windows import PAPER_WINDOWS, WINDOW_ORDER, WindowPreset, window_to_uint8

CANAL_FIELD_MM = 80.0
"""Side of the zoomed field around the canal: the vertebra and the paraspinal soft tissue."""

NICE_BAR_MM = (5.0, 10.0, 20.0, 25.0, 50.0, 100.0, 200.0)


@dataclass(frozen=True, slots=True)
class Crop:
    """A rectangle of slice pixels: rows ``r0:r1``, columns ``c0:c1``."""

    r0: int
    r1: int
    c0: int
    c1: int

    @property
    def rows(self) -> int:
        return self.r1 - self.r0

    @property
    def cols(self) -> int:
        return self.c1 - self.c0

    def box_in_crop(self, box: Box) -> Box:
        """``box`` (slice pixels) in this crop's pixels."""
        return Box(box.x0 - self.c0, box.y0 - self.r0, box.x1 - self.c0, box.y1 - self.r0)


def _span(centre: float, length: int, size: int) -> tuple[int, int]:
    if length >= size:
        return (0, size)
    start = round(centre - length / 2.0)
    start = min(max(start, 0), size - length)
    return (start, start + length)


def canal_crop(
    shape: tuple[int, int],
    spacing_mm: tuple[float, float],
    box: Box | None,
    *,
    field_mm: float = CANAL_FIELD_MM,
) -> Crop:
    """A square field of ``field_mm`` around the canal box (the slice centre without one),
    shifted to stay inside the slice; the whole slice when it is smaller."""
    rows, cols = shape
    if box is None:
        centre_r, centre_c = rows / 2.0, cols / 2.0
    else:
        centre_c, centre_r = box.centre
    side_mm = field_mm
    if box is not None:  # a large canal box (low resolution, oblique) still gets context
        side_mm = max(field_mm, 2.5 * max(box.width * spacing_mm[1], box.height * spacing_mm[0]))
    length_r = max(8, round(side_mm / max(spacing_mm[0], 1e-3)))
    length_c = max(8, round(side_mm / max(spacing_mm[1], 1e-3)))
    r0, r1 = _span(centre_r, length_r, rows)
    c0, c1 = _span(centre_c, length_c, cols)
    return Crop(r0, r1, c0, c1)


def scale_bar_mm(width_px: int, spacing_mm: float, *, fraction: float = 0.3) -> float:
    """A round bar length (mm) no longer than ``fraction`` of an image ``width_px`` wide."""
    limit = width_px * spacing_mm * fraction
    fitting = [length for length in NICE_BAR_MM if length <= limit]
    return fitting[-1] if fitting else max(1.0, math.floor(limit))


def windowed(volume: Volume, index: int, preset: WindowPreset) -> npt.NDArray[np.uint8]:
    """Slice ``index`` in one of the paper's windows, ``(row, col)`` uint8."""
    return window_to_uint8(volume.slice_hu(index), PAPER_WINDOWS[preset])


def window_title(preset: WindowPreset) -> str:
    """``"Bone W 1500 / L 300"``."""
    return PAPER_WINDOWS[preset].label


def position_text(volume: Volume, index: int) -> str:
    """``"Slice 41/120 · z -164.0 mm"`` (1-based slice number, head first)."""
    return f"Slice {index + 1}/{volume.n_slices} · z {float(volume.z_mm[index]):+.1f} mm"


def display_windows() -> tuple[WindowPreset, ...]:
    """The three windows in the paper's order (bone, abdomen, spine)."""
    return WINDOW_ORDER


def stored_box(volume: Volume, box: Box) -> Box:
    """A display-pixel box in the stored pixels of the source image (for SR coordinates).

    Undoes the loader's flips and transpose (``volume.extra["display_transform"]``); the
    identity for the usual axial series.
    """
    transform = volume.extra.get("display_transform")
    rows, cols = volume.hu.shape[1], volume.hu.shape[2]
    x0, y0, x1, y1 = box.as_tuple()
    if transform is None:
        return box
    if getattr(transform, "flip_cols", False):
        x0, x1 = cols - x1, cols - x0
    if getattr(transform, "flip_rows", False):
        y0, y1 = rows - y1, rows - y0
    if getattr(transform, "transpose", False):
        x0, y0, x1, y1 = y0, x0, y1, x1
    return Box(x0, y0, x1, y1)


__all__ = [
    "CANAL_FIELD_MM",
    "Crop",
    "canal_crop",
    "display_windows",
    "position_text",
    "scale_bar_mm",
    "stored_box",
    "window_title",
    "windowed",
]
