"""Labelled studies made from real, disease-free CT: epidural disease inserted over runs of
slices, written as the phantom generator writes its studies.

Input: one real axial series and its hand-checked canal boxes (Pascal VOC, the ``<path>`` of
each naming its DICOM file relative to a data root, as in ``tests/data/real_canal_boxes``).
Output: ``OUT/<study>/{dicom/, voc/, labels.csv, study.json}``, which ``mscc-desktop train``
and ``evaluate`` read like any labelled data set. Each *variant* of a series is one study:

* variant 0 is the series itself, unchanged (every boxed slice labelled normal);
* variants 1.. carry 1-3 epidural lesions (the generator's shapes, :func:`~mscc_desktop.
  synth.sampling.draw_epidural`), each over a run of slices with a severity that tapers at
  its ends, most with the bone metastasis they grow from, and some variants a bone-only
  metastasis elsewhere. The grade of each slice is the one its geometry shows.

``study.json`` records the real patient (``extra.real_patient``) so that folds can be built
by patient, the source series, every lesion and the insertion's parameters. Written pixels
are a derived, de-identified copy in a new study and series (new UIDs); the source files are
only read.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from mscc_desktop.core.dicom import load_series, scan_folder
from mscc_desktop.core.dicom.write import CtSeriesSpec, FileNaming, TransferSyntax, write_ct_series
from mscc_desktop.core.findings import Box
from mscc_desktop.core.grades import BilskyGrade, GradeGroup
from mscc_desktop.core.labels import (
    CANAL_LABEL,
    LesionRecord,
    SliceLabel,
    StudyRecord,
    VocAnnotation,
    VocObject,
    read_voc,
    write_labels_csv,
    write_study_json,
    write_voc,
)
from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report
from mscc_desktop.core.volume import SeriesInfo, Volume
from mscc_desktop.core.windows import Window
from mscc_desktop.synth.canal import EpiduralState
from mscc_desktop.synth.output import (
    DICOM_DIR,
    LABELS_FILE,
    STUDY_FILE,
    VOC_DIR,
    write_folder_atomically,
)
from mscc_desktop.synth.params import (
    GENERATOR_NAME,
    GENERATOR_VERSION,
    BoneLesionKind,
    EpiduralLesion,
)
from mscc_desktop.synth.real_fit import FittedCanal, fit_canal, structure_and_noise
from mscc_desktop.synth.real_insert import Appearance, BoneKind, BoneMet, insert_slice
from mscc_desktop.synth.sampling import draw_epidural

logger = logging.getLogger(__name__)

INSERTION_VERSION = "1.0.0"
_LOW = (BilskyGrade.G1A, BilskyGrade.G1B)
_HIGH = (BilskyGrade.G1C, BilskyGrade.G2, BilskyGrade.G3)
_GRADE_ORDER = ("0", "1a", "1b", "1c", "2", "3")


@dataclass(frozen=True, slots=True)
class RealSeries:
    """A real axial series and its canal boxes (slice index → box, display pixels)."""

    patient: str
    name: str  # unique, file-name safe: patient plus series tag
    volume: Volume
    boxes: dict[int, Box]
    source: str  # where it came from, relative to the data root
    fov_mm: float | None = None  # set for a small-field reconstruction (:func:`reframed`)

    @property
    def anatomy_key(self) -> str:
        """The same for every reconstruction of the same slices (two kernels of one scan),
        so they get the same lesions and the grades can be compared."""
        z = ",".join(f"{self.volume.z_mm[i]:.1f}" for i in sorted(self.boxes))
        return f"{self.patient}|{self.fov_mm or 0:.0f}|{z}"


@dataclass(frozen=True, slots=True)
class InsertionConfig:
    """How lesions are drawn for each diseased variant."""

    # Two to four lesions per diseased variant: about a third of its slices carry disease,
    # so the grader sees real canals with disease about as often as without.
    lesions: tuple[int, ...] = (2, 3, 4)
    lesion_weights: tuple[float, ...] = (0.35, 0.4, 0.25)
    high_share: float = 0.55  # of lesions, high grade (1c/2/3) rather than low (1a/1b)
    length_mm: tuple[float, float] = (16.0, 75.0)  # head-foot extent of a lesion
    min_slices: int = 2  # a lesion spans at least this many slices of the series
    bone_with_lesion: float = 0.7  # share of lesions shown with their bone metastasis
    bone_only: float = 0.35  # share of variants with a bone-only metastasis elsewhere
    tumour_over_muscle_hu: tuple[float, float] = (5.0, 45.0)  # over max(muscle, 35) HU
    canal_brightening: tuple[float, float] = (0.6, 1.0)  # share of the canal's own brightening
    min_contrast_hu: tuple[float, float] = (22.0, 45.0)  # above the canal's apparent density
    mottle_hu: tuple[float, float] = (3.0, 9.0)
    psf_sigma_px: tuple[float, float] = (0.4, 0.9)


@dataclass(frozen=True, slots=True)
class PlannedLesion:
    """An epidural lesion on a real series and how it looks."""

    epidural: EpiduralLesion
    with_bone: bool
    tumour_over_muscle_hu: float
    canal_brightening: float
    min_contrast_hu: float
    mottle_hu: float
    psf_sigma_px: float
    texture_seed: int


@dataclass(frozen=True, slots=True)
class BoneOnly:
    z_centre_mm: float
    half_height_mm: float
    met: BoneMet


@dataclass(frozen=True, slots=True)
class InsertedStudy:
    """A variant ready to write: HU volume and per-slice truth for the boxed slices."""

    series: RealSeries
    variant: int
    hu: npt.NDArray[np.int16]
    grades: dict[int, BilskyGrade]  # boxed, fitted slices → grade (G0 where no tumour)
    lesions: tuple[PlannedLesion, ...]
    bone_only: tuple[BoneOnly, ...]
    lesion_slices: dict[int, int] = field(default_factory=dict)  # slice → lesion index


# ----------------------------------------------------------------------------- loading


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "series"


def boxes_by_file(voc_root: str | os.PathLike[str]) -> dict[str, Box]:
    """Every canal box under ``voc_root``, keyed by its image's path relative to the data
    root (the VOC ``<path>``)."""
    boxes: dict[str, Box] = {}
    for xml in sorted(Path(voc_root).rglob("*.xml")):
        annotation = read_voc(xml)
        found = annotation.boxes(CANAL_LABEL)
        if len(found) == 1:
            relative = annotation.path or f"{annotation.folder}/{annotation.filename}"
            boxes[Path(relative).as_posix()] = found[0]
    return boxes


def real_series_in(
    folder: str | os.PathLike[str],
    data_root: str | os.PathLike[str],
    boxes: dict[str, Box],
    *,
    patient: str | None = None,
) -> list[RealSeries]:
    """Every analysable axial series under ``folder`` that has canal boxes.

    The patient is ``patient`` or else the series' (0010,0020) Patient ID, or else the name
    of ``folder``. Single-slice series (``chest_abdomen_slices``) are series of one slice; a
    series without a boxed slice is left out.
    """
    root = Path(data_root).resolve()
    scan = scan_folder(folder)
    result: list[RealSeries] = []
    for entry in scan.series:
        if not entry.analysable:
            continue
        volume = load_series(entry)
        found: dict[int, Box] = {}
        for index, path in enumerate(volume.source_files):
            relative = Path(path).resolve().relative_to(root).as_posix()
            if relative in boxes:
                found[index] = boxes[relative]
        if not found:
            continue
        first = Path(volume.source_files[0]).resolve().relative_to(root)
        description = entry.info.series_description or entry.info.series_number or "series"
        owner = patient or entry.info.patient_id or Path(folder).resolve().name
        tag = _safe(f"{owner}_{description}_{entry.key[-6:]}")
        result.append(RealSeries(owner, tag, volume, found, first.parent.as_posix()))
    return result


def reframed(series: RealSeries, fov_mm: float, rng: np.random.Generator) -> RealSeries:
    """``series`` as a small-field reconstruction of the spine: a square ``fov_mm`` wide
    around the canal (its centre a few millimetres off at random), resampled to the same
    matrix, so the canal is several times larger in the image (0.3-0.5 mm pixels).

    Bilinear resampling of the reconstructed slice stands in for reconstructing the raw
    data on a finer grid: the scanner's resolution does not change, only the sampling.
    """
    volume = series.volume
    rows, cols = volume.hu.shape[1:]
    row_mm, col_mm = volume.pixel_spacing_mm
    middle = sorted(series.boxes)[len(series.boxes) // 2]
    cx, cy = series.boxes[middle].centre
    cx += float(rng.uniform(-0.15, 0.15)) * fov_mm / col_mm
    cy += float(rng.uniform(-0.25, 0.1)) * fov_mm / row_mm  # the canal sits low in the view
    new_mm = fov_mm / cols
    out_rows, out_cols = rows, cols
    # Pixel-edge coordinates of the new grid's first edge, in old pixels.
    x0 = cx - fov_mm / col_mm / 2.0
    y0 = cy - (new_mm * out_rows) / row_mm / 2.0
    sx, sy = new_mm / col_mm, new_mm / row_mm
    rr = (np.arange(out_rows) + 0.5) * sy + y0 - 0.5
    cc = (np.arange(out_cols) + 0.5) * sx + x0 - 0.5
    grid_r, grid_c = np.meshgrid(rr, cc, indexing="ij")
    air = float(volume.hu.min())
    hu = np.empty(volume.hu.shape, np.int16)
    for index in range(volume.n_slices):
        resampled = ndimage.map_coordinates(
            volume.hu[index].astype(np.float32), [grid_r, grid_c], order=1, cval=air
        )
        hu[index] = np.clip(np.rint(resampled), -32768, 32767).astype(np.int16)
    boxes = {
        index: Box((b.x0 - x0) / sx, (b.y0 - y0) / sy, (b.x1 - x0) / sx, (b.y1 - y0) / sy)
        for index, b in series.boxes.items()
    }
    boxes = {i: b for i, b in boxes.items() if b.x0 >= 1 and b.y0 >= 1 and b.x1 <= out_cols - 1
             and b.y1 <= out_rows - 1}  # fmt: skip
    col_axis = np.asarray(volume.col_axis)
    row_axis = np.asarray(volume.row_axis)
    shift = col_axis * (x0 * col_mm + new_mm / 2 - col_mm / 2) + row_axis * (
        y0 * row_mm + new_mm / 2 - row_mm / 2
    )
    new_volume = replace(
        volume,
        hu=hu,
        positions_mm=volume.positions_mm + shift[np.newaxis, :],
        pixel_spacing_mm=(new_mm, new_mm),
        extra=dict(volume.extra),
    )
    name = f"{series.name}_fov{round(fov_mm)}"
    return RealSeries(series.patient, name, new_volume, boxes, series.source, fov_mm)


# ----------------------------------------------------------------------------- planning


def _lesion_length(series: RealSeries, config: InsertionConfig, rng: np.random.Generator) -> float:
    spacing = max(series.volume.slice_spacing_mm, 1.0)
    low, high = config.length_mm
    return max(float(rng.uniform(low, high)), config.min_slices * spacing + 2.0)


def plan_variant(
    series: RealSeries, config: InsertionConfig, rng: np.random.Generator
) -> tuple[tuple[PlannedLesion, ...], tuple[BoneOnly, ...]]:
    """Lesions (and bone-only metastases) for one diseased variant of ``series``."""
    z = series.volume.z_mm
    boxed = sorted(series.boxes)
    if not boxed:
        return (), ()
    z_boxed = np.array([z[i] for i in boxed])
    lo_all, hi_all = float(z_boxed.min()), float(z_boxed.max())
    n_lesions = int(rng.choice(config.lesions, p=np.array(config.lesion_weights)))
    taken: list[tuple[float, float]] = []
    lesions: list[PlannedLesion] = []
    for _ in range(n_lesions * 8):
        if len(lesions) == n_lesions:
            break
        length = _lesion_length(series, config, rng)
        centre = float(rng.choice(z_boxed))
        lo, hi = centre - length / 2.0, centre + length / 2.0
        if any(not (hi + 10.0 < a or lo - 10.0 > b) for a, b in taken):
            continue
        if len(boxed) > 1 and (hi < lo_all or lo > hi_all):
            continue
        taken.append((lo, hi))
        high = rng.random() < config.high_share
        grade = _HIGH[int(rng.choice(3))] if high else _LOW[int(rng.choice(2))]
        taper = float(rng.uniform(0.25, 0.45)) * length / 2.0
        epidural = draw_epidural(rng, "", centre, length / 2.0 - taper, taper, grade)
        lesions.append(
            PlannedLesion(
                epidural=epidural,
                with_bone=bool(rng.random() < config.bone_with_lesion),
                tumour_over_muscle_hu=float(rng.uniform(*config.tumour_over_muscle_hu)),
                canal_brightening=float(rng.uniform(*config.canal_brightening)),
                min_contrast_hu=float(rng.uniform(*config.min_contrast_hu)),
                mottle_hu=float(rng.uniform(*config.mottle_hu)),
                psf_sigma_px=float(rng.uniform(*config.psf_sigma_px)),
                texture_seed=int(rng.integers(2**31)),
            )
        )
    bones: list[BoneOnly] = []
    if rng.random() < config.bone_only:
        for _ in range(10):
            centre = float(rng.choice(z_boxed))
            half = float(rng.uniform(6.0, 16.0))
            if any(not (centre + half + 5.0 < a or centre - half - 5.0 > b) for a, b in taken):
                continue
            kind = [BoneKind.LYTIC, BoneKind.MIXED, BoneKind.SCLEROTIC][
                int(rng.choice(3, p=[0.5, 0.25, 0.25]))
            ]
            r = rng.random()
            direction = (
                float(rng.normal(0, 20))
                if r < 0.6
                else float(rng.choice([-1.0, 1.0]) * rng.uniform(100, 140))
                if r < 0.85
                else 180.0 + float(rng.normal(0, 10))
            )
            met = BoneMet(direction, float(rng.uniform(5.0, 11.0)), kind, 1.0,
                          float(rng.uniform(300.0, 700.0)))  # fmt: skip
            bones.append(BoneOnly(centre, half, met))
            break
    return tuple(lesions), tuple(bones)


def _state(lesion: EpiduralLesion, z_mm: float) -> EpiduralState | None:
    severity = lesion.severity(z_mm)
    if severity < 1.0:
        return None
    return EpiduralState(
        severity,
        lesion.direction_deg,
        lesion.front_curvature,
        lesion.secondary_direction_deg,
        lesion.secondary_depth_mm * min(severity, 1.0),
    )


def _bone_kind(kind: BoneLesionKind) -> BoneKind:
    return BoneKind(kind.value)


def _z_profile(z_mm: float, centre: float, half: float, taper: float = 4.0) -> float:
    d = abs(z_mm - centre) - half
    if d <= 0:
        return 1.0
    return max(0.0, 1.0 - d / taper)


def insert_variant(
    series: RealSeries,
    variant: int,
    lesions: Sequence[PlannedLesion],
    bones: Sequence[BoneOnly],
    *,
    seed: int,
    cancel: CancelToken | None = None,
) -> InsertedStudy:
    """Apply ``lesions`` and ``bones`` to every boxed slice of ``series``."""
    volume = series.volume
    hu = np.array(volume.hu, dtype=np.float32, copy=True)
    spacing = volume.pixel_spacing_mm
    thickness = volume.slice_thickness_mm or volume.slice_spacing_mm or 2.5
    offsets = (-thickness / 3.0, 0.0, thickness / 3.0)
    grades: dict[int, BilskyGrade] = {}
    lesion_slices: dict[int, int] = {}
    for index, box in sorted(series.boxes.items()):
        check_cancel(cancel)
        z = float(volume.z_mm[index])
        # Lesion geometry is the same on every variant's slice (it is the anatomy), but what
        # CT does not show (sac gap, cord) is drawn per variant and slice.
        rng = np.random.default_rng([seed, _stable(series.anatomy_key), variant, index])
        parts = structure_and_noise(volume.hu[index], spacing)
        fitted = fit_canal(volume.hu[index], box, spacing, rng, parts=parts)
        if fitted is None:
            continue
        active = [
            (k, lesion)
            for k, lesion in enumerate(lesions)
            if any(_state(lesion.epidural, z + dz) is not None for dz in offsets)
        ]
        bone = _bone_for_slice(z, lesions, bones)
        if not active and bone is None:
            grades[index] = BilskyGrade.G0
            continue
        if active:
            k, planned = max(active, key=lambda item: item[1].epidural.severity(z))
            states = [_state(planned.epidural, z + dz) for dz in offsets]
            appearance = _appearance(planned, fitted)
        else:
            k, states = -1, []
            appearance = Appearance(fitted.soft_tissue_hu + 15.0, 5.0, 0.6, int(seed + index))
        result = insert_slice(volume.hu[index], parts, fitted, states, appearance, bone=bone)
        hu[index] = result.hu
        grades[index] = result.grade or BilskyGrade.G0
        if result.grade is not None and k >= 0:
            lesion_slices[index] = k
    out = np.clip(np.rint(hu), -32768, 32767).astype(np.int16)
    return InsertedStudy(series, variant, out, grades, tuple(lesions), tuple(bones), lesion_slices)


def _appearance(planned: PlannedLesion, fitted: FittedCanal) -> Appearance:
    """The tumour's apparent HU on this slice: the slice's muscle plus the lesion's own
    enhancement, brightened with the canal (as everything inside the bony ring is), and at
    least a little above the canal's own density (a lesion that the slice shows)."""
    brightening = max(fitted.canal_hu - 8.0, 0.0) * planned.canal_brightening
    muscle = min(max(fitted.soft_tissue_hu, 35.0), 65.0)
    value = muscle + planned.tumour_over_muscle_hu + planned.epidural.hu_offset
    value = max(value + brightening, fitted.canal_hu + planned.min_contrast_hu)
    return Appearance(value, planned.mottle_hu, planned.psf_sigma_px, planned.texture_seed)


