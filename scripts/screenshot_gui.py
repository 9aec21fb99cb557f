"""Screenshots of the real main window for docs/ and the README.

Usage::

    python scripts/screenshot_gui.py [--out docs/images] [--source auto|real|truth]

Opens the demo study, analyses it, selects the first high-grade finding (so a high-grade key
slice shows with the findings panel and the grade strip), and saves:

* ``gui_main.png`` — the whole window at 1600×950;
* ``gui_zoom.png`` — the three viewports zoomed on the canal of that slice;
* ``gui_review.png`` — after a review of that finding was saved (study browser updated).

``--source real`` uses the shipped model and the demo-study generator (what ``mscc-desktop
--demo`` runs). ``--source truth`` renders the synthetic demo study with the generator and
runs the real pipeline on a fake backend that returns the generator's ground truth (canal
boxes and grades) — for when no trained model is installed yet; the status bar then says
"Fake backend". ``auto`` (default) picks ``real`` when a model is installed.

Qt renders offscreen (``QWidget.grab()``) unless ``DISPLAY`` is set, e.g. under
``xvfb-run -s "-screen 0 1920x1080x24" python scripts/screenshot_gui.py``.
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

from PySide6 import QtCore, QtWidgets  # noqa: E402

from mscc_desktop.core.config import AppConfig  # noqa: E402
from mscc_desktop.core.grades import GradeGroup  # noqa: E402
from mscc_desktop.core.tasks import CancelToken, ProgressFn  # noqa: E402
from mscc_desktop.gui.app import application, create_main_window  # noqa: E402
from mscc_desktop.gui.main_window import MainWindow  # noqa: E402
from mscc_desktop.gui.services import DefaultServices  # noqa: E402
from mscc_desktop.workflow.model import ModelInfo  # noqa: E402


def wait_for(
    signal: QtCore.SignalInstance,
    timeout_s: float,
    start: object = None,
    *,
    error: QtCore.SignalInstance | None = None,
) -> None:
    loop = QtCore.QEventLoop()
    signal.connect(loop.quit)
    if error is not None:
        error.connect(loop.quit)
    QtCore.QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    if callable(start):
        start()
    loop.exec()


class GroundTruthAnalyser:
    """The real pipeline on a fake backend that returns the generator's ground truth."""

    def __init__(self, truths: tuple[object, ...]) -> None:
        from mscc_desktop.inference.pipeline import ModelSettings

        self.truths = truths
        self.model = ModelSettings(
            model_id="ground-truth-demo",
            model_version="0",
            model_sha256="0" * 64,
            detector_size=256,
            grader_size=64,
            crop_margin=0.25,
            grader_mean=(0.5, 0.5, 0.5),
            grader_std=(0.25, 0.25, 0.25),
        )
        self._info: ModelInfo | None = None

    @property
    def info(self) -> ModelInfo | None:
        return self._info

    def prepare(self, *, progress: ProgressFn | None, cancel: CancelToken | None) -> ModelInfo:
        self._info = ModelInfo(
            model_id=self.model.model_id,
            model_version="0",
            model_sha256=self.model.model_sha256,
            backend="Fake backend (generator ground truth)",
            device="CPU",
            fallback_warning=None,
            thresholds=self.model.thresholds,
            card_summary="Ground truth of the synthetic demo study, for screenshots only.",
        )
        return self._info

    def analyse(self, volume, *, high_threshold, progress, cancel):  # type: ignore[no-untyped-def]
        from mscc_desktop.inference.pipeline import analyse_volume
        from tests.factories.fake_backend import FakeBackend

        table = {
            GradeGroup.NORMAL: (0.95, 0.04, 0.01),
            GradeGroup.LOW: (0.12, 0.81, 0.07),
            GradeGroup.HIGH: (0.03, 0.08, 0.89),
        }
        probabilities = [table[t.group] for t in self.truths]  # type: ignore[attr-defined]
        backend = FakeBackend(
            slice_probabilities=probabilities,
            slice_boxes=[t.canal_box for t in self.truths],  # type: ignore[attr-defined]
            slice_shape=volume.shape[1:],
            detector_size=self.model.detector_size,
            runtime="Fake backend (generator ground truth)",
            device="CPU",
        )
        self.prepare(progress=None, cancel=None)
        return analyse_volume(volume, backend, self.model, progress=progress, cancel=cancel)


