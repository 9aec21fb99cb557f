"""Start-up self-check of the installed GUI, for the installer test and for site IT.

    MSCC_GUI_SMOKE=shown  mscc-desktop            # exit 0 once the main window is shown
    MSCC_GUI_SMOKE=model  mscc-desktop            # ... and the model has loaded
    MSCC_GUI_SMOKE=demo   mscc-desktop --demo     # ... and the demo study is open

The app starts exactly as a reader starts it (``mscc_desktop.cli.main`` -> ``run_app``); this
module only watches from outside: an event filter on the QApplication notices the main
window's Show event and any message box, and the controller's public signals say when the
model is ready or the demo series is open. Then it writes a JSON report, prints one
``MSCC_GUI_SMOKE`` line and leaves the event loop with the outcome's exit code:

    0 ok · 3 the model failed to load · 4 an error was reported (dialog or error signal)
    5 timed out (``MSCC_GUI_SMOKE_TIMEOUT_S``, default 120) · 2 bad mode

Options (environment): ``MSCC_GUI_SMOKE_REPORT`` JSON report path, ``MSCC_GUI_SMOKE_SCREENSHOT``
PNG of the main window when done, ``MSCC_GUI_SMOKE_LINGER_S`` seconds to keep running after
the outcome (an observation window, e.g. for network checks). Nothing here changes what the
app does.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

MODES = ("shown", "model", "demo")
EXIT_OK = 0
EXIT_BAD_MODE = 2
EXIT_MODEL_FAILED = 3
EXIT_ERROR_SHOWN = 4
EXIT_TIMEOUT = 5

_T0 = time.perf_counter()


def _elapsed() -> float:
    return round(time.perf_counter() - _T0, 3)


def run_smoke(argv: list[str]) -> int:
    """Run the app with ``argv`` under the self-check selected by ``MSCC_GUI_SMOKE``."""
    mode = os.environ.get("MSCC_GUI_SMOKE", "")
    if mode not in MODES:
        print(f"MSCC_GUI_SMOKE must be one of {', '.join(MODES)}, not {mode!r}", file=sys.stderr)
        return EXIT_BAD_MODE
    if mode == "demo" and "--demo" not in argv:
        argv = [*argv, "--demo"]
    from PySide6 import QtCore

    from mscc_desktop.gui.app import application

    app = application()
    watcher = _make_watcher(mode)
    app.installEventFilter(watcher)
    timeout_s = float(os.environ.get("MSCC_GUI_SMOKE_TIMEOUT_S", "120"))
    QtCore.QTimer.singleShot(int(timeout_s * 1000), watcher.on_timeout)

    from mscc_desktop.cli import main

    code = main(argv)
    report = watcher.report
    report.setdefault("outcome", "app exited by itself")
    report["exit_code"] = code
    report["finished_s"] = _elapsed()
    target = os.environ.get("MSCC_GUI_SMOKE_REPORT")
    if target:
        Path(target).write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"MSCC_GUI_SMOKE {report['outcome']} exit={code}", flush=True)
    return code


def _make_watcher(mode: str) -> Any:
    from PySide6 import QtCore, QtWidgets

    class Watcher(QtCore.QObject):
        def __init__(self) -> None:
            super().__init__()
            self.mode = mode
            self.window: QtWidgets.QMainWindow | None = None
            self.done = False
            self.report: dict[str, Any] = {"mode": mode, "dialogs": [], "status": []}

        # ---- watching ------------------------------------------------------------------
        def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:
            if event.type() == QtCore.QEvent.Type.Show and isinstance(obj, QtWidgets.QWidget):
                if isinstance(obj, QtWidgets.QMessageBox):
                    self._on_message_box(obj)
                elif isinstance(obj, QtWidgets.QMainWindow) and self.window is None:
                    self._on_main_window(obj)
            return False

        def _on_main_window(self, window: QtWidgets.QMainWindow) -> None:
            self.window = window
            self.report["shown_s"] = _elapsed()
            print(f"MSCC_GUI_SMOKE shown {self.report['shown_s']:.3f}s", flush=True)
            controller = getattr(window, "controller", None)
            if controller is not None:
                controller.status.connect(self.report["status"].append)
                controller.error.connect(self._on_error)
                controller.model_ready.connect(self._on_model_ready)
                controller.model_failed.connect(self._on_model_failed)
                controller.series_opened.connect(self._on_series_opened)
            if self.mode == "shown":
                # After the event loop has painted the window once.
                QtCore.QTimer.singleShot(0, lambda: self.finish(EXIT_OK, "main window shown"))

        def _on_message_box(self, box: QtWidgets.QMessageBox) -> None:
            icon = box.icon()
            self.report["dialogs"].append(
                {"title": box.windowTitle(), "text": box.text(), "icon": icon.name}
            )
            if icon in (QtWidgets.QMessageBox.Icon.Critical, QtWidgets.QMessageBox.Icon.Warning):
                QtCore.QTimer.singleShot(
                    0, lambda: self.finish(EXIT_ERROR_SHOWN, f"dialog: {box.windowTitle()}")
                )

        def _on_error(self, title: str, error: object) -> None:
            self.report["error"] = {"title": title, "message": str(error)}
            self.finish(EXIT_ERROR_SHOWN, f"error: {title}")

        def _on_model_ready(self, info: Any) -> None:
            self.report["model"] = {
                "id": info.model_id,
                "version": info.model_version,
                "sha256": info.model_sha256,
                "runtime": info.runtime,
                "device": info.device,
                "fallback_warning": info.fallback_warning,
            }
            self.report["model_ready_s"] = _elapsed()
            if self.mode == "model":
                self.finish(EXIT_OK, "model ready")

        def _on_model_failed(self, message: str) -> None:
            self.report["model_error"] = message
            if self.mode != "shown":  # "shown" checks the window only (no model needed)
                self.finish(EXIT_MODEL_FAILED, "model failed")

        def _on_series_opened(self) -> None:
            self.report["series_opened_s"] = _elapsed()
            if self.mode == "demo":
                self.finish(EXIT_OK, "demo study open")

        def on_timeout(self) -> None:
            self.finish(EXIT_TIMEOUT, "timed out")

        # ---- ending --------------------------------------------------------------------
        def finish(self, code: int, outcome: str) -> None:
            if self.done:
                return
            self.done = True
            self.report["outcome"] = outcome
            app = QtWidgets.QApplication.instance()
            if app is not None:
                self.report["platform"] = app.platformName()
            if self.window is not None:
                self.report["window_title"] = self.window.windowTitle()
                self.report["window_size"] = [self.window.width(), self.window.height()]
                self.report["window_visible"] = self.window.isVisible()
                shot = os.environ.get("MSCC_GUI_SMOKE_SCREENSHOT")
                if shot:
                    self.report["screenshot_saved"] = self.window.grab().save(shot)
            # Deferred: exit() does nothing while the event loop has not started yet. A
            # linger keeps the app running (and watched, e.g. for network attempts) a while.
            linger_ms = int(float(os.environ.get("MSCC_GUI_SMOKE_LINGER_S", "0")) * 1000)
            self.report["linger_s"] = linger_ms / 1000
            QtCore.QTimer.singleShot(linger_ms, lambda: QtCore.QCoreApplication.exit(code))

    return Watcher()
