"""Grade colours and wording shared by the PDF, the PNG key images and the DICOM captures.

Colours follow the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"), which
stays distinguishable for the common colour-vision deficiencies and in greyscale print
(vermillion and orange differ in lightness from bluish green). The GUI uses the same
mapping (``gui/theme.py``), so a high-grade box is the same colour on screen, on paper and
in PACS: normal = bluish green ``#009E73``, low grade = orange ``#E69F00``, high grade =
vermillion ``#D55E00``. Colour is never the only cue: every box also carries its grade in
words.
"""

from __future__ import annotations

from mscc_desktop.core.grades import BilskyGrade, GradeGroup

OKABE_ITO_GREEN = "#009E73"
OKABE_ITO_ORANGE = "#E69F00"
OKABE_ITO_VERMILLION = "#D55E00"
OKABE_ITO_BLUE = "#0072B2"
OKABE_ITO_SKY_BLUE = "#56B4E9"
NOT_FOUND_GREY = "#8C8C8C"

LINE_COLOURS: tuple[str, ...] = (
    OKABE_ITO_BLUE,
    OKABE_ITO_VERMILLION,
    OKABE_ITO_GREEN,
    OKABE_ITO_ORANGE,
    OKABE_ITO_SKY_BLUE,
    "#CC79A7",  # Okabe-Ito reddish purple
    "#000000",
    NOT_FOUND_GREY,
)
"""Colours of several lines in one chart (one per reader on a ROC plot), most distinct first."""

GROUP_COLOURS: dict[GradeGroup, str] = {
    GradeGroup.NORMAL: OKABE_ITO_GREEN,
    GradeGroup.LOW: OKABE_ITO_ORANGE,
    GradeGroup.HIGH: OKABE_ITO_VERMILLION,
}
"""Box and chart colour of each grade group (hex)."""

GROUP_TINTS: dict[GradeGroup, str] = {
    GradeGroup.NORMAL: "#E3F4EE",
    GradeGroup.LOW: "#FCF1DA",
    GradeGroup.HIGH: "#F9E2D6",
}
"""Pale backgrounds of the result box (the same hues at ~12 % strength)."""

GROUP_HEADLINES: dict[GradeGroup, str] = {
    GradeGroup.HIGH: "High-grade MSCC suspected",
    GradeGroup.LOW: "Low-grade epidural disease only",
    GradeGroup.NORMAL: "No MSCC detected",
}
"""The study-level answer for the highest grade group present (as ``StudyFindings.headline``)."""

GROUP_BILSKY: dict[GradeGroup, str] = {
    GradeGroup.NORMAL: "Bilsky 0",
    GradeGroup.LOW: "Bilsky 1a/1b",
    GradeGroup.HIGH: "Bilsky 1c/2/3",
}

UNVERIFIED_TEXT = "AI result, not verified by a radiologist"
INTENDED_USE_TEXT = (
    "Not for clinical use: the model has never seen a real patient with epidural disease (it "
    "learnt from synthetic phantoms and, where its limitations say so, from real CT with "
    "disease inserted by software). Research and evaluation software; every result must be "
    "checked by a radiologist."
)


def rgb(hex_colour: str) -> tuple[int, int, int]:
    """``"#D55E00"`` → ``(213, 94, 0)``."""
    value = hex_colour.lstrip("#")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def ink_on(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white text, whichever reads better on ``background`` (relative luminance)."""
    r, g, b = (c / 255.0 for c in background)
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return (0, 0, 0) if luminance > 0.45 else (255, 255, 255)


def group_colour(group: GradeGroup | None) -> str:
    """Colour of a grade group; neutral grey for "canal not found"."""
    return NOT_FOUND_GREY if group is None else GROUP_COLOURS[group]


def bilsky_rows() -> list[tuple[str, str, str]]:
    """(grade, group, description) of every Bilsky grade, for the report's scale table."""
    return [(f"Bilsky {g.value}", g.group.label, g.description) for g in BilskyGrade]


__all__ = [
    "GROUP_BILSKY",
    "GROUP_COLOURS",
    "GROUP_HEADLINES",
    "GROUP_TINTS",
    "INTENDED_USE_TEXT",
    "LINE_COLOURS",
    "NOT_FOUND_GREY",
    "UNVERIFIED_TEXT",
    "bilsky_rows",
    "group_colour",
    "ink_on",
    "rgb",
]
