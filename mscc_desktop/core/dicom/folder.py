"""One call from a folder to a volume: scan, pick the best series, load it."""

from __future__ import annotations

import os
from dataclasses import dataclass

from mscc_desktop.core.dicom.classify import SeriesPick, pick_series
from mscc_desktop.core.dicom.load import load_series
from mscc_desktop.core.dicom.scan import ScanResult, scan_folder
from mscc_desktop.core.errors import NothingToLoadError
from mscc_desktop.core.tasks import CancelToken, ProgressFn, sub_progress
from mscc_desktop.core.volume import Volume


@dataclass(frozen=True, slots=True, eq=False)
class OpenedFolder:
    """What :func:`open_folder` found and loaded."""

    scan: ScanResult
    pick: SeriesPick
    volume: Volume


def open_folder(
    path: str | os.PathLike[str],
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    workers: int | None = None,
) -> OpenedFolder:
    """Scan ``path``, pick the best analysable axial CT series and load it.

    Raises
    ------
    NothingToLoadError
        No series under ``path`` is analysable (the message says why for each one).
    """
    scan = scan_folder(
        path, progress=sub_progress(progress, 0.0, 0.2), cancel=cancel, workers=workers
    )
    pick = pick_series(scan.series)
    if pick.chosen is None:
        details = "\n".join(f"{entry.description}: {why}" for entry, why in pick.not_picked)
        skipped = f" {len(scan.skipped)} file(s) were skipped." if scan.skipped else ""
        raise NothingToLoadError(
            f"{scan.root}: no axial CT series that can be analysed was found "
            f"({len(scan.series)} series, {scan.n_files} files).{skipped} "
            "Choose the folder of a staging CT study (axial slices), or run "
            "'mscc-desktop info' on it to see why each series was not suitable.",
            details=details or None,
        )
    volume = load_series(
        pick.chosen, progress=sub_progress(progress, 0.2, 1.0), cancel=cancel, workers=workers
    )
    return OpenedFolder(scan, pick, volume)
