"""Settings › DICOM network: the listener, the PACS destinations (with Echo) and TLS.

The dialog edits a :class:`~mscc_desktop.network.NetworkSettings` and writes it with
:func:`~mscc_desktop.network.save_network_settings` into ``network.json`` (the file the CLI
reads too). Save checks everything first: a wrong AE title, address or TLS file is shown in
the dialog, which stays open, and nothing is written. Echo tests one destination with the
values on screen (saved or not) on the network pool.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from mscc_desktop.core.errors import NetworkError
from mscc_desktop.core.tasks import CancelToken, ProgressFn
from mscc_desktop.gui import theme
from mscc_desktop.gui.error_box import error_texts
from mscc_desktop.gui.workers import TaskRunner
from mscc_desktop.network import (
    ListenerSettings,
    NetworkSettings,
    RemoteNode,
    TlsSettings,
    echo,
    save_network_settings,
)
from mscc_desktop.network.nodes import check_ae_title

logger = logging.getLogger(__name__)

DESTINATION_COLUMNS = ("Name", "AE title", "Host", "Port", "TLS", "Echo", "")
ECHO_COLUMN = DESTINATION_COLUMNS.index("Echo")
BUTTON_COLUMN = len(DESTINATION_COLUMNS) - 1
OK_COLOUR = theme.OKABE_ITO["bluish_green"]


def split_list(text: str) -> tuple[str, ...]:
    """Comma- or line-separated entries, stripped, empty ones dropped."""
    return tuple(p.strip() for p in text.replace("\n", ",").split(",") if p.strip())


def check_network_settings(settings: NetworkSettings) -> NetworkSettings:
    """:meth:`NetworkSettings.checked` (TLS included); :class:`NetworkError` for the dialog."""
    return settings.checked()


def echo_job(
    node: RemoteNode,
    calling_ae: str,
    tls: TlsSettings,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> float:
    """C-ECHO ``node`` (a worker job); the round trip in seconds."""
    return echo(node, calling_ae=calling_ae, tls=tls)


class DestinationDialog(QtWidgets.QDialog):
    """Add or edit one destination. OK checks it; a problem is shown and the dialog stays."""

    def __init__(
        self,
        node: RemoteNode | None,
        taken_names: set[str],
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit destination" if node else "Add destination")
        self._taken = {n.lower() for n in taken_names}
        self._node: RemoteNode | None = None
        node = node or RemoteNode(name="", ae_title="", host="", port=104)
        self.name_edit = QtWidgets.QLineEdit(node.name)
        self.name_edit.setPlaceholderText("what you call it, e.g. PACS")
        self.ae_edit = QtWidgets.QLineEdit(node.ae_title)
        self.ae_edit.setPlaceholderText("its AE title, e.g. PACS_MAIN")
        self.ae_edit.setMaxLength(16)
        self.host_edit = QtWidgets.QLineEdit(node.host)
        self.host_edit.setPlaceholderText("host name or IP address")
        self.port_spin = QtWidgets.QSpinBox()
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(max(1, node.port))
        self.tls_check = QtWidgets.QCheckBox("Use TLS (the certificates on the TLS tab)")
        self.tls_check.setChecked(node.tls)
        self.error_label = _error_label()
        form = QtWidgets.QFormLayout()
        form.addRow("Name", self.name_edit)
        form.addRow("AE title", self.ae_edit)
        form.addRow("Host", self.host_edit)
        form.addRow("Port", self.port_spin)
        form.addRow("", self.tls_check)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)

    def edited(self) -> RemoteNode:
        return RemoteNode(
            name=self.name_edit.text(),
            ae_title=self.ae_edit.text(),
            host=self.host_edit.text(),
            port=self.port_spin.value(),
            tls=self.tls_check.isChecked(),
        )

    def node(self) -> RemoteNode | None:
        """The checked destination once the dialog was accepted."""
        return self._node

    def accept(self) -> None:
        try:
            node = self.edited().checked()
            if node.name.lower() in self._taken:
                raise NetworkError(
                    f"There is already a destination called {node.name!r}: give this one "
                    "another name."
                )
        except NetworkError as error:
            _show(self.error_label, error.message)
            return
        self._node = node
        super().accept()


def _error_label() -> QtWidgets.QLabel:
    label = QtWidgets.QLabel("")
    label.setObjectName("error_label")
    label.setWordWrap(True)
    label.setStyleSheet(f"QLabel {{ color: {theme.WARNING_COLOUR}; }}")
    label.hide()
    return label


def _show(label: QtWidgets.QLabel, text: str) -> None:
    label.setText(text)
    label.setVisible(bool(text))


class NetworkSettingsDialog(QtWidgets.QDialog):
    """The listener, destinations and TLS. ``saved(NetworkSettings)`` after a successful Save.

    Parameters
    ----------
    settings
        What to show (the saved settings, or the defaults).
    data_dir
        Where ``network.json`` is written.
    pool
        The network thread pool (Echo runs there).
    listener_status
        One line on the listener as it runs now ("Listening as … on port …").
    problem
        Why the saved settings could not be read, if they could not; shown at the top.
    """

    saved = QtCore.Signal(object)  # NetworkSettings, as written

    def __init__(
        self,
        settings: NetworkSettings,
        data_dir: Path,
        pool: QtCore.QThreadPool,
        *,
        listener_status: str = "",
        problem: str = "",
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("DICOM network")
        self.data_dir = Path(data_dir)
        self.pool = pool
        self.saved_settings: NetworkSettings | None = None
        self._nodes: list[RemoteNode] = list(settings.destinations)
        self._echo: dict[str, tuple[bool, str, str]] = {}  # name: (ok, cell text, sentence)
        self._echo_runners: dict[str, TaskRunner] = {}
        self.problem_label = _error_label()
        if problem:
            _show(
                self.problem_label,
                f"{problem}\nThe defaults are shown; saving replaces the damaged file.",
            )
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self._listener_page(settings.listener, listener_status), "Listener")
        self.tabs.addTab(self._destinations_page(), "Destinations")
        self.tabs.addTab(self._tls_page(settings.tls), "TLS")
        self.error_label = _error_label()
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Save
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Save)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.problem_label)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        self._refresh_destinations()
        self.resize(760, 520)

    # ---- pages --------------------------------------------------------------------------
    def _listener_page(self, listener: ListenerSettings, status: str) -> QtWidgets.QWidget:
        self.enabled_check = QtWidgets.QCheckBox("Receive studies (listen for DICOM C-STORE)")
        self.enabled_check.setChecked(listener.enabled)
        self.status_label = QtWidgets.QLabel(status or "The listener is off.")
        self.status_label.setStyleSheet("QLabel { color: #9A9A9A; }")
        self.ae_edit = QtWidgets.QLineEdit(listener.ae_title)
        self.ae_edit.setMaxLength(16)
        self.ae_edit.setToolTip(
            "This workstation's AE title: PACS and modalities send to it, and it calls "
            "destinations with it."
        )
        self.port_spin = QtWidgets.QSpinBox()
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(max(1, listener.port))
        self.bind_edit = QtWidgets.QLineEdit(listener.bind_address)
        self.bind_edit.setToolTip("0.0.0.0 listens on every network interface.")
        self.allowed_ae_edit = QtWidgets.QLineEdit(", ".join(listener.allowed_ae_titles))
        self.allowed_ae_edit.setPlaceholderText("any caller (or e.g. PACS_MAIN, CT_SCANNER_2)")
        self.allowed_addresses_edit = QtWidgets.QLineEdit(", ".join(listener.allowed_addresses))
        self.allowed_addresses_edit.setPlaceholderText("any address (or e.g. 10.1.2.0/24)")
        self.quiet_spin = QtWidgets.QDoubleSpinBox()
        self.quiet_spin.setRange(0.1, 3600.0)
        self.quiet_spin.setDecimals(1)
        self.quiet_spin.setSuffix(" s")
        self.quiet_spin.setValue(listener.quiet_seconds)
        self.quiet_spin.setToolTip(
            "DICOM has no 'end of series' message: a series counts as complete once no new "
            "image of it arrived for this long."
        )
        self.analyse_check = QtWidgets.QCheckBox(
            "Analyse a received CT series when it is complete (never replaces the study open)"
        )
        self.analyse_check.setChecked(listener.analyse_when_complete)
        self.reserve_spin = QtWidgets.QSpinBox()
        self.reserve_spin.setRange(0, 1_000_000)
        self.reserve_spin.setSingleStep(256)
        self.reserve_spin.setSuffix(" MB")
        self.reserve_spin.setValue(listener.reserve_free_mb)
        self.reserve_spin.setToolTip(
            "Images that would leave less free disk space than this are refused (the sender "
            "is told the workstation is out of resources)."
        )
        form = QtWidgets.QFormLayout()
        form.addRow("", self.enabled_check)
        form.addRow("", self.status_label)
        form.addRow("AE title", self.ae_edit)
        form.addRow("Port", self.port_spin)
        form.addRow("Listen on address", self.bind_edit)
        form.addRow("Allowed callers (AE titles)", self.allowed_ae_edit)
        form.addRow("Allowed addresses", self.allowed_addresses_edit)
        form.addRow("Series complete after", self.quiet_spin)
        form.addRow("", self.analyse_check)
        form.addRow("Keep free disk space", self.reserve_spin)
        hint = QtWidgets.QLabel(
            "Set up the PACS or scanner to send to this AE title and port. Received images "
            f"are kept in {self.data_dir / 'received'}; each series appears in the study "
            "browser once complete. Empty allow-lists accept any caller."
        )
        hint.setWordWrap(True)
        hint.setStyleSheet("QLabel { color: #9A9A9A; }")
        form.addRow(hint)
        page = QtWidgets.QWidget()
        page.setLayout(form)
        return page

    def _destinations_page(self) -> QtWidgets.QWidget:
        self.table = QtWidgets.QTableWidget(0, len(DESTINATION_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(DESTINATION_COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(ECHO_COLUMN, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(lambda _index: self.edit_destination())
        self.add_button = QtWidgets.QPushButton("Add…")
        self.add_button.clicked.connect(self.add_destination)
        self.edit_button = QtWidgets.QPushButton("Edit…")
        self.edit_button.clicked.connect(self.edit_destination)
        self.remove_button = QtWidgets.QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_destination)
        row = QtWidgets.QHBoxLayout()
        for button in (self.add_button, self.edit_button, self.remove_button):
            row.addWidget(button)
        row.addStretch(1)
        self.echo_label = QtWidgets.QLabel("")
        self.echo_label.setWordWrap(True)
        self.echo_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        hint = QtWidgets.QLabel(
            "PACS, archives and viewers this workstation sends results to and searches. Each "
            "must know this workstation's AE title (Listener tab) to accept it."
        )
        hint.setWordWrap(True)
        hint.setStyleSheet("QLabel { color: #9A9A9A; }")
        page = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(page)
        layout.addWidget(hint)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        layout.addWidget(self.echo_label)
        return page

    def _tls_page(self, tls: TlsSettings) -> QtWidgets.QWidget:
        self.certificate_edit = QtWidgets.QLineEdit(tls.certificate)
        self.key_edit = QtWidgets.QLineEdit(tls.private_key)
        self.ca_edit = QtWidgets.QLineEdit(tls.ca_certificates)
        self.require_peer_check = QtWidgets.QCheckBox(
            "Callers must present a certificate signed by these CAs"
        )
        self.require_peer_check.setChecked(tls.require_peer_certificate)
        hint = QtWidgets.QLabel(
            "PEM files. With CA certificates set, the listener accepts TLS connections only, "
            "and destinations marked TLS are called over TLS. Leave them empty for plain TCP."
        )
        hint.setWordWrap(True)
        hint.setStyleSheet("QLabel { color: #9A9A9A; }")
        form = QtWidgets.QFormLayout()
        form.addRow(hint)
        form.addRow("This workstation's certificate", self._file_row(self.certificate_edit))
        form.addRow("Its private key", self._file_row(self.key_edit))
        form.addRow("Trusted CA certificates", self._file_row(self.ca_edit))
        form.addRow("", self.require_peer_check)
        page = QtWidgets.QWidget()
        page.setLayout(form)
        return page

    def _file_row(self, edit: QtWidgets.QLineEdit) -> QtWidgets.QHBoxLayout:
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(functools.partial(self._browse_file, edit))
        row = QtWidgets.QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(browse)
        return row

    def _browse_file(self, edit: QtWidgets.QLineEdit) -> None:
        chosen, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Choose a PEM file", edit.text(), "PEM files (*.pem *.crt *.key);;All files (*)"
        )
        if chosen:
            edit.setText(chosen)

    # ---- destinations -------------------------------------------------------------------
    @property
    def destinations(self) -> list[RemoteNode]:
        return list(self._nodes)

    def _selected_row(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def _refresh_destinations(self, select: int | None = None) -> None:
        self.table.setRowCount(len(self._nodes))
        for row, node in enumerate(self._nodes):
            values = (
                node.name,
                node.ae_title,
                node.host,
                str(node.port),
                "yes" if node.tls else "",
            )
            for column, value in enumerate(values):
                self.table.setItem(row, column, QtWidgets.QTableWidgetItem(value))
            self._set_echo_cell(row, node)
            button = QtWidgets.QPushButton("Echo")
            button.setToolTip(f"Check that {node.name} answers (DICOM C-ECHO)")
            button.clicked.connect(functools.partial(self.echo_destination, node.name))
            self.table.setCellWidget(row, BUTTON_COLUMN, button)
        if select is not None and 0 <= select < len(self._nodes):
            self.table.selectRow(select)
        has_rows = bool(self._nodes)
        self.edit_button.setEnabled(has_rows)
        self.remove_button.setEnabled(has_rows)

    def _set_echo_cell(self, row: int, node: RemoteNode) -> None:
        ok, text, sentence = self._echo.get(node.name, (True, "", ""))
        item = QtWidgets.QTableWidgetItem(text)
        if text:
            colour = OK_COLOUR if ok else theme.WARNING_COLOUR
            item.setForeground(QtGui.QBrush(QtGui.QColor(colour)))
            item.setToolTip(sentence or text)
        self.table.setItem(row, ECHO_COLUMN, item)

    def add_destination(self) -> None:
        dialog = DestinationDialog(None, {n.name for n in self._nodes}, self)
        if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted and dialog.node():
            node = dialog.node()
            assert node is not None
            self._nodes.append(node)
            self._refresh_destinations(select=len(self._nodes) - 1)

    def edit_destination(self) -> None:
        row = self._selected_row()
        if row is None:
            return
        old = self._nodes[row]
        others = {n.name for i, n in enumerate(self._nodes) if i != row}
        dialog = DestinationDialog(old, others, self)
        if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted and dialog.node():
            node = dialog.node()
            assert node is not None
            self._nodes[row] = node
            self._echo.pop(old.name, None)
            self._refresh_destinations(select=row)

    def remove_destination(self) -> None:
        row = self._selected_row()
        if row is None:
            return
        removed = self._nodes.pop(row)
        self._echo.pop(removed.name, None)
        self._refresh_destinations(select=min(row, len(self._nodes) - 1))

    def set_destinations(self, nodes: list[RemoteNode]) -> None:
        """Replace the list (for scripts and tests; the buttons use the dialogs)."""
        self._nodes = list(nodes)
        self._echo.clear()
        self._refresh_destinations()

    # ---- echo ---------------------------------------------------------------------------
    def echo_runner(self, name: str) -> TaskRunner:
        runner = self._echo_runners.get(name)
        if runner is None:
            runner = TaskRunner(self.pool, self)
            runner.succeeded.connect(functools.partial(self._on_echo_ok, name))
            runner.failed.connect(functools.partial(self._on_echo_failed, name))
            self._echo_runners[name] = runner
        return runner

    def echo_destination(self, name: str) -> None:
        """C-ECHO the destination called ``name`` with the values on screen."""
        node = next((n for n in self._nodes if n.name == name), None)
        if node is None:
            return
        try:
            calling_ae = check_ae_title(self.ae_edit.text(), what="workstation's AE title")
            tls = self.tls_settings()
            if node.tls and not tls.enabled:
                raise NetworkError(
                    f"{name!r} is set to use TLS, but no CA certificates are set on the TLS tab."
                )
        except NetworkError as error:
            self._on_echo_failed(name, error)
            return
        self._echo[name] = (True, "Echoing…", "")
        self._refresh_echo(name)
        self.echo_runner(name).submit(functools.partial(echo_job, node, calling_ae, tls))

    def _refresh_echo(self, name: str) -> None:
        for row, node in enumerate(self._nodes):
            if node.name == name:
                self._set_echo_cell(row, node)

    def _on_echo_ok(self, name: str, seconds: float) -> None:
        sentence = f"{name} answered the echo in {seconds * 1000:.0f} ms."
        self._echo[name] = (True, f"OK · {seconds * 1000:.0f} ms", sentence)
        self._refresh_echo(name)
        _show(self.echo_label, sentence)
        self.echo_label.setStyleSheet(f"QLabel {{ color: {OK_COLOUR}; }}")

    def _on_echo_failed(self, name: str, error: object) -> None:
        message, _details = error_texts(error)
        sentence = f"Echo of {name} failed: {message}"
        self._echo[name] = (False, "Failed", sentence)
        self._refresh_echo(name)
        _show(self.echo_label, sentence)
        self.echo_label.setStyleSheet(f"QLabel {{ color: {theme.WARNING_COLOUR}; }}")

    # ---- result -------------------------------------------------------------------------
    def tls_settings(self) -> TlsSettings:
        return TlsSettings(
            certificate=self.certificate_edit.text().strip(),
            private_key=self.key_edit.text().strip(),
            ca_certificates=self.ca_edit.text().strip(),
            require_peer_certificate=self.require_peer_check.isChecked(),
        )

    def settings(self) -> NetworkSettings:
        """What the dialog shows, not yet checked."""
        listener = ListenerSettings(
            enabled=self.enabled_check.isChecked(),
            ae_title=self.ae_edit.text(),
            port=self.port_spin.value(),
            bind_address=self.bind_edit.text().strip() or "0.0.0.0",
            allowed_ae_titles=split_list(self.allowed_ae_edit.text()),
            allowed_addresses=split_list(self.allowed_addresses_edit.text()),
            quiet_seconds=round(self.quiet_spin.value(), 1),
            analyse_when_complete=self.analyse_check.isChecked(),
            reserve_free_mb=self.reserve_spin.value(),
        )
        return NetworkSettings(
            listener=listener, destinations=tuple(self._nodes), tls=self.tls_settings()
        )

    def accept(self) -> None:
        """Check, then write ``network.json``; on a problem say it and keep the dialog open."""
        try:
            checked = check_network_settings(self.settings())
            save_network_settings(checked, self.data_dir)
        except NetworkError as error:
            _show(self.error_label, error.message)
            return
        except OSError as error:
            _show(
                self.error_label,
                f"The network settings could not be written to {self.data_dir} "
                f"({error.strerror or error.__class__.__name__}). Check that the folder is "
                "writable and the disk is not full, then save again.",
            )
            return
        _show(self.error_label, "")
        self.saved_settings = checked
        logger.info("network settings saved (%d destination(s))", len(checked.destinations))
        self.saved.emit(checked)
        super().accept()
