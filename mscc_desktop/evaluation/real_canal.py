"""Does a model find the spinal canal on real CT? A check against hand-drawn canal boxes.

The shipped models are trained on synthetic phantoms only; this check runs them on real CT
slices whose canal a person outlined (LabelImg Pascal VOC files, one per slice, as in
``tests/data/real_canal_boxes``) and reports, per slice, the IoU of the model's canal box with
the hand-drawn one and the grade the model gave. None of the shared real slices shows epidural
disease, so every high-grade call on them is a false positive.

Each slice is analysed on its own (a one-slice series) through the app's pipeline: exactly what
the workstation does, input checks and all.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mscc_desktop.core.dicom import load_series, pick_series, scan_folder
from mscc_desktop.core.errors import EvaluationInputError
from mscc_desktop.core.findings import Box, Thresholds
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.labels import read_voc
from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report
from mscc_desktop.core.volume import Volume
from mscc_desktop.core.windows import window_stack
from mscc_desktop.inference.backends.base import FloatArray, InferenceBackend
from mscc_desktop.inference.manifest import ModelManifest
from mscc_desktop.inference.model_settings import ModelSettings
from mscc_desktop.inference.pipeline import analyse_volume
from mscc_desktop.inference.preprocess import grader_input

IOU_FOUND = 0.5


@dataclass(frozen=True, slots=True)
class LabelledSlice:
    """A real CT file and the canal box a person drew on it (display pixels)."""

    name: str  # e.g. "thorax_philips_j2k/00-slice000.dcm"
    dicom_path: Path
    box: Box


@dataclass(frozen=True, slots=True)
class CanalCheck:
    """The model's answer on one labelled slice."""

    name: str
    truth: Box
    predicted: Box | None
    detection_score: float
    iou: float
    group: GradeGroup | None
    probabilities: tuple[float, float, float] | None

    @property
    def found(self) -> bool:
        return self.iou >= IOU_FOUND


@dataclass(frozen=True, slots=True)
class CanalCheckSummary:
    n_slices: int
    n_found: int
    found_share: float
    mean_iou: float
    n_high: int
    n_low: int

    def to_dict(self) -> dict[str, float | int]:
        return {
            "n_slices": self.n_slices,
            "n_found_iou50": self.n_found,
            "found_share_iou50": self.found_share,
            "mean_iou": self.mean_iou,
            "n_graded_high": self.n_high,
            "n_graded_low": self.n_low,
        }


def load_labelled_slice(labelled: LabelledSlice) -> Volume:
    """The labelled file as a one-slice volume (HU), as the workstation would open it."""
    chosen = pick_series(scan_folder(labelled.dicom_path).series).chosen
    if chosen is None:
        raise EvaluationInputError(f"{labelled.name}: not a loadable axial CT slice")
    return load_series(chosen)


def drawn_box_crops(
    slices: Sequence[LabelledSlice],
    *,
    size: int,
    margin: float,
    mean: Sequence[float],
    std: Sequence[float],
) -> list[FloatArray]:
    """Grader input ``(1, W, size, size)`` of each labelled slice, cropped around the
    *hand-drawn* box with the pipeline's own windowing and crop: grading there leaves the
    detector's error out (the sim-to-real diagnostics of the grader use it)."""
    crops: list[FloatArray] = []
    for labelled in slices:
        windowed = window_stack(load_labelled_slice(labelled).hu[0])[None]
        crops.append(
            grader_input(
                windowed, [labelled.box], size=size, margin=margin, mean=tuple(mean), std=tuple(std)
            )
        )
    return crops


def labelled_real_slices(
    voc_root: str | os.PathLike[str], data_root: str | os.PathLike[str]
) -> list[LabelledSlice]:
    """Pair every VOC file under ``voc_root`` (searched recursively) with its DICOM file under
    ``data_root``.

    The VOC ``<path>`` (relative to the shared data folder, e.g.
    ``thorax_philips_j2k/00-slice000.dcm``; folder names may hold spaces) names the DICOM file.
    Slices come in the order of the VOC files' paths.

    Raises
    ------
    EvaluationInputError
        A VOC file names a DICOM file that is not under ``data_root`` or that another VOC file
        already names, or has no canal box.
    """
    slices: list[LabelledSlice] = []
    data = Path(data_root)
    seen: dict[str, Path] = {}
    for xml in sorted(Path(voc_root).rglob("*.xml")):
        annotation = read_voc(xml)
        relative = annotation.path or f"{annotation.folder}/{annotation.filename}"
        if relative in seen:
            raise EvaluationInputError(
                f"{xml}: its image {relative} already has a box in {seen[relative]}; keep one"
            )
        seen[relative] = xml
        dicom = data / relative
        if not dicom.is_file():
            raise EvaluationInputError(
                f"{xml}: its image {relative} is not in {data}; point the data folder at the "
                "shared real CT files (../shared/data)."
            )
        boxes = annotation.boxes()
        if len(boxes) != 1:
            raise EvaluationInputError(f"{xml}: expected one 'canal' box, found {len(boxes)}")
        slices.append(LabelledSlice(relative, dicom, boxes[0]))
    if not slices:
        raise EvaluationInputError(f"{voc_root}: no VOC files found")
    return slices


def check_canal(
    slices: Sequence[LabelledSlice],
    backend: InferenceBackend,
    model: ModelManifest | ModelSettings,
    *,
    thresholds: Thresholds | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> list[CanalCheck]:
    """Analyse each labelled slice on its own and compare the canal box with the drawn one."""
    checks: list[CanalCheck] = []
    for number, labelled in enumerate(slices):
        check_cancel(cancel)
        volume = load_labelled_slice(labelled)
        result = analyse_volume(volume, backend, model, thresholds=thresholds)
        if result.findings is None:
            reasons = "; ".join(n.message for n in result.notices)
            raise EvaluationInputError(f"{labelled.name}: the pipeline refused it ({reasons})")
        answer = result.findings.slices[0]
        iou = answer.box.iou(labelled.box) if answer.box is not None else 0.0
        checks.append(
            CanalCheck(
                labelled.name,
                labelled.box,
                answer.box,
                answer.detection_score,
                iou,
                answer.group,
                answer.probabilities,
            )
        )
        report(progress, (number + 1) / len(slices), f"checked {number + 1}/{len(slices)}")
    return checks


def summarise_checks(checks: Sequence[CanalCheck]) -> CanalCheckSummary:
    n = len(checks)
    n_found = sum(c.found for c in checks)
    return CanalCheckSummary(
        n_slices=n,
        n_found=n_found,
        found_share=n_found / n if n else 0.0,
        mean_iou=sum(c.iou for c in checks) / n if n else 0.0,
        n_high=sum(c.group is GradeGroup.HIGH for c in checks),
        n_low=sum(c.group is GradeGroup.LOW for c in checks),
    )
