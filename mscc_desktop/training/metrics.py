"""Validation metrics computed each epoch (numpy): canal detection and three-class grading.

Detection: each slice has at most one canal and the detector returns its best box, so
AP50 is the area under the precision/recall curve of those boxes ranked by score (VOC
all-points interpolation), a box counting as correct at IoU >= 0.5.

Grading: on the average-fused probabilities, as the app uses them — accuracy, balanced
accuracy, Gwet's AC1 (the paper's primary statistic, from ``mscc_desktop.evaluation``) and
high-grade sensitivity/specificity at the default threshold.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.findings import Thresholds, classify
from mscc_desktop.core.grades import GROUP_ORDER, GradeGroup
from mscc_desktop.evaluation.agreement import confusion_table, gwet_ac1

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]


def box_iou(a: FloatArray, b: FloatArray) -> npt.NDArray[np.float64]:
    """Row-wise IoU of two ``(N, 4)`` arrays of x0 y0 x1 y1 boxes (0 where undefined)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    ix = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = ix * iy
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a + area_b - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return np.nan_to_num(iou)


def detection_metrics(
    pred_boxes: FloatArray,
    scores: FloatArray,
    true_boxes: FloatArray,
    *,
    iou_threshold: float = 0.5,
) -> dict[str, float]:
    """AP at ``iou_threshold``, mean IoU and the share of canals found, for top-1 boxes.

    ``true_boxes`` rows of NaN mark slices without a canal: any box there is a false positive.
    """
    has_truth = ~np.isnan(np.asarray(true_boxes, np.float64)).any(axis=1)
    truth = np.nan_to_num(np.asarray(true_boxes, np.float64))
    scores = np.asarray(scores, np.float64)
    iou = np.where(has_truth, box_iou(pred_boxes, truth), 0.0)
    detected = scores > 0
    correct = detected & has_truth & (iou >= iou_threshold)
    n_truth = int(has_truth.sum())
    order = np.argsort(-scores, kind="stable")
    order = order[detected[order]]
    tp = np.cumsum(correct[order])
    fp = np.cumsum(~correct[order])
    if n_truth == 0 or len(order) == 0:
        ap = 0.0
    else:
        recall = tp / n_truth
        precision = tp / np.maximum(tp + fp, 1)
        # VOC all-points: precision made monotone, integrated over recall steps.
        mrec = np.concatenate([[0.0], recall, [1.0]])
        mpre = np.concatenate([[1.0], precision, [0.0]])
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]
        steps = np.where(mrec[1:] != mrec[:-1])[0]
        ap = float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))
    return {
        "ap50": ap,
        "mean_iou": float(iou[has_truth].mean()) if n_truth else 0.0,
        "found": float(correct.sum() / n_truth) if n_truth else 0.0,
        "mean_score": float(scores[has_truth].mean()) if n_truth else 0.0,
    }


def grading_metrics(
    fused: FloatArray, target: npt.NDArray[np.int64], thresholds: Thresholds | None = None
) -> dict[str, float]:
    """Three-class metrics of fused probabilities ``(N, 3)`` against class indices ``(N,)``."""
    th = thresholds if thresholds is not None else Thresholds()
    predicted = np.asarray([classify(p, th).position for p in np.asarray(fused)], np.int64)
    target = np.asarray(target, np.int64)
    n_classes = len(GROUP_ORDER)
    table = confusion_table(target, predicted, n_classes)
    recalls = [float(table[c, c] / table[c].sum()) for c in range(n_classes) if table[c].sum() > 0]
    high = GradeGroup.HIGH.position
    is_high = target == high
    called_high = predicted == high
    result = {
        "accuracy": float(np.mean(predicted == target)) if len(target) else 0.0,
        "balanced_accuracy": float(np.mean(recalls)) if recalls else 0.0,
        "ac1": float(gwet_ac1(table).value) if len(target) else 0.0,
        "high_sensitivity": float(called_high[is_high].mean()) if is_high.any() else float("nan"),
        "high_specificity": (
            float((~called_high[~is_high]).mean()) if (~is_high).any() else float("nan")
        ),
    }
    for c, group in enumerate(GROUP_ORDER):
        if table[c].sum() > 0:
            result[f"recall_{group.value}"] = float(table[c, c] / table[c].sum())
    return result
