"""The model manifest: ``models/<id>/manifest.json`` as values, and its parsing.

A model folder holds the exported networks (ONNX, optionally TorchScript) and a manifest that
says everything a backend and a reader need: identity, architecture, windows and per-window
normalisation, input sizes and crop margin, classes and the Bilsky grade mapping, decision
thresholds, how it was trained, how it evaluated, what it is for, and the sha256 and size of
every file. Reading, verifying, writing and listing model folders is
:mod:`mscc_desktop.inference.model_folder`'s.

The model-level checksum (``model_sha256``, :func:`model_checksum`) is the sha256 of the
manifest's canonical JSON without that field, so it covers every file checksum *and* every
setting (thresholds, normalisation, sizes): it is what analyses and reports record as the
model's identity.

Calibration and limitations (format version 2): ``probability_temperature`` scales the fused
probabilities before the thresholds apply (``inference.probabilities.apply_temperature``; the
thresholds are on that calibrated scale), and ``limitations`` holds
short plain-language statements (e.g. a measured real-CT figure that misses its target) that
the findings panel, the PDF and ``mscc-desktop models`` show. Both are optional: a manifest
without them (every version-1 manifest) loads with temperature 1.0 and no limitations, and a
manifest that uses neither is still written as version 1, byte for byte as before. One that
uses either is written as version 2, which older software refuses rather than apply
calibrated thresholds to uncalibrated probabilities.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mscc_desktop.core.errors import ModelIntegrityError
from mscc_desktop.core.findings import ModelProvenance, Thresholds
from mscc_desktop.core.grades import GROUP_ORDER, BilskyGrade
from mscc_desktop.core.windows import Window, WindowPreset
from mscc_desktop.inference.probabilities import MAX_TEMPERATURE, MIN_TEMPERATURE

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
FORMAT_NAME = "mscc-desktop-model"
FORMAT_VERSION = 2
"""The newest manifest format this software writes (only when a manifest needs it)."""
READABLE_FORMAT_VERSIONS = (1, 2)
MAX_LIMITATIONS = 20
MAX_LIMITATION_CHARS = 400
INTENDED_USE = (
    "Not for clinical use; trained on synthetic phantoms only. For research, development and "
    "demonstration of the method of Hallinan et al. 2023."
)
INTENDED_USE_INSERTED = (
    "Not for clinical use; trained on synthetic phantoms and on disease-free real CT with "
    "epidural disease inserted by software (no real patient with epidural disease). For "
    "research, development and demonstration of the method of Hallinan et al. 2023."
)

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a model folder with its size and sha256 (hex)."""

    name: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """One input window of the model, in channel order."""

    preset: WindowPreset
    width: float
    level: float

    @property
    def window(self) -> Window:
        return Window(self.width, self.level, self.preset.value.capitalize())


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """The canal detector's files and input size (I/O contract in ``inference.backends.base``).

    ``int8_file`` is an optional copy with int8 convolutions (static quantization) that the
    ONNX Runtime CPU backend runs instead of ``file``; GPUs and torch run the float files.
    """

    file: str
    input_size: int
    torch_file: str | None = None
    int8_file: str | None = None
    classes: tuple[str, ...] = ("background", "canal")


@dataclass(frozen=True, slots=True)
class GraderSpec:
    """The CWL grader's files, crop geometry and per-window normalisation."""

    file: str
    input_size: int
    crop_margin: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    torch_file: str | None = None
    classes: tuple[str, ...] = tuple(g.value for g in GROUP_ORDER)


@dataclass(frozen=True, slots=True)
class TrainingData:
    """How the training data came about (synthetic phantoms, generator version, seeds)."""

    synthetic: bool
    description: str
    generator: str = ""
    generator_version: str = ""
    seeds: tuple[int, ...] = ()
    n_studies: int = 0
    n_slices: int = 0


