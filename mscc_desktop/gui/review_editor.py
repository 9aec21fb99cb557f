"""The reader's verdict on one finding: accept, reject or regrade, vertebral level, comment."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6 import QtCore, QtWidgets

from mscc_desktop.core.findings import Lesion
from mscc_desktop.core.grades import GROUP_ORDER, GradeGroup
from mscc_desktop.core.review import Review, ReviewDecision


@dataclass(frozen=True, slots=True)
class ReviewDraft:
    """What the reader entered for one lesion, before the store validates and saves it."""

    lesion_number: int
    decision: ReviewDecision | None
    regraded_group: GradeGroup | None
    vertebral_level: str
    comment: str


def decision_text(review: Review | None) -> str:
    """Short review state for tables: "Accepted", "Regraded → Low grade", "—"."""
    if review is None or (review.decision is None and not review.vertebral_level):
        return "—"
    if review.decision is ReviewDecision.ACCEPT:
        return "Accepted"
    if review.decision is ReviewDecision.REJECT:
        return "Rejected"
    if review.decision is ReviewDecision.REGRADE and review.regraded_group is not None:
        return f"Regraded → {review.regraded_group.label}"
    return "Level only"


class ReviewEditor(QtWidgets.QGroupBox):
    """Edits the review of the selected lesion; emits ``submitted(ReviewDraft)`` on Save."""

    submitted = QtCore.Signal(object)
    use_level_requested = QtCore.Signal()  # the reader takes the numbering's level

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Review", parent)
        self._lesion: Lesion | None = None
        self._level_hint = ""
        self.accept_button = QtWidgets.QRadioButton("Accept")
        self.reject_button = QtWidgets.QRadioButton("Reject")
        self.regrade_button = QtWidgets.QRadioButton("Regrade to")
        self.none_button = QtWidgets.QRadioButton("No verdict")
        self.none_button.setChecked(True)
        self.decisions = QtWidgets.QButtonGroup(self)
        for button in (
            self.none_button,
            self.accept_button,
            self.reject_button,
            self.regrade_button,
        ):
            self.decisions.addButton(button)
        self.group_combo = QtWidgets.QComboBox()
        for group in GROUP_ORDER:
            self.group_combo.addItem(group.label, group)
        self.group_combo.setEnabled(False)
        self.regrade_button.toggled.connect(self.group_combo.setEnabled)
        self.level_edit = QtWidgets.QLineEdit()
        self.level_edit.setPlaceholderText("vertebral level, e.g. T7 or T7-T8")
        self.level_edit.setMaxLength(16)
        self.use_level_button = QtWidgets.QPushButton("Use proposal")
        self.use_level_button.setObjectName("use_level")
        self.use_level_button.clicked.connect(self.use_level_requested)
        self.use_level_button.setEnabled(False)
        self.comment_edit = QtWidgets.QLineEdit()
        self.comment_edit.setPlaceholderText("comment")
        self.save_button = QtWidgets.QPushButton("Save review")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self._on_save)
        self.level_edit.returnPressed.connect(self._on_save)
        self.comment_edit.returnPressed.connect(self._on_save)
        self.message = QtWidgets.QLabel()
        self.message.setWordWrap(True)
        self.heading = QtWidgets.QLabel("Select a finding to review it.")
        self.heading.setWordWrap(True)

        verdicts = QtWidgets.QGridLayout()
        verdicts.addWidget(self.accept_button, 0, 0)
        verdicts.addWidget(self.reject_button, 0, 1)
        verdicts.addWidget(self.none_button, 0, 2)
        verdicts.addWidget(self.regrade_button, 1, 0)
        verdicts.addWidget(self.group_combo, 1, 1, 1, 2)
        form = QtWidgets.QFormLayout()
        level_row = QtWidgets.QHBoxLayout()
        level_row.addWidget(self.level_edit, 1)
        level_row.addWidget(self.use_level_button)
        form.addRow("Level", level_row)
        form.addRow("Comment", self.comment_edit)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addLayout(verdicts)
        layout.addLayout(form)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.message, 1)
        buttons.addWidget(self.save_button)
        layout.addLayout(buttons)
        self.set_lesion(None, None, editable=False)

    @property
    def lesion(self) -> Lesion | None:
        return self._lesion

    def set_lesion(self, lesion: Lesion | None, review: Review | None, *, editable: bool) -> None:
        """Show ``lesion``'s current review; disable editing when there is nothing to save to."""
        self._lesion = lesion
        self.message.clear()
        if lesion is None:
            self.heading.setText("Select a finding to review it.")
        else:
            self.heading.setText(
                f"Finding {lesion.number}: {lesion.group.label}, {lesion.slice_range_text}"
            )
        decision = None if review is None else review.decision
        button = {
            ReviewDecision.ACCEPT: self.accept_button,
            ReviewDecision.REJECT: self.reject_button,
            ReviewDecision.REGRADE: self.regrade_button,
        }.get(decision, self.none_button)  # type: ignore[arg-type]
        button.setChecked(True)
        regraded = None if review is None else review.regraded_group
        self.group_combo.setCurrentIndex(GROUP_ORDER.index(regraded) if regraded is not None else 0)
        self.level_edit.setText("" if review is None else review.vertebral_level)
        self.comment_edit.setText("" if review is None else review.comment)
        if review is not None:
            when = review.reviewed_at.astimezone().strftime("%Y-%m-%d %H:%M")
            self.message.setText(f"Saved by {review.user}, {when}")
        can_edit = editable and lesion is not None
        for widget in (
            self.accept_button,
            self.reject_button,
            self.regrade_button,
            self.none_button,
            self.level_edit,
            self.comment_edit,
            self.save_button,
        ):
            widget.setEnabled(can_edit)
        self.group_combo.setEnabled(can_edit and self.regrade_button.isChecked())
        self.use_level_button.setEnabled(can_edit and bool(self._level_hint))

    def set_level_hint(self, level: str, *, confirmed: bool) -> None:
        """The numbering's level of the shown finding, offered for the level field."""
        self._level_hint = level
        where = "confirmed numbering" if confirmed else "automatic count, not confirmed"
        self.level_edit.setPlaceholderText(
            f"{level} ({where}); or type e.g. T7 or T7-T8"
            if level
            else "vertebral level, e.g. T7 or T7-T8"
        )
        self.use_level_button.setText(f"Use {level}" if level else "Use proposal")
        self.use_level_button.setToolTip(
            f"Put {level} from the {where} in the level field; Save review keeps it."
            if level
            else "No level proposed for this finding."
        )
        self.use_level_button.setEnabled(
            bool(level) and self.level_edit.isEnabled() and self._lesion is not None
        )

    def show_error(self, text: str) -> None:
        self.message.setText(f"<span style='color:#FF9E7A'>{text}</span>")

    def draft(self) -> ReviewDraft | None:
        if self._lesion is None:
            return None
        checked = self.decisions.checkedButton()
        decision = None
        if checked is self.accept_button:
            decision = ReviewDecision.ACCEPT
        elif checked is self.reject_button:
            decision = ReviewDecision.REJECT
        elif checked is self.regrade_button:
            decision = ReviewDecision.REGRADE
        group = self.group_combo.currentData() if decision is ReviewDecision.REGRADE else None
        return ReviewDraft(
            lesion_number=self._lesion.number,
            decision=decision,
            regraded_group=group,
            vertebral_level=self.level_edit.text().strip(),
            comment=self.comment_edit.text().strip(),
        )

    def _on_save(self) -> None:
        draft = self.draft()
        if draft is not None and self.save_button.isEnabled():
            self.submitted.emit(draft)
