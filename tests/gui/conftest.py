"""GUI test fixtures: a themed QApplication, a viewer on a phantom, a main window on fakes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6 import QtCore

from mscc_desktop.core.config import AppConfig
from mscc_desktop.gui.app import application, create_main_window
from mscc_desktop.gui.main_window import MainWindow
from mscc_desktop.gui.state import ViewerState
from mscc_desktop.gui.viewer import ViewerWidget
from tests.gui.fakes import FakeAnalyser, FakeServices


@pytest.fixture
def state(qapp: object) -> ViewerState:
    application()
    return ViewerState()


@pytest.fixture
def viewer(qtbot, state: ViewerState) -> ViewerWidget:  # type: ignore[no-untyped-def]
    widget = ViewerWidget(state)
    widget.resize(1200, 600)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


class WindowFactory:
    """Opens main windows on one data folder and store, as the app would after a restart."""

    def __init__(self, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        self.qtbot = qtbot
        self.data_dir = tmp_path / "data"
        self.data_dir.mkdir()
        self.config = AppConfig(
            data_dir=self.data_dir, db_path=self.data_dir / "store.sqlite", models_dir=tmp_path
        )
        self.analyser = FakeAnalyser()
        self.windows: list[MainWindow] = []

    def open(self, *, analyser: FakeAnalyser | None = None) -> MainWindow:
        if analyser is not None:
            self.analyser = analyser
        services = FakeServices(self.data_dir, self.analyser)
        qsettings = QtCore.QSettings(
            str(self.data_dir / "settings.ini"), QtCore.QSettings.Format.IniFormat
        )
        window = create_main_window(self.config, services=services, qsettings=qsettings)
        window.resize(1500, 900)
        window.show()
        self.qtbot.waitExposed(window)
        self.windows.append(window)
        # The model "loads" in the background as in the app.
        self.qtbot.waitUntil(lambda: window.controller.model_info is not None, timeout=5000)
        return window

    def close_all(self) -> None:
        for window in self.windows:
            if window.isVisible():
                window.close()


@pytest.fixture
def windows(qtbot, tmp_path: Path) -> Iterator[WindowFactory]:  # type: ignore[no-untyped-def]
    factory = WindowFactory(qtbot, tmp_path)
    yield factory
    factory.close_all()
