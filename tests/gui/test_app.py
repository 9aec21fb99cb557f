"""Start-up: ``mscc-desktop [PATH | --demo]`` wiring and deferred heavy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6 import QtWidgets

from mscc_desktop.gui import app as gui_app
from tests.gui.fakes import FakeServices, write_phantom_study

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, sys, tempfile
from pathlib import Path
from mscc_desktop.core.config import AppConfig
from mscc_desktop.gui.app import application, create_main_window
data = Path(tempfile.mkdtemp())
config = AppConfig.default().with_changes(data_dir=data, db_path=data / "s.sqlite")
window = create_main_window(config, prepare_model=False)
window.show()
application().processEvents()
heavy = ("onnxruntime", "torch", "torchvision", "reportlab", "highdicom")
print(json.dumps({m: m in sys.modules for m in heavy}))
window.close()
"""


def test_window_appears_before_heavy_libraries_are_imported() -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not any(imported.values()), imported


@pytest.mark.parametrize("how", ["path", "demo"])
def test_run_app_opens_what_the_command_line_asks(
    qtbot, tmp_path: Path, monkeypatch, how: str
) -> None:  # type: ignore[no-untyped-def]
    study = write_phantom_study(tmp_path / "study", n_slices=12, size=64)
    monkeypatch.setenv("MSCC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(gui_app, "DefaultServices", lambda config: FakeServices(tmp_path / "data"))
    opened: list[int] = []

    def fake_exec() -> int:  # stands in for the event loop: wait for the study, then quit
        window = next(
            w
            for w in QtWidgets.QApplication.topLevelWidgets()
            if isinstance(w, gui_app.MainWindow) and w.isVisible()
        )
        qtbot.waitUntil(lambda: window.state.volume is not None, timeout=20_000)
        opened.append(window.state.n_slices)
        window.close()
        return 0

    monkeypatch.setattr(gui_app.application(), "exec", fake_exec)
    code = gui_app.run_app(
        path=str(study) if how == "path" else None,
        demo=how == "demo",
        db=str(tmp_path / "store.sqlite"),
    )
    assert code == 0
    assert opened == [12 if how == "path" else 40]
    assert (tmp_path / "store.sqlite").exists()
