"""De-identified copies of CT image files for the site's training data export.

An allow-list, stricter than DICOM PS3.15's Basic Profile: the copy keeps only what the
importer and training need (image pixel module, geometry, rescale, acquisition technique)
and drops everything else, private tags and sequences included, so an unexpected attribute
can never carry identity out. Patient name and ID become the installation's pseudonym and
every UID is mapped (``reporting.deid``: the same HMAC mapping as every other export, so one
patient's studies still link and the series still hangs together). Dates are not kept.
Pixel data are copied as they are: CT slices carry no burned-in text, and the copy says
Burned In Annotation NO only when the source did.
"""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence

from mscc_desktop.core.volume import SeriesInfo
from mscc_desktop.reporting.deid import install_secret, mapped_uid, pseudonym

# What a copy keeps as it is (besides the pixel data and the mapped UIDs).
_KEEP = (
    "SOPClassUID",
    "ImageType",
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "BodyPartExamined",
    "SliceThickness",
    "SpacingBetweenSlices",
    "KVP",
    "ConvolutionKernel",
    "GantryDetectorTilt",
    "PatientPosition",
    "SeriesNumber",
    "InstanceNumber",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "NumberOfFrames",
    "Rows",
    "Columns",
    "PixelSpacing",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PixelPaddingValue",
    "WindowCenter",
    "WindowWidth",
    "RescaleIntercept",
    "RescaleSlope",
    "RescaleType",
    "BurnedInAnnotation",
    "PixelData",
)
_MAPPED_UIDS = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID")


def deidentified_copy(source: Path, target: Path, *, secret: bytes | None = None) -> str:
    """Write a de-identified copy of ``source`` to ``target``; returns its new SOP Instance UID."""
    key = secret if secret is not None else install_secret()
    original = dcmread(source)
    copy = Dataset()
    for keyword in _KEEP:
        if keyword in original:
            copy[keyword] = original[keyword]
    for keyword in _MAPPED_UIDS:
        if keyword in original:
            setattr(copy, keyword, mapped_uid(str(getattr(original, keyword)), key))
    info = SeriesInfo(
        patient_name=str(original.get("PatientName", "")),
        patient_id=str(original.get("PatientID", "")),
        patient_birth_date=str(original.get("PatientBirthDate", "")),
    )
    alias = pseudonym(info, key)
    copy.PatientName = alias
    copy.PatientID = alias
    copy.PatientIdentityRemoved = "YES"
    copy.DeidentificationMethod = "mscc-desktop allow-list; PS3.15 Basic Profile, no dates"
    method = Dataset()
    method.CodeValue = "113100"
    method.CodingSchemeDesignator = "DCM"
    method.CodeMeaning = "Basic Application Confidentiality Profile"
    copy.DeidentificationMethodCodeSequence = Sequence([method])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = copy.SOPClassUID
    meta.MediaStorageSOPInstanceUID = copy.SOPInstanceUID
    meta.TransferSyntaxUID = original.file_meta.TransferSyntaxUID
    copy.file_meta = meta
    copy.save_as(target, enforce_file_format=True)
    return str(copy.SOPInstanceUID)
