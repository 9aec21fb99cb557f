"""Write a CT volume as a DICOM CT Image Storage series (one file per slice).

Used by the synthetic-study generator, the test factories and the benchmarks. The output is a
series a PACS accepts: SOP Common, Patient, General Study, General Series, Frame of Reference,
General Equipment, General Image, Image Plane, Image Pixel, CT Image and VOI LUT modules.

Writing is deterministic: UIDs come from :attr:`CtSeriesSpec.seed` (``generate_uid`` with
entropy sources) and dates/times are fixed, so the same inputs give byte-identical files.
Stored values are ``round((hu - intercept) / slope)``, so the loader's Modality LUT gives the
input HU back exactly whenever the input is on that grid.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

from mscc_desktop.core.volume import SeriesInfo, Vector3
from mscc_desktop.core.windows import Window

AXIAL_ORIENTATION: tuple[float, float, float, float, float, float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
"""(0020,0037) for an axial slice in display orientation: rows run right→left, columns A→P."""

FIXED_DATE = "20240101"
FIXED_TIME = "120000"


class TransferSyntax(StrEnum):
    """Transfer syntaxes the writer can produce (values are the DICOM UIDs)."""

    EXPLICIT_LE = str(ExplicitVRLittleEndian)
    IMPLICIT_LE = str(ImplicitVRLittleEndian)
    DEFLATED_LE = str(DeflatedExplicitVRLittleEndian)
    JPEG2000_LOSSLESS = str(JPEG2000Lossless)
    RLE_LOSSLESS = str(RLELossless)
    JPEGLS_LOSSLESS = str(JPEGLSLossless)

    @property
    def compressed(self) -> bool:
        return self in (
            TransferSyntax.JPEG2000_LOSSLESS,
            TransferSyntax.RLE_LOSSLESS,
            TransferSyntax.JPEGLS_LOSSLESS,
        )


class FileNaming(StrEnum):
    """How output files are named (none of it derived from DICOM data)."""

    SEQUENTIAL = "sequential"  # IM00001.dcm, IM00002.dcm, ... in slice order
    SEQUENTIAL_NO_EXT = "sequential_no_ext"  # IM00001, IM00002, ...
    RANDOM = "random"  # 16 hex characters, no extension, order unrelated to slices


@dataclass(frozen=True, slots=True)
class CtSeriesSpec:
    """Geometry, identity and encoding of a CT series to write.

    Parameters
    ----------
    pixel_spacing_mm
        (0028,0030) Pixel Spacing as (row spacing, column spacing).
    z_positions_mm
        Patient z of each slice's first voxel, in the order of the array's slices (head
        first: decreasing). Ignored when ``positions_mm`` is given.
    origin_xy_mm
        Patient (x, y) of the centre of the first voxel of every slice.
    slice_thickness_mm
        (0018,0050) Slice Thickness.
    info
        Patient/study/series identity; empty UIDs are generated from ``seed``.
    image_orientation
        (0020,0037) Image Orientation (Patient): column direction then row direction.
    positions_mm
        Optional full (0020,0032) Image Position (Patient) per slice, for oblique or tilted
        series; overrides ``z_positions_mm``/``origin_xy_mm``.
    rescale_intercept, rescale_slope
        (0028,1052)/(0028,1053); stored = round((hu - intercept) / slope).
    pixel_padding_value
        Stored value written as (0028,0120) Pixel Padding Value, and written into the voxels
        of ``padding_mask`` passed to :func:`write_ct_series`.
    signed
        Pixel Representation: ``None`` chooses unsigned when every stored value fits uint16
        and is >= 0, else signed.
    window
        (0028,1050)/(0028,1051) window written in the VOI LUT module; ``None`` omits it.
    contrast_agent
        (0018,0010) Contrast/Bolus Agent; ``None`` uses ``info.contrast_agent``.
    gantry_tilt_deg
        (0018,1120) Gantry/Detector Tilt.
    transfer_syntax
        Encoding of the pixel data.
    naming
        File naming scheme.
    seed
        Seed of the UIDs and random file names (same seed and inputs → identical bytes).
    """

    pixel_spacing_mm: tuple[float, float]
    z_positions_mm: tuple[float, ...]
    origin_xy_mm: tuple[float, float] = (0.0, 0.0)
    slice_thickness_mm: float = 1.0
    info: SeriesInfo = field(default_factory=SeriesInfo)
    image_orientation: tuple[float, float, float, float, float, float] = AXIAL_ORIENTATION
    positions_mm: tuple[Vector3, ...] | None = None
    rescale_intercept: float = -1024.0
    rescale_slope: float = 1.0
    pixel_padding_value: int | None = None
    signed: bool | None = None
    window: Window | None = field(default_factory=lambda: Window(400.0, 40.0, "Soft tissue"))
    contrast_agent: str | None = None
    gantry_tilt_deg: float | None = None
    transfer_syntax: TransferSyntax = TransferSyntax.EXPLICIT_LE
    naming: FileNaming = FileNaming.SEQUENTIAL
    seed: int | str = 0

    def positions(self, n_slices: int) -> tuple[Vector3, ...]:
        """(0020,0032) of each slice."""
        if self.positions_mm is not None:
            if len(self.positions_mm) != n_slices:
                raise ValueError(f"{len(self.positions_mm)} positions for {n_slices} slices")
            return tuple((float(p[0]), float(p[1]), float(p[2])) for p in self.positions_mm)
        if len(self.z_positions_mm) != n_slices:
            raise ValueError(f"{len(self.z_positions_mm)} z positions for {n_slices} slices")
        x, y = self.origin_xy_mm
        return tuple((float(x), float(y), float(z)) for z in self.z_positions_mm)


@dataclass(frozen=True, slots=True)
class WrittenSeries:
    """What :func:`write_ct_series` wrote; per-slice tuples are in the array's slice order."""

    paths: tuple[Path, ...]
    sop_instance_uids: tuple[str, ...]
    study_instance_uid: str
    series_instance_uid: str
    frame_of_reference_uid: str