@dataclass(frozen=True, slots=True)
class ModelManifest:
    """The parsed ``manifest.json`` of one model folder.

    ``folder`` is set by :func:`load_model_folder` (``None`` for a manifest not yet written).
    ``architecture`` and ``evaluation`` are free-form JSON objects (configs, metrics).
    ``probability_temperature`` is the calibration applied to the fused probabilities before
    ``thresholds`` (1.0: none); ``limitations`` are short plain-language statements shown to
    readers wherever the model is described (see the module docstring).
    """

    model_id: str
    version: str
    created: str  # ISO 8601, UTC
    description: str
    windows: tuple[WindowSpec, ...]
    detector: DetectorSpec
    grader: GraderSpec
    thresholds: Thresholds
    training_data: TrainingData
    architecture: Mapping[str, Any] = field(default_factory=dict)
    evaluation: Mapping[str, Any] = field(default_factory=dict)
    intended_use: str = INTENDED_USE
    synthetic_only: bool = True
    grade_mapping: Mapping[str, str] = field(
        default_factory=lambda: {g.value: g.group.value for g in BilskyGrade}
    )
    probability_temperature: float = 1.0
    limitations: tuple[str, ...] = ()
    files: tuple[FileEntry, ...] = ()
    model_sha256: str = ""
    folder: Path | None = None

    # ----------------------------------------------------------------------------- paths
    def _path(self, name: str | None) -> Path | None:
        if name is None or self.folder is None:
            return None
        return self.folder / name

    @property
    def detector_path(self) -> Path | None:
        return self._path(self.detector.file)

    @property
    def detector_int8_path(self) -> Path | None:
        return self._path(self.detector.int8_file)

    @property
    def grader_path(self) -> Path | None:
        return self._path(self.grader.file)

    @property
    def detector_torch_path(self) -> Path | None:
        return self._path(self.detector.torch_file)

    @property
    def grader_torch_path(self) -> Path | None:
        return self._path(self.grader.torch_file)

    # ----------------------------------------------------------------------------- views
    @property
    def presets(self) -> tuple[WindowPreset, ...]:
        return tuple(w.preset for w in self.windows)

    @property
    def window_objects(self) -> tuple[Window, ...]:
        return tuple(w.window for w in self.windows)

    @property
    def short_sha(self) -> str:
        """First 12 hex digits of :attr:`model_sha256`, as shown to users."""
        return self.model_sha256[:12]

    def provenance(self, *, backend: str, device: str) -> ModelProvenance:
        """What an analysis records about the model that produced it."""
        return ModelProvenance(
            model_id=self.model_id,
            model_version=self.version,
            model_sha256=self.model_sha256,
            backend=backend,
            device=device,
            synthetic_only=self.synthetic_only,
            probability_temperature=self.probability_temperature,
            limitations=self.limitations,
        )

    @property
    def format_version(self) -> int:
        """1 unless the manifest carries a calibration temperature or limitations (then 2)."""
        return FORMAT_VERSION if self.probability_temperature != 1.0 or self.limitations else 1

    def to_dict(self) -> JsonDict:
        """The JSON object written to ``manifest.json`` (``folder`` is not stored).

        ``probability_temperature`` and ``limitations`` appear only when they differ from
        their defaults, so a manifest without them is the same, byte for byte, as before.
        """
        calibration: JsonDict = {}
        if self.probability_temperature != 1.0:
            calibration["probability_temperature"] = self.probability_temperature
        if self.limitations:
            calibration["limitations"] = list(self.limitations)
        return {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "id": self.model_id,
            "version": self.version,
            "created": self.created,
            "description": self.description,
            "intended_use": self.intended_use,
            "synthetic_only": self.synthetic_only,
            "architecture": dict(self.architecture),
            "windows": [
                {"preset": w.preset.value, "width": w.width, "level": w.level} for w in self.windows
            ],
            "detector": {
                "file": self.detector.file,
                "torch_file": self.detector.torch_file,
                **({"int8_file": self.detector.int8_file} if self.detector.int8_file else {}),
                "input_size": self.detector.input_size,
                "input": "images",
                "outputs": ["boxes", "scores"],
                "classes": list(self.detector.classes),
            },
            "grader": {
                "file": self.grader.file,
                "torch_file": self.grader.torch_file,
                "input_size": self.grader.input_size,
                "crop_margin": self.grader.crop_margin,
                "mean": list(self.grader.mean),
                "std": list(self.grader.std),
                "input": "crops",
                "outputs": ["probs"],
                "classes": list(self.grader.classes),
            },
            "grade_mapping": dict(self.grade_mapping),
            "thresholds": {
                "high": self.thresholds.high,
                "any_mscc": self.thresholds.any_mscc,
                "canal_score": self.thresholds.canal_score,
            },
            **calibration,
            "training_data": {
                "synthetic": self.training_data.synthetic,
                "description": self.training_data.description,
                "generator": self.training_data.generator,
                "generator_version": self.training_data.generator_version,
                "seeds": list(self.training_data.seeds),
                "n_studies": self.training_data.n_studies,
                "n_slices": self.training_data.n_slices,
            },
            "evaluation": dict(self.evaluation),
            "files": {f.name: {"sha256": f.sha256, "size_bytes": f.size_bytes} for f in self.files},
            "model_sha256": self.model_sha256,
        }


