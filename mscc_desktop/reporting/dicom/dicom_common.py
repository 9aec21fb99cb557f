"""What the DICOM outputs share: source references, equipment, person names, de-identification,
text and character set.

Outputs reference the source images by SOP Class and SOP Instance UID. The volume knows each
slice's instance UID and file; the SOP Class is read from that file's header (read-only, only
a few tags). When de-identified, every UID goes through the export identity's mapping, and
:func:`finish_dataset` applies the profile's date rules and records that it was done.

Text the application writes itself goes through :func:`dicom_text` (plain ASCII: the "·",
dashes and arrows of the on-screen texts are not in DICOM's default repertoire). Values from
the source (names, institution) are kept as read; :func:`finish_dataset` declares (0008,0005)
Specific Character Set "ISO_IR 192" (UTF-8) on any output that holds non-ASCII text, and
leaves it out otherwise, so that most files stay in the default repertoire.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypeVar

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, generate_uid
from pydicom.valuerep import DA, TM

from mscc_desktop import __version__
from mscc_desktop.core.volume import SeriesInfo, Volume
from mscc_desktop.reporting.deid import (
    DEID_METHOD_CODE,
    DEID_METHOD_TEXT,
    DUMMY_DATE,
    DUMMY_TIME,
    ExportIdentity,
)

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"
MANUFACTURER = "mscc-desktop"
MODEL_NAME = "mscc-desktop MSCC triage"
SC_SERIES_NUMBER = 9901
KO_SERIES_NUMBER = 9902
SR_SERIES_NUMBER = 9903
DOC_SERIES_NUMBER = 9904
UTF8 = "ISO_IR 192"
UID_PREFIX = "1.2.826.0.1.3680043.8.498."  # pydicom's root, as every generate_uid() call

D = TypeVar("D", bound=Dataset)

# Value representations whose values are encoded with (0008,0005) Specific Character Set.
_TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UT", "PN", "UC"})
# The typography of the on-screen texts, in the default repertoire (ASCII).
_ASCII = str.maketrans(
    {
        "\u00b7": "-",  # middle dot
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2212": "-",  # minus sign
        "\u2192": "->",
        "\u2190": "<-",
        "\u2265": ">=",
        "\u2264": "<=",
        "\u00d7": "x",
        "\u00b1": "+/-",
        "\u00b0": " deg",
        "\u00b5": "u",
        "\u2026": "...",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
    }
)

# Profile action Z (zero length allowed): left empty. Every other date/time gets a dummy (D).
_EMPTY_WHEN_DEIDENTIFIED = {"StudyDate", "StudyTime", "PatientBirthDate", "PatientBirthTime"}


@dataclass(frozen=True, slots=True)
class SourceImage:
    """One source slice as outputs reference it (UIDs already mapped when de-identified)."""

    slice_index: int
    sop_class_uid: str
    sop_instance_uid: str
    frame_number: int | None  # 1-based frame of a multi-frame image, else None
    rows: int
    columns: int


def source_sop_class(volume: Volume, index: int) -> tuple[str, bool]:
    """SOP Class UID of slice ``index``'s file and whether that file is multi-frame.

    Only the header is read. A file that cannot be read any more falls back to CT Image
    Storage (the loader only accepts CT images).
    """
    path = volume.source_files[index]
    try:
        ds = dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID", "NumberOfFrames"])
    except (OSError, InvalidDicomError, ValueError, EOFError):
        return CT_IMAGE_STORAGE, volume.frame_indices[index] > 0
    sop_class = str(getattr(ds, "SOPClassUID", "") or CT_IMAGE_STORAGE)
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    return sop_class, frames > 1 or sop_class == ENHANCED_CT_STORAGE


def source_image(volume: Volume, index: int, identity: ExportIdentity) -> SourceImage:
    """How the outputs reference slice ``index`` (stored size, mapped UIDs)."""
    sop_class, multiframe = source_sop_class(volume, index)
    rows, columns = int(volume.hu.shape[1]), int(volume.hu.shape[2])
    if getattr(volume.extra.get("display_transform"), "transpose", False):
        rows, columns = columns, rows
    return SourceImage(
        slice_index=index,
        sop_class_uid=sop_class,
        sop_instance_uid=identity.uid(volume.sop_instance_uids[index]),
        frame_number=volume.frame_indices[index] + 1 if multiframe else None,
        rows=rows,
        columns=columns,
    )


def patient_sex(value: str) -> str | None:
    """(0010,0040) Patient's Sex as written: M, F or O, else ``None`` (left empty)."""
    return value if value in ("M", "F", "O") else None


def person_name(name: str) -> str:
    """A reader name as a DICOM PN: a free-text login becomes the family-name component."""
    cleaned = name.strip().replace("\\", " ")
    if not cleaned:
        return "Unknown^"
    return cleaned if "^" in cleaned else f"{cleaned}^"


def identity_arguments(info: SeriesInfo) -> dict[str, object]:
    """The patient and study attributes every highdicom SOP class constructor takes, from
    ``info`` (already de-identified when the export is): empty values become ``None``."""
    return {
        "patient_id": info.patient_id,
        "patient_name": person_name(info.patient_name) if info.patient_name else None,
        "patient_birth_date": info.patient_birth_date or None,
        "patient_sex": patient_sex(info.patient_sex),
        "accession_number": info.accession_number or None,
        "study_id": info.study_id or None,
        "study_date": info.study_date or None,
        "study_time": info.study_time or None,
        "referring_physician_name": info.referring_physician or None,
    }


