"""Which model analyses new studies: the site's choice, switching and rolling back, audited.

The choice is one small file in the user data folder (``active_model.json``: the model in use
and the ones before it), read by :class:`~mscc_desktop.core.config.AppConfig` and by
:func:`~mscc_desktop.inference.backends.resolve_model`. A model is verified (every checksum)
before it is chosen. Earlier analyses keep the model that made them: the store records each
analysis's model id and checksum, and nothing here touches them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from mscc_desktop import storage
from mscc_desktop.core.config import (
    ACTIVE_MODEL_FILE,
    DEFAULT_MODEL_ID,
    active_model_id,
    site_models_dir,
)
from mscc_desktop.core.errors import ModelIntegrityError
from mscc_desktop.inference.backends import resolve_model
from mscc_desktop.inference.manifest import ModelManifest

HISTORY_LENGTH = 10


@dataclass(frozen=True, slots=True)
class ModelSwitch:
    previous: str
    current: str
    version: str
    sha256: str


def model_history(data_dir: Path) -> list[str]:
    """The models used before the current one, oldest first (what Roll back returns to)."""
    try:
        data = json.loads((data_dir / ACTIVE_MODEL_FILE).read_text(encoding="utf-8"))
        return [str(m) for m in data.get("previous", []) if isinstance(m, str)]
    except (OSError, ValueError, AttributeError):
        return []


def _write_choice(data_dir: Path, model_id: str, previous: list[str], user: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    partial = data_dir / (ACTIVE_MODEL_FILE + ".partial")
    partial.write_text(
        json.dumps(
            {
                "model_id": model_id,
                "previous": previous[-HISTORY_LENGTH:],
                "changed_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
                "changed_by": user,
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    os.replace(partial, data_dir / ACTIVE_MODEL_FILE)


def use_model(
    db: Database, model_id: str, *, data_dir: Path, models_root: Path, user: str = ""
) -> ModelSwitch:
    """Verify ``model_id`` and make it the model for new analyses (audited)."""
    manifest = resolve_model(
        model_id, models_root=models_root, site_models_root=site_models_dir(data_dir)
    )  # raises when damaged
    if manifest.folder is not None and manifest.folder.resolve() not in {
        (Path(models_root) / manifest.model_id).resolve(),
        (site_models_dir(data_dir) / manifest.model_id).resolve(),
    }:
        raise ModelIntegrityError(
            f"Model {manifest.model_id} is not installed: copy its folder into "
            f"{site_models_dir(data_dir)} (where 'mscc-desktop adapt' writes site models) "
            "first, so that every later run finds it by its id."
        )
    current = active_model_id(data_dir) or DEFAULT_MODEL_ID
    history = model_history(data_dir)
    if manifest.model_id != current:
        history.append(current)
    return _switch(db, current, manifest, history, data_dir=data_dir, user=user)


def roll_back(db: Database, *, data_dir: Path, models_root: Path, user: str = "") -> ModelSwitch:
    """Go back to the model used before the current one (one action), audited."""
    history = model_history(data_dir)
    if not history:
        raise ModelIntegrityError(
            "There is no earlier model to go back to: the model in use was never changed."
        )
    earlier = history.pop()
    manifest = resolve_model(
        earlier, models_root=models_root, site_models_root=site_models_dir(data_dir)
    )
    current = active_model_id(data_dir) or DEFAULT_MODEL_ID
    return _switch(db, current, manifest, history, data_dir=data_dir, user=user, rollback=True)


def _switch(
    db: Database,
    current: str,
    manifest: ModelManifest,
    history: list[str],
    *,
    data_dir: Path,
    user: str,
    rollback: bool = False,
) -> ModelSwitch:
    """Write the choice and its audit row (``rollback`` says which action it was)."""
    who = storage.resolve_user(user)
    _write_choice(data_dir, manifest.model_id, history, who)
    details: dict[str, object] = {
        "from": current,
        "to": manifest.model_id,
        "version": manifest.version,
        "sha256": manifest.model_sha256,
    }
    if rollback:
        details["rollback"] = True
    storage.record_audit(db, storage.AuditAction.MODEL_SWITCHED, user=who, details=details)
    return ModelSwitch(current, manifest.model_id, manifest.version, manifest.model_sha256)