# --------------------------------------------------------------------------------- checksum
def model_checksum(manifest_dict: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a manifest without its ``model_sha256`` field."""
    body = {k: v for k, v in manifest_dict.items() if k != "model_sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


# --------------------------------------------------------------------------------- parsing
class _Reader:
    """Typed access to the JSON with errors that name the manifest and the field."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, what: str) -> ModelIntegrityError:
        return ModelIntegrityError(
            f"The model manifest {self.where} is invalid: {what}. Reinstall or re-export the model."
        )

    def obj(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = data.get(key)
        if not isinstance(value, Mapping):
            raise self.fail(f"'{key}' must be an object")
        return value

    def text(self, data: Mapping[str, Any], key: str, *, optional: bool = False) -> str:
        value = data.get(key)
        if value is None and optional:
            return ""
        if not isinstance(value, str) or (not optional and not value.strip()):
            raise self.fail(f"'{key}' must be a non-empty string")
        return value

    def number(self, data: Mapping[str, Any], key: str, *, lo: float, hi: float) -> float:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"'{key}' must be a number")
        if not lo <= float(value) <= hi:
            raise self.fail(f"'{key}' = {value} is outside [{lo:g}, {hi:g}]")
        return float(value)

    def integer(self, data: Mapping[str, Any], key: str, *, lo: int, hi: int) -> int:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"'{key}' must be an integer")
        if not lo <= value <= hi:
            raise self.fail(f"'{key}' = {value} is outside [{lo}, {hi}]")
        return value

    def numbers(self, data: Mapping[str, Any], key: str, count: int) -> tuple[float, ...]:
        value = data.get(key)
        if not isinstance(value, list) or len(value) != count:
            raise self.fail(f"'{key}' must be a list of {count} numbers (one per window)")
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in value):
            raise self.fail(f"'{key}' must hold numbers only")
        return tuple(float(v) for v in value)

    def texts(self, data: Mapping[str, Any], key: str, *, most: int, chars: int) -> tuple[str, ...]:
        value = data.get(key, [])
        if not isinstance(value, list) or len(value) > most:
            raise self.fail(f"'{key}' must be a list of at most {most} strings")
        if any(not isinstance(v, str) or not v.strip() or len(v) > chars for v in value):
            raise self.fail(f"'{key}' must hold non-empty strings of at most {chars} characters")
        return tuple(v.strip() for v in value)

    def file_name(self, data: Mapping[str, Any], key: str, *, optional: bool = False) -> str | None:
        value = data.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value or Path(value).name != value:
            raise self.fail(f"'{key}' must be a plain file name inside the model folder")
        return value


