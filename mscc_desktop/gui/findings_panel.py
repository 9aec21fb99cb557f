"""The findings panel: the study's answer, its lesions (high grade first), review and notices.

A click (or arrow-key move) on a finding jumps the viewer to that finding's key slice. Each
finding's probability is shown with the cut-off of its call ("0.27 (cut-off 0.08)", the
sentence-length version in its tooltip); the model's plain-language limitations stand under
the model line whenever its results are shown.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from mscc_desktop.core.findings import Lesion, ModelProvenance, StudyFindings
from mscc_desktop.core.grades import GROUP_ORDER, GradeGroup
from mscc_desktop.core.notices import Notice, Severity
from mscc_desktop.core.operating_point import cut_off_legend, lesion_operating_point
from mscc_desktop.core.review import Review
from mscc_desktop.gui import theme
from mscc_desktop.gui.level_confirm import ShownLevels
from mscc_desktop.gui.review_editor import ReviewEditor, decision_text
from mscc_desktop.gui.state import ViewerState

_RANK = {group: rank for rank, group in enumerate(GROUP_ORDER)}
COLUMNS = ("#", "Grade", "Slices", "z (mm)", "P (cut-off)", "Review", "Level")
P_COLUMN = COLUMNS.index("P (cut-off)")
_SHORT_GROUP = {GradeGroup.NORMAL: "Normal", GradeGroup.LOW: "Low", GradeGroup.HIGH: "High"}
NOT_VERIFIED = "AI result, not verified by a radiologist"
LEVEL_COLUMN = COLUMNS.index("Level")
PROPOSED_LEVEL_COLOUR = "#A8A8A8"


def z_range_text(lesion: Lesion) -> str:
    """The z column: ``"+35 to +23"`` (head end first; the header says mm)."""
    top, bottom = _signed_mm(lesion.z_to_mm), _signed_mm(lesion.z_from_mm)
    return top if top == bottom else f"{top} to {bottom}"


def _signed_mm(value: float) -> str:
    text = f"{value:+.0f}"
    return "0" if text in ("+0", "-0") else text


def ordered_lesions(findings: StudyFindings) -> list[Lesion]:
    """High-grade lesions first, then low grade; head to feet within a group."""
    return sorted(findings.lesions, key=lambda les: (-_RANK[les.group], les.number))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def limitations_html(limitations: tuple[str, ...]) -> str:
    """The model's limitations as the panel shows them (rich text; empty when none)."""
    if not limitations:
        return ""
    items = "".join(f"<br>⚠ {html.escape(text)}" for text in limitations)
    return f"<span style='color:{theme.WARNING_COLOUR}'><b>Model limitations</b>{items}</span>"


def _swatch(colour: str) -> QtGui.QIcon:
    pixmap = QtGui.QPixmap(12, 12)
    pixmap.fill(QtGui.QColor(colour))
    return QtGui.QIcon(pixmap)


