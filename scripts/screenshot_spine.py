"""Screenshots of the spine view: a real series and the demo study, with vertebral levels.

    xvfb-run -a -s "-screen 0 1920x1080x24" python scripts/screenshot_spine.py [--out docs/images]

Saves:

* ``gui_spine_real.png`` — ``thorax_philips_j2k`` (real chest CT, 4 mm) opened and analysed
  with the shipped model in the workstation: the curved sagittal reformat along the canal
  beside the axial viewports, the canal boxes' track, the program's proposed levels (grey
  italics, "?": not confirmed yet) and the findings table's proposed Level column;
* ``gui_spine_demo.png`` — the demo study analysed, its levels confirmed by the reader
  (Ctrl+L: solid labels, the numbering saved with the analysis), a high-grade finding
  selected so the current-slice line sits in its band.

Uses the shipped model (``--source real``, the default when installed) or, for the demo only,
the generator's ground truth (``--source truth``). Qt renders offscreen when ``DISPLAY`` is
not set.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from PySide6 import QtCore, QtWidgets  # noqa: E402
from screenshot_gui import GroundTruthServices, real_model_available, wait_for  # noqa: E402

from mscc_desktop.core.config import AppConfig  # noqa: E402
from mscc_desktop.gui.app import application, create_main_window  # noqa: E402
from mscc_desktop.gui.main_window import MainWindow  # noqa: E402
from mscc_desktop.gui.services import DefaultServices  # noqa: E402

REAL_SERIES = ROOT.parent / "shared" / "data" / "thorax_philips_j2k"
SIZE = (1880, 1000)


def settle(app: QtWidgets.QApplication, rounds: int = 20) -> None:
    for _ in range(rounds):
        app.processEvents()


def open_window(config: AppConfig, services: object, data: Path) -> MainWindow:
    qsettings = QtCore.QSettings(str(data / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    qsettings.setValue("reader/user_name", "Dr Demo")
    window = create_main_window(config, services=services, qsettings=qsettings)  # type: ignore[arg-type]
    window.resize(*SIZE)
    window.show()
    window.controller.error.connect(
        lambda title, e: print(
            f"{title}: {e!r}\n{getattr(e, '__traceback_text__', '')}", file=sys.stderr
        )
    )
    return window


def wait_levels(app: QtWidgets.QApplication, window: MainWindow) -> None:
    spine = window.spine.levels
    if spine.busy:
        wait_for(spine.levels_changed, 300)
    settle(app)


def select_first_finding(app: QtWidgets.QApplication, window: MainWindow) -> None:
    table = window.findings.table
    if table.topLevelItemCount():
        table.setCurrentItem(table.topLevelItem(0))  # high grade first: its key slice
    settle(app)


def shoot_real(app: QtWidgets.QApplication, config: AppConfig, data: Path, out: Path) -> None:
    window = open_window(config, DefaultServices(config), data)
    c = window.controller
    wait_for(c.model_ready, 300, error=c.model_failed)
    wait_for(c.series_opened, 600, lambda: c.open_path(REAL_SERIES), error=c.error)
    wait_for(c.analysis.finished, 900, c.analyse, error=c.error)
    wait_levels(app, window)
    select_first_finding(app, window)
    if not window.findings.table.topLevelItemCount() and window.state.volume is not None:
        window.state.set_slice(window.state.n_slices // 2)
    settle(app)
    window.grab().save(str(out / "gui_spine_real.png"))
    spine = window.spine
    print(f"real: {spine.levels.status_text}")
    window.close()
    settle(app)


def shoot_demo(
    app: QtWidgets.QApplication, config: AppConfig, services: object, data: Path, out: Path
) -> None:
    window = open_window(config, services, data)
    c = window.controller
    wait_for(c.series_opened, 600, c.open_demo, error=c.error)
    if window.state.findings is None:
        wait_for(c.analysis.finished, 900, error=c.error)
    wait_levels(app, window)
    if window.spine.confirm_action.isEnabled():
        window.spine.confirm_action.trigger()
    select_first_finding(app, window)
    window.grab().save(str(out / "gui_spine_demo.png"))
    print(f"demo: {window.spine.levels.status_text}")
    window.close()
    settle(app)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--source", choices=("auto", "real", "truth"), default="auto")
    parser.add_argument("--only", choices=("real", "demo"), default=None)
    args = parser.parse_args()
    app = application()
    args.out.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="mscc-spine-shots-"))
    os.environ["MSCC_DATA_DIR"] = str(data)
    config = AppConfig.default().with_changes(data_dir=data, db_path=data / "store.sqlite")
    source = args.source
    if source == "auto":
        source = "real" if real_model_available(config) else "truth"
    if args.only in (None, "real"):
        if source != "real":
            print("the real series needs the shipped model: install it, or --only demo")
            return 1
        shoot_real(app, config, data / "real", out=args.out)
    if args.only in (None, "demo"):
        demo_data = data / "demo"
        demo_data.mkdir(exist_ok=True)
        demo_config = config.with_changes(data_dir=demo_data, db_path=demo_data / "store.sqlite")
        services = (
            DefaultServices(demo_config) if source == "real" else GroundTruthServices(demo_config)
        )
        shoot_demo(app, demo_config, services, demo_data, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
