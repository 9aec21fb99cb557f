"""Builders of series identities and analysis results for store tests (no DICOM needed).

Probabilities are random doubles (not round numbers) so that round trips are tested exactly.
Also imported by the subprocess writers in this folder, so it depends on nothing but the package.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from mscc_desktop.core.findings import (
    AnalysisResult,
    AnalysisStatus,
    Box,
    ModelProvenance,
    SliceResult,
    StudyFindings,
    Thresholds,
    classify,
    summarise,
)
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.notices import Notice, NoticeCode, Severity
from mscc_desktop.core.volume import SeriesInfo
from mscc_desktop.core.windows import WINDOW_ORDER, WindowPreset

PATIENT_NAME = "TESTPATIENT^ALICE"
PATIENT_ID = "PID-73519"

PROVENANCE = ModelProvenance(
    model_id="mscc-compact-synth",
    model_version="1.2.0",
    model_sha256="5f" * 32,
    backend="onnxruntime 1.31.1",
    device="CPU · 2 threads",
)
THRESHOLDS = Thresholds(high=0.45, any_mscc=0.55, canal_score=0.35)


def series_info(
    *,
    patient_name: str = PATIENT_NAME,
    patient_id: str = PATIENT_ID,
    study_uid: str = "1.2.826.0.1.3680043.8.498.1",
    series_uid: str = "1.2.826.0.1.3680043.8.498.1.1",
    study_date: str = "20240117",
    description: str = "CT CHEST ABDOMEN PELVIS",
) -> SeriesInfo:
    return SeriesInfo(
        patient_name=patient_name,
        patient_id=patient_id,
        patient_birth_date="19570302",
        patient_sex="F",
        study_instance_uid=study_uid,
        study_id="4471",
        study_date=study_date,
        study_time="101502",
        study_description=description,
        accession_number="ACC9001",
        institution_name="Test Hospital",
        referring_physician="REF^DOC",
        series_instance_uid=series_uid,
        series_number=3,
        series_description="AXIAL 2.0 BONE",
        modality="CT",
        manufacturer="ACME",
        manufacturer_model="Scanner 9000",
        kvp=120.0,
        convolution_kernel="B70f",
        contrast_agent="IOMEPROL",
        body_part="CHEST",
        frame_of_reference_uid="1.2.826.0.1.3680043.8.498.9",
        image_type=("ORIGINAL", "PRIMARY", "AXIAL"),
        transfer_syntaxes=("1.2.840.10008.1.2.1",),
    )


def findings(
    n_slices: int = 60,
    *,
    seed: int = 0,
    high_runs: tuple[tuple[int, int], ...] = ((12, 17),),
    low_runs: tuple[tuple[int, int], ...] = ((40, 42),),
) -> StudyFindings:
    """Per-slice results with canal-not-found slices, high- and low-grade runs; summarised."""
    rng = random.Random(seed)
    slices = []
    for index in range(n_slices):
        z_mm = 200.0 - 2.5 * index + rng.random() * 1e-3
        if index % 17 == 5:  # canal not found
            slices.append(
                SliceResult(
                    index, z_mm, f"1.2.3.{seed}.{index}", None, rng.random() * 0.3, None, None
                )
            )
            continue
        if any(a <= index <= b for a, b in high_runs):
            raw = (rng.random() * 0.1, rng.random() * 0.2, 0.7 + rng.random() * 0.3)
        elif any(a <= index <= b for a, b in low_runs):
            raw = (rng.random() * 0.2, 0.7 + rng.random() * 0.3, rng.random() * 0.1)
        else:
            raw = (0.8 + rng.random() * 0.2, rng.random() * 0.1, rng.random() * 0.05)
        total = sum(raw)
        probabilities = (raw[0] / total, raw[1] / total, raw[2] / total)
        x0, y0 = 200.0 + rng.random() * 10, 280.0 + rng.random() * 10
        windows: tuple[WindowPreset, ...] = WINDOW_ORDER if index % 3 else WINDOW_ORDER[:2]
        slices.append(
            SliceResult(
                index=index,
                z_mm=z_mm,
                sop_instance_uid=f"1.2.3.{seed}.{index}",
                box=Box(x0, y0, x0 + 40.123, y0 + 35.5),
                detection_score=0.5 + rng.random() * 0.5,
                probabilities=probabilities,
                group=classify(probabilities, THRESHOLDS),
                windows_used=windows,
            )
        )
    return summarise(slices)


def result(
    info: SeriesInfo | None = None,
    *,
    n_slices: int = 60,
    seed: int = 0,
    status: AnalysisStatus = AnalysisStatus.COMPLETE,
    high: bool = True,
) -> AnalysisResult:
    series = info or series_info()
    started = datetime(2024, 1, 17, 11, 0, 0, 123456, tzinfo=UTC) + timedelta(minutes=seed)
    found = findings(n_slices, seed=seed, high_runs=((12, 17),) if high else ())
    return AnalysisResult(
        series_instance_uid=series.series_instance_uid,
        findings=None if status is AnalysisStatus.REFUSED else found,
        provenance=PROVENANCE,
        thresholds=THRESHOLDS,
        notices=(
            Notice(NoticeCode.THICK_SLICES, "Slices are 6.0 mm thick (paper: at most 5 mm)."),
            Notice(NoticeCode.NO_CONTRAST, "No IV contrast recorded.", Severity.INFO),
        ),
        started_at=started,
        finished_at=started + timedelta(seconds=7.25),
        status=status,
    )


def with_model(analysis: AnalysisResult, *, sha256: str) -> AnalysisResult:
    return replace(analysis, provenance=replace(analysis.provenance, model_sha256=sha256))


def group_counts(found: StudyFindings) -> dict[GradeGroup, int]:
    return {g: sum(s.group is g for s in found.slices) for g in GradeGroup}
