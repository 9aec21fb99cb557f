"""DICOM import (scan, group, classify, pick, load) and the CT series writer.

Typical use::

    scan = scan_folder(folder, progress=..., cancel=...)
    pick = pick_series(scan.series)
    volume = load_series(pick.chosen, progress=..., cancel=...)

or ``open_folder(folder)`` for all three. pydicom stays inside ``core``.
"""

from __future__ import annotations

from pydicom import config as _pydicom_config

from mscc_desktop.core.dicom.classify import (
    DEFAULT_MIN_SLICES,
    SeriesEntry,
    SeriesKind,
    SeriesPick,
    pick_series,
)
from mscc_desktop.core.dicom.folder import OpenedFolder, open_folder
from mscc_desktop.core.dicom.geometry import PlaneKind
from mscc_desktop.core.dicom.headers import transfer_syntax_name
from mscc_desktop.core.dicom.load import load_series
from mscc_desktop.core.dicom.parallel import warm_up
from mscc_desktop.core.dicom.scan import ScanResult, SkipKind, SkippedFile, scan_folder
from mscc_desktop.core.dicom.series import PatientEntry, StudyEntry
from mscc_desktop.core.dicom.write import (
    AXIAL_ORIENTATION,
    CtSeriesSpec,
    FileNaming,
    TransferSyntax,
    WrittenSeries,
    write_ct_series,
)
from mscc_desktop.core.dicom.write_enhanced import WrittenMultiframe, write_enhanced_ct

# Values are validated where they are used (headers.py). pydicom's own read-time validation
# would only repeat that, and its warnings copy raw values (patient names included) into the
# log, which must never hold patient data.
_pydicom_config.settings.reading_validation_mode = _pydicom_config.IGNORE

__all__ = [
    "AXIAL_ORIENTATION",
    "DEFAULT_MIN_SLICES",
    "CtSeriesSpec",
    "FileNaming",
    "OpenedFolder",
    "PatientEntry",
    "PlaneKind",
    "ScanResult",
    "SeriesEntry",
    "SeriesKind",
    "SeriesPick",
    "SkipKind",
    "SkippedFile",
    "StudyEntry",
    "TransferSyntax",
    "WrittenMultiframe",
    "WrittenSeries",
    "load_series",
    "open_folder",
    "pick_series",
    "scan_folder",
    "transfer_syntax_name",
    "warm_up",
    "write_ct_series",
    "write_enhanced_ct",
]
