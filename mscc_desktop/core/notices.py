"""Warnings and refusals attached to a loaded series or an analysis, shown to the reader."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    INFO = "info"  # worth knowing, changes nothing
    WARNING = "warning"  # results may be less reliable; the reader must see it
    ERROR = "error"  # the input is unusable for this purpose


class NoticeCode(StrEnum):
    """Closed vocabulary of what can be wrong with a series; extend here, nowhere else."""

    # geometry and loading (core.dicom)
    GAP = "gap"  # missing slices
    DUPLICATE = "duplicate"  # two slices at one position
    UNEVEN_SPACING = "uneven_spacing"
    GANTRY_TILT = "gantry_tilt"
    MISSING_GEOMETRY = "missing_geometry"
    NO_HU = "no_hu"  # 8-bit or unscaled data: HU not available
    UNDECODABLE_SLICE = "undecodable_slice"
    MIXED_SERIES = "mixed_series"  # more than one patient/study/frame of reference
    ORIENTATION = "orientation"  # not axial, or oblique
    NOT_CT = "not_ct"
    LOCALIZER = "localizer"
    DERIVED = "derived"  # secondary capture, reformat, MIP
    FEW_SLICES = "few_slices"
    BAD_VALUE = "bad_value"  # nonsensical attribute replaced by a safe default
    SKIPPED_FILES = "skipped_files"  # files of the opened folder that were not used
    # analysis input checks (inference.checks) — the paper's exclusions
    THICK_SLICES = "thick_slices"
    NO_CONTRAST = "no_contrast"
    COVERAGE = "coverage"
    STALE = "stale"  # source files changed since the analysis
    BACKEND_FALLBACK = "backend_fallback"


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing the reader should know about a series or an analysis.

    ``message`` is a full sentence without patient identifiers, e.g.
    "2 slices missing between z = -120.0 and -128.0 mm (expected spacing 4.0 mm)."
    """

    code: NoticeCode
    message: str
    severity: Severity = Severity.WARNING

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message, "severity": self.severity.value}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Notice:
        return cls(NoticeCode(data["code"]), data["message"], Severity(data["severity"]))
