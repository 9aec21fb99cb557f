"""Key images with burned-in annotations (Pillow): for PNG files and DICOM Secondary Capture.

A key image is a dark header band (patient/study identity, the finding, "AI result" status)
above one panel per window. Each panel is the whole slice at full resolution (upscaled to at
least :data:`MIN_PANEL_PX` so the text stays legible) with the canal box in its grade colour,
the grade and probability, orientation letters at the edges, the window, slice position and
a scale bar. Text has a black outline so it reads on bone and on air.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mscc_desktop.core.volume import Volume, edge_letters
from mscc_desktop.core.windows import WindowPreset
from mscc_desktop.reporting.deid import ExportIdentity
from mscc_desktop.reporting.fonts import font_files
from mscc_desktop.reporting.layout import position_text, scale_bar_mm, window_title, windowed
from mscc_desktop.reporting.palette import group_colour, ink_on, rgb
from mscc_desktop.reporting.summary import KeyView
from mscc_desktop.reporting.text import identity_line

MIN_PANEL_PX = 512
GAP_PX = 4
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
BAND = (24, 24, 28)
GREY = (200, 200, 200)
STATUS_UNVERIFIED = (240, 228, 66)  # Okabe-Ito yellow: a caution on a dark band


RGB = tuple[int, int, int]
_HeaderLine = tuple[str, ImageFont.FreeTypeFont, RGB, str, ImageFont.FreeTypeFont, RGB]


_FONTS = threading.local()  # FreeType faces are not shared between threads (export workers)


def _font(size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont:
    cache: dict[tuple[int, bool], ImageFont.FreeTypeFont] = _FONTS.__dict__.setdefault("c", {})
    if (size, bold) not in cache:
        files = font_files()
        cache[(size, bold)] = ImageFont.truetype(str(files.bold if bold else files.regular), size)
    return cache[(size, bold)]


def _outlined(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    font: ImageFont.FreeTypeFont,
    *,
    anchor: str = "la",
    fill: tuple[int, int, int] = WHITE,
) -> None:
    stroke = max(1, font.size // 8)
    draw.text(xy, text, font=font, fill=fill, anchor=anchor, stroke_width=stroke, stroke_fill=BLACK)


def _upscale(gray: np.ndarray, factor: int) -> Image.Image:
    image = Image.fromarray(np.ascontiguousarray(gray), mode="L")
    if factor > 1:
        image = image.resize(
            (image.width * factor, image.height * factor), Image.Resampling.BICUBIC
        )
    return image.convert("RGB")


def panel_image(volume: Volume, view: KeyView, preset: WindowPreset) -> Image.Image:
    """One annotated window of a key slice, whole slice, RGB."""
    rows, cols = volume.hu.shape[1], volume.hu.shape[2]
    factor = max(1, math.ceil(MIN_PANEL_PX / max(1, min(rows, cols))))
    image = _upscale(windowed(volume, view.slice_index, preset), factor)
    draw = ImageDraw.Draw(image)
    side = min(image.width, image.height)
    small = _font(max(11, side // 36))
    bold = _font(max(12, side // 30), bold=True)
    margin = max(4, side // 80)

    # Canal box and its grade, in the grade colour (colour is never the only cue).
    result = view.result
    if result is not None and result.box is not None:
        colour = rgb(group_colour(view.group))
        b = result.box
        x0, y0, x1, y1 = b.x0 * factor, b.y0 * factor, b.x1 * factor, b.y1 * factor
        width = max(2, side // 200)
        pad = width + 1
        draw.rectangle((x0 - pad, y0 - pad, x1 + pad, y1 + pad), outline=colour, width=width)
        # The label goes in the bottom-left corner, above the slice position, not next to
        # the box: it must not hide the epidural space it grades (the colours link them).
        label = view.compact_grade_text
        left, top, right, bottom = draw.textbbox((0, 0), label, font=bold)
        chip_w, chip_h = right - left + 2 * margin, bottom - top + margin
        cx = margin
        cy = image.height - margin * 3 - small.size - chip_h
        draw.rectangle((cx, cy, cx + chip_w, cy + chip_h), fill=colour)
        draw.text((cx + margin, cy + margin / 2 - top), label, font=bold, fill=ink_on(colour))
    else:
        _outlined(
            draw,
            (image.width / 2, margin * 6),
            "Canal not found",
            bold,
            anchor="ma",
            fill=rgb(group_colour(None)),
        )

    letters = edge_letters(volume)
    _outlined(draw, (margin, image.height / 2), letters.left, bold, anchor="lm")
    _outlined(draw, (image.width - margin, image.height / 2), letters.right, bold, anchor="rm")
    _outlined(draw, (image.width / 2, margin), letters.top, bold, anchor="ma")
    _outlined(draw, (image.width / 2, image.height - margin), letters.bottom, bold, anchor="md")
    _outlined(draw, (margin, margin), window_title(preset), small)
    _outlined(
        draw,
        (image.width - margin, margin),
        "AI result",
        small,
        anchor="ra",
        fill=STATUS_UNVERIFIED,
    )
    _outlined(
        draw,
        (margin, image.height - margin),
        position_text(volume, view.slice_index),
        small,
        anchor="ld",
    )

    # Scale bar, bottom right, from the column spacing of the displayed pixels.
    spacing_px_mm = volume.pixel_spacing_mm[1] / factor
    bar_mm = scale_bar_mm(image.width, spacing_px_mm, fraction=0.2)
    bar_px = bar_mm / spacing_px_mm
    x1b = image.width - margin * 2
    x0b = x1b - bar_px
    yb = image.height - margin * 3 - small.size
    thick = max(2, side // 256)
    for dx, dy in ((1, 1), (0, 0)):  # shadow, then the bar
        fill = BLACK if dx else WHITE
        draw.line((x0b + dx, yb + dy, x1b + dx, yb + dy), fill=fill, width=thick)
        for x in (x0b, x1b):
            draw.line(
                (x + dx, yb - 3 * thick + dy, x + dx, yb + 3 * thick + dy), fill=fill, width=thick
            )
    _outlined(draw, ((x0b + x1b) / 2, yb - 4 * thick), f"{bar_mm:g} mm", small, anchor="md")
    return image


def _finding_text(view: KeyView) -> str:
    parts = []
    if view.lesion_number is not None:
        parts.append(f"Finding {view.lesion_number}")
    if view.level:
        parts.append(view.level)
    parts.append(view.grade_text)
    if view.reader_marked:
        parts.append("key image marked by reader")
    return " · ".join(parts)


def _wrap(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: float
) -> list[str]:
    """``text`` split at its " · " separators into lines no wider than ``width`` pixels."""
    lines: list[str] = []
    for part in text.split(" · "):
        candidate = f"{lines[-1]} · {part}" if lines else part
        if lines and draw.textlength(candidate, font=font) <= width:
            lines[-1] = candidate
        else:
            lines.append(part)
    return lines or [""]


def key_image(
    volume: Volume,
    view: KeyView,
    identity: ExportIdentity,
    *,
    status: str,
    verified: bool,
    windows: Sequence[WindowPreset],
) -> Image.Image:
    """Header band over the panels of ``windows`` side by side (one window: a single image).

    Parameters
    ----------
    volume
        The series (display orientation).
    view
        The key slice and what was found on it.
    identity
        Patient/study identity to burn in (de-identified or not).
    status
        Verification text, e.g. "AI result, not verified by a radiologist".
    verified
        Whether a radiologist signed the study off (changes the status colour only).
    windows
        The panels, left to right.
    """
    panels = [panel_image(volume, view, preset) for preset in windows]
    width = sum(p.width for p in panels) + GAP_PX * (len(panels) - 1)
    size = max(12, min(p.height for p in panels) // 34)
    font = _font(size)
    bold = _font(size, bold=True)
    line = int(size * 1.5)
    pad = size // 2
    status_colour = WHITE if verified else STATUS_UNVERIFIED
    # (left text, font, colour, right text, font, colour) per header line; a line whose
    # two halves do not fit side by side (a single narrow panel) is split in two.
    wanted = [
        (identity_line(identity), bold, WHITE, status, bold, status_colour),
        (_finding_text(view), font, WHITE, "mscc-desktop · not for clinical use", font, GREY),
    ]
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    rows: list[_HeaderLine] = []
    for left, lfont, lcol, right, rfont, rcol in wanted:
        lines = _wrap(measure, left, lfont, width - 3 * pad - line)
        needed = measure.textlength(lines[0], font=lfont) + measure.textlength(right, font=rfont)
        if len(lines) == 1 and needed + 4 * pad + line <= width:
            rows.append((left, lfont, lcol, right, rfont, rcol))
            continue
        rows += [(text, lfont, lcol, "", rfont, rcol) for text in lines]
        rows.append(("", lfont, lcol, right, rfont, rcol))
    band = len(rows) * line + pad
    finding_start = _wrap(measure, wanted[1][0], font, width - 3 * pad - line)[0]
    first_finding_row = next(n for n, row in enumerate(rows) if row[0] == finding_start)
    canvas = Image.new("RGB", (width, band + max(p.height for p in panels)), BAND)
    draw = ImageDraw.Draw(canvas)
    colour = rgb(group_colour(view.group))
    chip = line - 4
    for n, (left, lfont, lcol, right, rfont, rcol) in enumerate(rows):
        y = pad + n * line
        x0 = pad
        if n == first_finding_row:  # the finding line starts with its grade colour
            draw.rectangle((pad, y, pad + chip, y + chip), fill=colour)
            x0 = pad + chip + pad
        if left:
            draw.text((x0, y), left, font=lfont, fill=lcol)
        if right:
            draw.text((width - pad, y), right, font=rfont, anchor="ra", fill=rcol)
    x = 0
    for panel in panels:
        canvas.paste(panel, (x, band))
        x += panel.width + GAP_PX
    return canvas


__all__ = ["MIN_PANEL_PX", "key_image", "panel_image"]
