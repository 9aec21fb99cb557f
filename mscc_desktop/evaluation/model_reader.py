"""The model as one reader: per-slice pipeline results on a labelled data folder -> readings.

This is the seam between the study pipeline and the evaluation. The caller passes a function
that analyses one study's DICOM folder and returns its per-slice results
(:class:`~mscc_desktop.core.findings.SliceResult`); this module walks the data folder
(``DATA_DIR/<study>/dicom`` beside ``DATA_DIR/<study>/labels.csv``), calls it per study and
turns the slices into :class:`~.readings.ImageReading` rows keyed by SOP Instance UID, which
:func:`~.report.evaluate_predictions` then compares with the labels.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from mscc_desktop.core.errors import EvaluationInputError
from mscc_desktop.core.findings import SliceResult
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report
from mscc_desktop.evaluation.readings import ImageReading, Readings
from mscc_desktop.evaluation.readings_io import LABELS_FILE

AnalyseStudy = Callable[[Path], Sequence[SliceResult]]
"""Analyses one study's DICOM folder; returns one result per slice."""

DICOM_FOLDER = "dicom"
_NOTHING_FOUND = (1.0, 0.0, 0.0)


def reading_from_slice(study: str, result: SliceResult) -> ImageReading:
    """One slice's model result as a reading.

    A slice where the canal was not found (no box, no probabilities) counts as normal with
    P(normal) = 1: the workstation flags nothing there, and that is what a site validates.
    """
    if result.probabilities is None or result.group is None:
        return ImageReading(study, result.sop_instance_uid, GradeGroup.NORMAL, _NOTHING_FOUND)
    p = result.probabilities
    return ImageReading(study, result.sop_instance_uid, result.group, (p[0], p[1], p[2]))


def labelled_studies(data_dir: str | os.PathLike[str]) -> list[Path]:
    """Study folders of a labelled data folder (those with a labels file), sorted by name."""
    root = Path(data_dir)
    if not root.is_dir():
        raise EvaluationInputError(f"{root}: no such folder")
    return sorted(p.parent for p in root.glob(f"*/{LABELS_FILE}") if p.is_file())


def model_readings(
    data_dir: str | os.PathLike[str],
    analyse: AnalyseStudy,
    *,
    reference: Readings | None = None,
    name: str = "model",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Readings:
    """Run ``analyse`` on every labelled study of ``data_dir`` and collect its slice grades.

    Parameters
    ----------
    data_dir
        The labelled data folder.
    analyse
        Analyses one ``<study>/dicom`` folder (the pipeline, or a fake in tests).
    reference
        When given, keep only the images the reference grades: the model grades every slice
        of a series, the labels may cover only some of them.
    name
        The reader's name in the tables.
    progress, cancel
        Progress per study; cancel is checked before each study.
    """
    studies = labelled_studies(data_dir)
    if not studies:
        raise EvaluationInputError(
            f"{data_dir}: no labelled studies found (expected <study>/{LABELS_FILE})"
        )
    wanted = None if reference is None else {r.key for r in reference.images}
    images: list[ImageReading] = []
    for number, study_dir in enumerate(studies):
        check_cancel(cancel)
        report(progress, number / len(studies), f"model on study {number + 1}/{len(studies)}")
        dicom_dir = study_dir / DICOM_FOLDER
        if not dicom_dir.is_dir():
            raise EvaluationInputError(
                f"{study_dir}: no {DICOM_FOLDER}/ folder beside {LABELS_FILE}"
            )
        for result in analyse(dicom_dir):
            reading = reading_from_slice(study_dir.name, result)
            if wanted is None or reading.key in wanted:
                images.append(reading)
    report(progress, 1.0, "model readings collected")
    return Readings(name, tuple(images), source=f"model on {data_dir}")
