"""The DICOM network in the main window: PACS menu, status-bar items and the listener.

Reached through the PACS menu (Search PACS, Send to PACS, Send log, Network settings), the
File › Export menu (Send to PACS) and Settings (DICOM network…). The listener starts with
the window when the saved settings turn it on, restarts when they change and stops (having
registered what it received) when the window closes.

What a received series does: it appears in the study browser once complete. With "analyse
when complete" on it is opened and analysed if no study is open; otherwise it waits, and the
status bar offers "Open received study": what the reader has open is never replaced.
"""

from __future__ import annotations

import logging
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtGui, QtWidgets

from mscc_desktop.core.dicom_text import date_text, person_name_text
from mscc_desktop.core.errors import NetworkError
from mscc_desktop.gui import theme
from mscc_desktop.gui.network_settings import NetworkSettingsDialog
from mscc_desktop.gui.pacs_query import QueryRetrieveDialog
from mscc_desktop.gui.pacs_send import PacsSendController, SendDialog, SendLogDialog, send_summary
from mscc_desktop.gui.receiving import ListenerController
from mscc_desktop.gui.workers import network_pool
from mscc_desktop.network import (
    NetworkSettings,
    RemoteNode,
    RetrieveReport,
    SendReport,
    load_network_settings,
    received_root,
)
from mscc_desktop.workflow.reading import send_log

if TYPE_CHECKING:
    from mscc_desktop.gui.main_window import MainWindow

logger = logging.getLogger(__name__)

SEND_NEEDS_ANALYSIS = "Analyse the series first: what is sent is made from its stored analysis."
SEND_RUNNING = "A send is running; it is shown in the status bar."
NOTICE_SHOWN_MS = 60_000
SHUTDOWN_WAIT_MS = 15_000