def _bone_for_slice(
    z_mm: float, lesions: Sequence[PlannedLesion], bones: Sequence[BoneOnly]
) -> BoneMet | None:
    for planned in lesions:
        lesion = planned.epidural
        if not planned.with_bone:
            continue
        weight = _z_profile(z_mm, lesion.bone.z_centre_mm, lesion.bone.half_height_mm)
        if weight > 0:
            return BoneMet(
                lesion.direction_deg,
                lesion.bone.radius_mm,
                _bone_kind(lesion.bone.kind),
                weight,
                0.6 * lesion.bone.hu,
            )
    for bone in bones:
        weight = _z_profile(z_mm, bone.z_centre_mm, bone.half_height_mm)
        if weight > 0:
            return replace(bone.met, weight=weight)
    return None


# ----------------------------------------------------------------------------- writing


def _spec(study: InsertedStudy, number: str) -> CtSeriesSpec:
    volume = study.series.volume
    info = volume.info
    series_info = SeriesInfo(
        patient_name=f"REALINS^{_safe(study.series.patient)}",
        patient_id=f"REALINS-{_safe(study.series.patient)}",
        patient_sex=info.patient_sex,
        study_id=number[-16:],
        study_description="REAL CT WITH INSERTED EPIDURAL DISEASE (DERIVED, NOT FOR DIAGNOSIS)",
        series_number=2,
        series_description=f"{info.series_description or 'AXIAL'} + inserted v{study.variant}"[:64],
        modality="CT",
        manufacturer=info.manufacturer,
        manufacturer_model=info.manufacturer_model,
        institution_name="DERIVED DATA",
        kvp=info.kvp,
        convolution_kernel=info.convolution_kernel,
        contrast_agent=info.contrast_agent,
        body_part=info.body_part or "CHEST",
    )
    return CtSeriesSpec(
        pixel_spacing_mm=volume.pixel_spacing_mm,
        z_positions_mm=tuple(float(p[2]) for p in volume.positions_mm),
        origin_xy_mm=(float(volume.positions_mm[0][0]), float(volume.positions_mm[0][1])),
        slice_thickness_mm=volume.slice_thickness_mm or volume.slice_spacing_mm or 2.5,
        info=series_info,
        positions_mm=tuple((float(p[0]), float(p[1]), float(p[2])) for p in volume.positions_mm),
        rescale_intercept=-1024.0,
        rescale_slope=1.0,
        window=Window(400.0, 40.0, "Soft tissue"),
        transfer_syntax=TransferSyntax.EXPLICIT_LE,
        naming=FileNaming.SEQUENTIAL,
        seed=f"realins-{study.series.name}-{study.variant}-{number}",
    )


