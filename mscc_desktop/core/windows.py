"""CT display windows and the one HU → 8-bit windowing function.

The same function renders the viewports and feeds the networks (training and inference), so
what the radiologist sees is exactly what the model saw: no train/serve skew.

The paper (Hallinan et al. 2023) renders every axial slice in three windows (W/L in HU):
Bone 1500/300, Abdomen 400/50, Spine 200/100.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt


class WindowPreset(StrEnum):
    """The paper's three windows, in the paper's order (also the models' window order)."""

    BONE = "bone"
    ABDOMEN = "abdomen"
    SPINE = "spine"


@dataclass(frozen=True, slots=True)
class Window:
    """A linear VOI window in HU: ``width`` > 0 around ``level`` (the DICOM "centre")."""

    width: float
    level: float
    name: str = ""

    def __post_init__(self) -> None:
        if not np.isfinite(self.width) or not np.isfinite(self.level) or self.width < 1.0:
            raise ValueError(
                f"window width must be >= 1 HU and finite, got {self.width}/{self.level}"
            )

    @property
    def label(self) -> str:
        """E.g. ``"Bone W 1500 / L 300"``."""
        prefix = f"{self.name} " if self.name else ""
        return f"{prefix}W {self.width:g} / L {self.level:g}"

    @property
    def lower_hu(self) -> float:
        return self.level - self.width / 2.0

    @property
    def upper_hu(self) -> float:
        return self.level + self.width / 2.0


PAPER_WINDOWS: dict[WindowPreset, Window] = {
    WindowPreset.BONE: Window(1500.0, 300.0, "Bone"),
    WindowPreset.ABDOMEN: Window(400.0, 50.0, "Abdomen"),
    WindowPreset.SPINE: Window(200.0, 100.0, "Spine"),
}
"""The paper's presets, keyed by preset, in model channel order."""

WINDOW_ORDER: tuple[WindowPreset, ...] = tuple(PAPER_WINDOWS)


def linear_voi(window: Window) -> tuple[np.float32, np.float32]:
    """Scale and offset (float32) of the DICOM linear VOI LUT: grey = hu × scale + offset,
    before clipping to 0-255 and rounding half up (:func:`window_to_uint8`; the torch
    pre-processing applies the same two numbers)."""
    width = max(window.width, 1.0)
    centre = window.level - 0.5
    # y = ((x - c) / (w - 1) + 0.5) * 255, folded into one scale and offset.
    denom = max(width - 1.0, 1e-6)
    return np.float32(255.0 / denom), np.float32(127.5 - centre * 255.0 / denom)


def window_to_uint8(
    hu: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    window: Window,
    *,
    out: npt.NDArray[np.uint8] | None = None,
) -> npt.NDArray[np.uint8]:
    """Map HU to display grey levels 0-255 with the DICOM linear VOI LUT.

    Implements PS3.3 C.11.2.1.2.1 ("LINEAR"): values at or below ``level - 0.5 - (width-1)/2``
    become 0, values above ``level - 0.5 + (width-1)/2`` become 255, linear in between.

    Parameters
    ----------
    hu
        Any-shaped array of Hounsfield units (e.g. one slice ``(row, col)`` or a volume
        ``(slice, row, col)``); integer or float.
    window
        The window to apply.
    out
        Optional preallocated uint8 array of the same shape.

    Returns
    -------
    numpy.ndarray
        uint8 array of ``hu``'s shape.
    """
    scale, offset = linear_voi(window)
    work = np.asarray(hu, dtype=np.float32) * scale
    work += offset
    np.clip(work, 0.0, 255.0, out=work)
    if out is None:
        out = np.empty(work.shape, dtype=np.uint8)
    # Round half up so that the mid-grey of a window is 128 as on most viewers.
    np.add(work, np.float32(0.5), out=work)
    np.floor(work, out=work)
    out[...] = work
    return out


def window_stack(
    hu: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    windows: tuple[Window, ...] | None = None,
) -> npt.NDArray[np.uint8]:
    """Render ``hu`` in several windows at once.

    Parameters
    ----------
    hu
        ``(row, col)`` slice or ``(slice, row, col)`` volume in HU.
    windows
        Windows to render; the paper's three (bone, abdomen, spine) when ``None``.

    Returns
    -------
    numpy.ndarray
        uint8 array of shape ``(len(windows), *hu.shape)``.
    """
    chosen = tuple(PAPER_WINDOWS.values()) if windows is None else windows
    result = np.empty((len(chosen), *np.shape(hu)), dtype=np.uint8)
    for index, window in enumerate(chosen):
        window_to_uint8(hu, window, out=result[index])
    return result


def dicom_window(width: object, centre: object) -> Window | None:
    """The image's own (0028,1051) Window Width / (0028,1050) Window Center, if usable.

    Multi-valued attributes give their first value. Returns ``None`` for missing, non-numeric,
    non-finite or non-positive values instead of raising: a bad window tag must not stop a load.
    """

    def _first(value: object) -> float | None:
        if value is None:
            return None
        if isinstance(value, list | tuple) or (
            hasattr(value, "__iter__") and not isinstance(value, str | bytes)
        ):
            items = list(value)  # type: ignore[call-overload]
            if not items:
                return None
            value = items[0]
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        return number if np.isfinite(number) else None

    w = _first(width)
    c = _first(centre)
    if w is None or c is None or w < 1.0:
        return None
    return Window(w, c, "DICOM")
