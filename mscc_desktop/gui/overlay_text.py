"""Text of the image overlays, in the IHE Basic Image Review arrangement (no Qt here).

Top-left: patient name and ID; top-right: study date and description; bottom-right: series
and technique; bottom-left: slice, position and window. Orientation letters go on the edges.
These strings hold patient data: they are drawn on screen, never logged.
"""

from __future__ import annotations

from dataclasses import dataclass

from mscc_desktop.core.dicom_text import date_text, person_name_text, time_text
from mscc_desktop.core.volume import Volume
from mscc_desktop.core.windows import Window


@dataclass(frozen=True, slots=True)
class CornerTexts:
    """Lines for each corner of a viewport, top line first."""

    top_left: tuple[str, ...]
    top_right: tuple[str, ...]
    bottom_left: tuple[str, ...]
    bottom_right: tuple[str, ...]


def slice_position_text(volume: Volume, index: int) -> str:
    """``"slice 12 / 120 · z = -123.5 mm"`` (1-based, as the reader counts)."""
    return f"slice {index + 1} / {volume.n_slices} · z = {float(volume.z_mm[index]):.1f} mm"


def window_text(window: Window) -> str:
    return f"W {window.width:.0f} / L {window.level:.0f}"


def _technique(volume: Volume) -> str:
    info = volume.info
    parts: list[str] = []
    if info.kvp:
        parts.append(f"{info.kvp:g} kV")
    if info.kernel_text:
        parts.append(info.kernel_text)  # "Br38f 3", not "Br38f\\3"
    if volume.slice_thickness_mm:
        parts.append(f"{volume.slice_thickness_mm:g} mm")
    if info.contrast_agent:
        parts.append("C+")
    return " · ".join(parts)


def corner_texts(volume: Volume, index: int, window: Window, *, key_text: str = "") -> CornerTexts:
    """The four corner blocks for slice ``index`` shown in ``window``.

    Parameters
    ----------
    volume
        The displayed series.
    index
        0-based slice index (head first).
    window
        The viewport's current window.
    key_text
        Extra bottom-left line such as ``"KEY IMAGE"``; omitted when empty.
    """
    info = volume.info
    top_left = tuple(
        line
        for line in (
            person_name_text(info.patient_name),
            f"ID {info.patient_id}" if info.patient_id else "",
            " · ".join(p for p in (date_text(info.patient_birth_date), info.patient_sex) if p),
        )
        if line
    )
    study_when = " ".join(p for p in (date_text(info.study_date), time_text(info.study_time)) if p)
    top_right = tuple(
        line for line in (study_when, info.study_description, info.institution_name) if line
    )
    series = "Se " + str(info.series_number) if info.series_number is not None else ""
    series_line = " · ".join(p for p in (series, info.series_description) if p)
    bottom_right = tuple(line for line in (series_line, _technique(volume)) if line)
    thickness = volume.slice_spacing_mm
    position = f"Im {index + 1} / {volume.n_slices}"
    z_line = f"z {float(volume.z_mm[index]):+.1f} mm"
    if thickness:
        z_line += f" · Δ {thickness:.1f} mm"
    bottom_left = tuple(line for line in (key_text, position, z_line, window_text(window)) if line)
    return CornerTexts(top_left, top_right, bottom_left, bottom_right)
