"""File › Export: PDF summary, key-image PNGs and DICOM outputs from the reporting layer.

The reporting layer is imported only when the reader exports (reportlab and highdicom stay
out of start-up). Its functions are plain ``f(inputs, folder, *, ..., progress, cancel)``:
inputs are read from the store on the GUI thread, the export runs on the I/O pool, and the
export is recorded in the audit log on the GUI thread afterwards.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from mscc_desktop.core.errors import MsccError
from mscc_desktop.gui.controller import ReadingController
from mscc_desktop.gui.dialogs import browse_folder_into, finish_form_dialog
from mscc_desktop.gui.workers import TaskRunner


class ExportChoice(StrEnum):
    """The three export actions of the File menu."""

    PDF = "pdf"
    KEY_IMAGES = "key_images"
    DICOM = "dicom"

    @property
    def action_title(self) -> str:  # not ``title``: that would shadow ``str.title()``
        return {
            "pdf": "Export PDF summary",
            "key_images": "Export key images (PNG)",
            "dicom": "Export DICOM (Secondary Capture, KOS, SR)",
        }[self.value]


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """What the reader chose in the export dialog."""

    choice: ExportChoice
    folder: Path
    deidentify: bool
    letter_paper: bool = False


def reporting_available() -> bool:
    """True when the reporting layer is installed.

    Looks the package up without importing it: importing it would load reportlab and
    highdicom at start-up (about 0.4 s) for an action the reader may never use.
    """
    return importlib.util.find_spec("mscc_desktop.reporting") is not None


def export_job(
    request: ExportRequest, inputs: Any, protected: tuple[Path, ...]
) -> Callable[..., Any]:
    """The worker job for ``request`` (a ``f(*, progress, cancel)``) on report ``inputs``."""
    from mscc_desktop import reporting

    common: dict[str, Any] = {"deidentify": request.deidentify, "protected": protected}
    if request.choice is ExportChoice.PDF:
        paper = reporting.Paper.LETTER if request.letter_paper else reporting.Paper.A4
        return functools.partial(
            reporting.export_pdf, inputs, request.folder, paper=paper, **common
        )
    if request.choice is ExportChoice.KEY_IMAGES:
        return functools.partial(reporting.export_key_images, inputs, request.folder, **common)
    return functools.partial(reporting.export_dicom, inputs, request.folder, **common)


def stored_analysis_shown(reading: ReadingController) -> bool:
    """An analysis stored in the results store is shown, and the reporting layer exists: what
    every export and every send of results needs."""
    return (
        reading.db is not None
        and reading.loaded is not None
        and reading.analysis_id is not None
        and reporting_available()
    )


class ExportDialog(QtWidgets.QDialog):
    """Target folder, de-identification and (for the PDF) paper size."""

    def __init__(
        self,
        choice: ExportChoice,
        folder: str,
        deidentify: bool,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.choice = choice
        self.setWindowTitle(choice.action_title)
        self.folder_edit = QtWidgets.QLineEdit(folder)
        self.folder_edit.setMinimumWidth(360)
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        self.deidentify_check = QtWidgets.QCheckBox(
            "De-identify (DICOM PS3.15 Basic profile: pseudonym, no names, IDs or dates)"
        )
        self.deidentify_check.setChecked(deidentify)
        self.letter_check = QtWidgets.QCheckBox("US Letter paper (A4 otherwise)")
        self.letter_check.setVisible(choice is ExportChoice.PDF)
        form = QtWidgets.QFormLayout()
        form.addRow("Folder", row)
        form.addRow("", self.deidentify_check)
        form.addRow("", self.letter_check)
        finish_form_dialog(self, form, QtWidgets.QDialogButtonBox.StandardButton.Save)

    def _browse(self) -> None:
        browse_folder_into(self, self.folder_edit, "Export into")

    def request(self) -> ExportRequest | None:
        text = self.folder_edit.text().strip()
        if not text:
            return None
        return ExportRequest(
            self.choice,
            Path(text).expanduser(),
            self.deidentify_check.isChecked(),
            self.letter_check.isChecked(),
        )


class ExportController(QtCore.QObject):
    """Runs exports of the analysis the reading controller shows; reports through it."""

    exported = QtCore.Signal(object)  # the reporting layer's ExportResult

    def __init__(self, reading: ReadingController) -> None:
        super().__init__(reading)
        self.reading = reading
        self.runner = TaskRunner(reading.io_pool, self)
        self.runner.succeeded.connect(self._on_done)
        self.runner.failed.connect(lambda error: reading.error.emit("Export failed", error))
        self.runner.cancelled.connect(lambda: reading.status.emit("Export cancelled"))
        self._inputs: Any = None

    @property
    def available(self) -> bool:
        """An analysis stored in the results store is shown and the reporting layer exists."""
        return stored_analysis_shown(self.reading)

    def start(self, request: ExportRequest) -> None:
        r = self.reading
        if not self.available or r.loaded is None or r.db is None:
            return
        try:
            from mscc_desktop.workflow.report_inputs import load_report_inputs
        except ImportError as error:
            r.error.emit(
                "Export not available", MsccError(f"The reporting layer is missing: {error}")
            )
            return
        try:
            self._inputs = load_report_inputs(
                r.db, r.loaded.volume, series_id=None, analysis_id=r.analysis_id
            )
        except MsccError as error:
            r.error.emit("Export not possible", error)
            return
        r.status.emit(f"{request.choice.action_title}…")
        self.runner.submit(export_job(request, self._inputs, (r.loaded.source_path,)))

    def _on_done(self, result: Any) -> None:
        from mscc_desktop.workflow.report_inputs import record_export

        r = self.reading
        if r.db is not None and self._inputs is not None:
            r._store(record_export, self._inputs, result, user=r.user)
        r.status.emit(f"Exported {len(result.files)} file(s) to {result.path}")
        self.exported.emit(result)
