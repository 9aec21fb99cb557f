"""The study browser: what the local store knows, high-grade flagged studies first."""

from __future__ import annotations

from collections.abc import Sequence, Set
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from mscc_desktop.core.dicom_text import date_text, person_name_text
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.review import ReviewStatus, StudyStatus
from mscc_desktop.gui import theme
from mscc_desktop.workflow.records import StudyListEntry

COLUMNS = ("Flag", "Patient", "ID", "Date", "Description", "Status", "Reviewed")
_STATUS_TEXT = {
    StudyStatus.NOT_ANALYSED: "not analysed",
    StudyStatus.RUNNING: "running",
    StudyStatus.COMPLETE: "analysed",
    StudyStatus.STALE: "files changed",
    StudyStatus.FAILED: "failed",
    StudyStatus.CANCELLED: "cancelled",
    StudyStatus.INTERRUPTED: "interrupted",
    StudyStatus.REFUSED: "refused",
}
_REVIEW_TEXT = {
    ReviewStatus.UNREVIEWED: "no",
    ReviewStatus.IN_PROGRESS: "in progress",
    ReviewStatus.REVIEWED: "yes",
}


def flag_text(entry: StudyListEntry) -> str:
    if entry.high_grade:
        p = f" {entry.max_p_high:.2f}" if entry.max_p_high is not None else ""
        if p and entry.max_p_high_cut_off is not None:
            p += f" (cut-off {entry.max_p_high_cut_off:.2f})"
        return f"HIGH{p}"
    if entry.max_group is GradeGroup.LOW:
        return "low"
    if entry.status is StudyStatus.COMPLETE:
        return "–"
    return ""


class StudyBrowser(QtWidgets.QWidget):
    """A table of the store's studies (order as the store gives it: flagged first).

    ``open_requested(Path)`` is emitted with a study's source folder on double-click or Enter.
    """

    open_requested = QtCore.Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QtWidgets.QTreeWidget()
        self.table.setColumnCount(len(COLUMNS))
        self.table.setHeaderLabels(list(COLUMNS))
        self.table.setRootIsDecorated(False)
        self.table.setUniformRowHeights(True)
        self.table.setAlternatingRowColors(True)
        self.table.setSortingEnabled(False)  # the store's order is the clinical priority
        self.table.header().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemActivated.connect(self._on_activated)
        self.table.itemDoubleClicked.connect(self._on_activated)
        self.empty = QtWidgets.QLabel(
            "No studies yet. Open a folder (Ctrl+O) or the demo study (Help › Open demo study)."
        )
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("QLabel { color: #9A9A9A; padding: 6px; }")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.empty)
        layout.addWidget(self.table, 1)
        self._entries: list[StudyListEntry] = []

    @property
    def entries(self) -> list[StudyListEntry]:
        return list(self._entries)

    def set_entries(
        self, entries: Sequence[StudyListEntry], *, no_mscc: Set[int] = frozenset()
    ) -> None:
        """Show ``entries``; the studies in ``no_mscc`` carry the reader's "no MSCC" verdict."""
        self._entries = list(entries)
        self.table.clear()
        self.empty.setVisible(not self._entries)
        bold = QtGui.QFont(self.table.font())
        bold.setBold(True)
        for entry in self._entries:
            item = QtWidgets.QTreeWidgetItem(
                [
                    flag_text(entry),
                    person_name_text(entry.patient_name),
                    entry.patient_id,
                    date_text(entry.study_date),
                    entry.study_description,
                    _STATUS_TEXT.get(entry.status, entry.status.value),
                    _REVIEW_TEXT.get(entry.review_status, entry.review_status.value)
                    + (" · no MSCC" if entry.study_id in no_mscc else ""),
                ]
            )
            item.setData(0, QtCore.Qt.ItemDataRole.UserRole, entry.study_id)
            if entry.high_grade:
                item.setForeground(
                    0, QtGui.QBrush(QtGui.QColor(theme.GROUP_COLOURS[GradeGroup.HIGH]))
                )
                item.setFont(0, bold)
                item.setFont(1, bold)
            elif entry.max_group is GradeGroup.LOW:
                item.setForeground(
                    0, QtGui.QBrush(QtGui.QColor(theme.GROUP_COLOURS[GradeGroup.LOW]))
                )
            if entry.source_paths:
                item.setToolTip(1, str(entry.source_paths[0]))
            self.table.addTopLevelItem(item)

    def _on_activated(self, item: QtWidgets.QTreeWidgetItem, _column: int = 0) -> None:
        study_id = item.data(0, QtCore.Qt.ItemDataRole.UserRole)
        entry = next((e for e in self._entries if e.study_id == study_id), None)
        if entry is not None and entry.source_paths:
            self.open_requested.emit(Path(entry.source_paths[0]))
