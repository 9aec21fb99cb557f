"""Find the series a user names: a DICOM folder or file, or a Series Instance UID in the store.

Shared by ``mscc-desktop report`` and ``mscc-desktop send`` (and anything else that takes
"the series" on the command line), so both understand the same names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from mscc_desktop import storage
from mscc_desktop.core.dicom import ScanResult, SeriesEntry, pick_series, scan_folder
from mscc_desktop.core.errors import ExportError

_UID = re.compile(r"^[0-9]+(\.[0-9]+)+$")


@dataclass(frozen=True, slots=True)
class LocatedSeries:
    entry: SeriesEntry
    root: Path  # the folder that was scanned (a source folder: never write into it)
    note: str = ""  # e.g. which of several series was chosen, for the user


def open_existing_store(path: str | Path | None) -> Database:
    """The results store, refusing to create one: there is nothing to report from a new one."""
    file = Path(path) if path else storage.default_store_path()
    if not file.is_file():
        raise ExportError(
            f"There is no results store at {file}: nothing has been analysed yet. Run "
            "'mscc-desktop analyze' on the folder first."
        )
    return storage.open_store(file)


def stored_folders(db: Database, series_uid: str) -> list[Path]:
    """Source folders the store knows for ``series_uid``."""
    folders: list[Path] = []
    for study in storage.list_studies(db):
        for record in storage.series_for_study(db, study.study_id):
            if record.series_instance_uid == series_uid and record.source_path not in folders:
                folders.append(record.source_path)
    return folders


def choose_series(scan: ScanResult, series_uid: str | None) -> tuple[SeriesEntry, str]:
    """The analysable series to use, and a note when one of several was chosen."""
    candidates = [e for e in scan.series if e.analysable]
    if series_uid:
        candidates = [e for e in candidates if e.info.series_instance_uid == series_uid]
    if not candidates:
        what = f"series {series_uid}" if series_uid else "analysable axial CT series"
        raise LookupError(f"No {what} was found under {scan.root}.")
    if len(candidates) == 1:
        return candidates[0], ""
    chosen = pick_series(candidates).chosen
    if chosen is None:  # pragma: no cover - candidates are analysable
        raise LookupError(f"No analysable series under {scan.root}.")
    return chosen, (
        f"{len(candidates)} series found; using '{chosen.description}' "
        "(choose another with --series-uid)"
    )


def locate_series(db: Database, name: str, *, series_uid: str | None = None) -> LocatedSeries:
    """The series ``name`` stands for (folder, file or Series Instance UID).

    Raises
    ------
    LookupError
        Nothing matches; the message says what to give instead.
    """
    given = Path(name).expanduser()
    uid = series_uid
    roots = [given]
    if not given.exists():
        if not _UID.match(name):
            raise LookupError(f"{name} is neither a folder nor a file nor a series UID.")
        uid = name
        roots = [p for p in stored_folders(db, uid) if p.exists()]
        if not roots:
            raise LookupError(
                f"Series {uid} is not in the results store, or its folder is gone. Give the "
                "DICOM folder instead."
            )
    for root in roots:
        scan = scan_folder(root)
        try:
            entry, note = choose_series(scan, uid)
            return LocatedSeries(entry, root, note)
        except LookupError:
            if root is roots[-1]:
                raise
    raise LookupError("No series found.")  # pragma: no cover