def study_name(series: RealSeries, variant: int) -> str:
    return f"{series.name}__v{variant:02d}"


def write_inserted(
    study: InsertedStudy, out_dir: str | os.PathLike[str], *, seed: int, overwrite: bool = False
) -> Path:
    """Write ``study`` as ``out_dir/<series>__vNN`` (atomically, like the generator)."""
    target = Path(out_dir) / study_name(study.series, study.variant)
    write_folder_atomically(target, lambda staging: _write_into(study, staging, seed),
                            overwrite=overwrite)  # fmt: skip
    return target


def _write_into(study: InsertedStudy, folder: Path, seed: int) -> None:
    number = f"{_stable(f'{study.series.name}/{study.variant}/{seed}') % 10**8:08d}"
    spec = _spec(study, number)
    series = write_ct_series(study.hu, spec, folder / DICOM_DIR)
    voc_dir = folder / VOC_DIR
    voc_dir.mkdir()
    volume = study.series.volume
    rows, cols = int(study.hu.shape[1]), int(study.hu.shape[2])
    labels: list[SliceLabel] = []
    for index, (path, uid) in enumerate(zip(series.paths, series.sop_instance_uids, strict=True)):
        box = study.series.boxes.get(index)
        if box is None:
            continue
        annotation = VocAnnotation(
            filename=path.name,
            width=cols,
            height=rows,
            objects=(VocObject(CANAL_LABEL, box),),
            folder=DICOM_DIR,
            path=f"{DICOM_DIR}/{path.name}",
            verified=True,
        )
        write_voc(annotation, voc_dir / f"{path.stem}.xml")
        grade = study.grades.get(index)
        if grade is None:
            continue  # the canal could not be fitted: boxed for the detector, not graded
        labels.append(
            SliceLabel(
                sop_instance_uid=uid,
                slice_index=index,
                z_mm=round(float(volume.z_mm[index]), 3),
                vertebral_level="",
                bilsky_grade=grade,
                group=grade.group,
            )
        )
    write_labels_csv(labels, folder / LABELS_FILE)
    write_study_json(_record(study, series.study_instance_uid, series.series_instance_uid, seed),
                     folder / STUDY_FILE)  # fmt: skip


