"""Screenshot of what the workstation says about damaged and foreign files in a folder.

    python scripts/screenshot_file_problems.py SERIES_DIR [--out docs/images]

Copies a real series (e.g. ``../shared/data/thorax_philips_j2k``) to a temporary folder and
damages the copy the way transfers do: one slice's pixel data cut short, one file cut inside
its header (an interrupted copy), and a scanner log beside them. Opens the folder in the main
window and saves ``gui_file_problems.png``: the series opens without the damaged slice, and
the findings panel's input checks list the skipped files, the slice left out (with the
decoder's reason) and the gap it leaves. The source folder is only read.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6 import QtCore, QtWidgets  # noqa: E402
from screenshot_gui import wait_for  # noqa: E402

from mscc_desktop.core.config import AppConfig  # noqa: E402
from mscc_desktop.gui.app import application, create_main_window  # noqa: E402


def damaged_copy(source: Path, target: Path) -> Path:
    """A copy of ``source`` with the damage described in the module docstring."""
    shutil.copytree(source, target)
    files = sorted(p for p in target.iterdir() if p.is_file())
    cut = files[len(files) // 2]
    cut.write_bytes(cut.read_bytes()[:-4000])  # pixel data cut short
    interrupted = files[len(files) // 2 + 5].read_bytes()[:700]
    (target / "copy_interrupted.dcm").write_bytes(interrupted)  # cut inside the header
    (target / "export.log").write_text("scanner export log\n")
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("series", type=Path, help="a folder holding one real CT series")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="mscc-shots-"))
    os.environ["MSCC_DATA_DIR"] = str(data)
    folder = damaged_copy(args.series, data / "incoming" / "study")
    config = AppConfig.default().with_changes(data_dir=data, db_path=data / "store.sqlite")
    app = application()
    qsettings = QtCore.QSettings(str(data / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    window = create_main_window(config, qsettings=qsettings)
    window.resize(1600, 950)
    window.show()
    controller = window.controller
    wait_for(
        controller.series_opened, 120, lambda: controller.open_path(folder), error=controller.error
    )
    if window.state.volume is None:
        print("the damaged folder did not open", file=sys.stderr)
        return 1
    for _ in range(10):
        app.processEvents()
    args.out.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(args.out / "gui_file_problems.png"))
    for notice in window.state.notices:
        print(f"{notice.severity.value}: {notice.message}")
    print(f"saved gui_file_problems.png in {args.out}")
    window.close()
    QtWidgets.QApplication.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