class NetworkUi(QtCore.QObject):
    """PACS actions, the listener and their status-bar items for one main window."""

    def __init__(self, window: MainWindow, data_dir: Path) -> None:
        super().__init__(window)
        self.window = window
        self.reading = window.controller
        self.data_dir = Path(data_dir)
        self.pool = network_pool()
        self.settings, self.load_problem = self.load_settings()
        self.listener = ListenerController(
            lambda: (self.reading.db, self.reading.user), received_root(self.data_dir), self
        )
        self.sending = PacsSendController(self.reading, self.pool, self.data_dir)
        self.settings_dialog: NetworkSettingsDialog | None = None
        self.query_dialog: QueryRetrieveDialog | None = None
        self.send_dialog: SendDialog | None = None
        self.send_log_dialog: SendLogDialog | None = None
        self.result_box: QtWidgets.QMessageBox | None = None
        self.queued: list[Path] = []  # received series waiting to be opened and analysed
        self.refusals: list[str] = []
        self._closing = False
        self._build_actions()
        self._build_status_items()

        self.listener.registered.connect(self._on_registered)
        self.listener.arriving_changed.connect(self._on_arriving)
        self.listener.refused.connect(self._on_refused)
        self.listener.state_changed.connect(self._on_listener_state)
        self.listener.failed.connect(self.reading.error.emit)
        self.sending.sent.connect(self._on_sent)
        self.sending.runner.busy_changed.connect(lambda _busy: self.update_actions())
        self.reading.series_opened.connect(self._on_series_opened)
        window.tasks.watch("Sending to PACS", self.sending.runner)
        if self.load_problem:
            problem = NetworkError(self.load_problem)
            QtCore.QTimer.singleShot(
                0, lambda: self.reading.error.emit("Network settings not read", problem)
            )
        # After the window shows: a port already in use is then reported over the window.
        QtCore.QTimer.singleShot(0, lambda: self.listener.apply(self.settings))

    # ---- construction -------------------------------------------------------------------
    def _build_actions(self) -> None:
        w = self.window
        self.settings_action = w._action("&Network settings…", self.edit_settings)
        self.search_action = w._action("&Search PACS…", self.search, "Ctrl+Shift+F")
        self.send_action = w._action("Send to &PACS…", self.send)
        self.send_log_action = w._action("Send &log of this study…", self.show_send_log)
        self.update_actions()

    @property
    def menu_actions(self) -> list[QtGui.QAction | None]:
        """The PACS menu, ``None`` standing for a separator."""
        return [
            self.search_action,
            self.send_action,
            self.send_log_action,
            None,
            self.settings_action,
        ]

    def _build_status_items(self) -> None:
        warn = f"QLabel {{ color: {theme.WARNING_COLOUR}; }}"
        self.listener_label = QtWidgets.QLabel("")
        self.listener_label.setObjectName("listener_label")
        self.listener_label.hide()
        self.receiving_label = QtWidgets.QLabel("")
        self.receiving_label.setObjectName("receiving_label")
        self.receiving_label.hide()
        self.notice_label = QtWidgets.QLabel("")
        self.notice_label.setObjectName("network_notice")
        self.notice_label.setStyleSheet(warn)
        self.notice_label.hide()
        self._notice_timer = QtCore.QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.setInterval(NOTICE_SHOWN_MS)
        self._notice_timer.timeout.connect(self.notice_label.hide)
        self.open_received_button = QtWidgets.QPushButton("Open received study")
        self.open_received_button.setObjectName("open_received")
        self.open_received_button.setToolTip(
            "A received series is waiting: open and analyse it (replaces the study shown)."
        )
        self.open_received_button.clicked.connect(self.open_received)
        self.open_received_button.hide()

    @property
    def status_items(self) -> list[QtWidgets.QWidget]:
        """The status-bar widgets, left to right (the window places them)."""
        return [
            self.open_received_button,
            self.receiving_label,
            self.notice_label,
            self.listener_label,
        ]

    # ---- settings -----------------------------------------------------------------------
    def load_settings(self) -> tuple[NetworkSettings, str]:
        """The saved settings and "", or the defaults and why the saved ones are unusable."""
        try:
            return load_network_settings(self.data_dir), ""
        except NetworkError as error:
            logger.warning("network settings not readable; using the defaults")
            return NetworkSettings(), error.message

    def edit_settings(self, parent: QtWidgets.QWidget | None = None) -> None:
        """Open Settings › DICOM network (over ``parent``, the main window by default)."""
        settings, problem = self.load_settings()  # the CLI may have changed them
        if not problem:
            self.settings = settings
        dialog = NetworkSettingsDialog(
            settings,
            self.data_dir,
            self.pool,
            listener_status=self.listener.state,
            problem=problem,
            parent=parent if isinstance(parent, QtWidgets.QWidget) else self.window,
        )
        dialog.saved.connect(self.apply)
        self.settings_dialog = dialog
        dialog.open()

    def apply(self, settings: NetworkSettings) -> None:
        """Use newly saved settings: restart the listener if its part changed."""
        old = self.settings
        self.settings = settings
        self.load_problem = ""
        restart = (old.listener, old.tls) != (settings.listener, settings.tls)
        if restart or (settings.listener.enabled and not self.listener.running):
            self.listener.apply(settings)
        if self.query_dialog is not None:
            self.query_dialog.set_settings(settings)
        self.update_actions()
        self.reading.status.emit("Network settings saved")

    # ---- actions ------------------------------------------------------------------------
    def update_actions(self) -> None:
        available = self.sending.available
        tip = "" if available else SEND_RUNNING if self.sending.runner.busy else SEND_NEEDS_ANALYSIS
        self.send_action.setEnabled(available)
        self.send_action.setToolTip(tip or "Send the results of this analysis to a PACS")
        self.send_action.setStatusTip(tip)
        has_study = self.reading.db is not None and self.reading.series is not None
        self.send_log_action.setEnabled(has_study)

    def search(self) -> None:
        if self.query_dialog is None:
            dialog = QueryRetrieveDialog(
                self.settings,
                received_root(self.data_dir),
                self.pool,
                self._register_retrieved,
                self.window,
            )
            dialog.retrieved.connect(lambda _registered: self.window.refresh_studies())
            dialog.open_requested.connect(lambda folder: self.reading.open_path(folder))
            self.window.tasks.watch("Retrieving", dialog.retrieve_runner)
            self.query_dialog = dialog
        self.query_dialog.set_settings(self.settings)
        self.query_dialog.show()
        self.query_dialog.raise_()
        self.query_dialog.activateWindow()

    def _register_retrieved(self, report: RetrieveReport, node: RemoteNode) -> Any:
        from mscc_desktop.workflow import register_retrieved

        return self.reading._store(register_retrieved, report, source=node, user=self.reading.user)

    def send(self) -> None:
        if not self.sending.available:
            return
        if not self.settings.destinations:
            box = QtWidgets.QMessageBox(self.window)
            box.setIcon(QtWidgets.QMessageBox.Icon.Information)
            box.setWindowTitle("Send to PACS")
            box.setText(
                "No PACS is configured. Add one under PACS › Network settings › Destinations "
                "(its AE title, host and port), then send again."
            )
            open_settings = box.addButton(
                "Network settings…", QtWidgets.QMessageBox.ButtonRole.AcceptRole
            )
            box.setEscapeButton(box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel))
            open_settings.clicked.connect(lambda: self.edit_settings())
            self.result_box = box
            box.open()
            return
        dialog = SendDialog(self.settings.destinations, self.window)
        dialog.accepted.connect(lambda: self._start_send(dialog))
        self.send_dialog = dialog
        dialog.open()

    def _start_send(self, dialog: SendDialog) -> None:
        request = dialog.request()
        if request is not None:
            self.sending.start(request, self.settings)
        self.update_actions()

    def _on_sent(self, report: SendReport) -> None:
        self.update_actions()
        if self.send_log_dialog is not None and self.send_log_dialog.isVisible():
            self.show_send_log()
        if self._closing:
            return
        headline, details = send_summary(report)
        box = QtWidgets.QMessageBox(self.window)
        failed = report.n_failed > 0 or report.cancelled
        box.setIcon(
            QtWidgets.QMessageBox.Icon.Warning if failed else QtWidgets.QMessageBox.Icon.Information
        )
        box.setWindowTitle("Send to PACS")
        box.setText(headline)
        if details:
            box.setInformativeText(details)
        show_log = box.addButton("Show send log", QtWidgets.QMessageBox.ButtonRole.ActionRole)
        show_log.clicked.connect(self.show_send_log)
        box.setEscapeButton(box.addButton(QtWidgets.QMessageBox.StandardButton.Ok))
        self.result_box = box
        box.open()

    def show_send_log(self) -> None:
        """Show the send log of the study open (non-modal; refreshed after each send)."""
        series = self.reading.series
        if series is None:
            return
        entries = self.reading._store(send_log, series.study_id) or []
        if self.send_log_dialog is None:
            self.send_log_dialog = SendLogDialog(self.window)
            self.send_log_dialog.refresh_requested.connect(self.show_send_log)
        self.send_log_dialog.set_entries(self._study_heading(), entries)
        self.send_log_dialog.show()
        self.send_log_dialog.raise_()

    def _study_heading(self) -> str:
        volume = self.reading.state.volume
        if volume is None:
            return ""
        info = volume.info
        parts = [
            person_name_text(info.patient_name),
            info.patient_id,
            date_text(info.study_date),
            info.study_description,
        ]
        return "Sent from the study " + " · ".join(p for p in parts if p)

    def _on_series_opened(self) -> None:
        self.update_actions()
        if self.send_log_dialog is not None and self.send_log_dialog.isVisible():
            self.show_send_log()

    # ---- the listener -------------------------------------------------------------------
    def _on_listener_state(self, text: str) -> None:
        running = self.listener.running
        self.listener_label.setVisible(bool(text))
        if running and self.listener.receiver is not None:
            self.listener_label.setText(f"DICOM: port {self.listener.port}")
            self.listener_label.setStyleSheet("")
        else:
            self.listener_label.setText(text)
            self.listener_label.setStyleSheet(f"QLabel {{ color: {theme.WARNING_COLOUR}; }}")
        self.listener_label.setToolTip(text)

    def _on_arriving(self, text: str) -> None:
        self.receiving_label.setText(text)
        self.receiving_label.setVisible(bool(text))

    def _on_refused(self, reason: str) -> None:
        if reason.startswith("Refused"):
            self.notice(f"DICOM listener: {reason}")
        else:
            self.notice(f"DICOM listener refused an instance: {reason}")

    def notice(self, text: str) -> None:
        """A non-modal warning in the status bar (recent ones in its tooltip)."""
        self.refusals = [*self.refusals[-9:], f"{time.strftime('%H:%M:%S')} {text}"]
        short = textwrap.shorten(text, 90, placeholder=" …")  # at a word; all in the tooltip
        self.notice_label.setText(f"⚠ {short}")
        self.notice_label.setToolTip(
            "\n".join(self.refusals)
            + "\n\nCallers must be on the allow-lists under PACS › Network settings › Listener."
        )
        self.notice_label.show()
        self._notice_timer.start()

    def _on_registered(self, registered: list[Any]) -> None:
        if self._closing:
            return
        self.window.refresh_studies()
        n = sum(r.arrival.n_instances for r in registered)
        callers = ", ".join(sorted({r.arrival.calling_ae or "a caller" for r in registered}))
        series = f"{len(registered)} series" if len(registered) > 1 else "a series"
        self.reading.status.emit(f"Received {series} ({n} images) from {callers}")
        for entry in registered:
            if entry.arrival.interrupted:
                self.notice(
                    f"A series from {entry.arrival.calling_ae or 'a caller'} was cut off while "
                    "arriving: it may be incomplete, so it is not analysed automatically. Ask "
                    "for it to be sent again."
                )
        if not self.settings.listener.analyse_when_complete:
            return
        for entry in registered:
            if entry.arrival.interrupted:
                continue
            self.queued.extend(f for f in entry.analysable if f not in self.queued)
        if self.reading.loaded is None and not self.reading.loader.busy:
            self.open_received()
        self._update_queue()

    def open_received(self) -> None:
        """Open (and analyse) the oldest received series waiting."""
        if not self.queued:
            return
        folder = self.queued.pop(0)
        self.reading.open_path(folder, analyse=True)
        self._update_queue()

    def _update_queue(self) -> None:
        n = len(self.queued)
        self.open_received_button.setText(
            "Open received study" + (f" ({n} waiting)" if n > 1 else "")
        )
        self.open_received_button.setVisible(bool(n))

    # ---- closing ------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop the listener, stop network work and log what it did, before the store closes."""
        self._closing = True
        for dialog in (
            self.settings_dialog,
            self.send_dialog,
            self.query_dialog,
            self.send_log_dialog,
            self.result_box,
        ):
            if dialog is not None:
                dialog.done(0)  # close() is ignored by a message box without an Escape button
        self.listener.stop()
        runners = [self.sending.runner]
        if self.query_dialog is not None:
            runners += [self.query_dialog.search_runner, self.query_dialog.retrieve_runner]
        for runner in runners:
            runner.cancel_all()
        self.pool.waitForDone(SHUTDOWN_WAIT_MS)
        # Deliver the reports of the work just cancelled: a half-done send or retrieve is
        # still written to the send log / registered while the store is open.
        QtCore.QCoreApplication.sendPostedEvents()
