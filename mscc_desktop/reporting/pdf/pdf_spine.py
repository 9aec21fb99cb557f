"""The PDF's spine overview: a sagittal reformat along the canal with findings and levels.

Page 1 carries it beside a short legend: the curved sagittal plane through the detected canal
(:mod:`mscc_desktop.core.spine.reformat`, the same geometry as the workstation's view, true
millimetres from the real slice positions) in the bone window, cropped to the spine; each
finding as a band across the canal in its grade's colour with its number; the vertebral
levels the reader confirmed in the left margin. An unconfirmed proposal is never printed:
the legend says the levels are not confirmed. Rows with no data (gaps) are hatched and named
in the legend, never stretched.
"""

from __future__ import annotations

import logging

import numpy as np
from PIL import Image
from reportlab.lib import colors
from reportlab.lib.utils import ImageReader
from reportlab.platypus import Flowable, Paragraph

from mscc_desktop.core.errors import UnusableSeriesError
from mscc_desktop.core.spine.centreline import Centreline, centreline_from_results
from mscc_desktop.core.spine.reformat import Plane, Reformat, curved_reformat, straight_reformat
from mscc_desktop.core.windows import PAPER_WINDOWS, WindowPreset
from mscc_desktop.reporting.deid import ExportIdentity
from mscc_desktop.reporting.fonts import BOLD, REGULAR
from mscc_desktop.reporting.inputs import ReportInputs
from mscc_desktop.reporting.palette import group_colour
from mscc_desktop.reporting.pdf.pdf_doc import escape
from mscc_desktop.reporting.pdf.pdf_sections import Styles
from mscc_desktop.reporting.summary import FindingRow

logger = logging.getLogger(__name__)

ANTERIOR_MM = 75.0  # the crop reaches this far in front of the canal (the vertebral bodies)
POSTERIOR_MM = 45.0  # and this far behind it (the spinous processes)
LABEL_WIDTH = 26.0  # points left of the image for the level names
BAND_HALF_MM = 12.0
BAR_SPACE = 6.0  # points between the findings' number labels and the right-hand column
COLUMN_GAP = 4.0  # points between the legend and what stands under it
NO_DATA_GREY = 205  # gaps print light grey with hatching: never mistaken for tissue or air


def spine_reformat(inputs: ReportInputs) -> tuple[Reformat, Centreline | None]:
    """The curved sagittal reformat along the canal (straight mid-image if no canal)."""
    volume = inputs.volume
    try:
        line: Centreline | None = centreline_from_results(volume, inputs.findings.slices)
    except UnusableSeriesError:
        line = None
    if line is None:
        return straight_reformat(volume, Plane.SAGITTAL), None
    return curved_reformat(volume, line, Plane.SAGITTAL), line


