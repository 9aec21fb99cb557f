"""An analysed study for report tests: a spine phantom, the fake backend and the store.

:func:`spine_phantom` draws axial slices with a body outline, lungs or abdominal organs,
the aorta, a vertebral body and arch around a CSF-filled canal with the cord, and epidural
tumour entering the canal from the front on the lesion slices (high grade compresses the
cord). :func:`analysed_study` writes it as DICOM files (the product's writer), loads them with
the product's loader, analyses them with the fake backend (given canal boxes and
probabilities) and stores analysis and review in an in-memory store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlite_utils import Database

from mscc_desktop import storage
from mscc_desktop.core.dicom import open_folder
from mscc_desktop.core.findings import AnalysisResult, Box
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.notices import Notice, NoticeCode
from mscc_desktop.core.volume import SeriesInfo, Volume
from mscc_desktop.inference.pipeline import analyse_volume
from tests.factories.dicom_factory import write_series
from tests.factories.fake_backend import FakeBackend
from tests.factories.model_settings import fake_model_settings

PATIENT = SeriesInfo(
    patient_name="Zielinska^Anna^Maria",
    patient_id="PID-884213",
    patient_birth_date="19520914",
    patient_sex="F",
    study_date="20240117",
    study_time="101502",
    study_id="S7731",
    study_description="CT CHEST ABDOMEN PELVIS STAGING",
    accession_number="ACC-5590217",
    institution_name="St Elsewhere General Hospital",
    referring_physician="House^Gregory",
    series_number=3,
    series_description="AXIAL 2.5 SOFT TISSUE",
    modality="CT",
    contrast_agent="IOMEPROL 350",
    body_part="CHEST",
)

SETTINGS = fake_model_settings(
    model_id="mscc-compact-synth",
    model_version="1.0.0",
    model_sha256="3b7f" * 16,
    detector_size=128,
)

HIGH_P = (0.03, 0.09, 0.88)
LOW_P = (0.18, 0.72, 0.10)
NORMAL_P = (0.94, 0.04, 0.02)


@dataclass(frozen=True)
class Lesion:
    first: int
    last: int
    group: GradeGroup


@dataclass(frozen=True)
class Phantom:
    hu: npt.NDArray[np.int16]
    boxes: list[Box | None]
    probabilities: list[tuple[float, float, float]]
    spacing_mm: float


def _ellipse(
    xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, rx: float, ry: float
) -> np.ndarray:
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0


def spine_slice(
    shape: tuple[int, int],
    spacing_mm: float,
    *,
    fill: float,
    thorax: bool,
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.int16], Box]:
    """One axial slice (HU) and its canal box in pixels; ``fill`` 0..1 of epidural tumour."""
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    # mm from the image centre; x towards patient left (display right), y towards posterior.
    xx = (xx - cols / 2) * spacing_mm
    yy = (yy - rows / 2) * spacing_mm
    hu = np.full(shape, -1000.0, dtype=np.float32)
    hu[_ellipse(xx, yy, 0, 5, 165, 118)] = -95.0  # subcutaneous fat
    hu[_ellipse(xx, yy, 0, 5, 152, 106)] = 35.0  # muscle and organs
    if thorax:
        hu[_ellipse(xx, yy, -72, -5, 58, 75)] = -860.0  # right lung
        hu[_ellipse(xx, yy, 72, -5, 58, 75)] = -860.0
        hu[_ellipse(xx, yy, 10, -25, 45, 40)] = 45.0  # heart
    else:
        hu[_ellipse(xx, yy, -62, -15, 68, 62)] = 62.0  # liver (patient right)
        hu[_ellipse(xx, yy, -62, 42, 24, 34)] = 150.0  # kidneys, enhancing
        hu[_ellipse(xx, yy, 62, 42, 24, 34)] = 150.0
        hu[_ellipse(xx, yy, 40, -35, 28, 22)] = -400.0  # bowel gas
    hu[_ellipse(xx, yy, 22, 22, 12, 12)] = 190.0  # aorta, arterial contrast
    hu[_ellipse(xx, yy, -40, 80, 26, 18)] = 50.0  # paraspinal muscles
    hu[_ellipse(xx, yy, 40, 80, 26, 18)] = 50.0
    # Vertebra: body (cortex + cancellous bone), arch ring around the canal, spinous process.
    hu[_ellipse(xx, yy, 0, 45, 19, 17)] = 720.0
    hu[_ellipse(xx, yy, 0, 45, 16.5, 14.5)] = 260.0
    canal_c = (0.0, 72.0)
    hu[_ellipse(xx, yy, *canal_c, 14, 13)] = 650.0
    hu[(np.abs(xx) < 3.5) & (yy > 80) & (yy < 104)] = 620.0
    canal = _ellipse(xx, yy, *canal_c, 8.5, 7.5)
    hu[canal] = 8.0  # CSF
    cord_y = canal_c[1] + 1.0 + 3.0 * fill
    cord_ry = 4.5 * (1.0 - 0.45 * fill)
    top = canal_c[1] - 7.5
    tumour = canal & (yy < top + fill * 12.0)
    hu[tumour] = 75.0  # enhancing epidural tumour from the front
    hu[_ellipse(xx, yy, 0, cord_y, 5.5, cord_ry)] = 32.0  # cord, pushed back and flattened
    hu += rng.normal(0.0, 10.0, size=shape).astype(np.float32)
    box = Box(
        cols / 2 + (canal_c[0] - 8.5) / spacing_mm,
        rows / 2 + (canal_c[1] - 7.5) / spacing_mm,
        cols / 2 + (canal_c[0] + 8.5) / spacing_mm,
        rows / 2 + (canal_c[1] + 7.5) / spacing_mm,
    )
    return np.asarray(np.rint(hu), dtype=np.int16), box


def spine_phantom(
    n_slices: int = 40,
    *,
    shape: tuple[int, int] = (192, 192),
    lesions: Sequence[Lesion] = (),
    no_canal: Sequence[int] = (),
    seed: int = 7,
) -> Phantom:
    """``n_slices`` slices (head first) with ``lesions``; ``no_canal`` slices have no box."""
    spacing = 380.0 / shape[1]
    rng = np.random.default_rng(seed)
    slices, boxes, probabilities = [], [], []
    for k in range(n_slices):
        group = next((les.group for les in lesions if les.first <= k <= les.last), None)
        fill = {GradeGroup.HIGH: 0.85, GradeGroup.LOW: 0.3}.get(group, 0.0) if group else 0.0
        image, box = spine_slice(shape, spacing, fill=fill, thorax=k < n_slices * 0.45, rng=rng)
        slices.append(image)
        base = (
            {GradeGroup.HIGH: HIGH_P, GradeGroup.LOW: LOW_P}.get(group, NORMAL_P)
            if group
            else NORMAL_P
        )
        wobble = 0.04 * np.sin(k * 1.3)
        p = (base[0], base[1] - wobble / 2, base[2] + wobble / 2)
        probabilities.append(p)
        boxes.append(None if k in no_canal else box)
    return Phantom(np.stack(slices), boxes, probabilities, spacing)


def analyse(volume: Volume, phantom: Phantom) -> AnalysisResult:
    backend = FakeBackend(
        slice_probabilities=phantom.probabilities,
        slice_boxes=phantom.boxes,
        slice_shape=(volume.hu.shape[1], volume.hu.shape[2]),
        detector_size=SETTINGS.detector_size,
        device="CPU · 2 threads",
        runtime="onnxruntime 1.31.1",
    )
    return analyse_volume(volume, backend, SETTINGS, prefetch=False)


DEFAULT_LESIONS = (
    Lesion(9, 13, GradeGroup.HIGH),
    Lesion(22, 23, GradeGroup.LOW),
    Lesion(30, 32, GradeGroup.HIGH),
)


@dataclass
class AnalysedStudy:
    """A written, loaded, analysed and stored study."""

    folder: Path
    volume: Volume
    result: AnalysisResult
    db: Database
    series: storage.SeriesRecord
    analysis_id: int
    info: SeriesInfo = field(default_factory=lambda: PATIENT)


def analysed_study(
    root: Path,
    *,
    n_slices: int = 40,
    shape: tuple[int, int] = (192, 192),
    lesions: Sequence[Lesion] = DEFAULT_LESIONS,
    info: SeriesInfo = PATIENT,
    no_canal: Sequence[int] = (3,),
    db: Database | None = None,
) -> AnalysedStudy:
    """Write, load, analyse and store a study under ``root / "dicom"`` (in ``db``, or a new
    in-memory store)."""
    phantom = spine_phantom(n_slices, shape=shape, lesions=lesions, no_canal=no_canal)
    folder = root / "dicom" / "CT_STUDY"
    write_series(
        folder,
        hu=phantom.hu,
        info=info,
        spacing_mm=5.0,
        pixel_spacing_mm=(phantom.spacing_mm, phantom.spacing_mm),
        origin_xy_mm=(-190.0, -190.0),
        z0_mm=100.0,
        seed="report-study",
    )
    volume = open_folder(folder, workers=1).volume
    result = analyse(volume, phantom)
    db = db if db is not None else storage.open_memory_store()
    series = storage.register_volume(db, volume, user="tech")
    analysis_id = storage.save_analysis(db, series, result, user="tech")
    return AnalysedStudy(folder, volume, result, db, series, analysis_id, info)


def review(study: AnalysedStudy, *, sign_off: bool = True) -> None:
    """A reader's review: levels for every finding, one regrade, one key image, sign-off."""
    db, aid = study.db, study.analysis_id
    storage.save_review(
        db,
        aid,
        1,
        decision=storage.ReviewDecision.ACCEPT,
        vertebral_level="T7",
        comment="Cord flattened; CSF effaced.",
        user="Dr Reader",
    )
    storage.save_review(
        db, aid, 2, decision=storage.ReviewDecision.ACCEPT, vertebral_level="T12", user="Dr Reader"
    )
    storage.save_review(
        db,
        aid,
        3,
        decision=storage.ReviewDecision.REGRADE,
        regraded_group=GradeGroup.LOW,
        vertebral_level="L2-L3",
        comment="Thecal sac deformed only.",
        user="Dr Reader",
    )
    storage.set_key_image(
        db, study.series.id, 5, sop_instance_uid=study.volume.sop_instance_uids[5], user="Dr Reader"
    )
    if sign_off:
        storage.set_study_review_status(
            db, study.series.study_id, storage.ReviewStatus.REVIEWED, user="Dr Reader"
        )


NOTICE = Notice(NoticeCode.GAP, "1 slice missing between z = -60.0 and -70.0 mm.")
