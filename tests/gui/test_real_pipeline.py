"""The workstation on the real model loader, ONNX Runtime backend and pipeline (tiny model)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6 import QtCore

from mscc_desktop.core.config import AppConfig
from mscc_desktop.core.findings import Thresholds
from mscc_desktop.core.windows import PAPER_WINDOWS
from mscc_desktop.gui.app import create_main_window
from mscc_desktop.gui.services import DefaultServices
from tests.gui.fakes import write_phantom_study


@pytest.fixture(scope="module")
def tiny_models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    from mscc_desktop.inference.manifest import (
        DetectorSpec,
        GraderSpec,
        ModelManifest,
        TrainingData,
        WindowSpec,
    )
    from mscc_desktop.inference.model_folder import write_model_folder
    from tests.inference.tiny_models import DETECTOR_SIZE, GRADER_SIZE
    from tests.inference.tiny_models import write_model_folder as write_networks

    networks = tmp_path_factory.mktemp("tiny-networks")
    write_networks(networks, torch_files=False)
    root = tmp_path_factory.mktemp("models")
    shutil.copytree(networks, root / "tiny-gui")
    manifest = ModelManifest(
        model_id="tiny-gui",
        version="0.0.1",
        created="2024-01-01T00:00:00Z",
        description="Random-weight test model.",
        windows=tuple(WindowSpec(p, w.width, w.level) for p, w in PAPER_WINDOWS.items()),
        detector=DetectorSpec("detector.onnx", DETECTOR_SIZE),
        grader=GraderSpec("grader.onnx", GRADER_SIZE, 0.25, (0.4, 0.3, 0.2), (0.3, 0.3, 0.3)),
        thresholds=Thresholds(canal_score=0.0),
        training_data=TrainingData(synthetic=True, description="none: random weights"),
    )
    write_model_folder(manifest, root / "tiny-gui", file_names=["detector.onnx", "grader.onnx"])
    return root


def test_analysis_with_the_onnx_backend_is_shown_and_stored(
    qtbot, tmp_path: Path, tiny_models_root: Path
) -> None:  # type: ignore[no-untyped-def]
    study = write_phantom_study(tmp_path / "study", n_slices=12, size=96)
    data = tmp_path / "data"
    config = AppConfig(
        data_dir=data,
        db_path=data / "store.sqlite",
        models_dir=tiny_models_root,
        model_id="tiny-gui",
        backend="onnx-cpu",
    )
    qsettings = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat)
    qsettings.setValue("analysis/backend", "onnx-cpu")
    window = create_main_window(config, services=DefaultServices(config), qsettings=qsettings)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.controller.model_info is not None, timeout=60_000)
    info = window.controller.model_info
    assert info.model_id == "tiny-gui" and "ONNX Runtime" in info.runtime
    assert "CPU" in window.model_label.text() and "tiny-gui 0.0.1" in window.model_label.text()
    assert "Random-weight test model." in info.card_summary
    with qtbot.waitSignal(window.controller.series_opened, timeout=20_000):
        window.controller.open_path(study)
    with qtbot.waitSignal(window.controller.analysis.finished, timeout=60_000):
        window.analyse_action.trigger()
    findings = window.state.findings
    assert findings is not None and len(findings.slices) == 12
    assert window.controller.analysis_id is not None
    assert "tiny-gui" in window.findings.provenance.text()
    window.close()
