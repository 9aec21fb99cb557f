"""PACS › Search PACS: find studies (C-FIND) and retrieve one (C-GET) into the workstation.

Search and Retrieve run on the network pool; the dialog stays responsive and can be closed
while a retrieve runs (the status bar keeps its progress). Retrieved instances go into the
same managed folder as received ones; the GUI thread registers them in the store (the
``register`` callable) and the study browser lists them.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from mscc_desktop.core.dicom_text import date_text, person_name_text
from mscc_desktop.core.tasks import CancelToken, ProgressFn
from mscc_desktop.gui import theme
from mscc_desktop.gui.error_box import error_texts
from mscc_desktop.gui.workers import TaskRunner
from mscc_desktop.network import (
    NetworkSettings,
    RemoteNode,
    RemoteStudy,
    RetrieveReport,
    StudyQuery,
    find_studies,
    retrieve_study,
)

logger = logging.getLogger(__name__)

RESULT_COLUMNS = ("Patient", "ID", "Date", "Description", "Accession", "Modalities", "Images")
DATE_CHOICES = ("Any date", "Today", "Yesterday", "Last 7 days", "Last 30 days", "Between")
MODALITIES = ("", "CT", "MR", "PT", "CR", "DX")

RegisterFn = Callable[[RetrieveReport, RemoteNode], list[Any] | None]


def dicom_date(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def study_date_query(choice: str, today: dt.date, start: dt.date, end: dt.date) -> str:
    """The (0008,0020) Study Date matching value for a date choice ("" matches any)."""
    if choice == "Today":
        return dicom_date(today)
    if choice == "Yesterday":
        return dicom_date(today - dt.timedelta(days=1))
    if choice in ("Last 7 days", "Last 30 days"):
        days = 6 if choice == "Last 7 days" else 29
        return f"{dicom_date(today - dt.timedelta(days=days))}-{dicom_date(today)}"
    if choice == "Between":
        first, last = sorted((start, end))
        return f"{dicom_date(first)}-{dicom_date(last)}"
    return ""


def name_query(text: str) -> str:
    """A typed name as a prefix match ("SMITH" finds "SMITH^JOHN"), unless it has wildcards."""
    cleaned = text.strip().replace(",", "^").replace(" ", "")
    if not cleaned or "*" in cleaned or "?" in cleaned:
        return cleaned
    return cleaned + "*"


def search_job(
    node: RemoteNode,
    query: StudyQuery,
    settings: NetworkSettings,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> list[RemoteStudy]:
    return find_studies(node, query, calling_ae=settings.listener.ae_title, tls=settings.tls)


def retrieve_job(
    node: RemoteNode,
    study: RemoteStudy,
    root: Path,
    settings: NetworkSettings,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> RetrieveReport:
    return retrieve_study(
        node,
        study.study_instance_uid,
        root,
        calling_ae=settings.listener.ae_title,
        tls=settings.tls,
        reserve_free_mb=settings.listener.reserve_free_mb,
        expected_instances=study.n_instances,
        progress=progress,
        cancel=cancel,
    )


def retrieve_summary(report: RetrieveReport, node: RemoteNode) -> str:
    n = report.n_received
    text = (
        f"Retrieved {n} image{'' if n == 1 else 's'} in {len(report.series)} series from "
        f"{node.name}"
    )
    text += "; the retrieve was cancelled." if report.cancelled else "."
    if report.n_refused:
        text += f" {report.n_refused} could not be stored."
    if report.errors:
        text += "\n" + "\n".join(f"• {e}" for e in report.errors)
    if report.series:
        text += "\nThe study is in the study browser."
    return text


class QueryRetrieveDialog(QtWidgets.QDialog):
    """Search a destination's studies and retrieve one.

    ``retrieved(list[RegisteredSeries])`` after a retrieve was registered;
    ``open_requested(Path)`` when the reader asks to open what was retrieved.
    """

    retrieved = QtCore.Signal(object)
    open_requested = QtCore.Signal(object)

    def __init__(
        self,
        settings: NetworkSettings,
        root: Path,
        pool: QtCore.QThreadPool,
        register: RegisterFn,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Search PACS")
        self.root = Path(root)
        self.register = register
        self.settings = settings
        self.studies: list[RemoteStudy] = []
        self._retrieving: tuple[RemoteNode, RemoteStudy] | None = None
        self._opened: list[Path] = []
        self.search_runner = TaskRunner(pool, self)
        self.retrieve_runner = TaskRunner(pool, self)
        self._build()
        self.set_settings(settings)
        self.search_runner.succeeded.connect(self._on_found)
        self.search_runner.failed.connect(lambda error: self._say_error("Search failed", error))
        self.search_runner.busy_changed.connect(lambda _busy: self._update_buttons())
        self.retrieve_runner.progress.connect(self._on_progress)
        self.retrieve_runner.succeeded.connect(self._on_retrieved)
        self.retrieve_runner.failed.connect(lambda e: self._say_error("Retrieve failed", e))
        self.retrieve_runner.cancelled.connect(lambda: self._say("Retrieve cancelled."))
        self.retrieve_runner.busy_changed.connect(self._on_retrieve_busy)
        self.resize(980, 560)

    def _build(self) -> None:
        self.destination_combo = QtWidgets.QComboBox()
        self.patient_id_edit = QtWidgets.QLineEdit()
        self.patient_id_edit.setPlaceholderText("exact, or with * and ?")
        self.patient_name_edit = QtWidgets.QLineEdit()
        self.patient_name_edit.setPlaceholderText("family name, or its start")
        self.date_combo = QtWidgets.QComboBox()
        self.date_combo.addItems(DATE_CHOICES)
        today = QtCore.QDate.currentDate()
        self.from_date = QtWidgets.QDateEdit(today.addDays(-7))
        self.to_date = QtWidgets.QDateEdit(today)
        for edit in (self.from_date, self.to_date):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        self.modality_combo = QtWidgets.QComboBox()
        self.modality_combo.setEditable(True)
        for modality in MODALITIES:
            self.modality_combo.addItem(modality or "any")
        self.modality_combo.setCurrentText("CT")
        self.search_button = QtWidgets.QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        self.date_combo.currentTextChanged.connect(self._on_date_choice)
        dates = QtWidgets.QHBoxLayout()
        dates.addWidget(self.date_combo)
        dates.addWidget(self.from_date)
        dates.addWidget(QtWidgets.QLabel("to"))
        dates.addWidget(self.to_date)
        dates.addStretch(1)
        form = QtWidgets.QFormLayout()
        form.addRow("PACS", self.destination_combo)
        form.addRow("Patient ID", self.patient_id_edit)
        form.addRow("Patient name", self.patient_name_edit)
        form.addRow("Study date", dates)
        form.addRow("Modality", self.modality_combo)
        self._on_date_choice(self.date_combo.currentText())

        self.table = QtWidgets.QTreeWidget()
        self.table.setColumnCount(len(RESULT_COLUMNS))
        self.table.setHeaderLabels(list(RESULT_COLUMNS))
        self.table.setRootIsDecorated(False)
        self.table.setAlternatingRowColors(True)
        self.table.header().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda *_: self.retrieve())

        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.cancel_button = QtWidgets.QPushButton("Cancel retrieve")
        self.cancel_button.clicked.connect(self.retrieve_runner.cancel)
        self.cancel_button.hide()
        self.retrieve_button = QtWidgets.QPushButton("Retrieve")
        self.retrieve_button.clicked.connect(self.retrieve)
        self.open_button = QtWidgets.QPushButton("Open retrieved study")
        self.open_button.clicked.connect(self._open_retrieved)
        self.open_button.setEnabled(False)
        close = QtWidgets.QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(0)
        buttons.addWidget(self.retrieve_button)
        buttons.addWidget(self.open_button)
        buttons.addWidget(close)

        top = QtWidgets.QHBoxLayout()
        top.addLayout(form, 1)
        top.addWidget(self.search_button, 0, QtCore.Qt.AlignmentFlag.AlignBottom)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)

    # ---- settings and inputs ------------------------------------------------------------
    def set_settings(self, settings: NetworkSettings) -> None:
        """Use newly saved network settings (the destination list may have changed)."""
        self.settings = settings
        current = self.destination_combo.currentText()
        self.destination_combo.clear()
        for node in settings.destinations:
            self.destination_combo.addItem(node.label, node)
        index = self.destination_combo.findText(current)
        if index >= 0:
            self.destination_combo.setCurrentIndex(index)
        if not settings.destinations:
            self._say(
                "No PACS is configured. Add one under PACS › Network settings › Destinations.",
                warn=True,
            )
        self._update_buttons()

    def _on_date_choice(self, choice: str) -> None:
        between = choice == "Between"
        self.from_date.setVisible(between)
        self.to_date.setVisible(between)

    def destination(self) -> RemoteNode | None:
        node = self.destination_combo.currentData()
        return node if isinstance(node, RemoteNode) else None

    def query(self, today: dt.date | None = None) -> StudyQuery:
        modality = self.modality_combo.currentText().strip().upper()
        return StudyQuery(
            patient_id=self.patient_id_edit.text().strip(),
            patient_name=name_query(self.patient_name_edit.text()),
            study_date=study_date_query(
                self.date_combo.currentText(),
                today or dt.date.today(),
                self.from_date.date().toPython(),  # type: ignore[arg-type]
                self.to_date.date().toPython(),  # type: ignore[arg-type]
            ),
            modality="" if modality == "ANY" else modality,
        )

    def _selected(self) -> RemoteStudy | None:
        items = self.table.selectedItems()
        if not items:
            return None
        index = self.table.indexOfTopLevelItem(items[0])
        return self.studies[index] if 0 <= index < len(self.studies) else None

    def _update_buttons(self) -> None:
        has_node = self.destination() is not None
        self.search_button.setEnabled(has_node and not self.search_runner.busy)
        self.retrieve_button.setEnabled(
            has_node and self._selected() is not None and not self.retrieve_runner.busy
        )

    def _say(self, text: str, *, warn: bool = False) -> None:
        colour = theme.WARNING_COLOUR if warn else "#D8D8D8"
        self.message.setStyleSheet(f"QLabel {{ color: {colour}; }}")
        self.message.setText(text)

    def _say_error(self, what: str, error: object) -> None:
        message, _details = error_texts(error)
        self._say(f"{what}: {message}", warn=True)

    # ---- search -------------------------------------------------------------------------
    def search(self) -> None:
        node = self.destination()
        if node is None:
            return
        self._say(f"Searching {node.name}…")
        self.search_runner.submit(functools.partial(search_job, node, self.query(), self.settings))

    def _on_found(self, studies: list[RemoteStudy]) -> None:
        self.studies = list(studies)
        self.table.clear()
        for study in self.studies:
            images = "" if study.n_instances is None else str(study.n_instances)
            item = QtWidgets.QTreeWidgetItem(
                [
                    person_name_text(study.patient_name),
                    study.patient_id,
                    date_text(study.study_date),
                    study.study_description,
                    study.accession_number,
                    ", ".join(study.modalities),
                    images,
                ]
            )
            self.table.addTopLevelItem(item)
        n = len(self.studies)
        self._say(
            f"{n} stud{'y' if n == 1 else 'ies'} found."
            + (" Select one to retrieve it." if n else "")
        )
        first = self.table.topLevelItem(0)
        if n == 1 and first is not None:
            self.table.setCurrentItem(first)
        self._update_buttons()

    # ---- retrieve -----------------------------------------------------------------------
    def retrieve(self) -> None:
        node, study = self.destination(), self._selected()
        if node is None or study is None or self.retrieve_runner.busy:
            return
        self._retrieving = (node, study)
        self._say(f"Retrieving the study from {node.name}…")
        self.progress.setValue(0)
        self.retrieve_runner.submit(
            functools.partial(retrieve_job, node, study, self.root, self.settings),
            keep_result_on_cancel=True,
        )

    def _on_progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        self._say(text)

    def _on_retrieve_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self._update_buttons()

    def _on_retrieved(self, report: RetrieveReport) -> None:
        if self._retrieving is None:
            return
        node, _study = self._retrieving
        registered = self.register(report, node) or []
        self._opened = [folder for r in registered for folder in r.analysable]
        self.open_button.setEnabled(bool(self._opened))
        self._say(retrieve_summary(report, node), warn=bool(report.errors or report.cancelled))
        self.retrieved.emit(registered)

    def _open_retrieved(self) -> None:
        if self._opened:
            self.open_requested.emit(self._opened[0])
