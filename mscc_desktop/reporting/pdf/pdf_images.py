"""Key images in the PDF: a caption, the canal region in three windows, and a locator.

Each key slice is one flowable row. The three window panels are zoomed on the canal (a
:data:`~.layout.CANAL_FIELD_MM` square field) because a 1.5 cm canal on a whole-slice
thumbnail is a few millimetres of paper; a small whole-slice overview with the zoomed field
outlined keeps the context. Pixels are embedded as greyscale (lossless); the box, grade,
orientation letters, window names and scale bar are vector graphics and real text, so they
stay sharp at any zoom and can be searched.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from reportlab.lib import colors
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph

from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.volume import Volume, edge_letters
from mscc_desktop.core.windows import PAPER_WINDOWS, WindowPreset
from mscc_desktop.reporting.fonts import BOLD, REGULAR
from mscc_desktop.reporting.layout import (
    Crop,
    canal_crop,
    display_windows,
    position_text,
    scale_bar_mm,
    windowed,
)
from mscc_desktop.reporting.palette import OKABE_ITO_SKY_BLUE, group_colour, ink_on, rgb
from mscc_desktop.reporting.pdf.pdf_doc import escape
from mscc_desktop.reporting.summary import KeyView

GAP = 4.0
OVERVIEW_SHARE = 0.62  # overview side / zoom panel side
ZOOM_MIN_PX = 400  # zoomed crops are resampled (bicubic) to at least this many pixels
OVERVIEW_PX = 256


def _gray_image(
    pixels: np.ndarray, min_px: int | None = None, max_px: int | None = None
) -> ImageReader:
    image = Image.fromarray(np.ascontiguousarray(pixels), mode="L")
    side = max(image.width, image.height)
    if min_px is not None and side < min_px:
        factor = min_px / side
        image = image.resize(
            (round(image.width * factor), round(image.height * factor)), Image.Resampling.BICUBIC
        )
    elif max_px is not None and side > max_px:
        image.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
    return ImageReader(image)


def _outlined(
    canvas: Canvas,
    x: float,
    y: float,
    text: str,
    size: float,
    *,
    align: str = "l",
    font: str = BOLD,
    fill: colors.Color = colors.white,
) -> None:
    width = stringWidth(text, font, size)
    if align == "c":
        x -= width / 2
    elif align == "r":
        x -= width
    canvas.saveState()
    canvas.setFont(font, size)
    canvas.setStrokeColor(colors.black)
    canvas.setLineWidth(max(0.8, size / 6))
    canvas.setLineJoin(1)
    # The render mode outlives BT/ET: the stroked halo gets its own graphics state (q/Q).
    canvas.saveState()
    halo = canvas.beginText(x, y)
    halo.setTextRenderMode(1)  # stroke only: a black halo under the letters
    halo.textOut(text)
    canvas.drawText(halo)
    canvas.restoreState()
    canvas.setFillColor(fill)
    canvas.drawString(x, y, text)
    canvas.restoreState()


def _chip_label(view: KeyView) -> str:
    """Short grade label of a panel ("HIGH 0.89"): the model's grade and probability, or the
    reader's grade when the reader changed it (the caption spells both out)."""
    group = view.group or GradeGroup.NORMAL
    if view.ai_group is not None and view.group is not view.ai_group:
        return f"{group.value.upper()} (reader)"
    return f"{group.value.upper()} {view.shown_probability:.2f}"