def manifest_from_dict(data: Mapping[str, Any], *, where: str = MANIFEST_NAME) -> ModelManifest:
    """Validate a manifest JSON object and build a :class:`ModelManifest` (no file checks)."""
    r = _Reader(where)
    if data.get("format") != FORMAT_NAME:
        raise r.fail(f"'format' must be {FORMAT_NAME!r}")
    version = data.get("format_version")
    if isinstance(version, bool) or version not in READABLE_FORMAT_VERSIONS:
        raise r.fail(
            f"format version {version!r} is not supported (this version of mscc-desktop reads "
            f"versions {', '.join(str(v) for v in READABLE_FORMAT_VERSIONS)})"
        )
    raw_windows = data.get("windows")
    if not isinstance(raw_windows, list) or not raw_windows:
        raise r.fail("'windows' must be a non-empty list")
    windows: list[WindowSpec] = []
    for item in raw_windows:
        if not isinstance(item, Mapping):
            raise r.fail("each window must be an object")
        try:
            preset = WindowPreset(str(item.get("preset")))
        except ValueError:
            raise r.fail(f"unknown window preset {item.get('preset')!r}") from None
        windows.append(
            WindowSpec(
                preset,
                r.number(item, "width", lo=1.0, hi=1e5),
                r.number(item, "level", lo=-1e5, hi=1e5),
            )
        )
    n_windows = len(windows)
    det = r.obj(data, "detector")
    detector = DetectorSpec(
        file=str(r.file_name(det, "file")),
        input_size=r.integer(det, "input_size", lo=16, hi=4096),
        torch_file=r.file_name(det, "torch_file", optional=True),
        int8_file=r.file_name(det, "int8_file", optional=True),
    )
    gra = r.obj(data, "grader")
    std = r.numbers(gra, "std", n_windows)
    if any(s <= 0 for s in std):
        raise r.fail("grader 'std' values must be positive")
    grader = GraderSpec(
        file=str(r.file_name(gra, "file")),
        input_size=r.integer(gra, "input_size", lo=8, hi=4096),
        crop_margin=r.number(gra, "crop_margin", lo=0.0, hi=10.0),
        mean=r.numbers(gra, "mean", n_windows),
        std=std,
        torch_file=r.file_name(gra, "torch_file", optional=True),
    )
    classes = gra.get("classes")
    if classes != [g.value for g in GROUP_ORDER]:
        raise r.fail(f"grader classes must be {[g.value for g in GROUP_ORDER]}")
    th = r.obj(data, "thresholds")
    thresholds = Thresholds(
        high=r.number(th, "high", lo=0.0, hi=1.0),
        any_mscc=r.number(th, "any_mscc", lo=0.0, hi=1.0),
        canal_score=r.number(th, "canal_score", lo=0.0, hi=1.0),
    )
    td = r.obj(data, "training_data")
    seeds = td.get("seeds", [])
    if not isinstance(seeds, list) or any(
        isinstance(s, bool) or not isinstance(s, int) for s in seeds
    ):
        raise r.fail("training_data 'seeds' must be a list of integers")
    training = TrainingData(
        synthetic=bool(td.get("synthetic", False)),
        description=r.text(td, "description"),
        generator=r.text(td, "generator", optional=True),
        generator_version=r.text(td, "generator_version", optional=True),
        seeds=tuple(seeds),
        n_studies=r.integer(td, "n_studies", lo=0, hi=10**9),
        n_slices=r.integer(td, "n_slices", lo=0, hi=10**12),
    )
    raw_files = r.obj(data, "files")
    files: list[FileEntry] = []
    for name, entry in sorted(raw_files.items()):
        if not isinstance(entry, Mapping) or Path(name).name != name or name == MANIFEST_NAME:
            raise r.fail(f"bad file entry {name!r}")
        sha = r.text(entry, "sha256")
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise r.fail(f"the sha256 of {name} is not 64 hex digits")
        files.append(FileEntry(name, sha, r.integer(entry, "size_bytes", lo=0, hi=1 << 40)))
    listed = {f.name for f in files}
    used = (detector.file, grader.file, detector.torch_file, grader.torch_file, detector.int8_file)
    for needed in used:
        if needed is not None and needed not in listed:
            raise r.fail(f"{needed} is used but has no checksum in 'files'")
    mapping = r.obj(data, "grade_mapping")
    temperature = 1.0
    if "probability_temperature" in data:
        temperature = r.number(
            data, "probability_temperature", lo=MIN_TEMPERATURE, hi=MAX_TEMPERATURE
        )
    limitations = r.texts(data, "limitations", most=MAX_LIMITATIONS, chars=MAX_LIMITATION_CHARS)
    if version == 1 and (temperature != 1.0 or limitations):
        # A version-1 reader would ignore them: a file that needs them must say version 2.
        raise r.fail("'probability_temperature' and 'limitations' need format version 2")
    return ModelManifest(
        model_id=r.text(data, "id"),
        version=r.text(data, "version"),
        created=r.text(data, "created"),
        description=r.text(data, "description", optional=True),
        windows=tuple(windows),
        detector=detector,
        grader=grader,
        thresholds=thresholds,
        training_data=training,
        architecture=dict(r.obj(data, "architecture")),
        evaluation=dict(r.obj(data, "evaluation")),
        intended_use=r.text(data, "intended_use"),
        synthetic_only=bool(data.get("synthetic_only", True)),
        grade_mapping={str(k): str(v) for k, v in mapping.items()},
        probability_temperature=temperature,
        limitations=limitations,
        files=tuple(files),
        model_sha256=r.text(data, "model_sha256"),
    )


__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "INTENDED_USE",
    "INTENDED_USE_INSERTED",
    "MANIFEST_NAME",
    "READABLE_FORMAT_VERSIONS",
    "DetectorSpec",
    "FileEntry",
    "GraderSpec",
    "ModelManifest",
    "TrainingData",
    "WindowSpec",
    "manifest_from_dict",
    "model_checksum",
]
