"""A loaded CT series: HU voxels in display orientation, geometry, identity and notices.

Conventions (every layer relies on them):

* ``hu`` is indexed ``(slice, row, col)``. Rows run anterior → posterior and columns run
  patient right → patient left (the standard radiological axial view: patient's right on the
  viewer's left). The loader flips/transposes stored pixels to get there.
* Slices are ordered **head first** (slice 0 is the most superior), the way a staging CT is
  read. ``z_mm`` is each slice's position along ``normal`` (so it decreases with the index).
* ``pixel_spacing_mm`` is (row spacing, column spacing) as in (0028,0030) Pixel Spacing,
  after any transpose.
* Directions are unit vectors in the DICOM patient system (LPS: +x left, +y posterior,
  +z superior). ``col_axis`` is the direction of increasing column index (DICOM's first
  Image Orientation triple), ``row_axis`` that of increasing row index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.notices import Notice
from mscc_desktop.core.windows import Window

Vector3 = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """Identity and description of a series. Holds patient data: never log it."""

    patient_name: str = ""
    patient_id: str = ""
    patient_birth_date: str = ""  # DICOM DA "YYYYMMDD" or ""
    patient_sex: str = ""
    study_instance_uid: str = ""
    study_id: str = ""
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    accession_number: str = ""
    institution_name: str = ""
    referring_physician: str = ""
    series_instance_uid: str = ""
    series_number: int | None = None
    series_description: str = ""
    modality: str = ""
    manufacturer: str = ""
    manufacturer_model: str = ""
    kvp: float | None = None
    convolution_kernel: str = ""
    contrast_agent: str = ""  # (0018,0010) Contrast/Bolus Agent; "" when not recorded
    body_part: str = ""
    frame_of_reference_uid: str = ""
    image_type: tuple[str, ...] = ()
    transfer_syntaxes: tuple[str, ...] = ()

    @property
    def kernel_text(self) -> str:
        """(0018,1210) Convolution Kernel as a reader writes it: ``"Br38f 3"`` for the
        multi-valued ``Br38f\\3`` (also for ``['Br38f', '3']``, as stores of older versions hold
        it)."""
        return kernel_text(self.convolution_kernel)


def kernel_text(kernel: str) -> str:
    """A multi-valued kernel name joined by spaces: ``"Br38f\\3"`` → ``"Br38f 3"``."""
    text = kernel.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1].replace("'", "").replace('"', "").replace(",", "\\")
    return " ".join(part.strip() for part in text.split("\\") if part.strip())


@dataclass(frozen=True, slots=True, eq=False)
class Volume:
    """A CT series in HU, ready to display and analyse.

    ``hu`` is ``(slice, row, col)``, int16 when every slice's rescale gives whole HU (the usual
    case, half the memory of float32), else float32. Per-slice tuples are in slice order.
    """

    hu: npt.NDArray[np.int16] | npt.NDArray[np.float32]
    z_mm: npt.NDArray[np.float64]  # (slice,) position along ``normal``
    positions_mm: npt.NDArray[np.float64]  # (slice, 3) centre of the first voxel (LPS)
    pixel_spacing_mm: tuple[float, float]  # (row, col)
    slice_spacing_mm: float  # median distance between neighbouring slices; 0 for 1 slice
    slice_thickness_mm: float | None
    col_axis: Vector3
    row_axis: Vector3
    normal: Vector3
    sop_instance_uids: tuple[str, ...]
    source_files: tuple[Path, ...]  # file each slice came from (repeats for multi-frame)
    frame_indices: tuple[int, ...]  # frame within that file (0 for single-frame)
    info: SeriesInfo
    notices: tuple[Notice, ...] = ()
    hu_available: bool = True  # False for 8-bit/unscaled images: values are not HU
    dicom_window: Window | None = None
    gantry_tilt_deg: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def n_slices(self) -> int:
        return int(self.hu.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        s = self.hu.shape
        return (int(s[0]), int(s[1]), int(s[2]))

    @property
    def nbytes(self) -> int:
        return int(self.hu.nbytes)

    def slice_hu(self, index: int) -> npt.NDArray[np.int16] | npt.NDArray[np.float32]:
        """The ``(row, col)`` HU image of one slice (a view, not a copy)."""
        image: npt.NDArray[np.int16] | npt.NDArray[np.float32] = self.hu[index]
        return image

    def z_range_mm(self) -> tuple[float, float]:
        """(lowest, highest) slice position along the normal."""
        return (float(np.min(self.z_mm)), float(np.max(self.z_mm)))


def orientation_letters(direction: Vector3) -> str:
    """Patient-direction letters a display edge points to, e.g. ``(1, 0, 0)`` → ``"L"``.

    Oblique directions give up to three letters, strongest first (``"LP"``), as on most
    workstations; components under 0.25 are ignored.
    """
    letters = (("R", "L"), ("A", "P"), ("F", "H"))
    parts: list[tuple[float, str]] = []
    for axis, value in enumerate(direction):
        if abs(value) >= 0.25:
            parts.append((abs(value), letters[axis][1] if value > 0 else letters[axis][0]))
    parts.sort(reverse=True)
    return "".join(letter for _, letter in parts) or "?"


@dataclass(frozen=True, slots=True)
class EdgeLetters:
    """Patient directions at the four edges of a displayed slice, e.g. left "R", right "L"."""

    left: str
    right: str
    top: str
    bottom: str


def edge_letters(volume: Volume) -> EdgeLetters:
    """Orientation letters of the four edges from the volume's display axes (R on the left for
    a standard axial view). The screen overlays and the exported images both use these."""
    col = volume.col_axis
    row = volume.row_axis
    return EdgeLetters(
        left=orientation_letters((-col[0], -col[1], -col[2])),
        right=orientation_letters(col),
        top=orientation_letters((-row[0], -row[1], -row[2])),
        bottom=orientation_letters(row),
    )
