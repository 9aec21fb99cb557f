"""Start the reading workstation: ``mscc-desktop``, ``mscc-desktop --demo``, ``mscc-desktop PATH``.

Start-up is kept short (target: a usable window in under 2 s): only Qt, pyqtgraph, numpy,
pydicom and the store are imported before the window shows; the model and its runtime
(onnxruntime, or torch for the torch backend) load afterwards on the inference thread.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from mscc_desktop.core.config import APP_NAME, AppConfig, resources_dir
from mscc_desktop.core.errors import StoreError
from mscc_desktop.gui.controller import ReadingController
from mscc_desktop.gui.error_box import show_error
from mscc_desktop.gui.main_window import MainWindow
from mscc_desktop.gui.selfcheck import leak_warning
from mscc_desktop.gui.services import DefaultServices, Services
from mscc_desktop.gui.settings import load_settings
from mscc_desktop.gui.state import ViewerState
from mscc_desktop.gui.theme import apply_dark_theme
from mscc_desktop.workflow.reading import open_store

logger = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.001


def application() -> QtWidgets.QApplication:
    """The QApplication (created once; themed and configured once, also when a test made it)."""
    existing = QtWidgets.QApplication.instance()
    if isinstance(existing, QtWidgets.QApplication):
        app = existing
    else:
        QtCore.QCoreApplication.setOrganizationName("mscc-desktop")
        QtCore.QCoreApplication.setApplicationName(APP_NAME)
        app = QtWidgets.QApplication(sys.argv[:1])
    if app.property("mscc_configured"):
        return app
    app.setProperty("mscc_configured", True)
    apply_dark_theme(app)
    icon = resources_dir() / "icons" / "mscc-desktop.svg"
    if icon.is_file():
        app.setWindowIcon(QtGui.QIcon(str(icon)))
    # Lets Linux desktops match the window to installer/linux/mscc-desktop.desktop.
    QtGui.QGuiApplication.setDesktopFileName("mscc-desktop")
    # The GUI thread shares the GIL with the loader and inference threads. Python hands the
    # GIL over every 5 ms by default; painting one frame re-acquires it dozens of times, so a
    # busy worker could stretch a frame to 100+ ms. 1 ms keeps scrolling smooth while an
    # analysis runs (measured in tests/gui/test_main_window.py) at a small cost to the worker.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False, background="k")
    return app


def settings_file(config: AppConfig) -> QtCore.QSettings:
    """Reader preferences, kept beside the store (one folder to back up or reset)."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return QtCore.QSettings(
        str(config.data_dir / "settings.ini"), QtCore.QSettings.Format.IniFormat
    )


def create_main_window(
    config: AppConfig,
    *,
    services: Services | None = None,
    qsettings: QtCore.QSettings | None = None,
    prepare_model: bool = True,
) -> MainWindow:
    """Build the window and its controller; open the store (the window works without it).

    Parameters
    ----------
    config
        Paths and defaults; reader preferences from ``qsettings`` override them.
    services
        The layers below (tests pass fakes); the real importer and pipeline when ``None``.
    qsettings
        Preference storage; ``settings.ini`` in the data folder when ``None``.
    prepare_model
        Start loading the model in the background once the event loop runs.
    """
    application()
    qs = qsettings if qsettings is not None else settings_file(config)
    ui = load_settings(qs)
    config = ui.apply(config)
    db = None
    store_problem: StoreError | None = None
    try:
        db = open_store(config.db_path)
    except StoreError as error:
        store_problem = error
    controller = ReadingController(ViewerState(), services or DefaultServices(config), db, ui)
    window = MainWindow(controller, qs, config)
    controller.setParent(window)
    if store_problem is not None:
        QtCore.QTimer.singleShot(
            0, lambda: show_error(window, "Results store not available", store_problem)
        )
    warning = leak_warning()
    if warning:
        QtCore.QTimer.singleShot(
            0, lambda: QtWidgets.QMessageBox.critical(window, "Unsupported Qt version", warning)
        )
    if prepare_model:
        QtCore.QTimer.singleShot(0, controller.prepare_model)
    return window


def run_app(path: str | None = None, demo: bool = False, db: str | None = None) -> int:
    """Run the workstation until the window closes; returns the process exit code.

    Parameters
    ----------
    path
        A DICOM folder (or file / DICOMDIR) to open at start.
    demo
        Open the synthetic demo study (generated on first use).
    db
        The results store file; the one in the user data folder when ``None``.
    """
    app = application()
    window = create_main_window(AppConfig.default(db=db))
    window.show()
    if demo:
        window.controller.open_demo()
    elif path:
        window.controller.open_path(Path(path))
    return int(app.exec())
