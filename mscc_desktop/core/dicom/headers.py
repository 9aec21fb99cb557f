"""What the importer keeps of one DICOM image file after a header-only read.

A scan reads every file once with ``stop_before_pixels`` and keeps only these small frozen
records, never the datasets, so scanning thousands of files costs little memory. Every value
is extracted defensively: an unusable attribute becomes ``None`` and its name is remembered in
``bad_values``, it never stops the scan.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydicom.dataset import Dataset
from pydicom.uid import UID

from mscc_desktop.core.dicom.decode import PixelFormat
from mscc_desktop.core.volume import SeriesInfo, Vector3
from mscc_desktop.core.windows import Window, dicom_window

Orientation6 = tuple[float, float, float, float, float, float]
T = TypeVar("T")

NATIVE_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2",  # Implicit VR Little Endian
        "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
        "1.2.840.10008.1.2.2",  # Explicit VR Big Endian (retired)
    }
)
"""Transfer syntaxes whose pixel data can be read straight from the file."""

MAX_FRAMES = 20_000
"""More frames than any CT acquisition has; larger declarations are refused."""

SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"


def transfer_syntax_name(uid: str) -> str:
    """Human-readable name of a transfer syntax UID (the UID itself when unknown)."""
    name = UID(uid).name if uid else ""
    return name if name and name != uid else (uid or "unknown")


@dataclass(frozen=True, slots=True)
class FrameGeometry:
    """Geometry and rescale of one frame (the only frame of a single-frame image)."""

    position_mm: Vector3 | None  # (0020,0032) Image Position (Patient)
    orientation: Orientation6 | None  # (0020,0037) Image Orientation (Patient)
    pixel_spacing_mm: tuple[float, float] | None  # (0028,0030), (row, col)
    slice_thickness_mm: float | None
    rescale_slope: float | None  # None: no Modality LUT recorded
    rescale_intercept: float | None


@dataclass(frozen=True, slots=True)
class ImageHeader:
    """Header facts of one DICOM image file; patient data inside ``info``: never log it."""

    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    info: SeriesInfo
    rows: int
    columns: int
    n_frames: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric: str
    instance_number: int | None
    acquisition_number: int | None
    frames: tuple[FrameGeometry, ...]
    pixel_padding_value: int | None
    pixel_padding_range_limit: int | None
    window: Window | None
    gantry_tilt_deg: float | None
    pixel_data_offset: int | None  # byte offset of the (7FE0,0010) element, native syntaxes
    bad_values: tuple[str, ...] = ()
    convolution_kernel_group: str = ""  # (0018,9316), Enhanced CT; vendor-neutral kernel class

    @property
    def is_multiframe(self) -> bool:
        return self.n_frames > 1 or bool(self.sop_class_uid == ENHANCED_CT)

    @property
    def is_secondary_capture(self) -> bool:
        return self.sop_class_uid.startswith(SECONDARY_CAPTURE_PREFIX)

    def pixel_format(self) -> PixelFormat:
        """How this file's pixels are laid out, for the decoder."""
        return PixelFormat(
            rows=self.rows,
            columns=self.columns,
            n_frames=self.n_frames,
            bits_allocated=self.bits_allocated,
            bits_stored=self.bits_stored,
            pixel_representation=self.pixel_representation,
            samples_per_pixel=self.samples_per_pixel,
            transfer_syntax_uid=self.transfer_syntax_uid,
            pixel_data_offset=self.pixel_data_offset,
        )


@dataclass(frozen=True, slots=True)
class FrameRef:
    """One image plane: frame ``index`` of the file behind ``header``."""

    header: ImageHeader
    index: int

    @property
    def geometry(self) -> FrameGeometry:
        return self.header.frames[self.index]


class _Reader:
    """Pulls typed values out of a dataset, noting every attribute it had to give up on."""

    def __init__(self) -> None:
        self.bad: list[str] = []

    def get(self, ds: Dataset, keyword: str, convert: Callable[[object], T]) -> T | None:
        try:
            value = ds.get(keyword)
            if value is None or value == "":
                return None
            return convert(value)
        # pydicom converts raw values lazily on access; a broken value surfaces here as any
        # of these. The attribute is then treated as absent and reported.
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
            self.bad.append(keyword)
            return None

    def text(self, ds: Dataset, keyword: str) -> str:
        value = self.get(ds, keyword, lambda v: str(v).strip())
        return value or ""


