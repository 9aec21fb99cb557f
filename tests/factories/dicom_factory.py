"""Small synthetic DICOM series in a test's tmp_path, built on the product's own writer.

Every phantom carries markers so a test can tell whether slices came back in the right
order and the right way up: slice ``k`` has HU ``10 * k`` in a 4×4 patch at the display
top-left (patient right-anterior), and a -500 HU patch at the bottom-right.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import UID, MRImageStorage, SecondaryCaptureImageStorage, generate_uid

from mscc_desktop.core.dicom.write import (
    CtSeriesSpec,
    FileNaming,
    TransferSyntax,
    WrittenSeries,
    write_ct_series,
)
from mscc_desktop.core.dicom.write_enhanced import WrittenMultiframe, write_enhanced_ct
from mscc_desktop.core.volume import SeriesInfo


@dataclass(frozen=True)
class MadeSeries:
    """A written series: the HU it holds (display orientation, head first) and its files."""

    hu: npt.NDArray[np.int16]
    spec: CtSeriesSpec
    written: WrittenSeries
    folder: Path

    @property
    def paths(self) -> tuple[Path, ...]:
        return self.written.paths


def series_info(**overrides: object) -> SeriesInfo:
    """Identity of a test series (patient 'Test^Patient', ID 'P1')."""
    base = SeriesInfo(
        patient_name="Test^Patient",
        patient_id="P1",
        patient_birth_date="19600101",
        patient_sex="F",
        study_date="20240102",
        study_time="101500",
        study_description="CT thorax abdomen",
        accession_number="ACC1",
        series_number=2,
        series_description="Axial 2.5 mm",
        modality="CT",
        # One study for every series a test writes, unless it says otherwise.
        study_instance_uid=str(generate_uid(entropy_srcs=["factory-study"])),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def phantom(
    n_slices: int = 12, rows: int = 64, cols: int = 64, *, seed: int = 0
) -> npt.NDArray[np.int16]:
    """A body-like ``(slice, row, col)`` HU phantom with order/orientation markers."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[0:rows, 0:cols]
    body = ((rr - rows / 2) / (rows * 0.42)) ** 2 + ((cc - cols / 2) / (cols * 0.45)) ** 2 <= 1
    bone = ((rr - rows * 0.7) / (rows * 0.08)) ** 2 + ((cc - cols / 2) / (cols * 0.08)) ** 2 <= 1
    volume = np.full((n_slices, rows, cols), -1000, dtype=np.int16)
    for k in range(n_slices):
        image = np.where(body, 40, -1000).astype(np.int16)
        image[bone] = 700
        image += rng.integers(-20, 21, size=image.shape, dtype=np.int16)
        image[0:4, 0:4] = 10 * k  # slice-order marker, display top-left
        image[-4:, -4:] = -500  # orientation marker, display bottom-right
        volume[k] = image
    return volume


def write_series(
    folder: Path,
    *,
    n_slices: int = 12,
    rows: int = 64,
    cols: int = 64,
    spacing_mm: float = 2.5,
    z0_mm: float = 0.0,
    info: SeriesInfo | None = None,
    naming: FileNaming = FileNaming.RANDOM,
    transfer_syntax: TransferSyntax = TransferSyntax.EXPLICIT_LE,
    seed: int | str = 0,
    hu: npt.NDArray[np.int16] | None = None,
    padding_mask: npt.NDArray[np.bool_] | None = None,
    **spec_fields: object,
) -> MadeSeries:
    """Write an axial series (head first, z from ``z0_mm`` down) into ``folder``."""
    volume = phantom(n_slices, rows, cols, seed=hash_int(seed)) if hu is None else hu
    n = int(volume.shape[0])
    fields: dict[str, object] = {
        "pixel_spacing_mm": (0.8, 0.8),
        "z_positions_mm": tuple(z0_mm - k * spacing_mm for k in range(n)),
        "origin_xy_mm": (-25.0, -30.0),
        "slice_thickness_mm": spacing_mm,
        "info": info or series_info(),
        "transfer_syntax": transfer_syntax,
        "naming": naming,
        "seed": seed,
    }
    fields.update(spec_fields)
    spec = CtSeriesSpec(**fields)  # type: ignore[arg-type]
    written = write_ct_series(volume, spec, folder, padding_mask=padding_mask)
    return MadeSeries(volume, spec, written, folder)