class GroundTruthServices(DefaultServices):
    """Real importer; the demo study rendered by the generator; ground-truth analyser."""

    def __init__(self, config: AppConfig) -> None:
        super().__init__(config)
        self._analyser: GroundTruthAnalyser | None = None

    def demo_study(self, *, progress: ProgressFn | None, cancel: CancelToken | None) -> Path:
        """The same demo study ``ensure_demo_study`` writes, keeping its ground truth."""
        from mscc_desktop.synth.demo import demo_study
        from mscc_desktop.synth.generate import generate_study
        from mscc_desktop.synth.output import DICOM_DIR, write_study

        study = generate_study(demo_study(), progress=progress, cancel=cancel)
        self._analyser = GroundTruthAnalyser(study.truths)
        folder = self.config.data_dir / "demo-truth"
        write_study(study, folder, number="0000", overwrite=True)
        return folder / DICOM_DIR

    def analyser(self, backend_choice: str) -> GroundTruthAnalyser:  # type: ignore[override]
        if self._analyser is None:
            self._analyser = GroundTruthAnalyser(())
        return self._analyser


def real_model_available(config: AppConfig) -> bool:
    from mscc_desktop.core.errors import MsccError
    from mscc_desktop.inference.backends import resolve_model

    try:
        resolve_model(config.model_id, models_root=config.models_dir)
    except MsccError:  # not installed, incomplete or failing its checksums
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--source", choices=("auto", "real", "truth"), default="auto")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="mscc-shots-"))
    os.environ["MSCC_DATA_DIR"] = str(data)
    config = AppConfig.default().with_changes(data_dir=data, db_path=data / "store.sqlite")
    source = args.source
    if source == "auto":
        source = "real" if real_model_available(config) else "truth"
    services = DefaultServices(config) if source == "real" else GroundTruthServices(config)
    app = application()
    qsettings = QtCore.QSettings(str(data / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    qsettings.setValue("reader/user_name", "Dr Demo")
    window: MainWindow = create_main_window(config, services=services, qsettings=qsettings)
    window.resize(1600, 950)
    window.show()
    controller = window.controller
    controller.error.connect(
        lambda title, e: print(
            f"{title}: {e!r}\n{getattr(e, '__traceback_text__', '')}", file=sys.stderr
        )
    )
    wait_for(controller.series_opened, 600, controller.open_demo, error=controller.error)
    if window.state.volume is None:
        print("could not open the demo study", file=sys.stderr)
        return 1
    wait_for(controller.analysis.finished, 900, controller.analyse, error=controller.error)
    findings = window.state.findings
    if findings is None:
        print("analysis produced no findings", file=sys.stderr)
        return 1
    table = window.findings.table
    if table.topLevelItemCount():
        table.setCurrentItem(table.topLevelItem(0))  # high grade first: jumps to its key slice
    for _ in range(10):
        app.processEvents()
    args.out.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(args.out / "gui_main.png"))

    result = window.state.slice_result(window.state.slice_index)
    if result is not None and result.box is not None:
        volume = window.state.volume
        row_mm, col_mm = volume.pixel_spacing_mm
        cx, cy = result.box.centre
        width_mm = volume.shape[2] * col_mm
        height_mm = volume.shape[1] * row_mm
        window.state.set_camera(4.0, (cx * col_mm - width_mm / 2, cy * row_mm - height_mm / 2))
        for _ in range(10):
            app.processEvents()
        window.viewer.grab().save(str(args.out / "gui_zoom.png"))
        window.state.fit_view()

    editor = window.findings.editor
    if editor.save_button.isEnabled():
        editor.accept_button.setChecked(True)
        truths = getattr(services.analyser(""), "truths", ())
        index = window.state.slice_index
        level = truths[index].level.split("/")[0] if index < len(truths) else ""
        editor.level_edit.setText(level)
        editor.comment_edit.setText("Agree. Urgent MRI of the whole spine requested.")
        editor.save_button.click()
    controller.toggle_key_image()
    for _ in range(10):
        app.processEvents()
    window.grab().save(str(args.out / "gui_review.png"))
    print(f"source: {source}; saved gui_main.png, gui_zoom.png, gui_review.png in {args.out}")
    window.close()
    QtWidgets.QApplication.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
