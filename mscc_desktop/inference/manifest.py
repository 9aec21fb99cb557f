"""Model folders: ``models/<id>/manifest.json`` plus the files it lists, verified on load.

A model folder holds the exported networks (ONNX, optionally TorchScript) and a manifest that
says everything a backend and a reader need: identity, architecture, windows and per-window
normalisation, input sizes and crop margin, classes and the Bilsky grade mapping, decision
thresholds, how it was trained, how it evaluated, what it is for, and the sha256 and size of
every file.

Integrity: :func:`load_model_folder` refuses (``ModelIntegrityError``) a folder whose manifest is
missing, unreadable or incomplete, whose files are missing, truncated or changed (e.g. swapped
with another model's file), or whose model-level checksum does not match. The model-level
checksum (``model_sha256``) is the sha256 of the manifest's canonical JSON without that field,
so it covers every file checksum *and* every setting (thresholds, normalisation, sizes): it is
what analyses and reports record as the model's identity.

Calibration and limitations (format version 2): ``probability_temperature`` scales the fused
probabilities before the thresholds apply (``inference.backend.apply_temperature``; the
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
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mscc_desktop.core.config import DEFAULT_MODEL_ID, models_dir
from mscc_desktop.core.errors import ModelIntegrityError
from mscc_desktop.core.findings import ModelProvenance, Thresholds
from mscc_desktop.core.grades import GROUP_ORDER, BilskyGrade
from mscc_desktop.core.windows import Window, WindowPreset
from mscc_desktop.inference.backend import MAX_TEMPERATURE, MIN_TEMPERATURE

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
_HASH_CHUNK = 1 << 20

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
    """The canal detector's files and input size (I/O contract in ``inference.backend``).

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


# --------------------------------------------------------------------------------- hashing
def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


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


# --------------------------------------------------------------------------------- loading
def load_model_folder(path: str | os.PathLike[str], *, verify: bool = True) -> ModelManifest:
    """Read and verify a model folder.

    Parameters
    ----------
    path
        The model folder (holding ``manifest.json``).
    verify
        Check every listed file's size and sha256 (default). ``False`` only parses the
        manifest (e.g. to list models quickly); never run a model loaded that way.

    Returns
    -------
    ModelManifest
        With :attr:`ModelManifest.folder` set.

    Raises
    ------
    ModelIntegrityError
        The folder or manifest is missing, unreadable or invalid; a listed file is missing,
        truncated, changed or swapped; or the model-level checksum does not match.
    """
    folder = Path(path)
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ModelIntegrityError(
            f"No model in {folder}: {MANIFEST_NAME} is missing. Install a model folder there "
            "(mscc-desktop export writes one)."
        )
    try:
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelIntegrityError(
            f"The model manifest {manifest_path} cannot be read ({error.__class__.__name__}). "
            "Reinstall or re-export the model.",
            details=str(error),
        ) from error
    if not isinstance(data, dict):
        raise ModelIntegrityError(f"The model manifest {manifest_path} is not a JSON object.")
    manifest = replace(manifest_from_dict(data, where=str(manifest_path)), folder=folder)
    if verify:
        _verify(manifest, data, manifest_path)
    return manifest


def _verify(manifest: ModelManifest, data: Mapping[str, Any], manifest_path: Path) -> None:
    folder = manifest_path.parent
    for entry in manifest.files:
        target = folder / entry.name
        if not target.is_file():
            raise ModelIntegrityError(
                f"Model {manifest.model_id} is incomplete: {entry.name} is missing from {folder}. "
                "Reinstall the model."
            )
        size = target.stat().st_size
        if size != entry.size_bytes:
            what = "truncated" if size < entry.size_bytes else "larger than recorded"
            raise ModelIntegrityError(
                f"Model {manifest.model_id} is damaged: {entry.name} is {what} ({size} of "
                f"{entry.size_bytes} bytes). Reinstall the model."
            )
        if file_sha256(target) != entry.sha256:
            raise ModelIntegrityError(
                f"Model {manifest.model_id} failed its integrity check: {entry.name} was changed "
                "or replaced (sha256 differs from the manifest). Reinstall the model."
            )
    if model_checksum(data) != manifest.model_sha256:
        raise ModelIntegrityError(
            f"Model {manifest.model_id} failed its integrity check: {manifest_path.name} was "
            "edited after export (model checksum differs). Reinstall or re-export the model."
        )


