"""Write generated studies to disk: DICOM series, LabelImg VOC boxes, labels.csv, study.json.

A study folder appears only when complete: it is written under a hidden temporary name
beside its destination and renamed at the end, so an interrupted run never leaves a
half-written study where a reader would take it for a finished one.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from mscc_desktop.core.dicom.write import CtSeriesSpec, FileNaming, TransferSyntax, write_ct_series
from mscc_desktop.core.labels import (
    CANAL_LABEL,
    LesionRecord,
    LevelRecord,
    SliceLabel,
    StudyRecord,
    VocAnnotation,
    VocObject,
    write_labels_csv,
    write_study_json,
    write_voc,
)
from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report, sub_progress
from mscc_desktop.core.volume import SeriesInfo
from mscc_desktop.core.windows import Window
from mscc_desktop.synth.generate import SynthStudy, generate_study
from mscc_desktop.synth.params import GENERATOR_NAME, GeneratorConfig, Phase, StudyParams
from mscc_desktop.synth.sampling import sample_study, study_seed
from mscc_desktop.synth.vertebrae import LEVEL_NAMES, SpineLayout, level_index

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

DICOM_DIR = "dicom"
VOC_DIR = "voc"
LABELS_FILE = "labels.csv"
STUDY_FILE = "study.json"
CONTRAST_AGENT = "IOHEXOL 350 IV (SYNTHETIC)"


@dataclass(frozen=True, slots=True)
class WrittenStudy:
    """Where a study went; per-slice tuples are in slice order (head first)."""

    folder: Path
    dicom_files: tuple[Path, ...]
    sop_instance_uids: tuple[str, ...]
    study_instance_uid: str
    series_instance_uid: str

    @property
    def dicom_dir(self) -> Path:
        return self.folder / DICOM_DIR

    @property
    def labels_csv(self) -> Path:
        return self.folder / LABELS_FILE

    @property
    def study_json(self) -> Path:
        return self.folder / STUDY_FILE


def series_spec(study: SynthStudy, *, transfer_syntax: TransferSyntax, number: str) -> CtSeriesSpec:
    """The DICOM encoding of ``study`` (obviously synthetic identity, seeded UIDs)."""
    params, scan = study.params, study.params.scan
    contrast = params.phase != Phase.NON_CONTRAST
    info = SeriesInfo(
        patient_name=f"SYNTH^PHANTOM^{number}",
        patient_id=f"SYNTH-{params.seed}",
        patient_sex=params.patient.sex,
        study_id=number[-16:],
        study_description="SYNTHETIC STAGING CT CHEST/ABDOMEN (PHANTOM, NOT A PATIENT)",
        series_number=2,
        series_description=f"AX {scan.slice_thickness_mm:g}MM {params.phase.value.upper()}",
        modality="CT",
        manufacturer=scan.manufacturer,
        manufacturer_model="mscc-desktop phantom",
        institution_name="SYNTHETIC DATA",
        kvp=scan.kvp,
        convolution_kernel=scan.kernel,
        contrast_agent=CONTRAST_AGENT if contrast else "",
        body_part="CHEST",
    )
    padding_value = None
    if scan.padding_hu is not None:
        padding_value = round(scan.padding_hu - scan.rescale_intercept)
    return CtSeriesSpec(
        pixel_spacing_mm=(scan.pixel_spacing_mm, scan.pixel_spacing_mm),
        z_positions_mm=study.z_positions_mm,
        origin_xy_mm=study.origin_xy_mm,
        slice_thickness_mm=scan.slice_thickness_mm,
        info=info,
        rescale_intercept=scan.rescale_intercept,
        rescale_slope=1.0,
        pixel_padding_value=padding_value,
        window=Window(400.0, 40.0, "Soft tissue"),
        transfer_syntax=transfer_syntax,
        naming=FileNaming.SEQUENTIAL,
        seed=f"synth-{params.seed}",
    )


def write_study(
    study: SynthStudy,
    folder: str | os.PathLike[str],
    *,
    transfer_syntax: TransferSyntax = TransferSyntax.EXPLICIT_LE,
    number: str | None = None,
    overwrite: bool = False,
) -> WrittenStudy:
    """Write ``study`` into ``folder`` (created atomically; see the module docstring).

    Raises
    ------
    FileExistsError
        ``folder`` exists and ``overwrite`` is false.
    """
    target = Path(folder)
    written = write_folder_atomically(
        target,
        lambda staging: _write_into(
            study, staging, transfer_syntax, number or _number(study.params)
        ),
        overwrite=overwrite,
    )
    files = tuple(target / DICOM_DIR / path.name for path in written.dicom_files)
    return WrittenStudy(
        target,
        files,
        written.sop_instance_uids,
        written.study_instance_uid,
        written.series_instance_uid,
    )


def write_folder_atomically(
    target: Path, fill: Callable[[Path], _T], *, overwrite: bool = False
) -> _T:
    """Run ``fill`` on a hidden staging folder beside ``target`` and rename it to ``target``
    when it returns, so a reader never sees a half-written study (see the module docstring).

    Raises
    ------
    FileExistsError
        ``target`` exists and ``overwrite`` is false.
    """
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; choose another folder or --overwrite")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        result = fill(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return result


def _number(params: StudyParams) -> str:
    digits = "".join(ch for ch in params.study_id if ch.isdigit())
    return digits[-4:].zfill(4) if digits else f"{params.seed % 10000:04d}"


def _write_into(
    study: SynthStudy, folder: Path, syntax: TransferSyntax, number: str
) -> WrittenStudy:
    spec = series_spec(study, transfer_syntax=syntax, number=number)
    mask = study.padding if spec.pixel_padding_value is not None else None
    series = write_ct_series(study.hu, spec, folder / DICOM_DIR, padding_mask=mask)
    voc_dir = folder / VOC_DIR
    voc_dir.mkdir()
    rows, cols = int(study.hu.shape[1]), int(study.hu.shape[2])
    labels: list[SliceLabel] = []
    for truth, path, uid in zip(study.truths, series.paths, series.sop_instance_uids, strict=True):
        annotation = VocAnnotation(
            filename=path.name,
            width=cols,
            height=rows,
            depth=1,
            objects=(VocObject(CANAL_LABEL, truth.canal_box),),
            folder=DICOM_DIR,
            path=f"{DICOM_DIR}/{path.name}",
        )
        write_voc(annotation, voc_dir / f"{path.stem}.xml")
        labels.append(
            SliceLabel(
                sop_instance_uid=uid,
                slice_index=truth.index,
                z_mm=truth.z_mm,
                vertebral_level=truth.level,
                bilsky_grade=truth.grade,
                group=truth.group,
                degenerative=truth.degenerative,
            )
        )
    write_labels_csv(labels, folder / LABELS_FILE)
    write_study_json(
        study_record(study, series.study_instance_uid, series.series_instance_uid),
        folder / STUDY_FILE,
    )
    return WrittenStudy(
        folder,
        series.paths,
        series.sop_instance_uids,
        series.study_instance_uid,
        series.series_instance_uid,
    )


def study_record(study: SynthStudy, study_uid: str = "", series_uid: str = "") -> StudyRecord:
    """The ``study.json`` content: levels, lesions with z-ranges and slices, all parameters."""
    params = study.params
    layout = SpineLayout.build(params.patient.spine_top_z_mm, params.patient.height_scale)
    z_top, z_bottom = study.z_positions_mm[0], study.z_positions_mm[-1]
    levels = tuple(
        LevelRecord(
            name, round(float(layout.body_top[i]), 3), round(float(layout.body_bottom[i]), 3)
        )
        for i, name in enumerate(LEVEL_NAMES)
        if layout.body_bottom[i] <= z_top and layout.body_top[i] >= z_bottom
    )
    lesions: list[LesionRecord] = []
    for index, lesion in enumerate(params.epidural):
        shown = [t for t in study.truths if t.epidural_lesion == index]
        peak = max((t.grade for t in shown), key=_grade_rank, default=None)
        top, bottom = lesion.z_range_mm
        lesions.append(
            LesionRecord(
                kind="epidural",
                level=lesion.level,
                z_top_mm=round(top, 3),
                z_bottom_mm=round(bottom, 3),
                peak_grade=peak,
                slice_range=(shown[0].index, shown[-1].index) if shown else None,
                detail={
                    "direction_deg": round(lesion.direction_deg, 2),
                    "bone": lesion.bone.kind.value,
                    "bone_site": lesion.bone.site.value,
                },
            )
        )
    for bone in params.bone:
        lesions.append(
            LesionRecord(
                kind="bone",
                level=bone.level,
                z_top_mm=round(bone.z_centre_mm + bone.half_height_mm, 3),
                z_bottom_mm=round(bone.z_centre_mm - bone.half_height_mm, 3),
                detail={"kind": bone.kind.value, "site": bone.site.value},
            )
        )
    for change in params.degenerative:
        shown = [
            t
            for t in study.truths
            if t.degenerative and abs(t.z_mm - change.z_centre_mm) <= change.half_height_mm
        ]
        lesions.append(
            LesionRecord(
                kind="degenerative",
                level=f"{change.level}/{LEVEL_NAMES[level_index(change.level) + 1]}",
                z_top_mm=round(change.z_centre_mm + change.half_height_mm, 3),
                z_bottom_mm=round(change.z_centre_mm - change.half_height_mm, 3),
                slice_range=(shown[0].index, shown[-1].index) if shown else None,
                detail={"kind": change.kind.value},
            )
        )
    counts: dict[str, int] = {}
    for truth in study.truths:
        counts[truth.grade.value] = counts.get(truth.grade.value, 0) + 1
    return StudyRecord(
        study_id=params.study_id,
        generator=GENERATOR_NAME,
        generator_version=params.generator_version,
        seed=params.seed,
        levels=levels,
        lesions=tuple(lesions),
        parameters=params.to_dict(),
        extra={
            "dicom": {
                "study_instance_uid": study_uid,
                "series_instance_uid": series_uid,
                "n_slices": len(study.truths),
                "slice_order": "head first (slice_index 0 is the most superior)",
            },
            "grade_counts": dict(sorted(counts.items())),
            "degenerative_slices": sum(1 for t in study.truths if t.degenerative),
        },
    )


def _grade_rank(grade: object) -> int:
    order = ("0", "1a", "1b", "1c", "2", "3")
    return order.index(str(getattr(grade, "value", grade)))


def generate_dataset(
    out_dir: str | os.PathLike[str],
    n_studies: int,
    seed: int,
    config: GeneratorConfig | None = None,
    *,
    start: int = 0,
    prefix: str = "synth_",
    transfer_syntax: TransferSyntax = TransferSyntax.EXPLICIT_LE,
    overwrite: bool = False,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> tuple[Path, ...]:
    """Generate ``n_studies`` studies into ``out_dir/<prefix><index>/``.

    ``workers`` is passed to :func:`~mscc_desktop.synth.generate.generate_study` (``None``:
    its default, 1 renders in this process).

    Study ``i`` is seeded with :func:`~mscc_desktop.synth.sampling.study_seed` ``(seed, i)``,
    so any study can be regenerated alone. Complete studies already present are kept
    (a re-run resumes) unless ``overwrite``.
    """
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    config = config or GeneratorConfig()
    folders: list[Path] = []
    for k, index in enumerate(range(start, start + n_studies)):
        check_cancel(cancel)
        name = f"{prefix}{index:04d}"
        folder = root / name
        part = sub_progress(progress, k / n_studies, (k + 1) / n_studies)
        if (folder / STUDY_FILE).is_file() and not overwrite:
            logger.info("%s exists, kept", name)
            folders.append(folder)
            continue
        params = sample_study(study_seed(seed, index), config, study_id=name)
        chosen = config.rendered_indices(params.scan.n_slices)
        study = generate_study(
            params,
            slices=None if len(chosen) == params.scan.n_slices else list(chosen),
            workers=workers,
            progress=sub_progress(part, 0.0, 0.9),
            cancel=cancel,
        )
        write_study(
            study, folder, transfer_syntax=transfer_syntax, number=f"{index:04d}", overwrite=True
        )
        report(part, 1.0, f"study {k + 1} of {n_studies} written")
        folders.append(folder)
    return tuple(folders)