MAX_MAGNITUDE = 1e9
"""Larger numbers mean nothing in any length (mm), angle or rescale a CT header holds, and
arithmetic on them overflows (HU, positions, spacing): such values are treated as unusable."""


def _float(value: object) -> float:
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise ValueError("not finite")
    if abs(number) > MAX_MAGNITUDE:
        raise ValueError("out of range")
    return number


def _int(value: object) -> int:
    return int(float(value))  # type: ignore[arg-type]


def _floats(count: int) -> Callable[[object], tuple[float, ...]]:
    def convert(value: object) -> tuple[float, ...]:
        items = [value] if isinstance(value, str | bytes | int | float) else list(value)  # type: ignore[call-overload]
        numbers = tuple(_float(v) for v in items)
        if len(numbers) != count:
            raise ValueError(f"expected {count} values")
        return numbers

    return convert


def _vector3(value: object) -> Vector3:
    x, y, z = _floats(3)(value)
    return (x, y, z)


def _orientation(value: object) -> Orientation6:
    a, b, c, d, e, f = _floats(6)(value)
    row = math.sqrt(a * a + b * b + c * c)
    col = math.sqrt(d * d + e * e + f * f)
    if row < 0.5 or col < 0.5:
        raise ValueError("degenerate orientation")
    # Normalise: some writers store 0.99999 or 1.0000001; geometry wants unit vectors.
    return (a / row, b / row, c / row, d / col, e / col, f / col)


def _spacing(value: object) -> tuple[float, float]:
    r, c = _floats(2)(value)
    if r <= 0 or c <= 0:
        raise ValueError("non-positive spacing")
    return (r, c)


def _positive(value: object) -> float:
    number = _float(value)
    if number <= 0:
        raise ValueError("non-positive")
    return number


def _multi_text(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip().upper() for part in value.split("\\") if part.strip())
    return tuple(str(part).strip().upper() for part in value)  # type: ignore[attr-defined]


def _values_text(value: object) -> str:
    """A possibly multi-valued text attribute, case kept, values joined by a backslash."""
    if isinstance(value, str | bytes | int | float):
        parts = [value.decode(errors="replace") if isinstance(value, bytes) else str(value)]
    else:
        parts = [str(part) for part in value]  # type: ignore[attr-defined]
    return "\\".join(part.strip() for part in parts if part.strip())


def _first_item(ds: Dataset, keyword: str) -> Dataset | None:
    try:
        sequence = ds.get(keyword)
        if sequence is None or len(sequence) == 0:
            return None
        item = sequence[0]
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None
    return item if isinstance(item, Dataset) else None


def _group_value(
    reader: _Reader,
    groups: tuple[Dataset | None, ...],
    sequence: str,
    keyword: str,
    convert: Callable[[object], T],
) -> T | None:
    """First value of ``keyword`` inside ``sequence`` of the per-frame then shared group."""
    for group in groups:
        if group is None:
            continue
        item = _first_item(group, sequence)
        if item is not None and keyword in item:
            value = reader.get(item, keyword, convert)
            if value is not None:
                return value
    return None