@dataclass(frozen=True, slots=True)
class SeriesUids:
    study: str
    series: str
    frame_of_reference: str


def series_uids(spec: CtSeriesSpec) -> SeriesUids:
    """The study/series/frame-of-reference UIDs ``spec`` writes (given ones, else seeded)."""
    seed = str(spec.seed)
    info = spec.info
    study = info.study_instance_uid or str(generate_uid(entropy_srcs=["study", seed]))
    series = info.series_instance_uid or str(
        generate_uid(entropy_srcs=["series", seed, study, str(info.series_number)])
    )
    frame = info.frame_of_reference_uid or str(generate_uid(entropy_srcs=["for", seed, study]))
    return SeriesUids(study, series, frame)


def instance_uid(spec: CtSeriesSpec, series_uid: str, index: int) -> str:
    """Deterministic SOP Instance UID of slice/file ``index``."""
    return str(generate_uid(entropy_srcs=["sop", str(spec.seed), series_uid, str(index)]))


def stored_values(
    hu: npt.ArrayLike,
    spec: CtSeriesSpec,
    padding_mask: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.int16] | npt.NDArray[np.uint16]:
    """HU → stored pixel values ``round((hu - intercept) / slope)`` as int16 or uint16.

    Raises
    ------
    ValueError
        If a value does not fit the chosen 16-bit representation.
    """
    if spec.rescale_slope == 0:
        raise ValueError("rescale slope must not be 0")
    values = np.rint(
        (np.asarray(hu, dtype=np.float64) - spec.rescale_intercept) / spec.rescale_slope
    )
    if padding_mask is not None:
        if spec.pixel_padding_value is None:
            raise ValueError("padding_mask needs spec.pixel_padding_value")
        values[np.asarray(padding_mask, dtype=bool)] = spec.pixel_padding_value
    low, high = float(values.min()), float(values.max())
    signed = spec.signed if spec.signed is not None else not (low >= 0 and high <= 65535)
    dtype: type[np.int16] | type[np.uint16] = np.int16 if signed else np.uint16
    info = np.iinfo(dtype)
    if low < info.min or high > info.max:
        raise ValueError(
            f"stored values {low:g}..{high:g} do not fit {np.dtype(dtype).name}; "
            "change the rescale intercept/slope or the signedness"
        )
    if spec.pixel_padding_value is not None and not (
        info.min <= spec.pixel_padding_value <= info.max
    ):
        raise ValueError(f"pixel padding value does not fit {np.dtype(dtype).name}")
    if signed:
        return values.astype(np.int16)
    return values.astype(np.uint16)