def hash_int(seed: int | str) -> int:
    return (
        seed if isinstance(seed, int) else sum(ord(c) * 31**i for i, c in enumerate(seed)) % 2**31
    )


def rewrite(path: Path, change: Callable[[Dataset], None]) -> None:
    """Read a factory file, let ``change`` edit it, write it back (test data only)."""
    ds = dcmread(path)
    change(ds)
    ds.save_as(path, enforce_file_format=True)


def duplicate_slice(made: MadeSeries, index: int, name: str = "DUPLICATE") -> Path:
    """A second file at slice ``index``'s position with its own SOP Instance UID."""
    target = made.folder / name
    shutil.copyfile(made.paths[index], target)

    def new_uid(ds: Dataset) -> None:
        uid = generate_uid(entropy_srcs=["dup", str(target)])
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid

    rewrite(target, new_uid)
    return target


def tilted_series(
    folder: Path, *, tilt_deg: float = 15.0, n_slices: int = 12, **kw: object
) -> MadeSeries:
    """A gantry-tilted series: image plane rotated about x, positions straight down z."""
    t = math.radians(tilt_deg)
    orientation = (1.0, 0.0, 0.0, 0.0, math.cos(t), -math.sin(t))
    return write_series(
        folder,
        n_slices=n_slices,
        image_orientation=orientation,
        gantry_tilt_deg=tilt_deg,
        info=series_info(series_description="Tilted", series_number=7),
        seed="tilt",
        **kw,  # type: ignore[arg-type]
    )


