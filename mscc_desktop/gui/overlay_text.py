"""Text of the image overlays, in the IHE Basic Image Review arrangement (no Qt here).

Top-left: patient name and ID; top-right: study date and description; bottom-right: series
and technique; bottom-left: slice, position and window. Orientation letters go on the edges.
These strings hold patient data: they are drawn on screen, never logged.
"""

from __future__ import annotations

from dataclasses import dataclass

from mscc_desktop.core.volume import Volume, orientation_letters
from mscc_desktop.core.windows import Window


@dataclass(frozen=True, slots=True)
class CornerTexts:
    """Lines for each corner of a viewport, top line first."""

    top_left: tuple[str, ...]
    top_right: tuple[str, ...]
    bottom_left: tuple[str, ...]
    bottom_right: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EdgeLetters:
    """Patient direction each displayed edge points to, e.g. left "R", right "L"."""

    left: str
    right: str
    top: str
    bottom: str


def format_person_name(value: str) -> str:
    """DICOM PN ``"DOE^JANE^^DR"`` → ``"DOE, JANE"`` (family, given; other parts dropped)."""
    parts = [part.strip() for part in value.split("^")]
    family = parts[0] if parts else ""
    given = parts[1] if len(parts) > 1 else ""
    if family and given:
        return f"{family}, {given}"
    return family or given


def format_da(value: str) -> str:
    """DICOM DA ``"20240131"`` → ``"2024-01-31"``; anything else is returned unchanged."""
    text = value.strip()
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def format_tm(value: str) -> str:
    """DICOM TM ``"134502.25"`` → ``"13:45"``; anything else unchanged."""
    text = value.strip()
    if len(text) >= 4 and text[:4].isdigit():
        return f"{text[:2]}:{text[2:4]}"
    return text


def edge_letters(volume: Volume) -> EdgeLetters:
    """Orientation letters of the four edges from the volume's display axes."""
    col = volume.col_axis
    row = volume.row_axis
    return EdgeLetters(
        left=orientation_letters((-col[0], -col[1], -col[2])),
        right=orientation_letters(col),
        top=orientation_letters((-row[0], -row[1], -row[2])),
        bottom=orientation_letters(row),
    )


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
    if info.convolution_kernel:
        parts.append(info.convolution_kernel)
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
            format_person_name(info.patient_name),
            f"ID {info.patient_id}" if info.patient_id else "",
            " · ".join(p for p in (format_da(info.patient_birth_date), info.patient_sex) if p),
        )
        if line
    )
    study_when = " ".join(p for p in (format_da(info.study_date), format_tm(info.study_time)) if p)
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
