"""The main window: viewer in the centre; findings and studies as tabs on the right.

Menus and shortcuts: File › Open folder (Ctrl+O), recent folders, Export (PDF, key images,
DICOM, Send to PACS; enabled when a stored analysis is shown and the reporting layer is
installed); Analysis › Analyze (Ctrl+R), Cancel (Esc), Mark key image (K), Mark study as
reviewed (Ctrl+Shift+R), No MSCC in this study (Ctrl+Shift+N; both also as buttons under the
review editor), Models… (Ctrl+Shift+M, :mod:`.models_page`); View › Overlays (O); PACS ›
Search PACS (Ctrl+Shift+F), Send to PACS, Send log, Network settings (:mod:`.network_ui`);
Settings (Ctrl+,); Help › About. Folders or files can be dropped on the window.
"""

from __future__ import annotations

import functools
import logging
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtGui, QtWidgets

from mscc_desktop.core.config import AppConfig
from mscc_desktop.core.dicom.classify import SeriesEntry, SeriesPick
from mscc_desktop.core.dicom.scan import ScanResult
from mscc_desktop.gui import theme
from mscc_desktop.gui.about import show_about
from mscc_desktop.gui.controller import ReadingController
from mscc_desktop.gui.error_box import show_error
from mscc_desktop.gui.export_ui import (
    ExportChoice,
    ExportController,
    ExportDialog,
    reporting_available,
)
from mscc_desktop.gui.findings_panel import FindingsPanel
from mscc_desktop.gui.network_ui import NetworkUi
from mscc_desktop.gui.review_editor import ReviewDraft
from mscc_desktop.gui.series_chooser import SeriesChooser
from mscc_desktop.gui.settings import SettingsDialog, load_settings, save_settings
from mscc_desktop.gui.spine_ui import SpineUi
from mscc_desktop.gui.state import ViewerState
from mscc_desktop.gui.study_browser import StudyBrowser
from mscc_desktop.gui.task_indicator import TaskIndicator
from mscc_desktop.gui.viewer import ViewerWidget
from mscc_desktop.workflow.model import ModelInfo

if TYPE_CHECKING:
    from mscc_desktop.gui.models_page import ModelsDialog

logger = logging.getLogger(__name__)

EXPORT_PENDING = "Available once the reporting module (PDF, key images, DICOM) is installed."
EXPORT_NEEDS_ANALYSIS = "Analyse the series first: exports are made from its stored analysis."


def dropped_folder(urls: list[QtCore.QUrl]) -> Path | None:
    """The folder to open for dropped items: a dropped folder, or the folder of dropped files."""
    paths = [Path(url.toLocalFile()) for url in urls if url.isLocalFile()]
    if not paths:
        return None
    first = paths[0]
    if first.is_dir() or first.name.upper() == "DICOMDIR":
        return first  # the scanner reads a DICOMDIR's listing itself
    return first.parent


