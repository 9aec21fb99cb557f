"""The build record every bundle carries (``mscc_build_info.json``), and the model folders
that go into it.

Written at build time by the spec (through :func:`write_build_info`) and read at run time by
``mscc_desktop.cli.version`` (``mscc-desktop --version``). Models are verified with the
product's own loader (sizes, sha256 of every file, model-level checksum) before they are
packed: a damaged model fails the build, not the first analysis on a ward.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def git_state(repo: Path) -> tuple[str, bool]:
    """(commit hash, has uncommitted changes) of ``repo``; ("unknown", False) without git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return commit, bool(status)


def verified_models(folders: Sequence[Path]) -> list[dict[str, str]]:
    """Load and fully verify each model folder; one ``{id, version, sha256, folder}`` each.

    Raises
    ------
    mscc_desktop.core.errors.ModelIntegrityError
        A folder is not a complete, unchanged model.
    ValueError
        A folder's name differs from its model id (the app finds models by folder name).
    """
    from mscc_desktop.inference.model_folder import load_model_folder

    found: list[dict[str, str]] = []
    for folder in folders:
        manifest = load_model_folder(folder, verify=True)
        if folder.name != manifest.model_id:
            raise ValueError(
                f"Model folder {folder} holds model '{manifest.model_id}': the folder must be "
                f"named after the model id, e.g. models/{manifest.model_id}/."
            )
        found.append(
            {
                "id": manifest.model_id,
                "version": manifest.version,
                "sha256": manifest.model_sha256,
                "folder": str(folder),
            }
        )
    return found


def default_model_folders(repo: Path) -> list[Path]:
    """Every ``models/<id>/`` of the source tree that has a manifest."""
    root = repo / "models"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "manifest.json").is_file())


def build_record(
    repo: Path,
    *,
    models: Sequence[dict[str, str]],
    cuda_provider: bool,
    report_font: str,
    platform_tag: str,
    onnxruntime: str,
) -> dict[str, Any]:
    """The JSON object stored as ``mscc_build_info.json`` in the bundle.

    ``onnxruntime`` names the installed ONNX Runtime distribution (GPU or CPU build).
    """
    from importlib.metadata import version

    commit, dirty = git_state(repo)
    # SOURCE_DATE_EPOCH (reproducible-builds convention) pins the date when set.
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (
        dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC)
        if epoch
        else dt.datetime.now(tz=dt.UTC).replace(microsecond=0)
    )
    return {
        "app_version": version("mscc-desktop"),
        "built_utc": when.isoformat().replace("+00:00", "Z"),
        "git_commit": commit,
        "git_dirty": dirty,
        "platform": platform_tag,
        "python": platform.python_version(),
        "pyinstaller": version("pyinstaller"),
        "onnxruntime": f"{onnxruntime} {version(onnxruntime)}",
        "cuda_provider": cuda_provider,
        "report_font": report_font,
        "models": [{k: m[k] for k in ("id", "version", "sha256")} for m in models],
    }


def write_build_info(record: dict[str, Any], target: Path) -> Path:
    """Write the record as indented JSON (the folder is created)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return target
