"""Probability calibration of the grader: temperature scaling, calibration error, reliability.

The grader's fused (normal, low, high) probabilities are calibrated by one temperature T,
``p_cal = softmax(log(p) / T)`` (Guo et al., "On calibration of modern neural networks",
ICML 2017), fitted on the calibration studies by minimising the negative log-likelihood of
their true classes. T > 1 softens over-confident probabilities, T < 1 sharpens
under-confident ones; the most probable class never changes. The model folder records T as
``probability_temperature`` and the pipeline applies it
(:func:`~mscc_desktop.inference.probabilities.apply_temperature`) before its thresholds, so the
thresholds must be chosen on calibrated probabilities too.

How well a probability means what it says is shown by a reliability diagram: slices binned by
predicted P(high) (or by the top class's probability), each bin's mean prediction against the
observed rate, with the number of slices per bin; the expected calibration error (ECE) is the
count-weighted mean gap. :func:`draw_reliability_diagram` draws it before and after
calibration as a PNG (Pillow).

Typical use on calibration predictions (``truth`` holds class positions 0/1/2)::

    fit = fit_temperature(probabilities, truth)
    calibrated = apply_temperature(probabilities, fit.temperature)
    draw_reliability_diagram(
        "reliability.png",
        reliability_bins(probabilities, truth),
        reliability_bins(calibrated, truth),
        temperature=fit.temperature,
    )
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont
from scipy.optimize import minimize_scalar

from mscc_desktop.core.grades import GROUP_ORDER, GradeGroup
from mscc_desktop.inference.probabilities import MAX_TEMPERATURE, MIN_TEMPERATURE, apply_temperature

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_HIGH = GradeGroup.HIGH.position
_N_CLASSES = len(GROUP_ORDER)
# log(0) would make one confidently wrong slice an infinite loss; 1e-12 caps it at 27.6 nats.
_EPS = 1e-12


class ReliabilityKind(StrEnum):
    """What a reliability diagram bins."""

    HIGH = "high"  # predicted P(high) against the observed high-grade rate
    TOP = "top"  # the top class's probability against how often the top class is right


@dataclass(frozen=True, slots=True)
class TemperatureFit:
    """A fitted temperature and the negative log-likelihood (nats per slice) around it."""

    temperature: float
    nll_before: float  # at T = 1
    nll_after: float
    n: int
    at_bound: bool  # the optimum is at the edge of the allowed range: look at the data

    @property
    def improved(self) -> bool:
        return self.nll_after <= self.nll_before


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    """One bin of a reliability diagram: ``lower <= p < upper`` (the last bin includes 1)."""

    lower: float
    upper: float
    n: int
    mean_predicted: float  # NaN when the bin is empty
    observed_rate: float  # NaN when the bin is empty

    @property
    def gap(self) -> float:
        """Mean predicted minus observed: > 0 over-confident (for P(high): over-calls)."""
        return self.mean_predicted - self.observed_rate


@dataclass(frozen=True, slots=True)
class ReliabilityDiagram:
    """The bins of one reliability diagram and its expected calibration error."""

    kind: ReliabilityKind
    bins: tuple[ReliabilityBin, ...]
    ece: float
    n: int

    @property
    def max_gap(self) -> float:
        """The largest absolute gap of a non-empty bin (maximum calibration error)."""
        gaps = [abs(b.gap) for b in self.bins if b.n]
        return max(gaps, default=float("nan"))


# --------------------------------------------------------------------------------- inputs
def _check(probabilities: npt.ArrayLike, truth: npt.ArrayLike) -> tuple[FloatArray, IntArray]:
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(truth)
    if p.ndim != 2 or p.shape[1] != _N_CLASSES:
        raise ValueError(f"probabilities must be (N, {_N_CLASSES}) (normal, low, high)")
    if y.shape != (p.shape[0],):
        raise ValueError("truth must hold one class per row of probabilities")
    if p.shape[0] == 0:
        raise ValueError("calibration needs at least one slice")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(
            "probabilities must be finite and non-negative: drop the slices without a grade "
            "(canal not found) before calibrating"
        )
    if not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("each row of probabilities must sum to 1")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= _N_CLASSES:
        raise ValueError(
            f"truth must be class positions 0..{_N_CLASSES - 1} (normal, low, high); drop "
            "ungraded slices (-1) first"
        )
    return p, y.astype(np.int64)


def _nll(p: FloatArray, y: IntArray) -> float:
    return float(-np.mean(np.log(np.clip(p[np.arange(y.size), y], _EPS, 1.0))))


def negative_log_likelihood(probabilities: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    """Mean negative log-likelihood (nats per slice) of the true classes."""
    p, y = _check(probabilities, truth)
    return _nll(p, y)


def _scaled(p: FloatArray, temperature: float) -> FloatArray:
    return np.asarray(apply_temperature(p, temperature), dtype=np.float64)


# --------------------------------------------------------------------------------- fitting
def fit_temperature(
    probabilities: npt.ArrayLike,
    truth: npt.ArrayLike,
    *,
    bounds: tuple[float, float] = (MIN_TEMPERATURE, MAX_TEMPERATURE),
) -> TemperatureFit:
    """The temperature that minimises the negative log-likelihood of ``truth``.

    Parameters
    ----------
    probabilities
        ``(N, 3)`` fused (normal, low, high) probabilities of the calibration slices, as the
        pipeline computes them before calibration (temperature 1).
    truth
        ``(N,)`` true class positions (0 normal, 1 low, 2 high grade).
    bounds
        The search range; by default the range a model manifest accepts.

    Returns
    -------
    TemperatureFit
        The temperature (bounded 1-D search on log T, which the NLL is smooth in) and the
        NLL at T = 1 and at the fit.

    Raises
    ------
    ValueError
        Bad shapes, non-finite probabilities, classes outside 0..2, or bad bounds.
    """
    p, y = _check(probabilities, truth)
    lo, hi = float(bounds[0]), float(bounds[1])
    if not 0 < lo < hi:
        raise ValueError(f"temperature bounds must satisfy 0 < low < high, not {bounds}")
    solution = minimize_scalar(
        lambda log_t: _nll(_scaled(p, math.exp(log_t)), y),
        bounds=(math.log(lo), math.log(hi)),
        method="bounded",
        options={"xatol": 1e-5},
    )
    temperature = float(np.clip(math.exp(float(solution.x)), lo, hi))
    before = _nll(p, y)
    after = _nll(_scaled(p, temperature), y)
    if after > before:  # a flat or degenerate NLL: T = 1 is at least as good
        temperature, after = 1.0, before
    near = 1e-3
    at_bound = temperature <= lo * (1 + near) or temperature >= hi * (1 - near)
    return TemperatureFit(temperature, before, after, int(y.size), at_bound)


# --------------------------------------------------------------------------------- reliability
def _scores(p: FloatArray, y: IntArray, kind: ReliabilityKind) -> tuple[FloatArray, FloatArray]:
    """Predicted value and outcome (1 = event) per slice for this kind of diagram."""
    if kind is ReliabilityKind.HIGH:
        return p[:, _HIGH], (y == _HIGH).astype(np.float64)
    top = p.argmax(axis=1)
    return p.max(axis=1), (top == y).astype(np.float64)


def _edges(n_bins: int, edges: Sequence[float] | None) -> FloatArray:
    if edges is None:
        if n_bins < 1:
            raise ValueError("n_bins must be at least 1")
        return np.linspace(0.0, 1.0, n_bins + 1)
    out = np.asarray(edges, dtype=np.float64)
    if out.ndim != 1 or out.size < 2 or out[0] != 0.0 or out[-1] != 1.0:
        raise ValueError("bin edges must run from 0 to 1")
    if np.any(np.diff(out) <= 0):
        raise ValueError("bin edges must increase")
    return out


def reliability_bins(
    probabilities: npt.ArrayLike,
    truth: npt.ArrayLike,
    *,
    kind: ReliabilityKind | str = ReliabilityKind.HIGH,
    n_bins: int = 10,
    edges: Sequence[float] | None = None,
) -> ReliabilityDiagram:
    """Reliability-diagram bins and the expected calibration error.

    Parameters
    ----------
    probabilities, truth
        As for :func:`fit_temperature`.
    kind
        ``"high"``: predicted P(high) against the observed high-grade rate (what a reader of
        "P(high) 0.27" needs); ``"top"``: the top class's probability against its accuracy.
    n_bins
        Equal-width bins over [0, 1] (ignored when ``edges`` is given).
    edges
        Custom bin edges from 0 to 1, e.g. finer near a low threshold.

    Returns
    -------
    ReliabilityDiagram
        Every bin, empty ones included (NaN means, ``n`` 0); the ECE is
        ``sum(n_b / N * |mean predicted_b - observed_b|)`` over the bins.
    """
    p, y = _check(probabilities, truth)
    chosen = ReliabilityKind(kind)
    bounds = _edges(n_bins, edges)
    predicted, outcome = _scores(p, y, chosen)
    # Bin b holds bounds[b] <= value < bounds[b + 1]; the last bin also holds 1.0.
    index = np.clip(np.searchsorted(bounds, predicted, side="right") - 1, 0, bounds.size - 2)
    bins: list[ReliabilityBin] = []
    ece = 0.0
    for b in range(bounds.size - 1):
        members = index == b
        n = int(members.sum())
        if n:
            mean_p = float(predicted[members].mean())
            rate = float(outcome[members].mean())
            ece += n / y.size * abs(mean_p - rate)
        else:
            mean_p = rate = float("nan")
        bins.append(ReliabilityBin(float(bounds[b]), float(bounds[b + 1]), n, mean_p, rate))
    return ReliabilityDiagram(chosen, tuple(bins), float(ece), int(y.size))


def expected_calibration_error(
    probabilities: npt.ArrayLike,
    truth: npt.ArrayLike,
    *,
    kind: ReliabilityKind | str = ReliabilityKind.HIGH,
    n_bins: int = 10,
    edges: Sequence[float] | None = None,
) -> float:
    """The expected calibration error of :func:`reliability_bins` (same arguments)."""
    return reliability_bins(probabilities, truth, kind=kind, n_bins=n_bins, edges=edges).ece


# --------------------------------------------------------------------------------- drawing
_INK = (0, 0, 0)
_GRID = (225, 225, 225)
_MUTED = (110, 110, 110)
_BAR = (213, 94, 0)  # Okabe-Ito vermillion, the high-grade colour everywhere in the app
_BAR_FILL = (240, 190, 160)
_DIAGONAL = (0, 114, 178)  # Okabe-Ito blue
_AXIS_TEXT = {
    ReliabilityKind.HIGH: ("predicted P(high)", "observed high-grade rate"),
    ReliabilityKind.TOP: ("probability of the top class", "how often the top class is right"),
}


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _panel(
    image: Image.Image,
    diagram: ReliabilityDiagram,
    title: str,
    box: tuple[int, int, int, int],
    fonts: tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, ...],
) -> None:
    """One reliability diagram inside ``box`` (left, top, right, bottom pixels)."""
    big, small, tiny = fonts
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = box
    x0, x1 = left + 58, right - 12  # plot area
    y0, y1 = top + 66, bottom - 56
    width, height = x1 - x0, y1 - y0

    def x(value: float) -> float:
        return x0 + value * width

    def y(value: float) -> float:
        return y1 - value * height

    draw.text((left + 8, top + 6), title, font=big, fill=_INK)
    draw.text(
        (left + 8, top + 28),
        f"ECE {diagram.ece:.3f} · {diagram.n} slices · above the frame: slices per bin",
        font=tiny,
        fill=_MUTED,
    )
    for tick in np.linspace(0.0, 1.0, 6):
        draw.line((x(tick), y0, x(tick), y1), fill=_GRID)
        draw.line((x0, y(tick), x1, y(tick)), fill=_GRID)
        draw.text((x(tick), y1 + 4), f"{tick:.1f}", font=small, fill=_INK, anchor="ma")
        draw.text((x0 - 6, y(tick)), f"{tick:.1f}", font=small, fill=_INK, anchor="rm")
    for b in diagram.bins:
        if not b.n:
            continue
        # Bar: the observed rate over the bin; dot: the bin's mean prediction at that rate.
        draw.rectangle(
            (x(b.lower) + 1, y(b.observed_rate), x(b.upper) - 1, y1), fill=_BAR_FILL, outline=_BAR
        )
        cx, cy = x(b.mean_predicted), y(b.observed_rate)
        draw.ellipse((cx - 4, cy - 4, cx + 4, cy + 4), fill=_BAR)
        # The count in a row above the frame, clear of the bars, dots and diagonal.
        centre = (x(b.lower) + x(b.upper)) / 2
        draw.text((centre, y0 - 3), str(b.n), font=tiny, fill=_MUTED, anchor="md")
    draw.line((x(0), y(0), x(1), y(1)), fill=_DIAGONAL, width=2)
    draw.rectangle((x0, y0, x1, y1), outline=_INK)
    x_label, y_label = _AXIS_TEXT[diagram.kind]
    draw.text(((x0 + x1) / 2, y1 + 24), x_label, font=small, fill=_INK, anchor="ma")
    label = Image.new("RGBA", (height, 22), (255, 255, 255, 0))
    ImageDraw.Draw(label).text((height / 2, 11), y_label, font=small, fill=_INK, anchor="mm")
    upright = label.rotate(90, expand=True)
    image.paste(upright, (left + 2, y0), upright)


def draw_reliability_diagram(
    path: str | os.PathLike[str],
    before: ReliabilityDiagram,
    after: ReliabilityDiagram | None = None,
    *,
    temperature: float | None = None,
    title: str = "",
    panel_px: int = 460,
) -> Path:
    """Draw reliability diagrams to a PNG: ``before`` calibration, and ``after`` beside it.

    Each panel shows every non-empty bin as a bar up to its observed rate, a dot at the
    bin's mean prediction, the number of slices in the bin, and the diagonal of perfect
    calibration (bars below the diagonal: the model over-states that probability).

    Parameters
    ----------
    path
        The PNG to write (its folder must exist).
    before, after
        From :func:`reliability_bins` on the raw and on the calibrated probabilities.
    temperature
        Shown in the second panel's title.
    title
        A line above both panels (e.g. the model and the data set).
    panel_px
        Width of one panel in pixels.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    panels = [before] if after is None else [before, after]
    head = 34 if title else 0
    width, height = panel_px * len(panels), int(panel_px * 1.05) + head
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    fonts = (_font(17), _font(13), _font(12))
    if title:
        draw.text((width / 2, 8), title, font=_font(18), fill=_INK, anchor="ma")
    names = ["Before calibration"]
    if after is not None:
        names.append(
            "After calibration"
            + (f" (temperature {temperature:.2f})" if temperature is not None else "")
        )
    for n, (diagram, name) in enumerate(zip(panels, names, strict=True)):
        _panel(image, diagram, name, (n * panel_px, head, (n + 1) * panel_px, height), fonts)
    out = Path(path)
    image.save(out, format="PNG", optimize=True)
    return out


__all__ = [
    "ReliabilityBin",
    "ReliabilityDiagram",
    "ReliabilityKind",
    "TemperatureFit",
    "draw_reliability_diagram",
    "expected_calibration_error",
    "fit_temperature",
    "negative_log_likelihood",
    "reliability_bins",
]
