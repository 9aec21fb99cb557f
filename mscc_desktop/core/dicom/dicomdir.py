"""Files listed in a DICOMDIR (media index), resolved safely inside its folder.

(0004,1500) Referenced File ID comes from the medium and is untrusted: a component such as
``..`` or an absolute path could point outside the folder (pydicom CVE-2026-32711), so every
resolved path must stay under the DICOMDIR's folder.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from pydicom import dcmread

logger = logging.getLogger(__name__)

_SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9_\-.]{1,64}$")


def _resolve(base: Path, components: list[str]) -> Path | None:
    """The file that ``components`` name under ``base``, or ``None`` if unsafe."""
    if not components:
        return None
    for part in components:
        if not _SAFE_COMPONENT.match(part) or part in (".", ".."):
            return None
    candidate = base.joinpath(*components)
    if not candidate.exists():
        # Media written on case-insensitive systems: find the entry ignoring case.
        current = base
        for part in components:
            try:
                match = next(
                    (child for child in current.iterdir() if child.name.upper() == part.upper()),
                    None,
                )
            except OSError:
                return candidate
            if match is None:
                return candidate
            current = match
        candidate = current
    try:
        resolved = candidate.resolve()
        resolved.relative_to(base.resolve())
    except (OSError, ValueError):
        return None
    return candidate


def dicomdir_files(path: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files a DICOMDIR references: (existing files, [(missing or unsafe path, reason)]).

    A DICOMDIR that cannot be parsed yields nothing (the folder walk still finds the files).
    """
    try:
        ds = dcmread(path, force=True)
        records = list(ds.get("DirectoryRecordSequence") or [])
    # Untrusted media index: any parse failure just means "no extra files from it".
    except Exception as error:  # noqa: BLE001
        logger.warning(
            "DICOMDIR could not be read (%s); using the folder walk only", type(error).__name__
        )
        return [], []
    base = path.parent
    found: list[Path] = []
    missing: list[tuple[Path, str]] = []
    for record in records:
        try:
            value = record.get("ReferencedFileID")
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
        if not value:
            continue
        components = [value] if isinstance(value, str) else [str(v) for v in value]
        components = [c.strip() for c in components if c.strip()]
        resolved = _resolve(base, components)
        if resolved is None:
            missing.append((base / "DICOMDIR", "DICOMDIR entry points outside its folder"))
        elif not resolved.is_file():
            missing.append((resolved, "listed in DICOMDIR but not found"))
        else:
            found.append(resolved)
    return found, missing