def dicom_text(text: str) -> str:
    """Text the application writes, in plain ASCII where it used typography.

    ``"High grade · P(high) 0.27"`` becomes ``"High grade, P(high) 0.27"``, en dashes become
    hyphens, ``"≥"`` becomes ``">="``. Other characters (a model name in another script)
    are kept; :func:`finish_dataset` then declares UTF-8.
    """
    return text.replace(" \u00b7 ", ", ").translate(_ASCII)


def written_info(info: SeriesInfo) -> SeriesInfo:
    """``info`` with the dates and times DICOM cannot hold left empty.

    Source files carry values such as "2024" or "25:99" in (0008,0020) Study Date or
    (0008,0030) Study Time, which pydicom and highdicom refuse to write: the DICOM outputs
    leave them out rather than fail (the PDF and PNG print them as read).
    """
    return replace(
        info,
        study_date=_conformant(DA, info.study_date),
        study_time=_conformant(TM, info.study_time),
        patient_birth_date=_conformant(DA, info.patient_birth_date),
    )


def _conformant(kind: type[DA] | type[TM], text: str) -> str:
    try:
        kind(text)
    except (ValueError, TypeError, OverflowError):
        return ""
    return text


def evidence_dataset(source: SourceImage, identity: ExportIdentity) -> Dataset:
    """A minimal dataset standing for a source image: the identifiers highdicom copies
    into evidence and into the patient and study modules of new documents."""
    info = written_info(identity.info)
    ds = Dataset()
    ds.SOPClassUID = source.sop_class_uid
    ds.SOPInstanceUID = source.sop_instance_uid
    ds.StudyInstanceUID = info.study_instance_uid
    ds.SeriesInstanceUID = info.series_instance_uid
    ds.PatientID = info.patient_id
    ds.PatientName = person_name(info.patient_name) if info.patient_name else ""
    ds.PatientBirthDate = info.patient_birth_date
    ds.PatientSex = patient_sex(info.patient_sex) or ""
    ds.AccessionNumber = info.accession_number
    ds.StudyID = info.study_id
    ds.StudyDate = info.study_date
    ds.StudyTime = info.study_time
    ds.ReferringPhysicianName = info.referring_physician
    ds.Modality = info.modality or "CT"
    ds.Rows = source.rows  # an image, so a KOS references it as IMAGE, not COMPOSITE
    ds.Columns = source.columns
    return ds


def new_uid() -> str:
    return str(generate_uid(prefix=UID_PREFIX))


def _dated_elements(ds: Dataset) -> None:
    for element in list(ds):
        if element.VR == "SQ":
            for item in element.value:
                _dated_elements(item)
        elif element.VR in ("DA", "TM", "DT"):
            if element.keyword in _EMPTY_WHEN_DEIDENTIFIED:
                element.value = ""
            elif element.value:
                element.value = {"DA": DUMMY_DATE, "TM": DUMMY_TIME}.get(
                    element.VR, DUMMY_DATE + DUMMY_TIME
                )


def _has_non_ascii(ds: Dataset) -> bool:
    for element in ds.iterall():
        if element.VR not in _TEXT_VRS or element.value is None:
            continue
        values = element.value if element.VM > 1 else [element.value]
        if any(not str(value).isascii() for value in values):
            return True
    return False


def declare_character_set(ds: D) -> D:
    """Declare (0008,0005) Specific Character Set "ISO_IR 192" when any text value of ``ds``
    (nested items included) is not ASCII; remove a declaration it does not need."""
    if _has_non_ascii(ds):
        ds.SpecificCharacterSet = UTF8
    elif "SpecificCharacterSet" in ds:
        del ds.SpecificCharacterSet
    return ds


def finish_dataset(ds: D, identity: ExportIdentity, *, series_description: str) -> D:
    """Common attributes of every output; the de-identification record when it applies;
    the character set its text needs (call it last)."""
    ds.SeriesDescription = dicom_text(series_description)
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = MODEL_NAME
    ds.SoftwareVersions = __version__
    info = identity.info
    if info.institution_name and not identity.deidentified:
        ds.InstitutionName = info.institution_name
    if identity.deidentified:
        for keyword in (
            "InstitutionName",
            "InstitutionAddress",
            "StationName",
            "OperatorsName",
            "StudyDescription",
            "ReferringPhysicianName",
            "AccessionNumber",
            "StudyID",
        ):
            if keyword in ds:
                ds[keyword].value = ""
        _dated_elements(ds)
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = DEID_METHOD_TEXT[:64]
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = DEID_METHOD_CODE
        ds.DeidentificationMethodCodeSequence = DicomSequence([code])
        ds.LongitudinalTemporalInformationModified = "REMOVED"
    return declare_character_set(ds)


def is_valid_uid(value: str) -> bool:
    return UID(value).is_valid


__all__ = [
    "DOC_SERIES_NUMBER",
    "KO_SERIES_NUMBER",
    "MANUFACTURER",
    "SC_SERIES_NUMBER",
    "SR_SERIES_NUMBER",
    "UTF8",
    "SourceImage",
    "declare_character_set",
    "dicom_text",
    "evidence_dataset",
    "finish_dataset",
    "is_valid_uid",
    "new_uid",
    "patient_sex",
    "person_name",
    "source_image",
    "source_sop_class",
]
