"""Where received instances live: one managed folder, a study and series folder each.

Identifiers in incoming data never decide a path outside the managed folder. A study, series
or instance folder name is the UID itself only when it is a well-formed UID (digits and dots,
at most 64 characters); anything else (``../../etc``, a name, an empty value) becomes a hash
of it. The final path is checked to lie inside the managed root all the same.

Each instance is written to ``.incoming/`` first and renamed into place when complete, so a
sender that stops mid-file never leaves a partial ``.dcm``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from mscc_desktop.core.errors import NetworkError

RECEIVED_FOLDER = "received"
INCOMING_FOLDER = ".incoming"
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def safe_component(uid: str) -> str:
    """A folder or file name for ``uid`` that cannot climb out of its parent folder."""
    text = str(uid).strip().rstrip("\x00").strip()
    if _UID.match(text) and len(text) <= 64:
        return text
    return "x" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class InstancePlace:
    study_folder: Path
    series_folder: Path
    file: Path


def instance_place(root: Path, study_uid: str, series_uid: str, sop_uid: str) -> InstancePlace:
    """Where one instance goes under ``root`` (checked to be inside it)."""
    base = Path(root).resolve()
    study = base / safe_component(study_uid)
    series = study / safe_component(series_uid)
    file = series / (safe_component(sop_uid) + ".dcm")
    if not file.resolve().is_relative_to(base):  # pragma: no cover - safe_component prevents it
        raise NetworkError("A received instance's identifiers point outside the managed folder.")
    return InstancePlace(study, series, file)


class NotEnoughSpaceError(NetworkError):
    """Writing an instance would leave less free space than the reserve."""


def write_instance(data: bytes, place: InstancePlace, root: Path, *, reserve_bytes: int) -> bool:
    """Write one instance's file atomically; ``True`` when it replaced a different file.

    Raises :class:`NotEnoughSpaceError` (nothing written) when the disk would be left with less than
    ``reserve_bytes`` free.
    """
    incoming = Path(root) / INCOMING_FOLDER
    incoming.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(incoming).free
    if free - len(data) < reserve_bytes:
        raise NotEnoughSpaceError(
            f"Refused a received instance: the disk holding the received studies has "
            f"{free >> 20} MB free and keeps a reserve of {reserve_bytes >> 20} MB. Free some "
            "space or lower the reserve in Settings > Network."
        )
    partial = incoming / f"{uuid.uuid4().hex}.part"
    try:
        with open(partial, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        place.series_folder.mkdir(parents=True, exist_ok=True)
        replaced = place.file.exists() and place.file.stat().st_size != len(data)
        os.replace(partial, place.file)
    finally:
        partial.unlink(missing_ok=True)
    return replaced


def clear_incoming(root: Path) -> int:
    """Remove leftovers of writes that a crash interrupted; returns how many were removed."""
    incoming = Path(root) / INCOMING_FOLDER
    removed = 0
    if incoming.is_dir():
        for leftover in incoming.glob("*.part"):
            leftover.unlink(missing_ok=True)
            removed += 1
    return removed