def _record(study: InsertedStudy, study_uid: str, series_uid: str, seed: int) -> StudyRecord:
    lesions: list[LesionRecord] = []
    for k, planned in enumerate(study.lesions):
        shown = sorted(i for i, j in study.lesion_slices.items() if j == k)
        grades = [study.grades[i] for i in shown]
        peak = max(grades, key=lambda g: _GRADE_ORDER.index(g.value), default=None)
        top, bottom = planned.epidural.z_range_mm
        lesions.append(
            LesionRecord(
                kind="epidural",
                level="",
                z_top_mm=round(top, 3),
                z_bottom_mm=round(bottom, 3),
                peak_grade=peak,
                slice_range=(shown[0], shown[-1]) if shown else None,
                detail={
                    "direction_deg": round(planned.epidural.direction_deg, 2),
                    "bone": planned.epidural.bone.kind.value if planned.with_bone else "none",
                    "tumour_over_muscle_hu": round(planned.tumour_over_muscle_hu, 1),
                },
            )
        )
    for bone in study.bone_only:
        lesions.append(
            LesionRecord(
                kind="bone",
                level="",
                z_top_mm=round(bone.z_centre_mm + bone.half_height_mm, 3),
                z_bottom_mm=round(bone.z_centre_mm - bone.half_height_mm, 3),
                detail={"kind": bone.met.kind.value, "direction_deg": bone.met.direction_deg},
            )
        )
    counts: dict[str, int] = {}
    for grade in study.grades.values():
        counts[grade.value] = counts.get(grade.value, 0) + 1
    return StudyRecord(
        study_id=study_name(study.series, study.variant),
        generator=f"{GENERATOR_NAME} real-CT insertion",
        generator_version=f"{GENERATOR_VERSION}+insert{INSERTION_VERSION}",
        seed=seed,
        lesions=tuple(lesions),
        extra={
            "real_patient": study.series.patient,
            "real_series": study.series.name,
            "source": study.series.source,
            "variant": study.variant,
            "small_fov_mm": study.series.fov_mm,
            # The same for every reconstruction (kernel) of the same slices.
            "anatomy": f"{_stable(study.series.anatomy_key):010d}",
            "synthetic_disease": study.variant > 0,
            "dicom": {
                "study_instance_uid": study_uid,
                "series_instance_uid": series_uid,
                "n_slices": int(study.hu.shape[0]),
                "slice_order": "as the source series (head first)",
            },
            "grade_counts": dict(sorted(counts.items())),
        },
    )