class MainWindow(QtWidgets.QMainWindow):
    """The reading workstation window. Owns the controller (and through it the store)."""

    def __init__(
        self, controller: ReadingController, qsettings: QtCore.QSettings, config: AppConfig
    ) -> None:
        super().__init__()
        self.controller = controller
        self.state: ViewerState = controller.state
        self.exports = ExportController(controller)
        self.qsettings = qsettings
        self.config = config
        self.models_page: ModelsDialog | None = None
        self.setWindowTitle("mscc-desktop — not for clinical use")
        self.setAcceptDrops(True)
        self.resize(1600, 950)

        self.viewer = ViewerWidget(self.state, self)
        self.setCentralWidget(self.viewer)
        self.findings = FindingsPanel(self.state, self)
        self.findings.setMinimumWidth(430)
        right = QtCore.Qt.DockWidgetArea.RightDockWidgetArea
        self.findings_dock = self._dock("Findings", self.findings, right)
        self.browser = StudyBrowser(self)
        self.browser_dock = self._dock("Studies", self.browser, right)
        # One column of panels beside the images: the viewports get the width.
        self.tabifyDockWidget(self.browser_dock, self.findings_dock)
        self.findings_dock.raise_()
        self.tasks = TaskIndicator(self)
        self.model_label = QtWidgets.QLabel("Model: loading…")
        self.model_label.setObjectName("model_label")
        self.warning_label = QtWidgets.QLabel("")
        self.warning_label.setStyleSheet(f"QLabel {{ color: {theme.WARNING_COLOUR}; }}")
        self.warning_label.hide()
        self.network = NetworkUi(self, config.data_dir)
        status = self.statusBar()
        status.addWidget(self.tasks)
        for item in self.network.status_items:
            status.addPermanentWidget(item)
        status.addPermanentWidget(self.warning_label)
        status.addPermanentWidget(self.model_label)
        self._build_actions()
        self.spine = SpineUi(self)
        self._build_menus()
        self.findings.add_study_actions([self.sign_off_action, self.no_mscc_action])

        c = controller
        c.status.connect(self.show_status)
        c.error.connect(lambda title, error: show_error(self, title, error))
        c.model_ready.connect(self._on_model_ready)
        c.model_failed.connect(self._on_model_failed)
        c.studies_changed.connect(self.refresh_studies)
        c.reviews_changed.connect(self.findings.set_reviews)
        c.reviews_changed.connect(lambda *_: self._update_export_actions())
        c.provenance_changed.connect(self.findings.set_provenance)
        c.can_analyse_changed.connect(self.analyse_action.setEnabled)
        c.series_opened.connect(self._on_series_opened)
        c.study_verdict_changed.connect(self._update_study_actions)
        c.model_switched.connect(self._on_model_switched)
        c.choose_series = self._choose_series
        self.tasks.watch("Opening", c.loader)
        self.tasks.watch("Analysing", c.analysis)
        self.tasks.watch("Exporting", self.exports.runner)
        self.findings.review_submitted.connect(self._on_review_submitted)
        self.browser.open_requested.connect(c.open_path)
        self._restore_layout()
        self.refresh_studies()
        self.viewer.setFocus()

    # ---- construction -------------------------------------------------------------------
    def _dock(
        self, title: str, widget: QtWidgets.QWidget, area: QtCore.Qt.DockWidgetArea
    ) -> QtWidgets.QDockWidget:
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _action(
        self, text: str, slot: object, shortcut: str | QtGui.QKeySequence.StandardKey | None = None
    ) -> QtGui.QAction:
        action = QtGui.QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QtGui.QKeySequence(shortcut))
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work whichever dock has focus
        return action

    def _build_actions(self) -> None:
        c = self.controller
        self.open_action = self._action(
            "&Open folder…", self.choose_folder, QtGui.QKeySequence.StandardKey.Open
        )
        self.demo_action = self._action("Open &demo study", c.open_demo)
        self.quit_action = self._action("&Quit", self.close, QtGui.QKeySequence.StandardKey.Quit)
        self.analyse_action = self._action("&Analyze", c.analyse, "Ctrl+R")
        self.analyse_action.setEnabled(False)
        self.cancel_action = self._action("&Cancel", self._cancel_all, "Esc")
        self.key_image_action = self._action("Mark / unmark &key image", c.toggle_key_image, "K")
        self.sign_off_action = self._action("Mark study as &reviewed", c.sign_off, "Ctrl+Shift+R")
        self.no_mscc_action = self._action("&No MSCC in this study", c.set_no_mscc, "Ctrl+Shift+N")
        self.no_mscc_action.setCheckable(True)
        self.no_mscc_action.setToolTip(
            "The whole study has no spinal cord compression: every slice counts as normal "
            "(whatever the model flagged) and the study is signed off. Untick to withdraw."
        )
        self.models_action = self._action("&Models…", self.show_models, "Ctrl+Shift+M")
        self._update_study_actions()
        self.overlay_action = self._action("Result &overlays", self.state.toggle_overlays, "O")
        self.overlay_action.setCheckable(True)
        self.overlay_action.setChecked(self.state.overlays_visible)
        self.state.overlays_toggled.connect(self.overlay_action.setChecked)
        self.reset_windows_action = self._action(
            "Restore window presets", lambda: self.state.reset_window(None)
        )
        self.fit_action = self._action("Fit to window", self.state.fit_view)
        self.settings_action = self._action("&Settings…", self.edit_settings, "Ctrl+,")
        self.about_action = self._action("&About mscc-desktop", self.show_about)
        self.export_actions = [
            self._action(text, functools.partial(self.export, choice))
            for text, choice in (
                ("Export &PDF summary…", ExportChoice.PDF),
                ("Export key &images…", ExportChoice.KEY_IMAGES),
                ("Export &DICOM (SC, KOS, SR)…", ExportChoice.DICOM),
            )
        ]
        self._update_export_actions()

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addAction(self.demo_action)
        file_menu.addSeparator()
        export_menu = file_menu.addMenu("&Export")
        export_menu.setToolTipsVisible(True)
        for action in self.export_actions:
            export_menu.addAction(action)
        export_menu.addSeparator()
        export_menu.addAction(self.network.send_action)
        file_menu.addSeparator()
        file_menu.addAction(self.settings_action)
        file_menu.addAction(self.quit_action)
        analysis_menu = bar.addMenu("&Analysis")
        analysis_menu.addAction(self.analyse_action)
        analysis_menu.addAction(self.cancel_action)
        analysis_menu.addSeparator()
        analysis_menu.addAction(self.key_image_action)
        analysis_menu.addAction(self.sign_off_action)
        analysis_menu.addAction(self.no_mscc_action)
        analysis_menu.addSeparator()
        analysis_menu.addAction(self.models_action)
        view_menu = bar.addMenu("&View")
        view_menu.addAction(self.overlay_action)
        view_menu.addAction(self.reset_windows_action)
        view_menu.addAction(self.fit_action)
        view_menu.addSeparator()
        view_menu.addAction(self.browser_dock.toggleViewAction())
        view_menu.addAction(self.findings_dock.toggleViewAction())
        self.spine.add_to_menus(view_menu, analysis_menu)
        pacs_menu = bar.addMenu("&PACS")
        pacs_menu.setToolTipsVisible(True)
        for item in self.network.menu_actions:
            if item is None:
                pacs_menu.addSeparator()
            else:
                pacs_menu.addAction(item)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.demo_action)
        help_menu.addAction(self.about_action)

    # ---- opening ------------------------------------------------------------------------
    def choose_folder(self) -> None:
        start = str(self.qsettings.value("files/last_folder", str(Path.home())))
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a DICOM folder", start)
        if folder:
            self.qsettings.setValue("files/last_folder", folder)
            self.controller.open_path(folder)

    def _choose_series(self, scan: ScanResult, pick: SeriesPick) -> SeriesEntry | None:
        dialog = SeriesChooser(scan.series, pick, self)
        return dialog.chosen() if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted else None

    def dragEnterEvent(self, ev: QtGui.QDragEnterEvent) -> None:
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev: QtGui.QDropEvent) -> None:
        folder = dropped_folder(ev.mimeData().urls())
        if folder is not None:
            ev.acceptProposedAction()
            self.controller.open_path(folder)

    def _on_series_opened(self) -> None:
        volume = self.state.volume
        if volume is not None:
            self.setWindowTitle(
                f"{volume.info.study_description or 'Study'} — mscc-desktop (not for clinical use)"
            )
        self.viewer.setFocus()

    def refresh_studies(self) -> None:
        entries = self.controller.studies()
        self.browser.set_entries(entries, no_mscc=self.controller.no_mscc_studies(entries))
        self._update_study_actions()
        self.recent_menu.clear()
        folders = self.controller.recent_folders()
        for folder in folders:
            action = self.recent_menu.addAction(str(folder))
            action.triggered.connect(lambda _=False, f=folder: self.controller.open_path(f))
        self.recent_menu.setEnabled(bool(folders))

    # ---- model and status ---------------------------------------------------------------
    def show_status(self, text: str) -> None:
        """A status-bar message; the whole text also in its tooltip and the log (a long one
        is cut at the window's edge)."""
        status = self.statusBar()
        status.showMessage(text, 6000 if len(text) < 90 else 15000)
        status.setToolTip(text)
        logger.info("status: %s", text)

    def _on_model_ready(self, info: ModelInfo) -> None:
        self.model_label.setText(info.status_text)
        self.model_label.setToolTip(f"sha256 {info.model_sha256}")
        if info.fallback_warning:
            self.warning_label.setText("⚠ GPU not used: running on the CPU")
            self.warning_label.setToolTip(info.fallback_warning)
            self.warning_label.show()
        else:
            self.warning_label.hide()

    def _on_model_switched(self, change: object) -> None:
        self.model_label.setText(f"Model: loading {getattr(change, 'current', '')}…")
        self.model_label.setToolTip("")

    def _update_study_actions(self) -> None:
        """The open study's verdict actions follow the store (none without a stored study)."""
        verdict = self.controller.study_no_mscc
        self.no_mscc_action.blockSignals(True)
        self.no_mscc_action.setChecked(bool(verdict))
        self.no_mscc_action.blockSignals(False)
        self.no_mscc_action.setEnabled(verdict is not None)
        self.sign_off_action.setEnabled(verdict is not None)

    def _on_model_failed(self, message: str) -> None:
        self.model_label.setText("Model: not available")
        self.model_label.setToolTip(message)
        # Cut at a word, with an ellipsis; the whole sentence is in the tooltip and the log.
        short = textwrap.shorten(message, 80, placeholder=" … (hover for more)")
        self.warning_label.setText("⚠ Analysis unavailable: " + short)
        self.warning_label.setToolTip(message)
        logger.warning("model not available: %s", message)
        self.warning_label.show()

    def _update_export_actions(self) -> None:
        available = self.exports.available
        if not reporting_available():
            tip = EXPORT_PENDING
        elif not available:
            tip = EXPORT_NEEDS_ANALYSIS
        else:
            tip = ""
        for action in self.export_actions:
            action.setEnabled(available)
            action.setToolTip(tip or action.text().replace("&", "").rstrip("…"))
            action.setStatusTip(tip)
        self.network.update_actions()

    def export(self, choice: ExportChoice) -> None:
        if not self.exports.available:
            return
        settings = load_settings(self.qsettings)
        folder = str(self.qsettings.value("export/last_folder", settings.export_dir or ""))
        dialog = ExportDialog(choice, folder, settings.deidentify_exports, self)
        if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return
        request = dialog.request()
        if request is not None:
            self.qsettings.setValue("export/last_folder", str(request.folder))
            self.exports.start(request)

    def _cancel_all(self) -> None:
        self.controller.loader.cancel()
        self.controller.cancel_analysis()
        self.exports.runner.cancel()

    def _on_review_submitted(self, draft: ReviewDraft) -> None:
        problem = self.controller.save_review(draft)
        if problem:
            self.findings.editor.show_error(problem)

    # ---- dialogs ------------------------------------------------------------------------
    def edit_settings(self) -> None:
        dialog = SettingsDialog(
            load_settings(self.qsettings), self, network=self.network.edit_settings
        )
        if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            settings = dialog.settings()
            save_settings(self.qsettings, settings)
            self.controller.apply_settings(settings)
            self.statusBar().showMessage("Settings saved", 4000)

    def show_models(self) -> ModelsDialog:
        """Open (or raise) the Models page (imported on first use: it brings the export code)."""
        from mscc_desktop.gui.models_page import ModelPlaces, ModelsDialog

        if self.models_page is None:
            places = ModelPlaces(self.config.data_dir, self.config.models_dir, self.config.db_path)
            self.models_page = ModelsDialog(self.controller, places, self)
        self.models_page.show()
        self.models_page.raise_()
        self.models_page.activateWindow()
        return self.models_page

    def show_about(self) -> None:
        show_about(self, self.controller.model_info)

    # ---- layout persistence and closing -------------------------------------------------
    def _restore_layout(self) -> None:
        geometry = self.qsettings.value("window/geometry")
        if isinstance(geometry, QtCore.QByteArray):
            self.restoreGeometry(geometry)
        layout = self.qsettings.value("window/state")
        if isinstance(layout, QtCore.QByteArray):
            self.restoreState(layout)

    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:
        self.qsettings.setValue("window/geometry", self.saveGeometry())
        self.qsettings.setValue("window/state", self.saveState())
        self.qsettings.sync()
        self.exports.runner.cancel_all()
        if self.models_page is not None:
            self.models_page.shutdown()
        self.network.shutdown()  # while the store is open: it logs what it received and sent
        self.controller.shutdown()
        super().closeEvent(ev)
