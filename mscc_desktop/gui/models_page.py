"""The Models page (Analysis › Models…): which model analyses, what the site's reviews hold,
adapting the model to them, comparing, using and rolling back.

Layout: on top, the installed models (shipped and adapted here) with their figures and the one
in use, with Use and Roll back; below it the selected model's card on the left; on the right
the site data (reviewed studies by group), Adapt with progress and Cancel, and for a site model
its held-out comparison with its base, side by side. "Use for new analyses" and "Roll back"
change the model of *new* analyses only; both are audited (``workflow.model_choice``), and
earlier analyses keep the model that made them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from mscc_desktop.core.config import DEFAULT_MODEL_ID, active_model_id, site_models_dir
from mscc_desktop.gui import theme
from mscc_desktop.gui.adapt_job import (
    AdaptFailedError,
    AdaptJob,
    AdaptOutcome,
    AdaptRequest,
    adapt_unavailable,
    new_model_id,
)
from mscc_desktop.gui.controller import ReadingController
from mscc_desktop.gui.error_box import show_error
from mscc_desktop.gui.model_figures import (
    FIGURE_ROWS,
    ListedModel,
    above_base,
    adapt_blocker,
    below_base,
    figure_text,
    find_model,
    installed_models,
    model_details_html,
    site_data_html,
    verdict_text,
)
from mscc_desktop.gui.workers import TaskRunner
from mscc_desktop.workflow.model_choice import ModelSwitch, model_history
from mscc_desktop.workflow.site_data import SiteDataSummary

logger = logging.getLogger(__name__)

MODEL_COLUMNS = ("", "Model", "Version", "Source", "SHA-256", "Temperature", "P(high) cut-off")
GOOD_COLOUR = "#6CC070"


@dataclass(frozen=True, slots=True)
class ModelPlaces:
    """The folders the page works in (from the window's :class:`AppConfig`)."""

    data_dir: Path
    models_dir: Path
    db_path: Path

    @property
    def site_dir(self) -> Path:
        return site_models_dir(self.data_dir)


class ComparisonTable(QtWidgets.QTableWidget):
    """Base and adapted model on the held-out patients, each figure with its 95 % interval.

    An adapted figure below the base's lower bound (the guard rail) is shown in the warning
    colour, a better one in green.
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(len(FIGURE_ROWS) + 1, 2, parent)
        self.setHorizontalHeaderLabels(["Base model", "Adapted model"])
        labels = [label for _key, label, _guarded in FIGURE_ROWS] + ["Held-out slices (high grade)"]
        self.setVerticalHeaderLabels(labels)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(
            QtWidgets.QHeaderView.ResizeMode.ResizeToContents
        )
        self.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.set_figures(None, None)

    def set_figures(
        self, base: Mapping[str, Any] | None, adapted: Mapping[str, Any] | None
    ) -> None:
        for column, figures in enumerate((base, adapted)):
            for row, (key, _label, guarded) in enumerate(FIGURE_ROWS):
                values = None if figures is None else figures.get(key)
                item = QtWidgets.QTableWidgetItem(figure_text(values))
                item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
                if column == 1 and base is not None and adapted is not None and guarded:
                    if below_base(base.get(key), values):
                        item.setForeground(QtGui.QColor(theme.WARNING_COLOUR))
                        item.setToolTip("Below the base model's 95 % interval")
                    elif above_base(base.get(key), values):
                        item.setForeground(QtGui.QColor(GOOD_COLOUR))
                self.setItem(row, column, item)
            counts = (
                "—"
                if figures is None
                else f"{figures.get('n_slices', '?')} ({figures.get('n_high_slices', '?')})"
            )
            item = QtWidgets.QTableWidgetItem(counts)
            item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            self.setItem(len(FIGURE_ROWS), column, item)
        self.setFixedHeight(self._natural_height())

    def text(self, row: int, column: int) -> str:
        item = self.item(row, column)
        return "" if item is None else item.text()

    def _natural_height(self) -> int:
        rows = sum(self.rowHeight(r) for r in range(self.rowCount()))
        return rows + self.horizontalHeader().height() + 2 * self.frameWidth() + 2


class ModelsDialog(QtWidgets.QDialog):
    """The Models page. Store access goes through the window's controller (GUI thread)."""

    def __init__(
        self,
        controller: ReadingController,
        places: ModelPlaces,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models — mscc-desktop")
        self.setObjectName("models_page")
        self.controller = controller
        self.places = places
        self.models: list[ListedModel] = []
        self.last_outcome: AdaptOutcome | None = None
        self.summary: SiteDataSummary | None = None
        self._select_after_listing: str | None = None
        self.lister = TaskRunner(controller.io_pool, self)
        self.lister.succeeded.connect(self._on_listed)
        self.lister.failed.connect(lambda e: show_error(self, "Could not list the models", e))
        self.job = AdaptJob(controller.io_pool, self)
        self.job.progress.connect(self._on_adapt_progress)
        self.job.succeeded.connect(self._on_adapted)
        self.job.failed.connect(self._on_adapt_failed)
        self.job.cancelled.connect(self._on_adapt_cancelled)
        self.job.busy_changed.connect(self._on_busy_changed)
        controller.model_switched.connect(lambda _change: self.refresh_models())
        self._build()
        self.resize(1280, 800)

    # ---- construction -------------------------------------------------------------------
    def _build(self) -> None:
        self.table = QtWidgets.QTreeWidget()
        self.table.setObjectName("models_table")
        self.table.setColumnCount(len(MODEL_COLUMNS))
        self.table.setHeaderLabels(list(MODEL_COLUMNS))
        self.table.setRootIsDecorated(False)
        self.table.setUniformRowHeights(True)
        self.table.setAllColumnsShowFocus(True)
        self.table.header().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.table.header().setStretchLastSection(True)
        self.table.currentItemChanged.connect(lambda *_: self._show_selected())
        self.details = QtWidgets.QLabel("")
        self.details.setObjectName("model_details")
        self.details.setWordWrap(True)
        self.details.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.details.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop)
        details_scroll = QtWidgets.QScrollArea()
        details_scroll.setWidgetResizable(True)
        details_scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        details_scroll.setWidget(self.details)
        self.comparison = ComparisonTable()
        self.verdict = QtWidgets.QLabel("")
        self.verdict.setObjectName("adapt_verdict")
        self.verdict.setWordWrap(True)
        self.comparison_box = QtWidgets.QGroupBox("Held-out patients: base and adapted model")
        box_layout = QtWidgets.QVBoxLayout(self.comparison_box)
        box_layout.addWidget(self.comparison)
        box_layout.addWidget(self.verdict)

        self.use_button = QtWidgets.QPushButton("Use for new analyses")
        self.use_button.setObjectName("use_model")
        self.use_button.clicked.connect(self.use_selected)
        self.rollback_button = QtWidgets.QPushButton("Roll back")
        self.rollback_button.setObjectName("roll_back")
        self.rollback_button.clicked.connect(self.roll_back)
        self.switch_note = QtWidgets.QLabel("")
        self.switch_note.setWordWrap(True)
        self.switch_note.setStyleSheet("QLabel { color: #9A9A9A; }")
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.use_button)
        buttons.addWidget(self.rollback_button)
        buttons.addWidget(self.switch_note, 1)

        top = QtWidgets.QVBoxLayout()
        top.addWidget(QtWidgets.QLabel("<b>Installed models</b>"))
        top.addWidget(self.table)
        top.addLayout(buttons)

        self.site_label = QtWidgets.QLabel("")
        self.site_label.setObjectName("site_data")
        self.site_label.setWordWrap(True)
        self.site_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        refresh = QtWidgets.QPushButton("Refresh")
        refresh.clicked.connect(self.refresh_site_data)
        site_box = QtWidgets.QGroupBox("Site data: your reviewed studies")
        site_layout = QtWidgets.QVBoxLayout(site_box)
        site_layout.addWidget(self.site_label)
        site_layout.addWidget(refresh, 0, QtCore.Qt.AlignmentFlag.AlignRight)

        self.base_label = QtWidgets.QLabel("")
        self.base_label.setWordWrap(True)
        self.adapt_button = QtWidgets.QPushButton("Adapt")
        self.adapt_button.setObjectName("adapt")
        self.adapt_button.clicked.connect(self.adapt)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel_adapt")
        self.cancel_button.clicked.connect(self.job.cancel)
        self.cancel_button.setEnabled(False)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress_text = QtWidgets.QLabel("")
        self.progress_text.setObjectName("adapt_status")
        self.progress_text.setWordWrap(True)
        adapt_row = QtWidgets.QHBoxLayout()
        adapt_row.addWidget(self.adapt_button)
        adapt_row.addWidget(self.cancel_button)
        adapt_row.addStretch(1)
        adapt_box = QtWidgets.QGroupBox("Adapt the model to this site")
        adapt_layout = QtWidgets.QVBoxLayout(adapt_box)
        explain = QtWidgets.QLabel(
            "Recalibrates the model on most of your reviewed patients and compares it with its "
            "base on the others. It is offered only when it is not worse; nothing changes "
            "until you choose to use it. Your studies never leave this computer."
        )
        explain.setWordWrap(True)
        explain.setStyleSheet("QLabel { color: #9A9A9A; }")
        adapt_layout.addWidget(explain)
        adapt_layout.addWidget(self.base_label)
        adapt_layout.addLayout(adapt_row)
        adapt_layout.addWidget(self.progress)
        adapt_layout.addWidget(self.progress_text)

        right = QtWidgets.QVBoxLayout()
        right.addWidget(site_box)
        right.addWidget(adapt_box)
        right.addWidget(self.comparison_box)
        right.addStretch(1)
        close = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.close)
        right.addWidget(close)

        columns = QtWidgets.QHBoxLayout()
        columns.addWidget(details_scroll, 1)
        columns.addLayout(right, 1)
        page = QtWidgets.QVBoxLayout(self)
        page.addLayout(top)
        page.addLayout(columns, 1)
        self._fit_table_height()

    # ---- refreshing ---------------------------------------------------------------------
    @property
    def in_use(self) -> str:
        return active_model_id(self.places.data_dir) or DEFAULT_MODEL_ID

    def refresh(self) -> None:
        self.refresh_site_data()
        self.refresh_models()

    def refresh_models(self, select: str | None = None) -> None:
        """List the models again (checksums verified on the I/O pool)."""
        self._select_after_listing = select or self._selected_id() or self.in_use
        models_dir, site_dir = self.places.models_dir, self.places.site_dir
        self.lister.submit(
            lambda *, progress, cancel: installed_models(
                models_dir, site_dir, progress=progress, cancel=cancel
            )
        )

    def refresh_site_data(self) -> None:
        self.summary = self.controller.site_data()
        self.site_label.setText(site_data_html(self.summary))
        self._update_buttons()

    def _on_listed(self, models: list[ListedModel]) -> None:
        self.models = models
        in_use = self.in_use
        bold = QtGui.QFont(self.table.font())
        bold.setBold(True)
        self.table.blockSignals(True)
        self.table.clear()
        chosen: QtWidgets.QTreeWidgetItem | None = None
        for model in models:
            m = model.manifest
            item = QtWidgets.QTreeWidgetItem(
                [
                    "● in use" if model.ok and model.model_id == in_use else "",
                    model.model_id,
                    m.version if m else "",
                    ("adapted here" if model.site else "shipped") if m else "refused",
                    m.short_sha if m else (model.error or "")[:60],
                    f"{m.probability_temperature:.3f}" if m else "",
                    f"{m.thresholds.high:.4f}" if m else "",
                ]
            )
            item.setData(0, QtCore.Qt.ItemDataRole.UserRole, model.model_id)
            if model.ok and model.model_id == in_use:
                for column in range(len(MODEL_COLUMNS)):
                    item.setFont(column, bold)
            if model.adaptation is not None and not model.offered:
                item.setForeground(3, QtGui.QColor(theme.WARNING_COLOUR))
                item.setText(3, "adapted here · not offered")
            if not model.ok:
                item.setForeground(1, QtGui.QColor(theme.WARNING_COLOUR))
            self.table.addTopLevelItem(item)
            if model.model_id == self._select_after_listing:
                chosen = item
        self.table.blockSignals(False)
        self._fit_table_height()
        if chosen is None and self.table.topLevelItemCount():
            chosen = self.table.topLevelItem(0)
        if chosen is not None:
            self.table.setCurrentItem(chosen)
        self._show_selected()
        self._update_base_label()

    def _fit_table_height(self) -> None:
        """As tall as its rows (three at least): the model's card gets the rest."""
        table = self.table
        row = table.sizeHintForRow(0) if table.topLevelItemCount() else 22
        rows = max(3, table.topLevelItemCount())
        scroll_bar = table.horizontalScrollBar().sizeHint().height()
        table.setFixedHeight(
            table.header().sizeHint().height() + rows * row + 2 * table.frameWidth() + scroll_bar
        )

    def _selected_id(self) -> str | None:
        item = self.table.currentItem()
        return None if item is None else str(item.data(0, QtCore.Qt.ItemDataRole.UserRole))

    def selected_model(self) -> ListedModel | None:
        selected = self._selected_id()
        return next((m for m in self.models if m.model_id == selected), None)

    def _show_selected(self) -> None:
        model = self.selected_model()
        self.details.setText("" if model is None else model_details_html(model, in_use=self.in_use))
        adaptation = None if model is None else model.adaptation
        if adaptation is None:
            self.comparison.set_figures(None, None)
            self.comparison_box.setTitle("Held-out patients: base and adapted model")
            self.verdict.setText(
                "Select a model adapted here to compare it with its base, or press Adapt."
            )
            self.verdict.setStyleSheet("")
        else:
            self.comparison.set_figures(
                adaptation.get("held_out_base"), adaptation.get("held_out_adapted")
            )
            patients = adaptation.get("patients", {})
            self.comparison_box.setTitle(
                f"{patients.get('held_out', '?')} held-out patients: "
                f"{adaptation.get('base_model', 'base')} and {model.model_id if model else ''}"
            )
            offered, sentence = verdict_text(adaptation)
            self.verdict.setText(sentence)
            colour = GOOD_COLOUR if offered else theme.WARNING_COLOUR
            self.verdict.setStyleSheet(f"QLabel {{ color: {colour}; }}")
        self._update_buttons()

    def _base_model(self) -> ListedModel | None:
        """The model Adapt starts from: the shipped model behind the one in use."""
        current = find_model(self.models, self.in_use)
        if current is None:
            return find_model(self.models, DEFAULT_MODEL_ID)
        return find_model(self.models, current.root_id) or current

    def _update_base_label(self) -> None:
        base = self._base_model()
        if base is None or base.manifest is None:
            self.base_label.setText("No verified model to adapt: reinstall the app's models.")
        else:
            self.base_label.setText(
                f"Starts from <b>{base.model_id}</b> {base.manifest.version} "
                f"(sha256 {base.manifest.short_sha})."
            )
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.job.busy
        model = self.selected_model()
        can_use = model is not None and model.offered and model.model_id != self.in_use
        self.use_button.setEnabled(can_use and not busy)
        if model is not None and model.ok and not model.offered:
            self.use_button.setToolTip("Not offered: worse than its base on held-out patients.")
        elif model is not None and model.model_id == self.in_use:
            self.use_button.setToolTip("This model analyses new studies already.")
        else:
            self.use_button.setToolTip("New analyses use the selected model; earlier ones stay.")
        history = model_history(self.places.data_dir)
        self.rollback_button.setEnabled(bool(history) and not busy)
        self.rollback_button.setToolTip(
            f"Go back to {history[-1]} for new analyses." if history else "No earlier model."
        )
        blocker = adapt_unavailable() or adapt_blocker(self.summary)
        if not blocker and self._base_model() is None:
            blocker = "No verified model to start from: reinstall the app's models."
        self.adapt_button.setEnabled(not busy and not blocker)
        self.adapt_button.setToolTip(blocker or "Export the reviewed studies and adapt.")
        if blocker and not busy:
            self.progress_text.setText(blocker)
        self.cancel_button.setEnabled(busy)

    # ---- actions ------------------------------------------------------------------------
    def adapt(self) -> None:
        base = self._base_model()
        if base is None or self.job.busy:
            return
        taken = {m.model_id for m in self.models}
        taken |= {p.name for p in self.places.site_dir.glob("*")}
        new_id = new_model_id(base.model_id, taken)
        self.last_outcome = None
        request = AdaptRequest(
            base_folder=base.folder,
            new_id=new_id,
            out_folder=self.places.site_dir / new_id,
            db_path=self.places.db_path,
            data_dir=self.places.data_dir,
            models_dir=self.places.models_dir,
            user=self.controller.user,
        )
        try:
            self.job.start(request)
        except OSError as error:
            show_error(
                self,
                "Could not start the adaptation",
                AdaptFailedError(
                    f"The data folder {self.places.data_dir} cannot take the export of the "
                    f"reviewed studies ({error.strerror or error}): free some disk space or "
                    "check its permissions."
                ),
            )

    def use_selected(self) -> None:
        model = self.selected_model()
        if model is None or not model.offered:
            return
        self._switched(
            self.controller.switch_model(
                model.model_id, data_dir=self.places.data_dir, models_root=self.places.models_dir
            )
        )

    def roll_back(self) -> None:
        self._switched(
            self.controller.switch_model(
                None, data_dir=self.places.data_dir, models_root=self.places.models_dir
            )
        )

    def _switched(self, change: ModelSwitch | None) -> None:
        if change is None:
            return
        self.switch_note.setText(
            f"New analyses now use {change.current} {change.version} (before: "
            f"{change.previous}). Earlier analyses keep the model that made them; analyse a "
            "study again (Ctrl+R) to compare."
        )
        self.refresh_models(select=change.current)

    # ---- adaptation progress ------------------------------------------------------------
    def _on_busy_changed(self, busy: bool) -> None:
        if busy:
            self.progress.setValue(0)
        self._update_buttons()

    def _on_adapt_progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(round(1000 * max(0.0, min(1.0, fraction))))
        self.progress_text.setText(text)

    def _on_adapted(self, outcome: AdaptOutcome) -> None:
        self.last_outcome = outcome
        self.progress.setValue(1000)
        self.progress_text.setText(
            f"Adapted as {outcome.model_id} on {outcome.patients.get('adapt', '?')} patients, "
            f"checked on {outcome.patients.get('held_out', '?')}: "
            + ("offered." if outcome.offered else "not offered (see below).")
            + (f" {outcome.note}" if outcome.note else "")
        )
        self.refresh_models(select=outcome.model_id)

    def _on_adapt_failed(self, error: object) -> None:
        self.progress.setValue(0)
        self.progress_text.setText("The adaptation failed; nothing was installed.")
        show_error(self, "Adaptation failed", error)

    def _on_adapt_cancelled(self) -> None:
        self.progress.setValue(0)
        self.progress_text.setText("Adaptation cancelled; nothing was installed.")

    # ---- showing and closing ------------------------------------------------------------
    def showEvent(self, ev: QtGui.QShowEvent) -> None:
        super().showEvent(ev)
        self.refresh()

    def shutdown(self) -> None:
        """Stop an adaptation (the window is closing); its half model is removed."""
        self.lister.cancel_all()
        self.job.shutdown()
