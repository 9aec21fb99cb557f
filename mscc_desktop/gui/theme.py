"""Colours and the dark reading-room theme.

Grade colours follow the Okabe-Ito palette, which stays distinguishable for the common forms
of colour-vision deficiency; the grade is always also written as text, never colour alone.
"""

from __future__ import annotations

from PySide6 import QtGui, QtWidgets

from mscc_desktop.core.grades import GradeGroup

# Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

GROUP_COLOURS: dict[GradeGroup, str] = {
    GradeGroup.NORMAL: OKABE_ITO["bluish_green"],
    GradeGroup.LOW: OKABE_ITO["orange"],
    GradeGroup.HIGH: OKABE_ITO["vermillion"],
}
"""Canal box, strip curve and findings-row colour of each grade group."""

NOT_FOUND_COLOUR = "#8C8C8C"  # canal not found: neutral grey, never a grade colour
KEY_IMAGE_COLOUR = OKABE_ITO["yellow"]  # slices the reader marked with K
AI_KEY_COLOUR = OKABE_ITO["sky_blue"]  # the model's key slice of each lesion
OVERLAY_TEXT_COLOUR = "#E6E6E6"
OVERLAY_SHADOW_COLOUR = "#000000"
VIEWPORT_BACKGROUND = "#000000"
PANEL_BACKGROUND = "#1E1F22"
WARNING_COLOUR = OKABE_ITO["orange"]


def group_colour(group: GradeGroup | None) -> str:
    """Hex colour of a grade group; grey for ``None`` (canal not found / not graded)."""
    return NOT_FOUND_COLOUR if group is None else GROUP_COLOURS[group]


def apply_dark_theme(app: QtWidgets.QApplication) -> None:
    """Fusion style with a dark palette: a reading room is dim and bright chrome dazzles."""
    app.setStyle("Fusion")
    palette = QtGui.QPalette()
    role = QtGui.QPalette.ColorRole
    group = QtGui.QPalette.ColorGroup
    colours = {
        role.Window: "#26272B",
        role.WindowText: "#DCDCDC",
        role.Base: PANEL_BACKGROUND,
        role.AlternateBase: "#2A2B2F",
        role.ToolTipBase: "#2F3035",
        role.ToolTipText: "#EEEEEE",
        role.Text: "#DCDCDC",
        role.Button: "#313237",
        role.ButtonText: "#DCDCDC",
        role.BrightText: "#FFFFFF",
        role.Highlight: "#3D6A99",
        role.HighlightedText: "#FFFFFF",
        role.Link: OKABE_ITO["sky_blue"],
        role.PlaceholderText: "#8A8A8A",
    }
    for colour_role, value in colours.items():
        palette.setColor(colour_role, QtGui.QColor(value))
    for colour_role in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(group.Disabled, colour_role, QtGui.QColor("#6E6E6E"))
    app.setPalette(palette)