def insert_dataset(
    series_list: Sequence[RealSeries],
    out_dir: str | os.PathLike[str],
    *,
    variants: int,
    seed: int,
    config: InsertionConfig | None = None,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> list[Path]:
    """Write variant 0 (unchanged) and ``variants`` diseased variants of every series."""
    config = config or InsertionConfig()
    written: list[Path] = []
    total = len(series_list) * (variants + 1)
    done = 0
    for series in series_list:
        for variant in range(variants + 1):
            check_cancel(cancel)
            target = Path(out_dir) / study_name(series, variant)
            if target.exists() and not overwrite:
                written.append(target)
                done += 1
                continue
            rng = np.random.default_rng([seed, _stable(series.anatomy_key), variant])
            lesions, bones = plan_variant(series, config, rng) if variant > 0 else ((), ())
            study = insert_variant(series, variant, lesions, bones, seed=seed, cancel=cancel)
            written.append(write_inserted(study, out_dir, seed=seed, overwrite=overwrite))
            done += 1
            report(progress, done / total, f"{study_name(series, variant)}")
    return written


def _stable(text: str) -> int:
    """A seed from ``text`` that does not change between runs (``hash`` does)."""
    value = 0
    for ch in text.encode("utf-8"):
        value = (value * 131 + ch) % (2**31 - 1)
    return value


def describe(study_folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Counts of a written study's slices by group (for the CLI's one line per study)."""
    from mscc_desktop.core.labels import read_labels_csv

    labels = read_labels_csv(Path(study_folder) / LABELS_FILE)
    counts = {g: 0 for g in GradeGroup}
    for label in labels:
        counts[label.group] += 1
    return {"slices": len(labels), **{g.value: n for g, n in counts.items()}}