def write_model_folder(
    manifest: ModelManifest, folder: str | os.PathLike[str], *, file_names: Sequence[str]
) -> ModelManifest:
    """Checksum ``file_names`` in ``folder`` and write ``manifest.json`` atomically.

    ``manifest``'s ``files`` and ``model_sha256`` are replaced by freshly computed values.
    Returns the manifest as written, with ``folder`` set; it round-trips through
    :func:`load_model_folder`.
    """
    root = Path(folder)
    entries = tuple(
        FileEntry(name, file_sha256(root / name), (root / name).stat().st_size)
        for name in sorted(set(file_names))
    )
    staged = replace(manifest, files=entries, model_sha256="", folder=root)
    data = staged.to_dict()
    data["model_sha256"] = model_checksum(data)
    # Validate what we are about to write with the same code that will read it.
    manifest_from_dict(data, where=str(root / MANIFEST_NAME))
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    handle, tmp_name = tempfile.mkstemp(prefix=".manifest-", suffix=".json", dir=root)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp_name, root / MANIFEST_NAME)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return replace(staged, model_sha256=data["model_sha256"])


def update_model_folder(
    folder: str | os.PathLike[str],
    *,
    evaluation: Mapping[str, Any] | None = None,
    thresholds: Thresholds | None = None,
    description: str | None = None,
    probability_temperature: float | None = None,
    limitations: Sequence[str] | None = None,
) -> ModelManifest:
    """Verify a model folder, change its evaluation results, thresholds, description,
    calibration temperature or limitations, and re-write the manifest (new model checksum).
    Used after evaluating an exported model.

    Thresholds apply to the probabilities *after* the temperature: choose them on
    calibration predictions scaled by the same temperature
    (:func:`~mscc_desktop.inference.backend.apply_temperature`), and set both together.
    ``limitations=[]`` removes every limitation; ``None`` keeps what is there.
    """
    current = load_model_folder(folder)
    changed = replace(
        current,
        evaluation=dict(evaluation) if evaluation is not None else current.evaluation,
        thresholds=thresholds if thresholds is not None else current.thresholds,
        description=description if description is not None else current.description,
        probability_temperature=(
            float(probability_temperature)
            if probability_temperature is not None
            else current.probability_temperature
        ),
        limitations=(
            tuple(str(text).strip() for text in limitations)
            if limitations is not None
            else current.limitations
        ),
    )
    return write_model_folder(changed, folder, file_names=[f.name for f in current.files])


# --------------------------------------------------------------------------------- listing
@dataclass(frozen=True, slots=True)
class InstalledModel:
    """A folder under the models directory: its manifest when valid, else why not."""

    folder: Path
    manifest: ModelManifest | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.manifest is not None and self.error is None


def list_models(root: str | os.PathLike[str] | None = None) -> list[InstalledModel]:
    """Every model folder in ``root`` (default :func:`~mscc_desktop.core.config.models_dir`),
    each verified; folders without a manifest are skipped."""
    base = Path(root) if root is not None else models_dir()
    if not base.is_dir():
        return []
    found: list[InstalledModel] = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        if not (folder / MANIFEST_NAME).exists():
            continue
        try:
            found.append(InstalledModel(folder, load_model_folder(folder), None))
        except ModelIntegrityError as error:
            found.append(InstalledModel(folder, None, error.message))
    return found


def default_model_folder() -> Path:
    """Where the default model lives: ``models_dir() / DEFAULT_MODEL_ID``."""
    return models_dir() / DEFAULT_MODEL_ID


def describe_default_model() -> str:
    """One line for ``mscc-desktop --version``: the default model's id, version and checksum,
    ``"model: none installed"``, or why the installed one is refused."""
    folder = default_model_folder()
    if not (folder / MANIFEST_NAME).exists():
        return "model: none installed"
    try:
        manifest = load_model_folder(folder)
    except ModelIntegrityError as error:
        return f"model: {folder.name} REFUSED - {error.message}"
    synthetic = (
        " · synthetic training data, not for clinical use" if manifest.synthetic_only else ""
    )
    return f"model: {manifest.model_id} {manifest.version} (sha256 {manifest.short_sha}){synthetic}"


__all__ = [
    "FORMAT_VERSION",
    "INTENDED_USE",
    "MANIFEST_NAME",
    "READABLE_FORMAT_VERSIONS",
    "DetectorSpec",
    "FileEntry",
    "GraderSpec",
    "InstalledModel",
    "ModelManifest",
    "TrainingData",
    "WindowSpec",
    "default_model_folder",
    "describe_default_model",
    "file_sha256",
    "list_models",
    "load_model_folder",
    "manifest_from_dict",
    "model_checksum",
    "update_model_folder",
    "write_model_folder",
]
