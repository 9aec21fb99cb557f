"""Geometry of the displayed slice: its size and the canal box in millimetres.

The image is placed in millimetres (``ImageItem.setRect``) so pixels are square on screen
whatever the pixel spacing; boxes from the pipeline are in pixels and are mapped the same way.
"""

from __future__ import annotations

from mscc_desktop.core.findings import Box
from mscc_desktop.core.volume import Volume
from mscc_desktop.core.windows import Window


def image_size_mm(volume: Volume) -> tuple[float, float]:
    """Displayed (width, height) of a slice in mm: columns × column spacing, rows × row spacing."""
    _, rows, cols = volume.shape
    row_mm, col_mm = volume.pixel_spacing_mm
    return (cols * col_mm, rows * row_mm)


def box_in_mm(box: Box, volume: Volume) -> tuple[float, float, float, float]:
    """A pixel-coordinate :class:`Box` as ``(x_mm, y_mm, width_mm, height_mm)`` on the slice."""
    row_mm, col_mm = volume.pixel_spacing_mm
    return (box.x0 * col_mm, box.y0 * row_mm, box.width * col_mm, box.height * row_mm)


def clamp_window(width: float, level: float, name: str = "") -> Window:
    """A window from dragged values, kept inside sane CT limits (width 1..8000 HU)."""
    return Window(min(max(width, 1.0), 8000.0), min(max(level, -3000.0), 5000.0), name)