class KeyImageRow(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """One key slice: caption, three zoomed windows with overlays, whole-slice locator."""

    def __init__(self, volume: Volume, view: KeyView, caption: Paragraph, width: float) -> None:
        super().__init__()
        self.volume = volume
        self.view = view
        self.caption = caption
        self.width = width
        self.panel = (width - 3 * GAP) / (3 + OVERVIEW_SHARE)
        box = view.result.box if view.result is not None else None
        shape = (volume.hu.shape[1], volume.hu.shape[2])
        self.crop: Crop = canal_crop(shape, volume.pixel_spacing_mm, box)
        self.caption_height = 0.0

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        _, self.caption_height = self.caption.wrap(self.width, avail_height)
        self.height = self.caption_height + 3 + self.panel + 4
        return (self.width, self.height)

    def _fit(self, rows: int, cols: int, side: float) -> tuple[float, float, float]:
        """Drawn width, height and points per pixel of a ``rows`` × ``cols`` image in mm
        proportions inside a ``side`` square."""
        sr, sc = self.volume.pixel_spacing_mm
        height_mm, width_mm = rows * sr, cols * sc
        scale = side / max(height_mm, width_mm)
        return width_mm * scale, height_mm * scale, sc * scale

    def draw(self) -> None:
        canvas = self.canv
        self.caption.drawOn(canvas, 0, self.height - self.caption_height)
        top = self.height - self.caption_height - 3
        crop = self.crop
        for n, preset in enumerate(display_windows()):
            x = n * (self.panel + GAP)
            self._zoom_panel(canvas, x, top - self.panel, preset, crop)
        self._overview(canvas, 3 * (self.panel + GAP), top)

    def _zoom_panel(
        self, canvas: Canvas, x: float, y: float, preset: WindowPreset, crop: Crop
    ) -> None:
        volume, view = self.volume, self.view
        pixels = windowed(volume, view.slice_index, preset)[crop.r0 : crop.r1, crop.c0 : crop.c1]
        w, h, per_px_x = self._fit(crop.rows, crop.cols, self.panel)
        per_px_y = h / crop.rows
        ox, oy = x + (self.panel - w) / 2, y + (self.panel - h) / 2
        canvas.setFillColor(colors.black)
        canvas.rect(x, y, self.panel, self.panel, stroke=0, fill=1)
        canvas.drawImage(_gray_image(pixels, min_px=ZOOM_MIN_PX), ox, oy, w, h)
        result = view.result
        if result is not None and result.box is not None:
            b = crop.box_in_crop(result.box)
            colour = colors.HexColor(group_colour(view.group))
            bx0, bx1 = ox + b.x0 * per_px_x, ox + b.x1 * per_px_x
            by0, by1 = oy + h - b.y1 * per_px_y, oy + h - b.y0 * per_px_y
            canvas.saveState()
            canvas.setStrokeColor(colour)
            canvas.setLineWidth(1.6)
            canvas.rect(bx0 - 1.5, by0 - 1.5, bx1 - bx0 + 3, by1 - by0 + 3, stroke=1, fill=0)
            label = _chip_label(view)
            size = 7.0
            lw = stringWidth(label, BOLD, size) + 4
            # In the bottom-left corner, not beside the box: the label must not hide the
            # epidural space it grades. Same colour as the box, so they read together.
            lx, ly = x + 3, y + 3
            canvas.setFillColor(colour)
            canvas.rect(lx, ly, lw, size + 3, stroke=0, fill=1)
            text = ink_on(rgb(group_colour(view.group)))
            canvas.setFillColor(colors.Color(*(c / 255 for c in text)))
            canvas.setFont(BOLD, size)
            canvas.drawString(lx + 2, ly + 2.2, label)
            canvas.restoreState()
        else:
            _outlined(
                canvas,
                x + self.panel / 2,
                y + self.panel - 22,
                "Canal not found",
                7,
                align="c",
                fill=colors.HexColor(group_colour(None)),
            )
        letters = edge_letters(volume)
        mid_x, mid_y = x + self.panel / 2, y + self.panel / 2
        _outlined(canvas, x + 2.5, mid_y - 3, letters.left, 8)
        _outlined(canvas, x + self.panel - 2.5, mid_y - 3, letters.right, 8, align="r")
        _outlined(canvas, mid_x, y + self.panel - 9, letters.top, 8, align="c")
        _outlined(canvas, mid_x, y + 3, letters.bottom, 8, align="c")
        window = PAPER_WINDOWS[preset]
        _outlined(canvas, x + 3, y + self.panel - 9, window.name, 7.5)
        _outlined(
            canvas,
            x + 3,
            y + self.panel - 17,
            f"W {window.width:g} / L {window.level:g}",
            6,
            font=REGULAR,
        )
        # Scale bar, bottom right.
        mm_per_point = volume.pixel_spacing_mm[1] / per_px_x
        bar_mm = scale_bar_mm(int(w), mm_per_point, fraction=0.3)
        bar = bar_mm / mm_per_point
        x1 = x + self.panel - 5
        x0 = x1 - bar
        yb = y + 6
        canvas.saveState()
        for colour, width in ((colors.black, 2.6), (colors.white, 1.2)):
            canvas.setStrokeColor(colour)
            canvas.setLineWidth(width)
            canvas.line(x0, yb, x1, yb)
            canvas.line(x0, yb - 2, x0, yb + 2)
            canvas.line(x1, yb - 2, x1, yb + 2)
        canvas.restoreState()
        _outlined(canvas, (x0 + x1) / 2, yb + 4, f"{bar_mm:g} mm", 6, align="c", font=REGULAR)

    def _overview(self, canvas: Canvas, x: float, top: float) -> None:
        volume, view, crop = self.volume, self.view, self.crop
        side = self.panel * OVERVIEW_SHARE
        rows, cols = volume.hu.shape[1], volume.hu.shape[2]
        w, h, per_px = self._fit(rows, cols, side)
        per_px_y = h / rows
        y = top - side
        canvas.setFillColor(colors.black)
        canvas.rect(x, y, side, side, stroke=0, fill=1)
        ox, oy = x + (side - w) / 2, y + (side - h) / 2
        pixels = windowed(volume, view.slice_index, WindowPreset.ABDOMEN)
        canvas.drawImage(_gray_image(pixels, max_px=OVERVIEW_PX), ox, oy, w, h)
        canvas.saveState()
        canvas.setStrokeColor(colors.HexColor(OKABE_ITO_SKY_BLUE))
        canvas.setLineWidth(0.9)
        canvas.rect(
            ox + crop.c0 * per_px,
            oy + h - crop.r1 * per_px_y,
            crop.cols * per_px,
            crop.rows * per_px_y,
            stroke=1,
            fill=0,
        )
        canvas.restoreState()
        letters = edge_letters(volume)
        _outlined(canvas, x + 2, y + side / 2 - 3, letters.left, 6.5)
        _outlined(canvas, x + side - 2, y + side / 2 - 3, letters.right, 6.5, align="r")
        canvas.setFillColor(colors.black)
        canvas.setFont(REGULAR, 6.5)
        canvas.drawString(x, y - 8, "Whole slice (abdomen window);")
        canvas.drawString(x, y - 15.5, "blue: the zoomed field")
        canvas.drawString(x, y - 23, position_text(volume, view.slice_index).split(" · ")[0])


def caption_text(volume: Volume, view: KeyView, decision: str) -> str:
    """The caption of one key image (reportlab paragraph markup)."""
    parts = []
    if view.lesion_number is not None:
        parts.append(f"Finding {view.lesion_number}")
    if view.level:
        parts.append(view.level)
    parts.append(view.grade_text)
    head = escape(" · ".join(parts))
    tail = [position_text(volume, view.slice_index)]
    if decision and not decision.startswith("Regraded"):  # a regrade is in the head already
        tail.append(f"Reader: {decision.lower()}")
    if view.reader_marked:
        tail.append("marked as key image by the reader")
    colour = group_colour(view.group)
    swatch = f'<span backColor="{colour}">&nbsp;&nbsp;&nbsp;&nbsp;</span>&nbsp; '
    return f"{swatch}<b>{head}</b> · {escape(' · '.join(tail))}"


__all__ = ["KeyImageRow", "caption_text"]
