"""Fingerprints of a series' source files, so a changed source is noticed.

The fingerprint is a SHA-256 over the sorted (relative path, size, modification time in ns) of
every file, optionally with a hash of each file's first bytes (the DICOM header). Paths are
relative to the files' common folder, so a folder moved or copied with its times kept keeps its
fingerprint, while any added, removed, rewritten or touched file changes it. Reading is
``stat`` only by default: fingerprinting 1,000 files takes milliseconds and opens none.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

FINGERPRINT_PREFIX = "fp1:"
"""Names the algorithm, so a future change of it can never be mistaken for a changed source."""


def fingerprint_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    root: str | os.PathLike[str] | None = None,
    header_bytes: int = 0,
) -> str:
    """Fingerprint of a set of files, e.g. the source files of one series.

    Parameters
    ----------
    paths
        The files (duplicates, as for multi-frame slices, count once). Nothing is written.
    root
        Folder the relative paths are taken from; the files' common folder when ``None``.
    header_bytes
        When > 0, also hash the first ``header_bytes`` bytes of every file (catches a file
        rewritten with its size and time restored, at the cost of opening each file).

    Returns
    -------
    str
        ``"fp1:"`` followed by 64 hex digits. A missing or unreadable file is part of the
        fingerprint (as missing), so it never raises for files that vanished.
    """
    files = sorted({Path(p).absolute() for p in paths})
    if root is not None:
        base = Path(root).absolute()
    else:
        try:
            base = Path(os.path.commonpath([f.parent for f in files])) if files else Path()
        except ValueError:  # files on different drives (Windows): keep whole paths
            base = Path()
    digest = hashlib.sha256()
    entries = sorted((_relative(f, base), f) for f in files)
    for relative, file in entries:
        try:
            stat = file.stat()
            size, mtime_ns = stat.st_size, stat.st_mtime_ns
        except OSError:
            size, mtime_ns = -1, -1
        digest.update(f"{relative}\0{size}\0{mtime_ns}\0".encode("utf-8", "surrogateescape"))
        if header_bytes > 0:
            digest.update(_head_hash(file, header_bytes))
        digest.update(b"\n")
    return FINGERPRINT_PREFIX + digest.hexdigest()


def _relative(file: Path, base: Path) -> str:
    try:
        return file.relative_to(base).as_posix()
    except ValueError:  # outside ``root``: keep the whole path
        return file.as_posix()


def _head_hash(file: Path, n_bytes: int) -> bytes:
    try:
        with file.open("rb") as handle:
            return hashlib.sha256(handle.read(n_bytes)).digest()
    except OSError:
        return b"unreadable"


def source_folder(paths: Iterable[str | os.PathLike[str]]) -> Path:
    """The deepest folder holding all ``paths`` (the series' source path in the store)."""
    folders = {Path(p).absolute().parent for p in paths}
    if not folders:
        raise ValueError("a series needs at least one source file")
    return Path(os.path.commonpath(sorted(folders)))