def _frames(ds: Dataset, reader: _Reader, n_frames: int) -> tuple[FrameGeometry, ...]:
    position = reader.get(ds, "ImagePositionPatient", _vector3)
    orientation = reader.get(ds, "ImageOrientationPatient", _orientation)
    spacing = reader.get(ds, "PixelSpacing", _spacing)
    thickness = reader.get(ds, "SliceThickness", _positive)
    slope = reader.get(ds, "RescaleSlope", _float)
    intercept = reader.get(ds, "RescaleIntercept", _float)
    shared = _first_item(ds, "SharedFunctionalGroupsSequence")
    try:
        per_frame = ds.get("PerFrameFunctionalGroupsSequence")
        per_items = list(per_frame) if per_frame is not None else []
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        reader.bad.append("PerFrameFunctionalGroupsSequence")
        per_items = []
    if shared is None and not per_items:
        frame = FrameGeometry(position, orientation, spacing, thickness, slope, intercept)
        return (frame,) * max(1, n_frames)
    frames: list[FrameGeometry] = []
    for index in range(max(1, n_frames)):
        own = per_items[index] if index < len(per_items) else None
        groups = (own if isinstance(own, Dataset) else None, shared)
        frame_slope = _group_value(
            reader, groups, "PixelValueTransformationSequence", "RescaleSlope", _float
        )
        frame_intercept = _group_value(
            reader, groups, "PixelValueTransformationSequence", "RescaleIntercept", _float
        )
        measures = (
            _group_value(reader, groups, "PixelMeasuresSequence", "PixelSpacing", _spacing),
            _group_value(reader, groups, "PixelMeasuresSequence", "SliceThickness", _positive),
        )
        frames.append(
            FrameGeometry(
                position_mm=_group_value(
                    reader, groups, "PlanePositionSequence", "ImagePositionPatient", _vector3
                )
                or position,
                orientation=_group_value(
                    reader,
                    groups,
                    "PlaneOrientationSequence",
                    "ImageOrientationPatient",
                    _orientation,
                )
                or orientation,
                pixel_spacing_mm=measures[0] or spacing,
                slice_thickness_mm=measures[1] or thickness,
                rescale_slope=frame_slope if frame_slope is not None else slope,
                rescale_intercept=frame_intercept if frame_intercept is not None else intercept,
            )
        )
    return tuple(frames)


def _kernel(ds: Dataset, reader: _Reader) -> tuple[str, str]:
    """(0018,1210) Convolution Kernel and (0018,9316) Convolution Kernel Group.

    Top level in CT Image files; in the CT Reconstruction functional group (shared, else the
    first frame's) in Enhanced CT files. Several values (Siemens adds the iterative strength,
    "Br40d\\3") are kept joined by a backslash.
    """
    name = reader.get(ds, "ConvolutionKernel", _values_text) or ""
    group = reader.get(ds, "ConvolutionKernelGroup", _values_text) or ""
    if name and group:
        return name, group
    groups = (
        _first_item(ds, "SharedFunctionalGroupsSequence"),
        _first_item(ds, "PerFrameFunctionalGroupsSequence"),
    )
    if not name:
        name = (
            _group_value(
                reader, groups, "CTReconstructionSequence", "ConvolutionKernel", _values_text
            )
            or ""
        )
    if not group:
        group = (
            _group_value(
                reader, groups, "CTReconstructionSequence", "ConvolutionKernelGroup", _values_text
            )
            or ""
        )
    return name, group


def series_info(ds: Dataset, reader: _Reader, transfer_syntax: str) -> SeriesInfo:
    """The identity attributes of ``ds`` (all optional; missing ones are empty)."""
    return SeriesInfo(
        patient_name=reader.text(ds, "PatientName"),
        patient_id=reader.text(ds, "PatientID"),
        patient_birth_date=reader.text(ds, "PatientBirthDate"),
        patient_sex=reader.text(ds, "PatientSex"),
        study_instance_uid=reader.text(ds, "StudyInstanceUID"),
        study_id=reader.text(ds, "StudyID"),
        study_date=reader.text(ds, "StudyDate"),
        study_time=reader.text(ds, "StudyTime"),
        study_description=reader.text(ds, "StudyDescription"),
        accession_number=reader.text(ds, "AccessionNumber"),
        institution_name=reader.text(ds, "InstitutionName"),
        referring_physician=reader.text(ds, "ReferringPhysicianName"),
        series_instance_uid=reader.text(ds, "SeriesInstanceUID"),
        series_number=reader.get(ds, "SeriesNumber", _int),
        series_description=reader.text(ds, "SeriesDescription"),
        modality=reader.text(ds, "Modality").upper(),
        manufacturer=reader.text(ds, "Manufacturer"),
        manufacturer_model=reader.text(ds, "ManufacturerModelName"),
        kvp=reader.get(ds, "KVP", _float),
        convolution_kernel=_kernel(ds, reader)[0],
        contrast_agent=reader.text(ds, "ContrastBolusAgent"),
        body_part=reader.text(ds, "BodyPartExamined"),
        frame_of_reference_uid=reader.text(ds, "FrameOfReferenceUID"),
        image_type=reader.get(ds, "ImageType", _multi_text) or (),
        transfer_syntaxes=(transfer_syntax,) if transfer_syntax else (),
    )


