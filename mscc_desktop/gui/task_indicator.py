"""Status-bar progress for background work: text, a progress bar and a Cancel button."""

from __future__ import annotations

from PySide6 import QtWidgets

from mscc_desktop.gui.workers import TaskRunner


class TaskIndicator(QtWidgets.QWidget):
    """Shows the progress of the runners it watches; Cancel cancels the one shown.

    When several run at once (opening a study while an analysis is running), the most recently
    started one is shown; the others continue and reappear when it ends.
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QtWidgets.QLabel("")
        self.bar = QtWidgets.QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setFixedWidth(220)
        self.bar.setTextVisible(False)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self._active: list[tuple[str, TaskRunner]] = []
        self._texts: dict[int, str] = {}
        self.setVisible(False)

    def watch(self, name: str, runner: TaskRunner) -> None:
        runner.busy_changed.connect(lambda busy: self._on_busy(name, runner, busy))
        runner.progress.connect(lambda fraction, text: self._on_progress(runner, fraction, text))

    @property
    def shown_runner(self) -> TaskRunner | None:
        return self._active[-1][1] if self._active else None

    def _on_busy(self, name: str, runner: TaskRunner, busy: bool) -> None:
        self._active = [(n, r) for n, r in self._active if r is not runner]
        if busy:
            self._active.append((name, runner))
            self._texts[id(runner)] = name + "…"
            self.bar.setValue(0)
        self._refresh()

    def _on_progress(self, runner: TaskRunner, fraction: float, text: str) -> None:
        self._texts[id(runner)] = text
        if runner is self.shown_runner:
            self.bar.setValue(int(fraction * 1000))
            self.label.setText(text)

    def _refresh(self) -> None:
        runner = self.shown_runner
        self.setVisible(runner is not None)
        if runner is not None:
            self.label.setText(self._texts.get(id(runner), ""))

    def _cancel(self) -> None:
        runner = self.shown_runner
        if runner is not None:
            runner.cancel()
