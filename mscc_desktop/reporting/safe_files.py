"""Writing exports safely: never into a source folder, never half a file under its final name.

* :func:`check_export_target` refuses a target folder that is, or lies inside, a source
  DICOM folder (resolved paths, so symlinks and ``..`` do not get around it).
* :func:`safe_filename` turns DICOM-derived text (patient names, series descriptions) into a
  file name without path separators, ``..``, control characters or reserved device names.
* :func:`atomic_file` and :func:`atomic_folder` write under a ``.partial`` temporary name in
  the target folder and rename when complete; a crash or an error leaves no file or folder
  under the final name (only a ``.partial`` leftover, which nothing mistakes for an export).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from mscc_desktop.core.errors import ExportError

logger = logging.getLogger(__name__)

MAX_NAME_CHARS = 80
PARTIAL_SUFFIX = ".partial"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_WINDOWS_RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{n}" for n in range(1, 10)),
    *(f"LPT{n}" for n in range(1, 10)),
}


def safe_filename(text: str, *, fallback: str = "export", max_chars: int = MAX_NAME_CHARS) -> str:
    """A portable file-name stem from untrusted text (e.g. a patient name from DICOM).

    Accents are dropped ("Müller" → "Muller"), every run of other characters (path
    separators, spaces, control characters, ``^``) becomes one ``_``, leading/trailing dots
    and underscores go, ``..`` cannot survive, Windows device names get a ``_`` suffix, and
    the result is at most ``max_chars`` long. ``fallback`` is used when nothing is left.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    cleaned = _UNSAFE.sub("_", ascii_text)
    cleaned = re.sub(r"\.{2,}", ".", cleaned)
    cleaned = re.sub(r"_{2,}", "_", cleaned).strip("._-+ ")
    cleaned = cleaned[:max_chars].rstrip("._-+ ")
    if not cleaned:
        cleaned = _UNSAFE.sub("_", fallback).strip("._") or "export"
    if cleaned.split(".")[0].upper() in _WINDOWS_RESERVED:
        cleaned = f"_{cleaned}"[:max_chars]  # "nul.txt" is a device even with an extension
    return cleaned


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_export_target(target: str | os.PathLike[str], *, sources: Iterable[Path]) -> Path:
    """Resolve and create the export folder, refusing any inside a source folder.

    Parameters
    ----------
    target
        The folder the user chose.
    sources
        Source DICOM files and/or folders (a file stands for its folder).

    Returns
    -------
    Path
        The resolved folder (created when missing).

    Raises
    ------
    ExportError
        The folder is a source folder or inside one, or cannot be created.
    """
    resolved = Path(target).expanduser().resolve()
    for source in sources:
        folder = source if source.is_dir() else source.parent
        root = folder.resolve()
        if _inside(resolved, root):
            raise ExportError(
                f"{resolved} is inside the source DICOM folder {root}; mscc-desktop never "
                "writes into a source folder. Choose an export folder elsewhere."
            )
    try:
        resolved.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ExportError(
            f"The export folder {resolved} cannot be created ({error.strerror}). "
            "Choose a folder you can write to."
        ) from error
    if not resolved.is_dir():
        raise ExportError(f"{resolved} is not a folder. Choose an export folder.")
    return resolved


def source_roots(files: Iterable[Path]) -> tuple[Path, ...]:
    """The distinct folders holding ``files`` (what :func:`check_export_target` protects)."""
    return tuple(sorted({Path(f).parent for f in files}))


def unique_path(folder: Path, name: str) -> Path:
    """``folder / name``, or ``stem_2.ext``, ``stem_3.ext``... when that exists already."""
    candidate = folder / name
    stem, dot, ext = name.partition(".")
    number = 2
    while candidate.exists() or candidate.is_symlink():
        candidate = folder / f"{stem}_{number}{dot}{ext}"
        number += 1
    return candidate


def _partial_name(final: Path) -> Path:
    return final.parent / f".{final.name}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}"


def _fsync_folder(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(temp: Path, final: Path) -> None:
    """Move a finished temporary file or folder to its final name, never over another."""
    if final.exists() or final.is_symlink():
        raise ExportError(f"{final} appeared while the export was written; nothing replaced it.")
    try:
        os.rename(temp, final)
    except OSError as error:
        raise ExportError(
            f"The export could not be saved as {final} ({error.strerror})."
        ) from error
    _fsync_folder(final.parent)


@contextmanager
def atomic_file(final: Path) -> Iterator[BinaryIO]:
    """Write ``final`` through a temporary file in the same folder, renamed when complete.

    Raises
    ------
    ExportError
        The file cannot be written (the message names it), or ``final`` exists.
    """
    temp = _partial_name(final)
    try:
        handle = open(temp, "xb")  # noqa: SIM115 - closed below, before the rename
    except OSError as error:
        raise ExportError(
            f"Cannot write {final.parent} ({error.strerror}). Choose a folder you can write to."
        ) from error
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _publish(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_folder(final: Path) -> Iterator[Path]:
    """Fill a temporary folder beside ``final``; it becomes ``final`` only when complete."""
    temp = _partial_name(final)
    try:
        temp.mkdir()
    except OSError as error:
        raise ExportError(
            f"Cannot write {final.parent} ({error.strerror}). Choose a folder you can write to."
        ) from error
    try:
        yield temp
        for path in temp.rglob("*"):
            if path.is_file():
                with open(path, "rb") as handle:
                    os.fsync(handle.fileno())
        _publish(temp, final)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def write_bytes_atomic(final: Path, data: bytes) -> Path:
    """:func:`atomic_file` for data already in memory; returns ``final``."""
    with atomic_file(final) as handle:
        handle.write(data)
    return final


__all__ = [
    "PARTIAL_SUFFIX",
    "atomic_file",
    "atomic_folder",
    "check_export_target",
    "safe_filename",
    "source_roots",
    "unique_path",
    "write_bytes_atomic",
]