def _signed_padding(value: int | None, pixel_representation: int) -> int | None:
    """Padding as a stored value; a signed image's padding written as US is reinterpreted."""
    if value is None:
        return None
    if pixel_representation == 1 and value > 32767:
        return value - 65536
    return value


def image_header(ds: Dataset, path: Path, pixel_data_offset: int | None) -> ImageHeader:
    """Build an :class:`ImageHeader` from a header-only dataset of an image file."""
    reader = _Reader()
    meta = getattr(ds, "file_meta", None)
    transfer_syntax = ""
    if meta is not None:
        transfer_syntax = reader.text(meta, "TransferSyntaxUID")
    if not transfer_syntax:
        # A file without meta information: pydicom guessed the encoding while reading.
        implicit = getattr(ds, "is_implicit_VR", True)
        transfer_syntax = "1.2.840.10008.1.2" if implicit else "1.2.840.10008.1.2.1"
    rows = reader.get(ds, "Rows", _int) or 0
    columns = reader.get(ds, "Columns", _int) or 0
    n_frames = max(1, reader.get(ds, "NumberOfFrames", _int) or 1)
    if n_frames > MAX_FRAMES:
        # Checked before anything per frame is built: a hostile value must not exhaust memory.
        raise ValueError(f"declares {n_frames} frames, more than the {MAX_FRAMES} allowed")
    pixel_representation = reader.get(ds, "PixelRepresentation", _int) or 0
    frames = _frames(ds, reader, n_frames)
    shared = _first_item(ds, "SharedFunctionalGroupsSequence")
    voi = _first_item(shared, "FrameVOILUTSequence") if shared is not None else None
    window_source = ds if "WindowWidth" in ds else (voi if voi is not None else ds)
    try:
        window = dicom_window(window_source.get("WindowWidth"), window_source.get("WindowCenter"))
    except (ValueError, TypeError, KeyError, AttributeError):
        window = None
    return ImageHeader(
        path=path,
        sop_class_uid=reader.text(ds, "SOPClassUID"),
        sop_instance_uid=reader.text(ds, "SOPInstanceUID"),
        transfer_syntax_uid=transfer_syntax,
        info=series_info(ds, reader, transfer_syntax),
        rows=rows,
        columns=columns,
        n_frames=n_frames,
        samples_per_pixel=reader.get(ds, "SamplesPerPixel", _int) or 1,
        bits_allocated=reader.get(ds, "BitsAllocated", _int) or 16,
        bits_stored=reader.get(ds, "BitsStored", _int)
        or reader.get(ds, "BitsAllocated", _int)
        or 16,
        pixel_representation=pixel_representation,
        photometric=reader.text(ds, "PhotometricInterpretation").upper(),
        instance_number=reader.get(ds, "InstanceNumber", _int),
        acquisition_number=reader.get(ds, "AcquisitionNumber", _int),
        frames=frames,
        pixel_padding_value=_signed_padding(
            reader.get(ds, "PixelPaddingValue", _int), pixel_representation
        ),
        pixel_padding_range_limit=_signed_padding(
            reader.get(ds, "PixelPaddingRangeLimit", _int), pixel_representation
        ),
        window=window,
        gantry_tilt_deg=reader.get(ds, "GantryDetectorTilt", _float),
        pixel_data_offset=pixel_data_offset if transfer_syntax in NATIVE_SYNTAXES else None,
        bad_values=tuple(dict.fromkeys(reader.bad)),
        convolution_kernel_group=_kernel(ds, reader)[1],
    )
