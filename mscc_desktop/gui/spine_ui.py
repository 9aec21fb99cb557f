"""The main window's spine parts: the reformat view, its switches, and the level actions.

View › Spine reformat (S) shows or hides the sagittal/coronal view as a fourth view beside the
axial viewports; View › Sagittal / coronal (Shift+S) switches the plane; both are remembered
in the settings. Analysis › Vertebral levels: Confirm levels (Ctrl+L), Shift levels down one
(Ctrl+Shift+Down: what was T7 becomes T8) and up one (Ctrl+Shift+Up); each saves the
numbering with the analysis at once (audited). The findings table and the review editor show
the levels (:mod:`.level_confirm`); the PDF, SR and exports use the confirmed numbering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6 import QtCore, QtGui, QtWidgets

from mscc_desktop.core.spine.reformat import Plane
from mscc_desktop.gui.level_confirm import SpineLevels
from mscc_desktop.gui.spine_view import SpineView

if TYPE_CHECKING:
    from mscc_desktop.gui.main_window import MainWindow

SHOW_KEY = "view/spine_reformat"
PLANE_KEY = "view/spine_plane"


class SpineUi(QtCore.QObject):
    """Builds and wires the spine view and the level actions of one main window."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.qsettings = window.qsettings
        self.levels = SpineLevels(window.controller, self)
        self.view = SpineView(window.state, self.levels, window.viewer)
        window.viewer.add_side_view(self.view, 1)

        def action(text: str, slot: object, shortcut: str) -> QtGui.QAction:
            made = QtGui.QAction(text, window)
            made.setShortcut(QtGui.QKeySequence(shortcut))
            made.triggered.connect(slot)
            window.addAction(made)
            return made

        self.show_action = action("&Spine reformat (sagittal/coronal)", self.set_shown, "S")
        self.show_action.setCheckable(True)
        self.plane_action = action("Sagittal ↔ &coronal", self.view.toggle_plane, "Shift+S")
        self.confirm_action = action("&Confirm vertebral levels", self.levels.confirm, "Ctrl+L")
        self.down_action = action(
            "Shift levels &down one (T7 → T8)", lambda: self.levels.shift(1), "Ctrl+Shift+Down"
        )
        self.up_action = action(
            "Shift levels &up one (T8 → T7)", lambda: self.levels.shift(-1), "Ctrl+Shift+Up"
        )
        for each in (self.confirm_action, self.down_action, self.up_action):
            each.setStatusTip(
                "Saved at once with this analysis and its audit trail; the PDF, SR and "
                "exports name findings by the confirmed levels"
            )
        shown = self.qsettings.value(SHOW_KEY, True)
        self.set_shown(shown not in (False, "false", "0", 0))
        plane = str(self.qsettings.value(PLANE_KEY, Plane.SAGITTAL.value))
        self.view.set_plane(Plane.CORONAL if plane == Plane.CORONAL.value else Plane.SAGITTAL)
        self.view.plane_box.currentIndexChanged.connect(self._remember_plane)
        self.plane_action.triggered.connect(self._remember_plane)

        findings = window.findings
        self.levels.levels_changed.connect(self._on_levels_changed)
        window.controller.reviews_changed.connect(lambda *_: self._on_levels_changed())
        findings.editor.use_level_requested.connect(self._use_level_in_editor)
        self._on_levels_changed()

    def add_to_menus(self, view_menu: QtWidgets.QMenu, analysis_menu: QtWidgets.QMenu) -> None:
        view_menu.addSeparator()
        view_menu.addAction(self.show_action)
        view_menu.addAction(self.plane_action)
        levels_menu = analysis_menu.addMenu("Vertebral &levels")
        levels_menu.setToolTipsVisible(True)
        for each in (self.confirm_action, self.down_action, self.up_action):
            levels_menu.addAction(each)

    # ---- switches -----------------------------------------------------------------------
    def set_shown(self, shown: bool) -> None:
        self.view.setVisible(bool(shown))
        self.show_action.blockSignals(True)
        self.show_action.setChecked(bool(shown))
        self.show_action.blockSignals(False)
        self.qsettings.setValue(SHOW_KEY, bool(shown))

    def _remember_plane(self) -> None:
        self.qsettings.setValue(PLANE_KEY, self.view.plane.value)

    # ---- levels -------------------------------------------------------------------------
    def _on_levels_changed(self) -> None:
        can = self.levels.can_confirm
        for each in (self.confirm_action, self.down_action, self.up_action):
            each.setEnabled(can)
        self.window.findings.set_levels(self.levels.shown())

    def _use_level_in_editor(self) -> None:
        editor = self.window.findings.editor
        shown = self.levels.shown()
        if shown is not None and editor.lesion is not None:
            editor.level_edit.setText(shown.of_lesion(editor.lesion))
