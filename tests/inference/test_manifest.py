"""Model folders: the manifest round-trips, and damaged or tampered models are refused."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from mscc_desktop.cli import main
from mscc_desktop.core.config import DEFAULT_MODEL_ID
from mscc_desktop.core.errors import ModelIntegrityError
from mscc_desktop.core.findings import Thresholds
from mscc_desktop.core.windows import PAPER_WINDOWS, WINDOW_ORDER
from mscc_desktop.inference.manifest import (
    MANIFEST_NAME,
    DetectorSpec,
    GraderSpec,
    ModelManifest,
    TrainingData,
    WindowSpec,
)
from mscc_desktop.inference.model_folder import (
    describe_default_model,
    list_models,
    load_model_folder,
    update_model_folder,
    write_model_folder,
)

FILES = {"detector.onnx": b"D" * 5000 + b"detector", "grader.onnx": b"G" * 3000 + b"grader"}


def _manifest(model_id: str = "test-model") -> ModelManifest:
    return ModelManifest(
        model_id=model_id,
        version="1.2.3",
        created="2025-01-01T00:00:00Z",
        description="test model",
        windows=tuple(WindowSpec(p, w.width, w.level) for p, w in PAPER_WINDOWS.items()),
        detector=DetectorSpec(file="detector.onnx", input_size=320),
        grader=GraderSpec(
            file="grader.onnx",
            input_size=112,
            crop_margin=0.5,
            mean=(0.4, 0.3, 0.2),
            std=(0.2, 0.25, 0.3),
        ),
        thresholds=Thresholds(high=0.5, any_mscc=0.5, canal_score=0.5),
        training_data=TrainingData(
            synthetic=True,
            description="synthetic phantoms",
            generator="mscc-desktop synth",
            generator_version="1.0.0",
            seeds=(1, 2, 3),
            n_studies=3,
            n_slices=300,
        ),
        architecture={"detector": {"backbone": "resnet18_w32"}},
        evaluation={"ap50": 0.99},
    )


def _write(folder: Path, model_id: str = "test-model") -> ModelManifest:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in FILES.items():
        (folder / name).write_bytes(data)
    return write_model_folder(_manifest(model_id), folder, file_names=list(FILES))


def test_written_model_loads_with_every_field(tmp_path: Path) -> None:
    written = _write(tmp_path / "m")
    loaded = load_model_folder(tmp_path / "m")
    assert loaded == written
    assert loaded.folder == tmp_path / "m"
    assert loaded.detector_path == tmp_path / "m" / "detector.onnx"
    assert loaded.grader.mean == (0.4, 0.3, 0.2)
    assert loaded.presets == WINDOW_ORDER
    assert loaded.window_objects[0].width == 1500 and loaded.window_objects[2].level == 100
    assert loaded.grade_mapping["1c"] == "high" and loaded.grade_mapping["1b"] == "low"
    assert "Not for clinical use" in loaded.intended_use
    assert loaded.training_data.seeds == (1, 2, 3)
    assert len(loaded.model_sha256) == 64
    assert {f.name for f in loaded.files} == set(FILES)
    provenance = loaded.provenance(backend="onnxruntime 1.31", device="CPU")
    assert provenance.model_sha256 == loaded.model_sha256 and provenance.synthetic_only


def test_a_changed_byte_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "m")
    target = tmp_path / "m" / "grader.onnx"
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=r"grader\.onnx was changed or replaced"):
        load_model_folder(tmp_path / "m")


def test_a_truncated_file_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "m")
    target = tmp_path / "m" / "detector.onnx"
    target.write_bytes(target.read_bytes()[:1000])
    with pytest.raises(ModelIntegrityError, match=r"detector\.onnx is truncated \(1000 of"):
        load_model_folder(tmp_path / "m")


def test_swapped_files_are_refused(tmp_path: Path) -> None:
    _write(tmp_path / "m")
    folder = tmp_path / "m"
    (folder / "detector.onnx").rename(folder / "tmp")
    (folder / "grader.onnx").rename(folder / "detector.onnx")
    (folder / "tmp").rename(folder / "grader.onnx")
    with pytest.raises(ModelIntegrityError, match=r"damaged|changed or replaced"):
        load_model_folder(folder)


def test_a_file_from_another_model_of_the_same_size_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "m")
    target = tmp_path / "m" / "detector.onnx"
    target.write_bytes(b"X" * target.stat().st_size)
    with pytest.raises(ModelIntegrityError, match="changed or replaced"):
        load_model_folder(tmp_path / "m")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "m")
    (tmp_path / "m" / "grader.onnx").unlink()
    with pytest.raises(ModelIntegrityError, match=r"incomplete: grader\.onnx is missing"):
        load_model_folder(tmp_path / "m")


def test_a_missing_manifest_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "m")
    (tmp_path / "m" / MANIFEST_NAME).unlink()
    with pytest.raises(ModelIntegrityError, match=r"manifest\.json is missing"):
        load_model_folder(tmp_path / "m")


def test_an_edited_manifest_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "m")
    path = tmp_path / "m" / MANIFEST_NAME
    data = json.loads(path.read_text())
    data["thresholds"]["high"] = 0.99  # a silent change of what counts as high grade
    path.write_text(json.dumps(data))
    with pytest.raises(ModelIntegrityError, match="edited after export"):
        load_model_folder(tmp_path / "m")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("grader"), "'grader' must be an object"),
        (lambda d: d["grader"].update(std=[1.0, 0.0, 1.0]), "std"),
        (lambda d: d["grader"].update(mean=[0.1, 0.2]), "one per window"),
        (lambda d: d["detector"].update(file="../../etc/passwd"), "plain file name"),
        (lambda d: d["windows"][0].update(preset="lung"), "unknown window preset"),
        (lambda d: d.update(format_version=99), "not supported"),
        (lambda d: d["thresholds"].update(high=1.5), "outside"),
        (lambda d: d["files"].pop("grader.onnx"), "no checksum"),
    ],
)
def test_invalid_manifests_are_refused_with_the_field_named(
    tmp_path: Path, edit: object, message: str
) -> None:
    _write(tmp_path / "m")
    path = tmp_path / "m" / MANIFEST_NAME
    data = json.loads(path.read_text())
    edit(data)  # type: ignore[operator]
    path.write_text(json.dumps(data))
    with pytest.raises(ModelIntegrityError, match=message):
        load_model_folder(tmp_path / "m", verify=False)


def test_unreadable_manifest_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "m")
    (tmp_path / "m" / MANIFEST_NAME).write_text("{ not json")
    with pytest.raises(ModelIntegrityError, match="cannot be read"):
        load_model_folder(tmp_path / "m")


def test_update_records_evaluation_and_changes_the_checksum(tmp_path: Path) -> None:
    before = _write(tmp_path / "m")
    after = update_model_folder(tmp_path / "m", evaluation={"ac1": 0.93})
    assert after.evaluation == {"ac1": 0.93}
    assert after.model_sha256 != before.model_sha256
    assert load_model_folder(tmp_path / "m").evaluation == {"ac1": 0.93}


def test_describe_default_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSCC_MODELS_DIR", str(tmp_path))
    assert describe_default_model() == "model: none installed"
    written = _write(tmp_path / DEFAULT_MODEL_ID, DEFAULT_MODEL_ID)
    text = describe_default_model()
    assert DEFAULT_MODEL_ID in text and "1.2.3" in text and written.short_sha in text
    (tmp_path / DEFAULT_MODEL_ID / "grader.onnx").write_bytes(b"broken")
    assert "REFUSED" in describe_default_model()


def test_list_models_and_the_models_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MSCC_MODELS_DIR", str(tmp_path))
    assert main(["models"]) == 2
    _write(tmp_path / "good", "good")
    shutil.copytree(tmp_path / "good", tmp_path / "bad")
    (tmp_path / "bad" / "detector.onnx").unlink()
    (tmp_path / "not-a-model").mkdir()
    models = list_models(tmp_path)
    assert [(m.folder.name, m.ok) for m in models] == [("bad", False), ("good", True)]
    capsys.readouterr()
    assert main(["models"]) == 1
    out = capsys.readouterr().out
    assert "REFUSED" in out and "verified" in out
    shutil.rmtree(tmp_path / "bad")
    assert main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["id"] == "good" and listed[0]["ok"] is True


def test_write_refuses_a_manifest_it_could_not_read_back(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    for name, data in FILES.items():
        (folder / name).write_bytes(data)
    bad = replace(_manifest(), grader=replace(_manifest().grader, std=(1.0, -1.0, 1.0)))
    with pytest.raises(ModelIntegrityError):
        write_model_folder(bad, folder, file_names=list(FILES))
    assert not (folder / MANIFEST_NAME).exists()


# ----------------------------------------------------------------------- calibration, limitations
LIMITS = (
    "On 28 disease-free real CT slices it called 12 high grade (target: none).",
    "Real-CT canal found on 89 % of slices (target 90 %).",
)


def test_a_manifest_without_calibration_is_written_as_before(tmp_path: Path) -> None:
    written = _write(tmp_path / "m")
    data = json.loads((tmp_path / "m" / MANIFEST_NAME).read_text())
    # Version 1 and no new keys: older software still reads it, its checksum is unchanged.
    assert data["format_version"] == 1
    assert "probability_temperature" not in data and "limitations" not in data
    assert written.probability_temperature == 1.0 and written.limitations == ()
    loaded = load_model_folder(tmp_path / "m")
    assert loaded.probability_temperature == 1.0 and loaded.limitations == ()


def test_temperature_and_limitations_round_trip_as_version_2(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    plain = _write(folder)
    calibrated = write_model_folder(
        replace(_manifest(), probability_temperature=1.7, limitations=LIMITS),
        folder,
        file_names=list(FILES),
    )
    data = json.loads((folder / MANIFEST_NAME).read_text())
    assert data["format_version"] == 2
    assert data["probability_temperature"] == 1.7 and data["limitations"] == list(LIMITS)
    loaded = load_model_folder(folder)
    assert loaded == calibrated
    assert loaded.probability_temperature == 1.7 and loaded.limitations == LIMITS
    assert loaded.model_sha256 != plain.model_sha256  # both are part of the model's identity
    provenance = loaded.provenance(backend="onnxruntime", device="CPU")
    assert provenance.probability_temperature == 1.7 and provenance.limitations == LIMITS
    assert provenance.calibrated


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(probability_temperature=1.0),  # calibration silently switched off
        lambda d: d.update(probability_temperature=3.0),
        lambda d: d.update(limitations=[]),  # the model card's warnings silently removed
        lambda d: d["limitations"].append("works on real CT"),
    ],
)
def test_an_edited_temperature_or_limitation_is_refused(tmp_path: Path, edit: object) -> None:
    folder = tmp_path / "m"
    _write(folder)
    update_model_folder(folder, probability_temperature=1.7, limitations=LIMITS)
    path = folder / MANIFEST_NAME
    data = json.loads(path.read_text())
    edit(data)  # type: ignore[operator]
    path.write_text(json.dumps(data))
    with pytest.raises(ModelIntegrityError, match="edited after export"):
        load_model_folder(folder)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(probability_temperature=0.0), "outside"),
        (lambda d: d.update(probability_temperature=25.0), "outside"),
        (lambda d: d.update(probability_temperature="1.5"), "must be a number"),
        (lambda d: d.update(limitations="not a list"), "list of at most"),
        (lambda d: d.update(limitations=["fine", ""]), "non-empty strings"),
        (lambda d: d.update(limitations=[3]), "non-empty strings"),
        (lambda d: d.update(limitations=["x" * 401]), "at most 400"),
        # A version-1 reader would ignore the temperature: such a file must say version 2.
        (lambda d: d.update(format_version=1), "need format version 2"),
        (lambda d: d.update(format_version=True), "not supported"),
    ],
)
def test_invalid_calibration_fields_are_refused(tmp_path: Path, edit: object, message: str) -> None:
    folder = tmp_path / "m"
    _write(folder)
    update_model_folder(folder, probability_temperature=1.7, limitations=LIMITS)
    path = folder / MANIFEST_NAME
    data = json.loads(path.read_text())
    edit(data)  # type: ignore[operator]
    path.write_text(json.dumps(data))
    with pytest.raises(ModelIntegrityError, match=message):
        load_model_folder(folder, verify=False)


def test_update_sets_and_clears_temperature_and_limitations(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    before = _write(folder)
    calibrated = update_model_folder(
        folder,
        probability_temperature=1.4,
        limitations=[" Needs a real-CT check. "],
        thresholds=Thresholds(high=0.3, any_mscc=0.45, canal_score=0.5),
    )
    assert calibrated.model_sha256 != before.model_sha256
    loaded = load_model_folder(folder)
    assert loaded.probability_temperature == 1.4
    assert loaded.limitations == ("Needs a real-CT check.",)
    assert loaded.thresholds.high == 0.3
    kept = update_model_folder(folder, evaluation={"ac1": 0.9})  # None keeps both
    assert kept.probability_temperature == 1.4 and kept.limitations == ("Needs a real-CT check.",)
    cleared = update_model_folder(folder, probability_temperature=1.0, limitations=[])
    assert json.loads((folder / MANIFEST_NAME).read_text())["format_version"] == 1
    assert cleared.probability_temperature == 1.0 and cleared.limitations == ()


def test_the_models_command_shows_cut_offs_calibration_and_limitations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MSCC_MODELS_DIR", str(tmp_path))
    _write(tmp_path / "good", "good")
    update_model_folder(tmp_path / "good", probability_temperature=1.7, limitations=LIMITS)
    assert main(["models"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "calls high grade from P(high) 0.50, low grade from P(low or high) 0.50" in out
    assert "probabilities calibrated (temperature 1.70)" in out
    for text in LIMITS:
        assert f"limitation: {text}" in out
    assert main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)[0]
    assert listed["probability_temperature"] == 1.7
    assert listed["limitations"] == list(LIMITS)
    assert listed["thresholds"] == {"high": 0.5, "any_mscc": 0.5, "canal_score": 0.5}
