"""Open a study: scan a folder, pick its series, load and fingerprint one, register it.

The first three are long work (``f(..., *, progress, cancel)``, run off the GUI thread);
:func:`register_loaded` writes to the store on the thread that owns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mscc_desktop.core.dicom.classify import SeriesEntry, SeriesPick, pick_series
from mscc_desktop.core.dicom.scan import ScanResult
from mscc_desktop.core.tasks import CancelToken, ProgressFn, report
from mscc_desktop.core.volume import Volume

if TYPE_CHECKING:
    from sqlite_utils import Database

    from mscc_desktop.storage import SeriesRecord

# The store is imported where it is used: ``analyze --no-db`` scans without loading it.


@dataclass(frozen=True, slots=True, eq=False)
class LoadedSeries:
    """A volume plus what the store needs to recognise its files later."""

    volume: Volume
    source_path: Path
    fingerprint: str
    n_files: int
    part: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class ScannedFolder:
    """A scan and its recommended series, both worked out off the GUI thread."""

    scan: ScanResult
    pick: SeriesPick


def scan_study_folder(
    path: Path,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> ScanResult:
    """Every DICOM series under ``path`` (headers only)."""
    from mscc_desktop.core.dicom.scan import scan_folder

    return scan_folder(path, progress=progress, cancel=cancel)


def with_pick(scan: ScanResult) -> ScannedFolder:
    """Pick the series in the worker: a tie between reconstructions decodes a slice of each."""
    return ScannedFolder(scan, pick_series(scan.series))


def load_with_fingerprint(
    entry: SeriesEntry, *, progress: ProgressFn | None, cancel: CancelToken | None
) -> LoadedSeries:
    """Decode a series and fingerprint its files (both off the GUI thread)."""
    from mscc_desktop.core.dicom.load import load_series
    from mscc_desktop.core.tasks import sub_progress
    from mscc_desktop.storage.fingerprint import fingerprint_files, source_folder

    volume = load_series(entry, progress=sub_progress(progress, 0.0, 0.95), cancel=cancel)
    files = sorted(set(volume.source_files))
    report(progress, 0.96, "Checking the files")
    return LoadedSeries(
        volume=volume,
        source_path=source_folder(files),
        fingerprint=fingerprint_files(files),
        n_files=len(files),
        part=entry.split_note,
    )


def register_loaded(db: Database, loaded: LoadedSeries, *, user: str = "") -> SeriesRecord:
    """Register (or recognise) the loaded series in the store, by its files' fingerprint."""
    from mscc_desktop import storage

    return storage.upsert_series(
        db,
        loaded.volume.info,
        source_path=loaded.source_path,
        fingerprint=loaded.fingerprint,
        n_files=loaded.n_files,
        part=loaded.part,
        user=user,
    )


def demo_study_folder(
    data_dir: Path, *, progress: ProgressFn | None, cancel: CancelToken | None
) -> Path:
    """The synthetic demo study in the app's data folder (written on first use)."""
    from mscc_desktop.synth.demo import ensure_demo_study

    return ensure_demo_study(data_dir, progress=progress, cancel=cancel)


__all__ = [
    "LoadedSeries",
    "ScannedFolder",
    "demo_study_folder",
    "load_with_fingerprint",
    "register_loaded",
    "scan_study_folder",
    "with_pick",
]
