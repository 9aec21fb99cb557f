"""The grade strip chart: P(low) and P(high) of every slice along the spine, findings marked.

Drawn with reportlab's own graphics (vector, no plotting library). The x axis is the slice
number, head on the left; findings are shaded bands in their grade colour, numbered as in the
findings table and labelled with the reader's vertebral level when there is one. Slices where
the canal was not found have no probability: the curves break there and a grey tick marks
them. P(high) is a solid line and P(low) a dashed one, so the chart also reads in greyscale.
"""

from __future__ import annotations

from collections.abc import Sequence

from reportlab.graphics.shapes import Drawing, Line, Polygon, PolyLine, Rect, String
from reportlab.lib import colors
from reportlab.pdfbase.pdfmetrics import stringWidth

from mscc_desktop.core.findings import SliceResult, Thresholds
from mscc_desktop.reporting.fonts import BOLD, REGULAR
from mscc_desktop.reporting.palette import (
    GROUP_COLOURS,
    GROUP_TINTS,
    NOT_FOUND_GREY,
    OKABE_ITO_ORANGE,
    OKABE_ITO_VERMILLION,
)
from mscc_desktop.reporting.summary import FindingRow, KeyView

LEFT = 30.0
RIGHT = 8.0
TOP = 26.0
BOTTOM = 26.0
_STEPS = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000)


def _tick_step(n_slices: int, width: float) -> int:
    """A round slice-number step giving ticks at least ~45 points apart."""
    wanted = n_slices * 45.0 / max(width, 1.0)
    return next((s for s in _STEPS if s >= wanted), _STEPS[-1])


def _runs(slices: Sequence[SliceResult]) -> list[list[SliceResult]]:
    """Consecutive slices with probabilities (a slice without a canal breaks the curve)."""
    runs: list[list[SliceResult]] = []
    current: list[SliceResult] = []
    for item in slices:
        if item.probabilities is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(item)
    if current:
        runs.append(current)
    return runs


def strip_chart(
    slices: Sequence[SliceResult],
    n_slices: int,
    rows: Sequence[FindingRow],
    views: Sequence[KeyView],
    thresholds: Thresholds,
    *,
    width: float,
    height: float = 112.0,
) -> Drawing:
    """The chart as a reportlab Drawing ``width`` × ``height`` points."""
    drawing = Drawing(width, height)
    plot_w = width - LEFT - RIGHT
    plot_h = height - TOP - BOTTOM
    span = max(n_slices - 1, 1)

    def x_of(index: float) -> float:
        return LEFT + plot_w * (index / span if n_slices > 1 else 0.5)

    def y_of(p: float) -> float:
        return BOTTOM + plot_h * min(max(p, 0.0), 1.0)

    drawing.add(
        Rect(
            LEFT,
            BOTTOM,
            plot_w,
            plot_h,
            fillColor=colors.white,
            strokeColor=colors.HexColor("#888888"),
            strokeWidth=0.6,
        )
    )
    half = plot_w / span / 2 if n_slices > 1 else 2.0
    for row in rows:
        group = row.ai_group  # the curves are the model's: shade its grade
        x0 = x_of(row.lesion.first_slice) - half
        x1 = x_of(row.lesion.last_slice) + half
        rejected = row.final_group is None
        drawing.add(
            Rect(
                x0,
                BOTTOM,
                max(x1 - x0, 1.5),
                plot_h,
                strokeColor=None,
                fillColor=colors.HexColor("#EEEEEE" if rejected else GROUP_TINTS[group]),
            )
        )
        label = str(row.lesion.number) + (f" {row.level}" if row.level else "")
        drawing.add(
            String(
                (x0 + x1) / 2,
                BOTTOM + plot_h + 4,
                label,
                fontName=BOLD,
                fontSize=7,
                textAnchor="middle",
                fillColor=colors.HexColor(GROUP_COLOURS[group]),
            )
        )
    for value in (0.0, 0.5, 1.0):
        y = y_of(value)
        drawing.add(
            String(
                LEFT - 4, y - 2.5, f"{value:.1f}", fontName=REGULAR, fontSize=7, textAnchor="end"
            )
        )
    drawing.add(
        Line(
            LEFT,
            y_of(thresholds.high),
            LEFT + plot_w,
            y_of(thresholds.high),
            strokeColor=colors.HexColor("#777777"),
            strokeWidth=0.6,
            strokeDashArray=[1, 2],
        )
    )
    for run in _runs(slices):
        for attribute, colour, dash in (
            ("p_low", OKABE_ITO_ORANGE, [3, 2]),
            ("p_high", OKABE_ITO_VERMILLION, None),
        ):
            points: list[float] = []
            for item in run:
                points += [x_of(item.index), y_of(getattr(item, attribute))]
            if len(points) == 2:  # a single slice: a short tick so it shows
                points += [points[0] + 0.01, points[1]]
            drawing.add(
                PolyLine(
                    points,
                    strokeColor=colors.HexColor(colour),
                    strokeWidth=1.1,
                    strokeDashArray=dash,
                )
            )
    for item in slices:
        if item.probabilities is None:
            x = x_of(item.index)
            drawing.add(
                Line(
                    x,
                    BOTTOM,
                    x,
                    BOTTOM - 3,
                    strokeColor=colors.HexColor(NOT_FOUND_GREY),
                    strokeWidth=0.8,
                )
            )
    for view in views:
        x = x_of(view.slice_index)
        y = BOTTOM + plot_h
        drawing.add(
            Polygon(
                [x - 2.5, y + 0.5, x + 2.5, y + 0.5, x, y - 3.5],
                fillColor=colors.black,
                strokeColor=None,
            )
        )
    step = _tick_step(n_slices, plot_w)
    ticks = [1, *range(step, n_slices + 1, step)]
    if ticks[-1] != n_slices and n_slices - ticks[-1] > step / 3:
        ticks.append(n_slices)
    for number in ticks:
        x = x_of(number - 1)
        drawing.add(Line(x, BOTTOM, x, BOTTOM - 3, strokeColor=colors.black, strokeWidth=0.5))
        drawing.add(
            String(x, BOTTOM - 11, str(number), fontName=REGULAR, fontSize=7, textAnchor="middle")
        )
    legend = (
        (f"high-grade cut-off {thresholds.high:.2f}", "#777777", [1, 2]),
        ("P(low)", OKABE_ITO_ORANGE, [3, 2]),
        ("P(high)", OKABE_ITO_VERMILLION, None),
    )
    legend_w = sum(stringWidth(text, REGULAR, 7) + 30 for text, _, _ in legend)
    title = "Slice number  (head  \u2192  feet)"
    if stringWidth(title, REGULAR, 7.5) + 8 > plot_w - legend_w:
        title = "Slice (head \u2192 feet)"  # a narrow chart (beside the spine overview)
    drawing.add(String(LEFT, 4, title, fontName=REGULAR, fontSize=7.5))
    legend_y = 5.0
    x = LEFT + plot_w
    for text, colour, dash in legend:
        drawing.add(String(x, legend_y, text, fontName=REGULAR, fontSize=7, textAnchor="end"))
        x -= stringWidth(text, REGULAR, 7) + 4
        drawing.add(
            Line(
                x - 16,
                legend_y + 2.5,
                x,
                legend_y + 2.5,
                strokeColor=colors.HexColor(colour),
                strokeWidth=1.3,
                strokeDashArray=dash,
            )
        )
        x -= 26
    drawing.add(String(4, BOTTOM + plot_h / 2, "P", fontName=BOLD, fontSize=8))
    return drawing


__all__ = ["strip_chart"]
