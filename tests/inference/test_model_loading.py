"""Models are loaded through the verified manifest; the pipeline records what ran."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mscc_desktop.core.errors import ModelIntegrityError
from mscc_desktop.core.windows import WINDOW_ORDER
from mscc_desktop.inference import backends
from mscc_desktop.inference.backends import create_backend, load_model_settings, resolve_model
from mscc_desktop.inference.pipeline import ModelSettings, analyse_volume
from tests.inference.phantoms import long_volume

pytest.importorskip("torch")


def test_settings_come_from_the_manifest(tiny_model_folder: Path) -> None:
    manifest = resolve_model(tiny_model_folder)
    settings = ModelSettings.from_manifest(manifest)
    assert settings.model_sha256 == manifest.model_sha256 and len(settings.model_sha256) == 64
    assert (settings.detector_size, settings.grader_size, settings.crop_margin) == (64, 32, 0.25)
    assert settings.grader_mean == (0.4, 0.3, 0.2) and settings.presets == WINDOW_ORDER
    assert settings.detector_onnx == tiny_model_folder / "detector.onnx"
    assert settings.grader_torch == tiny_model_folder / "grader.pt2"


def test_model_is_found_by_id_in_the_models_folder(tiny_model_folder: Path) -> None:
    settings = load_model_settings("tiny-synth", models_root=tiny_model_folder.parent)
    assert settings.model_id == "tiny-synth"
    with pytest.raises(ModelIntegrityError, match="no-such-model"):
        resolve_model("no-such-model", models_root=tiny_model_folder.parent)


def test_tampered_model_is_refused(tiny_model_folder: Path, tmp_path: Path) -> None:
    copy = tmp_path / "tiny-synth"
    shutil.copytree(tiny_model_folder, copy)
    data = bytearray((copy / "grader.onnx").read_bytes())
    data[-10] ^= 0xFF
    (copy / "grader.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=r"grader\.onnx"):
        resolve_model(copy)


def test_analysis_records_the_manifest_identity(
    tiny_model_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backends, "nvidia_gpus", lambda: ())
    manifest = resolve_model(tiny_model_folder)
    backend = create_backend(manifest, "onnx-cpu")
    result = analyse_volume(long_volume(3), backend, manifest)
    prov = result.provenance
    assert (prov.model_id, prov.model_version, prov.model_sha256) == (
        "tiny-synth",
        "0.0.1",
        manifest.model_sha256,
    )
    assert prov.backend.startswith("ONNX Runtime") and prov.device.startswith("CPU")