def ds_number(value: float) -> str:
    """A DS string of at most 16 characters for ``value``."""
    text = f"{value:.10g}"
    if len(text) > 16:
        text = f"{value:.6e}" if abs(value) >= 1e10 or abs(value) < 1e-4 else f"{value:.8g}"
    return text


def base_dataset(spec: CtSeriesSpec, uids: SeriesUids, sop_class: str) -> Dataset:
    """Patient, study, series, frame of reference and equipment modules shared by all files."""
    info = spec.info
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: names may hold any script
    ds.SOPClassUID = UID(sop_class)
    ds.InstanceCreationDate = FIXED_DATE
    ds.InstanceCreationTime = FIXED_TIME
    # Patient
    ds.PatientName = info.patient_name
    ds.PatientID = info.patient_id
    ds.PatientBirthDate = info.patient_birth_date
    ds.PatientSex = info.patient_sex
    # General Study
    ds.StudyInstanceUID = UID(uids.study)
    ds.StudyDate = info.study_date or FIXED_DATE
    ds.StudyTime = info.study_time or FIXED_TIME
    ds.ReferringPhysicianName = info.referring_physician
    ds.StudyID = info.study_id or "1"
    ds.AccessionNumber = info.accession_number
    ds.StudyDescription = info.study_description
    # General Series
    ds.Modality = info.modality or "CT"
    ds.SeriesInstanceUID = UID(uids.series)
    ds.SeriesNumber = info.series_number if info.series_number is not None else 1
    ds.SeriesDescription = info.series_description
    ds.SeriesDate = ds.StudyDate
    ds.SeriesTime = ds.StudyTime
    if info.body_part:
        ds.BodyPartExamined = info.body_part
    ds.PatientPosition = "HFS"
    # Frame of Reference
    ds.FrameOfReferenceUID = UID(uids.frame_of_reference)
    ds.PositionReferenceIndicator = ""
    # General Equipment
    ds.Manufacturer = info.manufacturer or "mscc-desktop"
    ds.ManufacturerModelName = info.manufacturer_model or "synthetic"
    ds.InstitutionName = info.institution_name
    ds.SoftwareVersions = "mscc-desktop"
    # CT acquisition attributes (CT Image module)
    ds.KVP = ds_number(info.kvp if info.kvp is not None else 120.0)
    ds.ConvolutionKernel = info.convolution_kernel or "STANDARD"
    contrast = spec.contrast_agent if spec.contrast_agent is not None else info.contrast_agent
    if contrast:
        ds.ContrastBolusAgent = contrast
    ds.SliceThickness = ds_number(spec.slice_thickness_mm)
    if spec.gantry_tilt_deg is not None:
        ds.GantryDetectorTilt = ds_number(spec.gantry_tilt_deg)
    return ds


def set_pixel_module(ds: Dataset, stored: npt.NDArray[np.int16] | npt.NDArray[np.uint16]) -> None:
    """Image Pixel module for 16-bit monochrome data (one frame or several)."""
    signed = stored.dtype == np.int16
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = int(stored.shape[-2])
    ds.Columns = int(stored.shape[-1])
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = np.ascontiguousarray(stored, dtype=stored.dtype.newbyteorder("<")).tobytes()
    ds["PixelData"].VR = "OW"


def set_padding(ds: Dataset, spec: CtSeriesSpec, signed: bool) -> None:
    if spec.pixel_padding_value is not None:
        ds.add_new(0x00280120, "SS" if signed else "US", int(spec.pixel_padding_value))


def set_window(ds: Dataset, window: Window | None) -> None:
    if window is not None:
        ds.WindowCenter = ds_number(window.level)
        ds.WindowWidth = ds_number(window.width)
        if window.name:
            ds.WindowCenterWidthExplanation = window.name