class FindingsPanel(QtWidgets.QWidget):
    """Headline, lesion table, review editor and notices of the shown analysis.

    ``review_submitted(ReviewDraft)`` is emitted when the reader saves a review; the main
    window stores it and calls :meth:`set_reviews` with what the store now holds.
    """

    review_submitted = QtCore.Signal(object)

    def __init__(self, state: ViewerState, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._reviews: dict[int, Review] = {}
        self._editable = False
        self._lesions: list[Lesion] = []
        self._provenance: ModelProvenance | None = None
        self._levels: ShownLevels | None = None

        self.headline = QtWidgets.QLabel("No analysis")
        self.headline.setObjectName("headline")
        self.headline.setWordWrap(True)
        self.summary = QtWidgets.QLabel("")
        self.summary.setWordWrap(True)
        self.table = QtWidgets.QTreeWidget()
        self.table.setColumnCount(len(COLUMNS))
        self.table.setHeaderLabels(list(COLUMNS))
        self.table.setRootIsDecorated(False)
        self.table.setUniformRowHeights(True)
        self.table.setAlternatingRowColors(True)
        self.table.setAllColumnsShowFocus(True)
        self.table.setMinimumHeight(110)
        header = self.table.header()
        header.setStretchLastSection(True)
        # The level ("T7") needs little room; the P column's cut-off needs more.
        header.resizeSection(len(COLUMNS) - 1, 48)
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        # Shown beside the grade ("High  T7"): where a finding is matters most, and a narrow
        # panel then clips the review state rather than the level.
        header.moveSection(header.visualIndex(LEVEL_COLUMN), 2)
        self.table.itemClicked.connect(self._on_item_activated)
        self.table.currentItemChanged.connect(self._on_current_changed)
        self.editor = ReviewEditor(self)
        self.editor.submitted.connect(self.review_submitted)
        self.notices = QtWidgets.QLabel("")
        self.notices.setWordWrap(True)
        self.notices.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.provenance = QtWidgets.QLabel("")
        self.provenance.setWordWrap(True)
        self.provenance.setStyleSheet("QLabel { color: #9A9A9A; }")
        self.limitations = QtWidgets.QLabel("")
        self.limitations.setObjectName("modelLimitations")
        self.limitations.setWordWrap(True)
        self.limitations.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.limitations.setVisible(False)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.headline)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.editor)
        layout.addWidget(self.notices)
        layout.addStretch(0)
        layout.addWidget(self.provenance)
        layout.addWidget(self.limitations)

        state.findings_changed.connect(self._rebuild)
        state.notices_changed.connect(self._show_notices)
        self._rebuild()
        self._show_notices()

    def add_study_actions(self, actions: Sequence[QtGui.QAction]) -> None:
        """Buttons for the whole-study verdicts (sign-off, "no MSCC") under the review editor."""
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Study:"))
        self.study_buttons: list[QtWidgets.QToolButton] = []
        for action in actions:
            button = QtWidgets.QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
            # A ticked verdict must be plain to see: the dark theme's pressed look is faint.
            button.setStyleSheet(
                "QToolButton:checked { background: #2F5D3A; border: 1px solid "
                f"{theme.OKABE_ITO['bluish_green']}; color: white; }}"
            )
            row.addWidget(button)
            self.study_buttons.append(button)
        row.addStretch(1)
        layout = self.layout()
        assert isinstance(layout, QtWidgets.QVBoxLayout)
        layout.insertLayout(layout.indexOf(self.editor) + 1, row)

    # ---- inputs from the main window ----------------------------------------------------
    def set_reviews(self, reviews: Mapping[int, Review], editable: bool) -> None:
        """Show the stored reviews; ``editable`` is False when no stored analysis backs them."""
        self._reviews = dict(reviews)
        self._editable = editable
        self._fill_review_columns()
        self._update_headline()
        current = self.selected_lesion()
        self.editor.set_lesion(
            current,
            None if current is None else self._reviews.get(current.number),
            editable=editable,
        )

    def set_provenance(self, provenance: ModelProvenance | None, when: str = "") -> None:
        """Show which model made the shown analysis, and its limitations right under it."""
        self._provenance = provenance
        self._fill_probability_tooltips()
        if provenance is None:
            self.provenance.setText("")
            self.provenance.setToolTip("")
            self.limitations.setText("")
            self.limitations.setVisible(False)
            return
        lines = [
            f"Model {provenance.model_id} {provenance.model_version} · {provenance.backend_text}"
        ]
        if when:
            lines.append(f"Analysed {when}")
        if provenance.synthetic_only:
            lines.append("Not for clinical use: trained on synthetic phantoms only.")
        self.provenance.setText("\n".join(lines))
        if provenance.calibrated:
            calibration = (
                "Probabilities are calibrated on the model's calibration studies "
                f"(temperature scaling, T = {provenance.probability_temperature:.2f})."
            )
        else:
            calibration = "This model's probabilities are not calibrated."
        self.provenance.setToolTip(calibration + "\n\n" + cut_off_legend(self.state.thresholds))
        self.limitations.setText(limitations_html(provenance.limitations))
        self.limitations.setToolTip("\n".join(provenance.limitations))
        self.limitations.setVisible(bool(provenance.limitations))

    def selected_lesion(self) -> Lesion | None:
        item = self.table.currentItem()
        if item is None:
            return None
        number = item.data(0, QtCore.Qt.ItemDataRole.UserRole)
        return next((les for les in self._lesions if les.number == number), None)

    def row_of_lesion(self, number: int) -> QtWidgets.QTreeWidgetItem | None:
        for row in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(row)
            if item is not None and item.data(0, QtCore.Qt.ItemDataRole.UserRole) == number:
                return item
        return None

    # ---- building -----------------------------------------------------------------------
    def _rebuild(self) -> None:
        self.table.blockSignals(True)
        self.table.clear()
        findings = self.state.findings
        self._lesions = [] if findings is None else ordered_lesions(findings)
        for lesion in self._lesions:
            item = QtWidgets.QTreeWidgetItem(
                [
                    str(lesion.number),
                    _SHORT_GROUP[lesion.group],
                    lesion.slice_range_text.removeprefix("slices ").removeprefix("slice "),
                    z_range_text(lesion),
                    self._probability_text(lesion),
                    "",
                    "",
                ]
            )
            item.setData(0, QtCore.Qt.ItemDataRole.UserRole, lesion.number)
            item.setIcon(1, _swatch(theme.group_colour(lesion.group)))
            item.setToolTip(
                2,
                f"{lesion.n_abnormal_slices} abnormal slices; key slice {lesion.key_slice + 1}",
            )
            item.setToolTip(3, lesion.z_range_text)
            if lesion.group is GradeGroup.HIGH:
                font = item.font(1)
                font.setBold(True)
                item.setFont(1, font)
            self.table.addTopLevelItem(item)
        self.table.blockSignals(False)
        self._fill_probability_tooltips()
        self._reviews = {}
        self._fill_review_columns()
        self._update_headline()
        self.editor.set_lesion(None, None, editable=False)

    def _probability_text(self, lesion: Lesion) -> str:
        findings = self.state.findings
        point = (
            None
            if findings is None
            else lesion_operating_point(lesion, findings, self.state.thresholds)
        )
        return f"{lesion.peak_probability:.2f}" if point is None else point.short_text

    def _fill_probability_tooltips(self) -> None:
        """The sentence behind each "0.27 (cut-off 0.08)"; it says whether the probability is
        calibrated, which the model line (set after the findings) tells."""
        findings = self.state.findings
        calibrated = self._provenance is not None and self._provenance.calibrated
        header_item = self.table.headerItem()
        if header_item is not None:
            header_item.setToolTip(P_COLUMN, cut_off_legend(self.state.thresholds))
        for row in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(row)
            if item is None or findings is None:
                continue
            number = item.data(0, QtCore.Qt.ItemDataRole.UserRole)
            lesion = next((les for les in self._lesions if les.number == number), None)
            point = (
                None
                if lesion is None
                else lesion_operating_point(lesion, findings, self.state.thresholds)
            )
            if point is not None:
                item.setToolTip(P_COLUMN, point.explanation(calibrated=calibrated))

    def _fill_review_columns(self) -> None:
        for row in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(row)
            if item is None:
                continue
            number = int(item.data(0, QtCore.Qt.ItemDataRole.UserRole))
            review = self._reviews.get(number)
            item.setText(5, decision_text(review))
            self._fill_level(item, number, review)

    def set_levels(self, levels: ShownLevels | None) -> None:
        """The vertebral levels of the slices: the confirmed numbering or the proposal."""
        self._levels = levels
        self._fill_review_columns()
        current = self.selected_lesion()
        self.editor.set_level_hint(
            "" if current is None or levels is None else levels.of_lesion(current),
            confirmed=bool(levels and levels.confirmed),
        )

    def _fill_level(
        self, item: QtWidgets.QTreeWidgetItem, number: int, review: Review | None
    ) -> None:
        """The reader's level as typed; else the numbering's, a proposal in grey italics."""
        font = item.font(LEVEL_COLUMN)
        font.setItalic(False)
        item.setForeground(LEVEL_COLUMN, self.palette().brush(QtGui.QPalette.ColorRole.Text))
        if review is not None and review.vertebral_level:
            item.setText(LEVEL_COLUMN, review.vertebral_level)
            item.setToolTip(LEVEL_COLUMN, f"Entered by {review.user} in the review")
            item.setFont(LEVEL_COLUMN, font)
            return
        lesion = next((les for les in self._lesions if les.number == number), None)
        levels = self._levels
        text = "" if levels is None or lesion is None else levels.of_lesion(lesion)
        if not text or levels is None:
            item.setText(LEVEL_COLUMN, "")
            item.setToolTip(LEVEL_COLUMN, "")
        elif levels.confirmed:
            item.setText(LEVEL_COLUMN, text)
            item.setToolTip(LEVEL_COLUMN, f"From the confirmed numbering. {levels.note}")
        else:
            font.setItalic(True)
            item.setText(LEVEL_COLUMN, f"{text}?")
            item.setForeground(LEVEL_COLUMN, QtGui.QBrush(QtGui.QColor(PROPOSED_LEVEL_COLOUR)))
            item.setToolTip(
                LEVEL_COLUMN,
                "Proposed by the automatic count, not confirmed (not reported until the "
                "reader confirms): Analysis › Vertebral levels › Confirm (Ctrl+L), or shift "
                "by one level (Ctrl+Shift+↓/↑).",
            )
        item.setFont(LEVEL_COLUMN, font)

    def _update_headline(self) -> None:
        findings = self.state.findings
        if findings is None:
            self.headline.setText("No analysis")
            self.headline.setStyleSheet("QLabel { font-size: 15px; color: #9A9A9A; }")
            self.summary.setText("Analyze (Ctrl+R) runs the model on this series.")
            return
        colour = theme.group_colour(findings.max_group)
        self.headline.setText(findings.headline)
        self.headline.setStyleSheet(
            f"QLabel {{ font-size: 16px; font-weight: 700; color: {colour}; }}"
        )
        parts = [
            _count(len(findings.lesions), "finding"),
            _count(findings.n_high_slices, "high-grade slice"),
            f"{findings.n_low_slices} low-grade",
        ]
        if findings.n_canal_not_found:
            parts.append(f"canal not found on {findings.n_canal_not_found}")
        reviewed = sum(
            1 for les in findings.lesions if (r := self._reviews.get(les.number)) and r.decision
        )
        if findings.lesions and reviewed == len(findings.lesions):
            status = "All findings reviewed"
        elif reviewed:
            status = f"{reviewed} of {len(findings.lesions)} findings reviewed"
        else:
            status = NOT_VERIFIED
        self.summary.setText(" · ".join(parts) + "\n" + status)

    def _show_notices(self) -> None:
        notices: tuple[Notice, ...] = self.state.notices
        if not notices:
            self.notices.setText("")
            return
        colours = {Severity.ERROR: "#FF7A5C", Severity.WARNING: theme.WARNING_COLOUR}
        symbols = {Severity.ERROR: "⛔", Severity.WARNING: "⚠"}
        lines = [
            f"<span style='color:{colours.get(n.severity, '#9A9A9A')}'>"
            f"{symbols.get(n.severity, 'ℹ')}</span> {html.escape(n.message)}"
            for n in notices
        ]
        self.notices.setText("<b>Input checks</b><br>" + "<br>".join(lines))

    # ---- interaction --------------------------------------------------------------------
    def _on_item_activated(self, item: QtWidgets.QTreeWidgetItem, _column: int = 0) -> None:
        number = item.data(0, QtCore.Qt.ItemDataRole.UserRole)
        lesion = next((les for les in self._lesions if les.number == number), None)
        if lesion is None:
            return
        self.state.set_slice(lesion.key_slice)
        self.editor.set_lesion(lesion, self._reviews.get(lesion.number), editable=self._editable)
        levels = self._levels
        self.editor.set_level_hint(
            "" if levels is None else levels.of_lesion(lesion),
            confirmed=bool(levels and levels.confirmed),
        )

    def _on_current_changed(
        self, current: QtWidgets.QTreeWidgetItem | None, _previous: object = None
    ) -> None:
        if current is not None:
            self._on_item_activated(current)
