"""Screenshot of the Models page after adapting the model to a simulated site.

    xvfb-run -a -s "-screen 0 1920x1080x24" python scripts/screenshot_models.py [--out docs/images]

Simulates a site (``training.site_simulation``: synthetic staging CTs analysed by the shipped
model and reviewed by a scripted, sometimes wrong reader), opens the workstation on its store,
opens Analysis › Models…, presses Adapt (the real ``mscc-desktop adapt`` child process) and
saves ``gui_models.png``: the installed models, the site data, and the base and adapted model
side by side on the held-out patients. Needs the shipped model (``models/``); takes about a
minute on a laptop CPU.
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
sys.path.insert(0, str(ROOT / "scripts"))

from PySide6 import QtCore, QtWidgets  # noqa: E402
from screenshot_gui import wait_for  # noqa: E402
from screenshot_network import framed, settle  # noqa: E402

from mscc_desktop.core.config import AppConfig, models_dir  # noqa: E402
from mscc_desktop.gui.app import application, create_main_window  # noqa: E402
from mscc_desktop.gui.main_window import MainWindow  # noqa: E402
from mscc_desktop.gui.services import DefaultServices  # noqa: E402
from mscc_desktop.training.site_simulation import simulate_site  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--studies", type=int, default=9, help="simulated studies")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--site",
        type=Path,
        help="reuse a simulated site (the folder holding site.sqlite and studies/)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mscc-models-shot-"))
    data = work / "data"
    data.mkdir()
    os.environ["MSCC_DATA_DIR"] = str(data)
    if args.site is not None:
        site_store = args.site / "site.sqlite"
    else:
        print(f"simulating a site of {args.studies} studies…", flush=True)
        site_store = simulate_site(work / "site", n_studies=args.studies, seed=args.seed).store
    store = data / "store.sqlite"
    shutil.copy2(site_store, store)
    config = AppConfig(data_dir=data, db_path=store, models_dir=models_dir())
    app = application()
    qsettings = QtCore.QSettings(str(data / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    qsettings.setValue("reader/user_name", "Dr Demo")
    qsettings.setValue("analysis/backend", "onnx-cpu")
    window: MainWindow = create_main_window(
        config, services=DefaultServices(config), qsettings=qsettings
    )
    window.resize(1600, 950)
    window.show()
    settle(app)
    page = window.show_models()
    page.resize(1340, 760)
    wait_for(page.lister.finished, 60)
    failures: list[str] = []
    page.job.failed.connect(lambda e: failures.append(str(getattr(e, "message", e))))
    page.adapt_button.click()  # the export starts at once; the wait is for its end
    wait_for(page.job.busy_changed, 600)
    wait_for(page.lister.finished, 60)
    settle(app, 50)
    outcome = page.last_outcome
    if outcome is None:
        print(f"the adaptation did not finish: {failures}", file=sys.stderr)
        window.close()
        return 1
    print(
        f"adapted {outcome.model_id}: offered={outcome.offered}; "
        + "; ".join(f"{k}: base {outcome.base[k][0]:.3f}, adapted {outcome.adapted[k][0]:.3f}"
                    for k in ("high_grade_image_sensitivity", "high_grade_image_specificity"))
    )  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "gui_models.png"
    framed(page.grab(), page.windowTitle()).save(str(target))
    print(f"saved {target}")
    window.close()
    QtWidgets.QApplication.processEvents()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
