"""PACS › Send to PACS and the study's send log.

The DICOM outputs of the analysis shown (Secondary Capture key images, KOS, SR, the PDF as
Encapsulated PDF) are exported into the outbox and sent with C-STORE, both on the network
pool (:func:`send_job`). The report comes back to the GUI thread, which writes it into the
send log and the audit trail (:func:`~mscc_desktop.workflow.record_sent`) and tells the
reader how many were sent and why any were not. A send cancelled half-way still reports (and
logs) what it already sent.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from mscc_desktop.core.errors import MsccError
from mscc_desktop.core.tasks import CancelToken, ProgressFn, sub_progress
from mscc_desktop.gui import theme
from mscc_desktop.gui.controller import ReadingController
from mscc_desktop.gui.export_ui import stored_analysis_shown
from mscc_desktop.gui.workers import TaskRunner
from mscc_desktop.network import NetworkSettings, RemoteNode, SendReport, send_files
from mscc_desktop.workflow.records import SendLogEntry, SendStatus

logger = logging.getLogger(__name__)

KIND_TEXT = {
    "sc": "Key image (Secondary Capture)",
    "kos": "Key object selection",
    "sr": "Structured report",
    "pdf": "PDF summary (Encapsulated PDF)",
    "other": "Other object",
}
MAX_LISTED_FAILURES = 15
SEND_RETRIES = 3  # a failed instance is tried again this many times,
SEND_BACKOFF_S = 2.0  # after 2 s, then 4 s, then 8 s


@dataclass(frozen=True, slots=True)
class SendRequest:
    """What the reader chose in the send dialog."""

    destination: RemoteNode
    deidentify: bool = False


def send_job(
    inputs: Any,
    request: SendRequest,
    *,
    outbox: Path,
    calling_ae: str,
    settings: NetworkSettings,
    protected: tuple[Path, ...] = (),
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> SendReport:
    """Export the DICOM outputs of ``inputs`` into ``outbox`` and send them (a worker job)."""
    from mscc_desktop.workflow import export_for_sending

    files = export_for_sending(
        inputs,
        outbox,
        deidentify=request.deidentify,
        protected=protected,
        progress=sub_progress(progress, 0.0, 0.3),
        cancel=cancel,
    )
    return send_files(
        files,
        request.destination,
        calling_ae=calling_ae,
        tls=settings.tls,
        retries=SEND_RETRIES,
        backoff_s=SEND_BACKOFF_S,
        progress=sub_progress(progress, 0.3, 1.0),
        cancel=cancel,
        sleep=functools.partial(wait_unless_cancelled, cancel),
    )


def wait_unless_cancelled(cancel: CancelToken | None, seconds: float) -> None:
    """Wait before a retry, but stop waiting as soon as the reader cancels."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (cancel is not None and cancel.cancelled):
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))


def kind_of(sop_class_uid: str) -> str:
    from mscc_desktop.workflow import sent_kind

    return KIND_TEXT.get(sent_kind(sop_class_uid), KIND_TEXT["other"])


def send_summary(report: SendReport) -> tuple[str, str]:
    """(headline, the failures one per line) of a send, for the result message."""
    node = report.destination
    total = len(report.outcomes)
    objects = f"{total} result object{'' if total == 1 else 's'}"
    headline = f"Sent {report.n_sent} of {objects} to {node.label}."
    if report.cancelled:
        headline += " The send was cancelled."
    failed = [o for o in report.outcomes if not o.sent]
    lines = [f"• {kind_of(o.sop_class_uid)}: {o.error or 'not sent'}" for o in failed]
    if len(lines) > MAX_LISTED_FAILURES:
        rest = len(lines) - MAX_LISTED_FAILURES
        lines = [*lines[:MAX_LISTED_FAILURES], f"… and {rest} more (see the send log)."]
    details = ""
    if lines:
        details = f"Not sent ({len(failed)}):\n" + "\n".join(lines)
        if report.n_sent < total and not report.cancelled:
            details += (
                "\n\nFix the problem (PACS › Network settings › Echo tests the connection), "
                "then send again; the send log keeps this attempt."
            )
    return headline, details


