"""A modified, truncated, swapped or foreign model file is refused with a message naming it.

Through every door a model comes in: :func:`~mscc_desktop.inference.backends.resolve_model`,
``mscc-desktop analyze --model`` and the GUI's model loading (the reader sees the message in
the status bar and no analysis can start).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from mscc_desktop.cli import EXIT_ERROR, main
from mscc_desktop.core.errors import ModelIntegrityError
from mscc_desktop.inference.backends import resolve_model
from tests.inference.conftest import tiny_model_dir, tiny_model_folder  # noqa: F401 (fixtures)

pytest.importorskip("torch")  # the tiny model files are exported with torch


@pytest.fixture(scope="module")
def foreign_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Valid files of another model (other weights, same I/O contract)."""
    from tests.inference.tiny_models import write_model_folder

    folder = tmp_path_factory.mktemp("foreign")
    write_model_folder(folder, torch_files=False, seed=1)
    return folder


def flip_byte(name: str) -> Callable[[Path, Path], None]:
    def change(model: Path, _foreign: Path) -> None:
        data = bytearray((model / name).read_bytes())
        data[len(data) // 2] ^= 0x01
        (model / name).write_bytes(bytes(data))

    return change


def truncate(name: str) -> Callable[[Path, Path], None]:
    def change(model: Path, _foreign: Path) -> None:
        data = (model / name).read_bytes()
        (model / name).write_bytes(data[: len(data) - 100])

    return change


def append(name: str) -> Callable[[Path, Path], None]:
    def change(model: Path, _foreign: Path) -> None:
        with (model / name).open("ab") as handle:
            handle.write(b"\x00" * 16)

    return change


def swap_detector_and_grader(model: Path, _foreign: Path) -> None:
    detector, grader = (model / "detector.onnx").read_bytes(), (model / "grader.onnx").read_bytes()
    (model / "detector.onnx").write_bytes(grader)
    (model / "grader.onnx").write_bytes(detector)


def foreign_grader(model: Path, foreign: Path) -> None:
    shutil.copyfile(foreign / "grader.onnx", model / "grader.onnx")


def delete_detector(model: Path, _foreign: Path) -> None:
    (model / "detector.onnx").unlink()


def edit_manifest(change: Callable[[dict[str, object]], None]) -> Callable[[Path, Path], None]:
    def apply(model: Path, _foreign: Path) -> None:
        data = json.loads((model / "manifest.json").read_text())
        change(data)
        (model / "manifest.json").write_text(json.dumps(data, indent=2))

    return apply


def lower_threshold(data: dict[str, object]) -> None:
    thresholds = data["thresholds"]
    assert isinstance(thresholds, dict)
    key = next(iter(thresholds))
    thresholds[key] = 0.01  # would flag every study


def forged_grader(model: Path, foreign: Path) -> None:
    """Another model's grader, with its checksum and size copied into the manifest: only the
    model checksum (over the whole manifest) can tell."""
    import hashlib

    foreign_grader(model, foreign)
    data = json.loads((model / "manifest.json").read_text())
    blob = (model / "grader.onnx").read_bytes()
    data["files"]["grader.onnx"] = {
        "sha256": hashlib.sha256(blob).hexdigest(),
        "size_bytes": len(blob),
    }
    (model / "manifest.json").write_text(json.dumps(data, indent=2))


TAMPERING = {
    "detector byte flipped": (flip_byte("detector.onnx"), "detector.onnx", "changed or replaced"),
    "grader truncated": (truncate("grader.onnx"), "grader.onnx", "truncated"),
    "grader extended": (append("grader.onnx"), "grader.onnx", "larger than recorded"),
    "torch detector flipped": (flip_byte("detector.pt2"), "detector.pt2", "changed or replaced"),
    "detector and grader swapped": (swap_detector_and_grader, "detector.onnx", "is damaged"),
    "grader from another model": (foreign_grader, "grader.onnx", "changed or replaced"),
    "detector missing": (delete_detector, "detector.onnx", "missing"),
    "threshold edited": (edit_manifest(lower_threshold), "manifest.json", "edited after export"),
    "grader swapped, its checksum forged": (forged_grader, "manifest.json", "edited after export"),
}


@pytest.fixture
def tampered(
    request: pytest.FixtureRequest,
    tiny_model_folder: Path,  # noqa: F811 (fixture)
    foreign_files: Path,
    tmp_path: Path,
) -> tuple[Path, str, str]:
    change, names, says = TAMPERING[request.param]
    model = tmp_path / "models" / "tiny-synth"
    shutil.copytree(tiny_model_folder, model)
    resolve_model(model)  # the untouched copy loads: the refusal below is the tampering's
    change(model, foreign_files)
    return model, names, says


@pytest.mark.parametrize("tampered", sorted(TAMPERING), indirect=True)
def test_tampered_model_is_refused_naming_the_file(tampered: tuple[Path, str, str]) -> None:
    model, names, says = tampered
    with pytest.raises(ModelIntegrityError) as caught:
        resolve_model(model)
    message = caught.value.message
    assert names in message and says in message, message
    assert "Reinstall" in message or "re-export" in message, message


@pytest.mark.parametrize("tampered", ["grader from another model"], indirect=True)
def test_analyze_refuses_a_tampered_model(
    tampered: tuple[Path, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.factories.dicom_factory import write_series

    model, _, _ = tampered
    made = write_series(tmp_path / "study", seed="integrity")
    db = tmp_path / "out" / "store.sqlite"
    code = main(["analyze", str(made.folder), "--model", str(model), "--db", str(db), "-q"])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR
    assert "grader.onnx" in err and "changed or replaced" in err
    assert not db.exists()  # refused before anything was stored


@pytest.mark.parametrize("tampered", ["detector byte flipped"], indirect=True)
def test_gui_refuses_a_tampered_model(
    tampered: tuple[Path, str, str], qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from PySide6 import QtCore

    from mscc_desktop.core.config import AppConfig
    from mscc_desktop.gui.app import create_main_window
    from mscc_desktop.gui.services import DefaultServices

    model, _, _ = tampered
    data = tmp_path / "data"
    data.mkdir()
    config = AppConfig(
        data_dir=data, db_path=data / "s.sqlite", models_dir=model.parent, model_id=model.name
    )
    qsettings = QtCore.QSettings(str(data / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    window = create_main_window(
        config, services=DefaultServices(config), qsettings=qsettings, prepare_model=False
    )
    try:
        with qtbot.waitSignal(window.controller.model_failed, timeout=30_000) as failed:
            window.controller.prepare_model()
        (message,) = failed.args
        assert "detector.onnx" in message and "changed or replaced" in message
        assert window.controller.model_info is None  # nothing can be analysed with it
    finally:
        window.close()