def localizer(folder: Path, *, seed: str = "scout") -> Path:
    """One coronal scout image with (0008,0008) ImageType ORIGINAL\\PRIMARY\\LOCALIZER."""
    made = write_series(
        folder,
        n_slices=1,
        rows=64,
        cols=96,
        image_orientation=(1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
        positions_mm=((-40.0, 0.0, 40.0),),
        info=series_info(
            series_number=1,
            series_description="Topogram",
            image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
        ),
        seed=seed,
    )
    return made.paths[0]


def sagittal_reformat(folder: Path, *, n_slices: int = 12) -> MadeSeries:
    """A sagittal reformat stored as CT Image Storage (ImageType DERIVED\\SECONDARY)."""
    return write_series(
        folder,
        n_slices=n_slices,
        image_orientation=(0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
        positions_mm=tuple((-10.0 + 2.0 * k, -30.0, 40.0) for k in range(n_slices)),
        info=series_info(
            series_number=5,
            series_description="Sag MPR",
            image_type=("DERIVED", "SECONDARY", "REFORMATTED"),
        ),
        seed="sag",
    )


def mr_series(folder: Path, *, n_slices: int = 12) -> MadeSeries:
    """An MR series (MR Image Storage, no rescale)."""
    made = write_series(
        folder,
        n_slices=n_slices,
        info=series_info(modality="MR", series_number=9, series_description="T2 ax"),
        seed="mr",
    )

    def to_mr(ds: Dataset) -> None:
        ds.SOPClassUID = MRImageStorage
        ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
        ds.Modality = "MR"
        for keyword in ("RescaleIntercept", "RescaleSlope", "RescaleType", "KVP"):
            if keyword in ds:
                delattr(ds, keyword)

    for path in made.paths:
        rewrite(path, to_mr)
    return made


def secondary_capture(folder: Path) -> Path:
    """A secondary-capture screenshot: SC SOP class, 8-bit, no geometry."""
    made = write_series(folder, n_slices=1, info=series_info(series_number=99), seed="sc")

    def to_sc(ds: Dataset) -> None:
        ds.SOPClassUID = SecondaryCaptureImageStorage
        ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
        ds.ImageType = ["DERIVED", "SECONDARY"]

    rewrite(made.paths[0], to_sc)
    return made.paths[0]


def junk_files(folder: Path) -> dict[str, Path]:
    """Files a DICOM folder often also holds: text, empty, binary noise, a fake .dcm."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "text": folder / "README.txt",
        "empty": folder / "empty",
        "noise": folder / "noise.bin",
        "fake_dcm": folder / "fake.dcm",
        "ds_store": folder / ".DS_Store",
    }
    files["text"].write_text("Patient CD. Open with the viewer.\n" * 20)
    files["empty"].write_bytes(b"")
    files["noise"].write_bytes(np.random.default_rng(1).bytes(4096))
    files["fake_dcm"].write_text("this is not DICOM even though it says .dcm")
    files["ds_store"].write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(200))
    return files


def truncated_copy(source: Path, target: Path, fraction: float = 0.05) -> Path:
    """A copy of ``source`` cut after ``fraction`` of its bytes (a broken transfer)."""
    data = source.read_bytes()
    target.write_bytes(data[: max(140, int(len(data) * fraction))])
    return target


def multiframe(
    folder: Path,
    *,
    n_frames: int = 12,
    rows: int = 64,
    cols: int = 64,
    spacing_mm: float = 2.5,
    transfer_syntax: TransferSyntax = TransferSyntax.EXPLICIT_LE,
    shuffle: bool = True,
) -> tuple[npt.NDArray[np.int16], WrittenMultiframe]:
    """One Enhanced CT file; with ``shuffle`` its frames are stored out of order.

    Returns the HU volume in head-first order and the written file.
    """
    volume = phantom(n_frames, rows, cols, seed=5)
    order = np.random.default_rng(3).permutation(n_frames) if shuffle else np.arange(n_frames)
    z = [-k * spacing_mm for k in range(n_frames)]
    spec = CtSeriesSpec(
        pixel_spacing_mm=(0.8, 0.8),
        z_positions_mm=tuple(z[i] for i in order),
        origin_xy_mm=(-25.0, -30.0),
        slice_thickness_mm=spacing_mm,
        info=series_info(series_number=4, series_description="Enhanced CT"),
        transfer_syntax=transfer_syntax,
        seed="mf",
    )
    written = write_enhanced_ct(volume[order], spec, folder / "ENHANCED")
    return volume, written


def two_patients_sharing_uids(folder: Path) -> tuple[MadeSeries, MadeSeries]:
    """Two patients whose files carry the same Study and Series UIDs (anonymiser bug)."""
    shared = {
        "study_instance_uid": str(generate_uid(entropy_srcs=["shared-study"])),
        "series_instance_uid": str(generate_uid(entropy_srcs=["shared-series"])),
    }
    first = write_series(folder, info=series_info(**shared), seed="p1")
    second = write_series(
        folder,
        info=series_info(patient_name="Other^Person", patient_id="P2", **shared),
        seed="p2",
        z0_mm=-1.25,
    )
    return first, second


def strip_uids(paths: Sequence[Path], *, study: bool = True, series: bool = True) -> None:
    """Empty (0020,000D)/(0020,000E) in the files, as some exports do."""

    def empty(ds: Dataset) -> None:
        if study:
            ds.StudyInstanceUID = ""
        if series:
            ds.SeriesInstanceUID = ""

    for path in paths:
        rewrite(path, empty)


def set_sop_class(path: Path, uid: str) -> None:
    def change(ds: Dataset) -> None:
        ds.SOPClassUID = UID(uid)
        ds.file_meta.MediaStorageSOPClassUID = UID(uid)

    rewrite(path, change)


def two_kernel_series(folder: Path) -> None:
    """One scan reconstructed twice: B70f (sharp) as series 2, B40f (soft tissue) as series 3."""
    for number, kernel in ((2, "B70f"), (3, "B40f")):
        write_series(
            folder / kernel,
            n_slices=12,
            seed=kernel,
            info=series_info(
                series_number=number,
                series_description=f"Thorax {kernel}",
                manufacturer="SIEMENS",
                convolution_kernel=kernel,
            ),
        )
