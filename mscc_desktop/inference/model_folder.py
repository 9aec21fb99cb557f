"""Model folders: read and verify, write, update and list ``models/<id>/`` folders.

A model folder is a ``manifest.json`` (:mod:`mscc_desktop.inference.manifest`) plus the files
it lists. Integrity: :func:`load_model_folder` refuses (``ModelIntegrityError``) a folder whose
manifest is missing, unreadable or incomplete, whose files are missing, truncated or changed
(e.g. swapped with another model's file), or whose model-level checksum does not match.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mscc_desktop.core.config import DEFAULT_MODEL_ID, models_dir
from mscc_desktop.core.errors import ModelIntegrityError
from mscc_desktop.core.findings import Thresholds
from mscc_desktop.inference.manifest import (
    MANIFEST_NAME,
    FileEntry,
    ModelManifest,
    manifest_from_dict,
    model_checksum,
)

logger = logging.getLogger(__name__)

_HASH_CHUNK = 1 << 20


# --------------------------------------------------------------------------------- hashing
def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


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
    (:func:`~mscc_desktop.inference.probabilities.apply_temperature`), and set both together.
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
    "InstalledModel",
    "default_model_folder",
    "describe_default_model",
    "file_sha256",
    "list_models",
    "load_model_folder",
    "update_model_folder",
    "write_model_folder",
]
