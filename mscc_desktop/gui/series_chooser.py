"""Choosing one series when a folder holds several, with why each is or is not analysable."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from mscc_desktop.core.dicom.classify import SeriesEntry, SeriesPick
from mscc_desktop.core.dicom_text import date_text, person_name_text

COLUMNS = ("Series", "Description", "Images", "Slice", "Kernel", "Patient / date", "Analysable?")
WHY_COLUMN = COLUMNS.index("Analysable?")
KERNEL_COLUMN = COLUMNS.index("Kernel")


def _kernel(entry: SeriesEntry) -> str:
    """E.g. "B40f · soft-tissue"; empty when no kernel is recorded."""
    kernel = entry.kernel
    return f"{kernel.name} · {kernel.kernel_class.label}" if kernel.name else ""


def _reason(entry: SeriesEntry, pick: SeriesPick) -> str:
    if pick.chosen is entry:
        return "recommended: " + pick.reason
    for other, why in pick.not_picked:
        if other is entry:
            return why
    return "; ".join(entry.reasons)


class SeriesChooser(QtWidgets.QDialog):
    """Lists every series of a scan; the recommended one is preselected.

    Non-analysable series can still be opened for viewing (the analysis will refuse them
    with the reason shown here).
    """

    def __init__(
        self,
        series: tuple[SeriesEntry, ...],
        pick: SeriesPick,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose a series")
        self.resize(900, 360)
        self._series = series
        self.table = QtWidgets.QTreeWidget()
        self.table.setColumnCount(len(COLUMNS))
        self.table.setHeaderLabels(list(COLUMNS))
        self.table.setRootIsDecorated(False)
        self.table.setWordWrap(True)
        self.table.header().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.table.header().setStretchLastSection(True)
        for index, entry in enumerate(series):
            thickness = entry.slice_thickness_mm or entry.slice_spacing_mm
            info = entry.info
            who = " · ".join(
                p for p in (person_name_text(info.patient_name), date_text(info.study_date)) if p
            )
            item = QtWidgets.QTreeWidgetItem(
                [
                    "" if info.series_number is None else str(info.series_number),
                    entry.description,
                    str(entry.n_images),
                    "" if thickness is None else f"{thickness:g} mm",
                    _kernel(entry),
                    who,
                    ("yes — " if entry.analysable else "no — ") + _reason(entry, pick),
                ]
            )
            item.setData(0, QtCore.Qt.ItemDataRole.UserRole, index)
            item.setToolTip(WHY_COLUMN, _reason(entry, pick))
            item.setToolTip(KERNEL_COLUMN, entry.kernel.basis)
            colour = "#8FD19E" if entry.analysable else "#E0A080"
            item.setForeground(WHY_COLUMN, QtGui.QBrush(QtGui.QColor(colour)))
            self.table.addTopLevelItem(item)
            if entry is pick.chosen:
                self.table.setCurrentItem(item)
        first = self.table.topLevelItem(0)
        if self.table.currentItem() is None and first is not None:
            self.table.setCurrentItem(first)
        self.table.itemDoubleClicked.connect(lambda *_: self.accept())
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Open
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(
            QtWidgets.QLabel("This folder holds several series. Choose the one to read:")
        )
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)

    def chosen(self) -> SeriesEntry | None:
        item = self.table.currentItem()
        if item is None:
            return None
        return self._series[int(item.data(0, QtCore.Qt.ItemDataRole.UserRole))]
