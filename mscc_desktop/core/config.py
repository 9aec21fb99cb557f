"""Application configuration: one frozen :class:`AppConfig` passed down from the entry point.

User data (the results store, the demo study, logs) lives in the platform's app-data folder
(``platformdirs``), or under ``$MSCC_DATA_DIR`` when set (tests, portable installs).
Models are looked up in ``$MSCC_MODELS_DIR``, then beside the frozen app, then in the source
tree's ``models/``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import platformdirs

APP_NAME = "mscc-desktop"
DEFAULT_MODEL_ID = "mscc-compact-real"


def user_data_dir() -> Path:
    """Folder for the store, the demo study and logs (created on first use)."""
    override = os.environ.get("MSCC_DATA_DIR")
    path = Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, False))
    return path


def models_dir() -> Path:
    """Folder holding ``<model id>/manifest.json`` model folders."""
    override = os.environ.get("MSCC_MODELS_DIR")
    if override:
        return Path(override)
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root is not None:  # PyInstaller one-folder bundle
        return Path(frozen_root) / "models"
    return Path(__file__).resolve().parents[2] / "models"


SITE_MODELS_FOLDER = "models"
ACTIVE_MODEL_FILE = "active_model.json"


def site_models_dir(data_dir: Path | None = None) -> Path:
    """Where this site's adapted models live (in the user data folder, beside the store)."""
    return Path(data_dir if data_dir is not None else user_data_dir()) / SITE_MODELS_FOLDER


def active_model_id(data_dir: Path | None = None) -> str | None:
    """The model the site chose with ``mscc-desktop models --use`` (``None``: the default).

    A damaged choice file is ignored (the default model is used) rather than stopping the
    app; ``models`` shows which model is in use.
    """
    import json

    path = Path(data_dir if data_dir is not None else user_data_dir()) / ACTIVE_MODEL_FILE
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("model_id")
    except (OSError, ValueError, AttributeError):
        return None
    return str(value) if isinstance(value, str) and value else None


def resources_dir() -> Path:
    """The ``resources/`` folder (icons, fonts), in the source tree or the bundle."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root is not None:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


@dataclass(frozen=True, slots=True)
class AppConfig:
    """Settings that the layers below the GUI need, fixed for one run."""

    data_dir: Path
    db_path: Path
    models_dir: Path
    model_id: str = DEFAULT_MODEL_ID
    backend: str = "auto"  # auto | onnx-cuda | onnx-cpu | torch-cuda | torch-cpu
    # None: the model's own P(high) threshold, chosen on its calibration studies and shown in
    # its card; a number overrides it for new analyses.
    high_grade_threshold: float | None = None
    user_name: str = ""
    export_dir: Path | None = None
    deidentify_exports: bool = False

    @classmethod
    def default(cls, *, db: str | os.PathLike[str] | None = None) -> AppConfig:
        data = user_data_dir()
        return cls(
            data_dir=data,
            db_path=Path(db) if db is not None else data / "mscc.sqlite",
            models_dir=models_dir(),
            model_id=active_model_id(data) or DEFAULT_MODEL_ID,
        )

    def with_changes(self, **changes: object) -> AppConfig:
        return replace(self, **changes)  # type: ignore[arg-type]
