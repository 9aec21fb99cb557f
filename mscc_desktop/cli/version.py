"""``mscc-desktop --version``: software version, bundle build, inference runtime and model.

In an installed bundle (PyInstaller, ``sys.frozen``) the build recipe writes
:data:`BUILD_INFO_NAME` beside the bundled libraries: the version, commit and date it was
built from, the tool versions, and the id, version and sha256 of every model it packed.
``--version`` prints that record and checks that the model installed now is still the one
the bundle was built with, so a support call can tell at a glance which build and which
model produced a result.

Nothing here loads a network-facing library or a GPU runtime: inference asks ONNX Runtime
for its version and providers only (cheap) and looks torch up without importing it.
"""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mscc_desktop import __version__

BUILD_INFO_NAME = "mscc_build_info.json"
"""File name of the build record inside a bundle (next to the bundled libraries)."""


@dataclass(frozen=True, slots=True)
class BundledModel:
    """A model folder as recorded when the bundle was built."""

    model_id: str
    version: str
    sha256: str


@dataclass(frozen=True, slots=True)
class BuildInfo:
    """What the build recipe recorded about one bundle (see ``installer/buildinfo.py``)."""

    app_version: str
    built_utc: str
    git_commit: str
    git_dirty: bool
    platform: str
    python: str
    pyinstaller: str
    onnxruntime: str
    cuda_provider: bool
    models: tuple[BundledModel, ...]


def frozen_root() -> Path | None:
    """The bundle's library folder (``sys._MEIPASS``) when running frozen, else ``None``."""
    if not getattr(sys, "frozen", False):
        return None
    root = getattr(sys, "_MEIPASS", None)
    return Path(root) if root is not None else Path(sys.executable).resolve().parent


def parse_build_info(data: Mapping[str, Any]) -> BuildInfo:
    """Build a :class:`BuildInfo` from the JSON record; missing fields read as unknown."""

    def text(key: str) -> str:
        value = data.get(key)
        return str(value) if value is not None else "unknown"

    models = tuple(
        BundledModel(str(m.get("id", "?")), str(m.get("version", "?")), str(m.get("sha256", "")))
        for m in data.get("models", [])
        if isinstance(m, Mapping)
    )
    return BuildInfo(
        app_version=text("app_version"),
        built_utc=text("built_utc"),
        git_commit=text("git_commit"),
        git_dirty=bool(data.get("git_dirty", False)),
        platform=text("platform"),
        python=text("python"),
        pyinstaller=text("pyinstaller"),
        onnxruntime=text("onnxruntime"),
        cuda_provider=bool(data.get("cuda_provider", False)),
        models=models,
    )


def read_build_info(root: Path | None = None) -> BuildInfo | None:
    """The bundle's build record, or ``None`` when not frozen or the record is unreadable.

    Parameters
    ----------
    root
        The folder holding :data:`BUILD_INFO_NAME`; :func:`frozen_root` when ``None``.
    """
    folder = root if root is not None else frozen_root()
    if folder is None:
        return None
    try:
        data = json.loads((folder / BUILD_INFO_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return parse_build_info(data) if isinstance(data, dict) else None


def _build_lines(info: BuildInfo | None) -> list[str]:
    if frozen_root() is None:
        return [f"running from: Python package (Python {platform.python_version()})"]
    if info is None:
        return [f"bundle: build record {BUILD_INFO_NAME} missing or unreadable"]
    commit = info.git_commit[:12] + (" (uncommitted changes)" if info.git_dirty else "")
    return [
        f"bundle: {info.platform}, built {info.built_utc} from commit {commit}",
        f"        Python {info.python}, PyInstaller {info.pyinstaller}",
    ]


def _runtime_line() -> str:
    from mscc_desktop.inference.backends import runtimes_description

    return f"inference: {runtimes_description()}"


def _model_lines(info: BuildInfo | None) -> list[str]:
    from mscc_desktop.core.errors import ModelIntegrityError
    from mscc_desktop.inference.manifest import MANIFEST_NAME
    from mscc_desktop.inference.model_folder import (
        default_model_folder,
        describe_default_model,
        load_model_folder,
    )

    lines = [describe_default_model()]
    folder = default_model_folder()
    installed_sha = ""
    if (folder / MANIFEST_NAME).is_file():
        try:
            installed_sha = load_model_folder(folder, verify=False).model_sha256
        except ModelIntegrityError:
            installed_sha = ""
    if installed_sha:
        lines.append(f"model sha256: {installed_sha}")
    if info is not None:
        for model in info.models:
            lines.append(f"bundled model: {model.model_id} {model.version} sha256 {model.sha256}")
        recorded = {m.sha256 for m in info.models}
        if installed_sha and recorded and installed_sha not in recorded:
            lines.append(
                "WARNING: the installed default model is not the one this bundle was built with"
            )
    return lines


def version_text() -> str:
    """The text ``mscc-desktop --version`` prints (several lines, no trailing newline)."""
    info = read_build_info()
    lines = [f"mscc-desktop {__version__}", *_build_lines(info), _runtime_line()]
    lines.extend(_model_lines(info))
    return "\n".join(lines)


__all__ = [
    "BUILD_INFO_NAME",
    "BuildInfo",
    "BundledModel",
    "frozen_root",
    "parse_build_info",
    "read_build_info",
    "version_text",
]