class SpineOverview(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """The sagittal overview (left) and its legend (right), ``height`` points tall."""

    def __init__(
        self,
        inputs: ReportInputs,
        rows: tuple[FindingRow, ...] | list[FindingRow],
        identity: ExportIdentity,
        st: Styles,
        width: float,
        height: float,
    ) -> None:
        super().__init__()
        self.inputs = inputs
        self.rows = list(rows)
        self.identity = identity
        self.width = width
        self.height = height
        self.view, self.line = spine_reformat(inputs)
        u_centre = self._canal_u()
        spacing = self.view.u_spacing_mm
        n_u = self.view.image_hu.shape[1]
        self.u0 = int(max(0, np.floor(u_centre - ANTERIOR_MM / spacing)))
        self.u1 = int(min(n_u, np.ceil(u_centre + POSTERIOR_MM / spacing)))
        n_rows = self.view.image_hu.shape[0]
        height_mm = n_rows * self.view.grid.step_mm
        width_mm = (self.u1 - self.u0) * spacing
        self.scale = min(height / height_mm, (width * 0.45 - LABEL_WIDTH) / width_mm)
        self.image_w, self.image_h = width_mm * self.scale, height_mm * self.scale
        self.legend = Paragraph(self._legend_text(), st["small"])
        self.beside: list[Flowable] = []  # stacked under the legend (the grade chart)

    @property
    def column_width(self) -> float:
        """Width of the right-hand column (legend and what is stacked under it)."""
        return float(self.width - LABEL_WIDTH - self.image_w - 14 - BAR_SPACE)

    # ---- geometry -----------------------------------------------------------------------
    def _canal_u(self) -> float:
        line, view = self.line, self.view
        if line is None:
            return float(view.image_hu.shape[1] - 1) / 2.0
        us = [
            view.from_axial(k, float(line.rows_px[k]), float(line.cols_px[k]))[1]
            for k in range(line.rows_px.shape[0])
        ]
        return float(np.median(us))

    def _y(self, row: float) -> float:
        """Page y of fractional reformat row ``row`` (row centres, head at the top)."""
        per_row = self.image_h / self.view.image_hu.shape[0]
        return float(self.height - (row + 0.5) * per_row)

    def _x(self, u: float) -> float:
        per_u = self.image_w / (self.u1 - self.u0)
        return float(LABEL_WIDTH + (u - self.u0 + 0.5) * per_u)

    # ---- text ---------------------------------------------------------------------------
    def _legend_text(self) -> str:
        inputs = self.inputs
        how = (
            "Curved sagittal plane through the detected spinal canal"
            if self.line is not None
            else "Straight sagittal plane through the middle of the image (canal not found)"
        )
        parts = [f"<b>Spine overview.</b> {how}, bone window, head at the top."]
        if self.rows:
            parts.append(
                "Bands: the findings, numbered as in the table, in their AI grade's colour "
                "(vermillion high, orange low grade)."
            )
        numbering = inputs.levels
        if numbering is not None:
            who = self.identity.reader(numbering.user) or "the reader"
            when = (
                ""
                if self.identity.deidentified
                else f" on {numbering.confirmed_at.astimezone().strftime('%Y-%m-%d %H:%M')}"
            )
            parts.append(
                f"<b>Vertebral levels</b> {escape(numbering.extent)}: automatic count "
                f"{escape(numbering.shift_text)}, confirmed by {escape(who)}{when}. A level "
                "typed in a review takes precedence."
            )
        else:
            parts.append(
                "<b>Vertebral levels: not confirmed by the reader.</b> The automatic proposal is "
                "not reported; levels shown in the table were entered by the reader."
            )
        for notice in self.view.notices:
            parts.append(escape(notice.message))
        return "<br/>".join(parts)

    # ---- drawing ------------------------------------------------------------------------
    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        _, column_h = self.legend.wrap(self.column_width, avail_height)
        for flowable in self.beside:
            column_h += COLUMN_GAP + flowable.wrap(self.column_width, avail_height)[1]
        self.height = max(self.image_h, column_h)
        return (self.width, self.height)

    def _pixels(self) -> Image.Image:
        view = self.view
        grey = view.to_uint8(PAPER_WINDOWS[WindowPreset.BONE])[:, self.u0 : self.u1]
        missing = view.no_data[:, self.u0 : self.u1]
        out = grey.copy()
        if missing.any():
            rows, cols = np.nonzero(missing)
            out[rows, cols] = np.where((rows + cols) % 6 < 2, 150, NO_DATA_GREY)
        image = Image.fromarray(np.ascontiguousarray(out), mode="L")
        # Upsample so the print stays smooth (the reformat is ~0.7-1 mm a pixel).
        factor = max(1, round(600 / max(image.height, 1)))
        if factor > 1:
            image = image.resize(
                (image.width * factor, image.height * factor), Image.Resampling.BICUBIC
            )
        return image

    def draw(self) -> None:
        canvas = self.canv
        top = self.height
        canvas.drawImage(
            ImageReader(self._pixels()),
            LABEL_WIDTH,
            top - self.image_h,
            self.image_w,
            self.image_h,
        )
        self._draw_bands(canvas)
        self._draw_levels(canvas)
        x = LABEL_WIDTH + self.image_w + 14 + BAR_SPACE
        y = top - self.legend.height
        self.legend.drawOn(canvas, x, y)
        for flowable in self.beside:
            _, h = flowable.wrap(self.column_width, self.height)
            y -= COLUMN_GAP + h
            flowable.drawOn(canvas, x, y)

    def _draw_bands(self, canvas: object) -> None:
        view = self.view
        half = BAND_HALF_MM / view.u_spacing_mm
        for row in self.rows:
            lesion = row.lesion
            top, bottom = view.grid.rows_of_z_range(lesion.z_to_mm, lesion.z_from_mm)
            u = self._lesion_u(lesion.first_slice, lesion.last_slice)
            x0, x1 = self._x(u - half), self._x(u + half)
            y0, y1 = self._y(bottom), self._y(top)
            if y1 - y0 < 2.0:
                y0, y1 = (y0 + y1) / 2 - 1.0, (y0 + y1) / 2 + 1.0
            colour = colors.HexColor(group_colour(row.ai_group))
            canvas.setStrokeColor(colour)  # type: ignore[attr-defined]
            canvas.setLineWidth(1.6 if row.final_group is not None else 0.8)  # type: ignore[attr-defined]
            canvas.rect(x0, y0, x1 - x0, y1 - y0, stroke=1, fill=0)  # type: ignore[attr-defined]
            canvas.setFillColor(colour)  # type: ignore[attr-defined]
            x_bar = LABEL_WIDTH + self.image_w + 2
            canvas.rect(x_bar, y0, 3, y1 - y0, stroke=0, fill=1)  # type: ignore[attr-defined]
            canvas.setFont(BOLD, 7)  # type: ignore[attr-defined]
            canvas.drawString(x1 + 2, (y0 + y1) / 2 - 2.5, str(lesion.number))  # type: ignore[attr-defined]

    def _lesion_u(self, first: int, last: int) -> float:
        line, view = self.line, self.view
        if line is None:
            return float(view.image_hu.shape[1] - 1) / 2.0
        us = [
            view.from_axial(k, float(line.rows_px[k]), float(line.cols_px[k]))[1]
            for k in range(first, last + 1)
        ]
        return float(np.median(us))

    def _draw_levels(self, canvas: object) -> None:
        numbering = self.inputs.levels
        if numbering is None:
            return
        grid = self.view.grid
        z = grid.slice_z_mm
        levels = numbering.levels
        n = len(levels)
        last_y = float("inf")
        canvas.setFont(REGULAR, 6.5)  # type: ignore[attr-defined]
        k = 0
        while k < n:
            name = levels[k]
            end = k
            while end + 1 < n and levels[end + 1] == name:
                end += 1
            if name is not None:
                z_top = z[k] if k == 0 else 0.5 * (z[k - 1] + z[k])
                z_bottom = z[end] if end == n - 1 else 0.5 * (z[end] + z[end + 1])
                y_top = self._y(grid.row_of_z(float(z_top)))
                y_bottom = self._y(grid.row_of_z(float(z_bottom)))
                canvas.setStrokeColor(colors.HexColor("#5A5A5A"))  # type: ignore[attr-defined]
                canvas.setLineWidth(0.5)  # type: ignore[attr-defined]
                canvas.line(LABEL_WIDTH - 5, y_top, LABEL_WIDTH, y_top)  # type: ignore[attr-defined]
                y_text = (y_top + y_bottom) / 2 - 2.2
                if last_y - y_text >= 7.0:
                    canvas.setFillColor(colors.black)  # type: ignore[attr-defined]
                    canvas.drawRightString(LABEL_WIDTH - 7, y_text, name)  # type: ignore[attr-defined]
                    last_y = y_text
            k = end + 1


__all__ = ["SpineOverview", "spine_reformat"]