class SendDialog(QtWidgets.QDialog):
    """Choose the destination and whether to de-identify."""

    def __init__(
        self, destinations: Sequence[RemoteNode], parent: QtWidgets.QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Send to PACS")
        self.destination_combo = QtWidgets.QComboBox()
        for node in destinations:
            self.destination_combo.addItem(node.label, node)
        what = QtWidgets.QLabel(
            "Sends the results of the analysis shown: its key images (Secondary Capture), a "
            "key object selection, the structured report and the PDF summary. The CT images "
            "themselves are not sent."
        )
        what.setWordWrap(True)
        self.deidentify_check = QtWidgets.QCheckBox(
            "De-identify (for a research or teaching archive)"
        )
        self.deidentify_check.setToolTip(
            "DICOM PS3.15 Basic profile: a pseudonym, no names, IDs or dates. A clinical "
            "PACS needs the patient's identity to file the results with the study: leave "
            "this off for it."
        )
        form = QtWidgets.QFormLayout()
        form.addRow(what)
        form.addRow("Destination", self.destination_combo)
        form.addRow("", self.deidentify_check)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        self.send_button = buttons.addButton(
            "Send", QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.setMinimumWidth(480)

    def request(self) -> SendRequest | None:
        node = self.destination_combo.currentData()
        if not isinstance(node, RemoteNode):
            return None
        return SendRequest(node, self.deidentify_check.isChecked())


class PacsSendController(QtCore.QObject):
    """Runs sends of the analysis the reading controller shows; logs them on the GUI thread."""

    sent = QtCore.Signal(object)  # SendReport, after it was written to the send log

    def __init__(
        self, reading: ReadingController, pool: QtCore.QThreadPool, data_dir: Path
    ) -> None:
        super().__init__(reading)
        self.reading = reading
        self.data_dir = Path(data_dir)  # the exports go into its outbox
        self.runner = TaskRunner(pool, self)
        self.runner.succeeded.connect(self._on_sent)
        self.runner.failed.connect(lambda error: reading.error.emit("Send to PACS failed", error))
        self.runner.cancelled.connect(
            lambda: reading.status.emit("Send cancelled before anything was sent")
        )
        self._inputs: Any = None

    @property
    def available(self) -> bool:
        """A stored, complete analysis is shown, and no send is running."""
        return stored_analysis_shown(self.reading) and not self.runner.busy

    def start(self, request: SendRequest, settings: NetworkSettings) -> bool:
        """Start sending; False (and the reason shown) when it cannot start."""
        r = self.reading
        if not self.available or r.loaded is None or r.db is None:
            return False
        try:
            from mscc_desktop.workflow import outbox_root
            from mscc_desktop.workflow.report_inputs import load_report_inputs

            self._inputs = load_report_inputs(
                r.db, r.loaded.volume, series_id=None, analysis_id=r.analysis_id
            )
        except MsccError as error:
            r.error.emit("Send to PACS not possible", error)
            return False
        r.status.emit(f"Sending the results to {request.destination.name}…")
        self.runner.submit(
            functools.partial(
                send_job,
                self._inputs,
                request,
                outbox=outbox_root(self.data_dir),
                calling_ae=settings.listener.ae_title,
                settings=settings,
                protected=(r.loaded.source_path,),
            ),
            keep_result_on_cancel=True,
        )
        return True

    def _on_sent(self, report: SendReport) -> None:
        from mscc_desktop.workflow import record_sent

        r = self.reading
        r._store(record_sent, report, inputs=self._inputs, user=r.user)
        logger.info("sent %d of %d object(s)", report.n_sent, len(report.outcomes))
        r.status.emit(send_summary(report)[0])
        self.sent.emit(report)


# ---- the send log -------------------------------------------------------------------------

LOG_COLUMNS = ("Time", "User", "Destination", "What", "Status", "Attempts", "Error")
_STATUS_COLOURS = {
    SendStatus.SENT: theme.OKABE_ITO["bluish_green"],
    SendStatus.FAILED: theme.WARNING_COLOUR,
    SendStatus.CANCELLED: "#9A9A9A",
}


class SendLogDialog(QtWidgets.QDialog):
    """The study's send log, newest first; stays open beside the images (non-modal)."""

    refresh_requested = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Send log")
        self.heading = QtWidgets.QLabel("")
        self.heading.setWordWrap(True)
        self.table = QtWidgets.QTreeWidget()
        self.table.setColumnCount(len(LOG_COLUMNS))
        self.table.setHeaderLabels(list(LOG_COLUMNS))
        self.table.setRootIsDecorated(False)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(True)
        header = self.table.header()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.empty = QtWidgets.QLabel("Nothing from this study has been sent yet.")
        self.empty.setStyleSheet("QLabel { color: #9A9A9A; padding: 6px; }")
        refresh = QtWidgets.QPushButton("Refresh")
        refresh.clicked.connect(self.refresh_requested)
        close = QtWidgets.QPushButton("Close")
        close.clicked.connect(self.close)
        row = QtWidgets.QHBoxLayout()
        row.addStretch(1)
        row.addWidget(refresh)
        row.addWidget(close)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.empty)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        self.resize(1100, 380)

    def set_entries(self, heading: str, entries: Sequence[SendLogEntry]) -> None:
        self.heading.setText(heading)
        self.table.clear()
        self.empty.setVisible(not entries)
        for entry in entries:
            item = QtWidgets.QTreeWidgetItem(
                [
                    entry.at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
                    entry.user,
                    entry.destination,
                    KIND_TEXT.get(entry.kind, entry.kind),
                    entry.status.value,
                    str(entry.attempts),
                    entry.error,
                ]
            )
            colour = _STATUS_COLOURS.get(entry.status)
            if colour:
                item.setForeground(4, QtGui.QBrush(QtGui.QColor(colour)))
            if entry.error:
                item.setToolTip(6, entry.error)
            item.setToolTip(3, entry.sop_instance_uid)
            self.table.addTopLevelItem(item)
        for column in range(len(LOG_COLUMNS) - 1):
            self.table.resizeColumnToContents(column)
