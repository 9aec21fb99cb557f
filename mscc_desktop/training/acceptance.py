"""Acceptance numbers of an exported model on a labelled test folder, through the app's pipeline.

Runs exactly what ships (the verified model folder, the ONNX CPU backend, ``analyse_volume``)
on every study of a labelled folder and compares with its labels:

* canal detection AP50 over labelled slices (the pipeline's canal box and detection score;
  a slice where the pipeline found no canal is a miss);
* three-class per-image agreement (Gwet's AC1) and accuracy on graded, non-degenerative
  slices where the canal was labelled;
* high-grade per image: sensitivity and specificity at the model's threshold;
* high-grade per study: share of studies with a high-grade slice that the model flags.

The numbers are what ``scripts/train_shipped_model.py`` writes into the manifest.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report
from mscc_desktop.evaluation.agreement import confusion_table, gwet_ac1
from mscc_desktop.training.metrics import detection_metrics
from mscc_desktop.training.study_reader import find_studies, load_study_and_volume

logger = logging.getLogger(__name__)


def evaluate_model_folder(
    model_dir: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    *,
    backend_choice: str = "onnx-cpu",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, Any]:
    """Acceptance metrics of the model in ``model_dir`` on the labelled ``data_dir``."""
    from mscc_desktop.inference.backends import create_backend, resolve_model
    from mscc_desktop.inference.pipeline import analyse_volume

    manifest = resolve_model(Path(model_dir))
    backend = create_backend(manifest, backend_choice)
    folders = find_studies(data_dir)
    pred_boxes: list[Sequence[float]] = []
    scores: list[float] = []
    true_boxes: list[Sequence[float]] = []
    truth_groups: list[int] = []
    pred_groups: list[int] = []
    study_truth_high: list[bool] = []
    study_called_high: list[bool] = []
    for position, folder in enumerate(folders):
        check_cancel(cancel)
        volume, study = load_study_and_volume(folder)
        result = analyse_volume(volume, backend, manifest, cancel=cancel)
        if result.findings is None:
            raise RuntimeError(f"{folder.name}: the pipeline refused the series")
        by_index = {s.index: s for s in result.findings.slices}
        any_true_high = False
        for label in study.labels:
            sl = by_index[label.slice_index]
            if label.box is not None:
                true_boxes.append(label.box.as_tuple())
                if sl.box is not None:
                    pred_boxes.append(sl.box.as_tuple())
                    scores.append(sl.detection_score)
                else:
                    pred_boxes.append((0.0, 0.0, 0.0, 0.0))
                    scores.append(0.0)
            if label.group is None or label.degenerative:
                continue
            any_true_high |= label.group is GradeGroup.HIGH
            if label.box is not None:
                truth_groups.append(label.group.position)
                called = sl.group if sl.group is not None else GradeGroup.NORMAL
                pred_groups.append(called.position)
        study_truth_high.append(any_true_high)
        study_called_high.append(result.findings.high_grade)
        report(progress, (position + 1) / len(folders), f"evaluated {folder.name}")
    detection = detection_metrics(
        np.asarray(pred_boxes, np.float64), np.asarray(scores), np.asarray(true_boxes, np.float64)
    )
    truth = np.asarray(truth_groups, np.int64)
    pred = np.asarray(pred_groups, np.int64)
    table = confusion_table(truth, pred, 3)
    high = GradeGroup.HIGH.position
    is_high, called_high = truth == high, pred == high
    truth_s, called_s = np.asarray(study_truth_high), np.asarray(study_called_high)
    return {
        "test_data": str(data_dir),
        "n_studies": len(folders),
        "n_slices_graded": len(truth),
        "canal_ap50": detection["ap50"],
        "canal_found_iou50": detection["found"],
        "canal_mean_iou": detection["mean_iou"],
        "three_class_ac1": float(gwet_ac1(table).value),
        "three_class_accuracy": float(np.mean(truth == pred)) if len(truth) else 0.0,
        "confusion_table": table.tolist(),
        "high_grade_image_sensitivity": _share(called_high[is_high]),
        "high_grade_image_specificity": _share(~called_high[~is_high]),
        "high_grade_study_sensitivity": _share(called_s[truth_s]),
        "high_grade_study_specificity": _share(~called_s[~truth_s]),
        "backend": f"{backend.runtime} · {backend.device}",
    }


def _share(flags: np.ndarray) -> float:
    return float(flags.mean()) if flags.size else float("nan")
