"""The demo study the app opens on first start: generated once into the user data folder."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from pathlib import Path

import numpy as np

from mscc_desktop.core.grades import BilskyGrade
from mscc_desktop.core.labels import LabelFileError, read_study_json
from mscc_desktop.core.tasks import CancelToken, ProgressFn, report, sub_progress
from mscc_desktop.synth.generate import generate_study
from mscc_desktop.synth.output import DICOM_DIR, STUDY_FILE, write_study
from mscc_desktop.synth.params import (
    GENERATOR_VERSION,
    BoneLesion,
    BoneLesionKind,
    BoneSite,
    DegenerativeChange,
    DegenerativeKind,
    EpiduralLesion,
    GeneratorConfig,
    Phase,
    StudyParams,
    severity_for,
)
from mscc_desktop.synth.sampling import sample_patient, sample_scan, sample_tissues
from mscc_desktop.synth.vertebrae import SpineLayout, level_index

logger = logging.getLogger(__name__)

DEMO_FOLDER = "demo"


def demo_folder(data_dir: str | os.PathLike[str]) -> Path:
    """Where the demo study lives (``data_dir/demo``)."""
    return Path(data_dir) / DEMO_FOLDER


def demo_is_current(data_dir: str | os.PathLike[str]) -> bool:
    """True when a complete demo of this generator version is already there."""
    folder = demo_folder(data_dir)
    try:
        record = read_study_json(folder / STUDY_FILE)
    except LabelFileError:
        return False
    return record.generator_version == GENERATOR_VERSION and (folder / DICOM_DIR).is_dir()


def ensure_demo_study(
    data_dir: str | os.PathLike[str],
    *,
    matrix: int = 512,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """Generate the demo study once (about 120 slices at 3 mm, 512²); return its DICOM folder.

    Idempotent: a complete demo from this generator version is reused. A half-written
    earlier attempt is never mistaken for a complete one: the study is written under a
    temporary name and renamed when finished, and an outdated demo is replaced.
    The demo shows every Bilsky grade (0, 1a, 1b, 1c, 2, 3 at different levels) and two
    degenerative mimics; see :func:`mscc_desktop.synth.sampling.demo_study`.
    """
    folder = demo_folder(data_dir)
    if demo_is_current(data_dir):
        report(progress, 1.0, "demo study ready")
        return folder / DICOM_DIR
    folder.parent.mkdir(parents=True, exist_ok=True)
    for stale in folder.parent.glob(f".{DEMO_FOLDER}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by an interrupted earlier attempt
    if folder.exists():
        logger.info("replacing an incomplete or outdated demo study")
        shutil.rmtree(folder)
    report(progress, 0.0, "generating the demo study")
    study = generate_study(
        demo_study(matrix=matrix), progress=sub_progress(progress, 0.0, 0.9), cancel=cancel
    )
    try:
        write_study(study, folder, number="0000")
    except FileExistsError:
        # Another process finished the demo first; use it if it is complete.
        if not demo_is_current(data_dir):
            raise
    report(progress, 1.0, "demo study ready")
    return folder / DICOM_DIR


def demo_study(seed: int = 20240601, *, matrix: int = 512) -> StudyParams:
    """The bundled demo: one study that shows every grade, bone-only disease and a mimic.

    120 slices at 3 mm from the top of C7 (about C7 to L1), portal-venous phase, arms up.
    Epidural sites: T2 (1a, dorsolateral), T4 (1b), T6 (1c), T8 (2), T11 (3); bone-only
    metastases at T10 (sclerotic) and L1 (lytic); degenerative narrowing at C7/T1
    (disc-osteophyte) and T9/T10 (ossified ligamentum flavum).
    """
    config = GeneratorConfig(
        matrix=matrix, slice_spacing_mm=3.0, max_slices=120, phase_weights=(1.0, 0.0, 0.0)
    )
    rng = np.random.default_rng([seed, 0])
    patient = dataclasses.replace(
        sample_patient(rng),
        arms_up=True,
        rotation_deg=1.5,
        size=1.0,
        fat_mm=14.0,
        scoliosis_mm=1.0,
        skin_markers=0,
        sex="M",
        breast_mm=0.0,
        canal_scale=1.0,
        cord_scale=1.0,
        conus_tip_shift=0.0,
        vacuum_disc_levels=(),
    )
    layout = SpineLayout.build(patient.spine_top_z_mm, patient.height_scale)
    top = float(layout.body_top[level_index("C7")]) + 2.0
    scan = dataclasses.replace(
        sample_scan(config, patient, layout, rng),
        z_first_mm=round(top, 3),
        n_slices=120,
        slice_thickness_mm=3.0,
        noise_sd_hu=11.0,
        padding_hu=-3024.0,
        rescale_intercept=-1024.0,
        sharpness=0.45,
        overshoot=0.1,
        noise_streakiness=0.1,
        streak_hu=20.0,
    )
    tissues = sample_tissues(Phase.PORTAL_VENOUS, rng)

    def site(
        level: str,
        grade: BilskyGrade,
        direction: float,
        fraction: float = 0.6,
        site: BoneSite = BoneSite.BODY_POSTERIOR,
        paravertebral: float = 0.0,
    ) -> EpiduralLesion:
        index = level_index(level)
        centre = layout.centre(index)
        bone = BoneLesion(level, centre, 9.0, site, BoneLesionKind.LYTIC, 7.5, 800.0)
        return EpiduralLesion(
            level,
            centre,
            4.0,
            9.0,
            severity_for(grade, fraction),
            direction,
            0.04,
            bone,
            paravertebral_mm=paravertebral,
        )

    epidural = (
        site("T2", BilskyGrade.G1A, 140.0, 0.7, BoneSite.PEDICLE_LEFT),
        site("T4", BilskyGrade.G1B, -35.0),
        site("T6", BilskyGrade.G1C, 20.0),
        site("T8", BilskyGrade.G2, 0.0, paravertebral=16.0),
        site("T11", BilskyGrade.G3, -15.0, 0.5, paravertebral=20.0),
    )
    bone = (
        BoneLesion(
            "T10",
            layout.centre(level_index("T10")),
            8.0,
            BoneSite.BODY,
            BoneLesionKind.SCLEROTIC,
            9.0,
            900.0,
        ),
        BoneLesion(
            "L1",
            layout.centre(level_index("L1")),
            8.0,
            BoneSite.BODY,
            BoneLesionKind.LYTIC,
            10.0,
            800.0,
        ),
    )

    def disc(level: str) -> float:
        index = level_index(level)
        return float(0.5 * (layout.body_bottom[index] + layout.body_top[index + 1]))

    degenerative = (
        DegenerativeChange("C7", disc("C7"), 5.0, DegenerativeKind.DISC_OSTEOPHYTE, 2.8, 70.0, 0.0),
        DegenerativeChange(
            "T9", disc("T9"), 6.0, DegenerativeKind.OSSIFIED_LIGAMENTUM_FLAVUM, 3.0, 80.0, 180.0
        ),
    )
    return StudyParams(
        study_id="demo",
        seed=seed,
        first_level="C7",
        last_level="L1",
        phase=Phase.PORTAL_VENOUS,
        scan=scan,
        patient=patient,
        tissues=tissues,
        epidural=epidural,
        bone=bone,
        degenerative=degenerative,
        notes=("demo study: every Bilsky grade, bone-only disease and two degenerative mimics",),
    )