def encode_and_save(ds: Dataset, path: Path, transfer_syntax: TransferSyntax) -> None:
    """Add the file meta, compress if asked, and write ``ds`` to ``path`` (a new file)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "MSCC_DESKTOP"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    if transfer_syntax == TransferSyntax.JPEG2000_LOSSLESS and min(ds.Rows, ds.Columns) < 32:
        # openjpeg's default 6 resolution levels need at least 32 pixels per side.
        raise ValueError("JPEG 2000 encoding needs images of at least 32 x 32 pixels")
    if transfer_syntax.compressed:
        # Keep our deterministic SOP Instance UID (compress() would make a random new one).
        ds.compress(UID(transfer_syntax.value), generate_instance_uid=False)
    else:
        meta.TransferSyntaxUID = UID(transfer_syntax.value)
    implicit = transfer_syntax == TransferSyntax.IMPLICIT_LE
    dcmwrite(path, ds, implicit_vr=implicit, little_endian=True, enforce_file_format=True)


def file_names(n_files: int, naming: FileNaming, seed: int | str) -> list[str]:
    """File names for ``n_files`` files, in slice order."""
    if naming == FileNaming.RANDOM:
        rng = np.random.default_rng(abs(hash_seed(seed)))
        names: list[str] = []
        seen: set[str] = set()
        while len(names) < n_files:
            name = rng.bytes(8).hex().upper()
            if name not in seen:
                seen.add(name)
                names.append(name)
        return names
    suffix = ".dcm" if naming == FileNaming.SEQUENTIAL else ""
    return [f"IM{index + 1:05d}{suffix}" for index in range(n_files)]


def hash_seed(seed: int | str) -> int:
    """A stable integer from a seed (``hash()`` of a str changes between runs)."""
    if isinstance(seed, int):
        return seed
    return int.from_bytes(hashlib.sha256(seed.encode("utf-8")).digest()[:8], "little")


def write_ct_series(
    hu: npt.ArrayLike,
    spec: CtSeriesSpec,
    out_dir: str | os.PathLike[str],
    *,
    padding_mask: npt.NDArray[np.bool_] | None = None,
) -> WrittenSeries:
    """Write ``hu`` as a CT Image Storage series, one file per slice, into ``out_dir``.

    Parameters
    ----------
    hu
        ``(slice, row, col)`` HU. Pixels are written as given: with the default axial
        orientation that is the display orientation (rows anterior→posterior, columns
        right→left), slice order as in ``spec.z_positions_mm`` (head first).
    spec
        Geometry, identity and encoding.
    out_dir
        Folder to write into (created if missing). Existing files of the same name are
        replaced.
    padding_mask
        Optional boolean ``(slice, row, col)`` mask of voxels to store as
        ``spec.pixel_padding_value``.

    Returns
    -------
    WrittenSeries
        Paths and SOP Instance UIDs in slice order.

    Raises
    ------
    ValueError
        Bad shapes, or values that do not fit 16 bits with the given rescale.
    """
    volume = np.asarray(hu)
    if volume.ndim != 3 or min(volume.shape) < 1:
        raise ValueError(f"hu must be (slice, row, col), got shape {volume.shape}")
    stored = stored_values(volume, spec, padding_mask)
    signed = stored.dtype == np.int16
    n_slices = int(volume.shape[0])
    positions = spec.positions(n_slices)
    uids = series_uids(spec)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    names = file_names(n_slices, spec.naming, spec.seed)
    paths: list[Path] = []
    sops: list[str] = []
    image_type = list(spec.info.image_type or ("ORIGINAL", "PRIMARY", "AXIAL"))
    for index in range(n_slices):
        ds = base_dataset(spec, uids, CTImageStorage)
        sop = instance_uid(spec, uids.series, index)
        ds.SOPInstanceUID = UID(sop)
        # General Image
        ds.InstanceNumber = index + 1
        ds.ImageType = image_type
        ds.ContentDate = FIXED_DATE
        ds.ContentTime = FIXED_TIME
        ds.AcquisitionNumber = 1
        # Image Plane
        ds.ImagePositionPatient = [ds_number(v) for v in positions[index]]
        ds.ImageOrientationPatient = [ds_number(v) for v in spec.image_orientation]
        ds.PixelSpacing = [ds_number(v) for v in spec.pixel_spacing_mm]
        ds.SliceLocation = ds_number(positions[index][2])
        # Image Pixel + CT Image
        set_pixel_module(ds, stored[index])
        set_padding(ds, spec, signed)
        ds.RescaleIntercept = ds_number(spec.rescale_intercept)
        ds.RescaleSlope = ds_number(spec.rescale_slope)
        ds.RescaleType = "HU"
        set_window(ds, spec.window)
        path = folder / names[index]
        encode_and_save(ds, path, spec.transfer_syntax)
        paths.append(path)
        sops.append(sop)
    return WrittenSeries(
        paths=tuple(paths),
        sop_instance_uids=tuple(sops),
        study_instance_uid=uids.study,
        series_instance_uid=uids.series,
        frame_of_reference_uid=uids.frame_of_reference,
    )
