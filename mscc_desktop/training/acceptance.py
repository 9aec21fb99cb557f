"""Acceptance numbers of an exported model on a labelled test folder, through the app's pipeline.

Runs exactly what ships (the verified model folder, the ONNX CPU backend, ``analyse_volume``)
on every study of a labelled folder and compares with its labels:

* canal detection AP50 over labelled slices (the pipeline's canal box and detection score;
  a slice where the pipeline found no canal is a miss);
* three-class per-image agreement (Gwet's AC1) and accuracy on graded, non-degenerative
  slices where the canal was labelled;
* high-grade per image: sensitivity and specificity at the model's threshold;
* high-grade per study: share of studies with a high-grade slice that the model flags.

The pipeline runs once with the canal threshold at 0 (every slice gets its best box, score
and probabilities, see :func:`collect_predictions`); :func:`acceptance_metrics` then applies
any :class:`~mscc_desktop.core.findings.Thresholds` exactly as the pipeline would (a slice
below ``canal_score`` has no canal and no grade). That is how :func:`choose_thresholds` picks
the decision thresholds on held-out (calibration) studies without re-running the
networks.

The numbers are what ``scripts/train_shipped_model.py`` writes into the manifest.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.findings import Thresholds, classify
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report
from mscc_desktop.evaluation.agreement import confusion_table, gwet_ac1
from mscc_desktop.training.metrics import detection_metrics
from mscc_desktop.training.study_reader import find_studies, load_study_and_volume

logger = logging.getLogger(__name__)

# The recipe's threshold rule: the most specific P(high) threshold that keeps this per-image
# high-grade sensitivity on the calibration set (an owner's choice; see
# docs/TRAINING_EXPERIMENTS.md).
DEFAULT_MIN_SENSITIVITY = 0.97


@dataclass(frozen=True, slots=True, eq=False)
class Predictions:
    """Per labelled slice: truth and the pipeline's raw answer (canal threshold 0).

    ``study`` indexes ``study_names``; ``truth_group`` is -1 where the slice is not graded,
    ``truth_box`` NaN where no canal was drawn; ``probabilities`` NaN where the pipeline
    returned no grade.
    """

    study_names: tuple[str, ...]
    study: npt.NDArray[np.int64]
    truth_box: npt.NDArray[np.float64]  # (N, 4)
    truth_group: npt.NDArray[np.int64]
    degenerative: npt.NDArray[np.bool_]
    box: npt.NDArray[np.float64]  # (N, 4), zeros where none
    score: npt.NDArray[np.float64]
    probabilities: npt.NDArray[np.float64]  # (N, 3)
    backend: str
    truth_grade: tuple[str, ...] = ()  # fine Bilsky grade per slice ("" unknown); may be empty
    slice_index: tuple[int, ...] = ()  # the label's slice index in its series; may be empty

    def __len__(self) -> int:
        return int(self.study.shape[0])

    @property
    def n_high_grade(self) -> int:
        """Slices whose truth is high grade."""
        return int((self.truth_group == GradeGroup.HIGH.position).sum())

    def calibrated(self, temperature: float) -> Predictions:
        """The same slices with their probabilities temperature-scaled (as the app's pipeline
        does with the manifest's temperature); slices without a grade stay NaN."""
        from mscc_desktop.inference.probabilities import apply_temperature

        probabilities = self.probabilities.copy()
        finite = np.isfinite(probabilities).all(axis=1)
        probabilities[finite] = apply_temperature(probabilities[finite], temperature)
        return replace(self, probabilities=probabilities)

    def of_studies(self, picks: Sequence[int]) -> Predictions:
        """The slices of the studies ``picks`` (indices into ``study_names``), in that order.

        A study picked twice appears twice, as a study-level bootstrap sample needs; its
        slices keep their original study index.
        """
        rows = np.concatenate(
            [np.flatnonzero(self.study == k) for k in picks] or [np.zeros(0, np.int64)]
        )
        return Predictions(
            study_names=self.study_names,
            study=self.study[rows],
            truth_box=self.truth_box[rows],
            truth_group=self.truth_group[rows],
            degenerative=self.degenerative[rows],
            box=self.box[rows],
            score=self.score[rows],
            probabilities=self.probabilities[rows],
            backend=self.backend,
            truth_grade=tuple(self.truth_grade[i] for i in rows) if self.truth_grade else (),
            slice_index=tuple(self.slice_index[i] for i in rows) if self.slice_index else (),
        )


def collect_predictions(
    model_dir: str | os.PathLike[str],
    folders: Sequence[Path],
    *,
    backend_choice: str = "onnx-cpu",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Predictions:
    """Run the model folder through the app's pipeline on each labelled study folder."""
    from mscc_desktop.inference.backends import create_backend, resolve_model
    from mscc_desktop.inference.pipeline import analyse_volume

    manifest = resolve_model(Path(model_dir))
    backend = create_backend(manifest, backend_choice)
    raw = Thresholds(manifest.thresholds.high, manifest.thresholds.any_mscc, canal_score=0.0)
    rows: list[tuple[Any, ...]] = []
    for position, folder in enumerate(folders):
        check_cancel(cancel)
        volume, study = load_study_and_volume(folder)
        result = analyse_volume(volume, backend, manifest, thresholds=raw, cancel=cancel)
        if result.findings is None:
            raise RuntimeError(f"{folder.name}: the pipeline refused the series")
        by_index = {s.index: s for s in result.findings.slices}
        for label in study.labels:
            sl = by_index[label.slice_index]
            rows.append(
                (
                    position,
                    label.box.as_tuple() if label.box is not None else (np.nan,) * 4,
                    label.group.position if label.group is not None else -1,
                    label.degenerative,
                    sl.box.as_tuple() if sl.box is not None else (0.0,) * 4,
                    sl.detection_score if sl.box is not None else 0.0,
                    sl.probabilities if sl.probabilities is not None else (np.nan,) * 3,
                    label.grade.value if label.grade is not None else "",
                    label.slice_index,
                )
            )
        report(progress, (position + 1) / len(folders), f"analysed {folder.name}")
    if not rows:
        raise ValueError("no labelled slices in the given studies")
    columns = list(zip(*rows, strict=True))
    return Predictions(
        study_names=tuple(f.name for f in folders),
        study=np.asarray(columns[0], np.int64),
        truth_box=np.asarray(columns[1], np.float64),
        truth_group=np.asarray(columns[2], np.int64),
        degenerative=np.asarray(columns[3], bool),
        box=np.asarray(columns[4], np.float64),
        score=np.asarray(columns[5], np.float64),
        probabilities=np.asarray(columns[6], np.float64),
        backend=f"{backend.runtime} · {backend.device}",
        truth_grade=tuple(columns[7]),
        slice_index=tuple(int(i) for i in columns[8]),
    )


def save_predictions(predictions: Predictions, path: str | os.PathLike[str]) -> Path:
    """Write ``predictions`` to an ``.npz`` file (numbers and names only, no pixels)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as handle:
        np.savez_compressed(
            handle,
            study_names=np.asarray(predictions.study_names, dtype=str),
            study=predictions.study,
            truth_box=predictions.truth_box,
            truth_group=predictions.truth_group,
            degenerative=predictions.degenerative,
            box=predictions.box,
            score=predictions.score,
            probabilities=predictions.probabilities,
            backend=np.asarray(predictions.backend),
            truth_grade=np.asarray(predictions.truth_grade, dtype=str),
            slice_index=np.asarray(predictions.slice_index, dtype=np.int64),
        )
    return target


def load_predictions(path: str | os.PathLike[str]) -> Predictions:
    """Read what :func:`save_predictions` wrote."""
    with np.load(Path(path), allow_pickle=False) as data:
        return Predictions(
            study_names=tuple(str(n) for n in data["study_names"]),
            study=data["study"].astype(np.int64),
            truth_box=data["truth_box"].astype(np.float64),
            truth_group=data["truth_group"].astype(np.int64),
            degenerative=data["degenerative"].astype(bool),
            box=data["box"].astype(np.float64),
            score=data["score"].astype(np.float64),
            probabilities=data["probabilities"].astype(np.float64),
            backend=str(data["backend"]),
            truth_grade=tuple(str(g) for g in data["truth_grade"]),
            slice_index=tuple(int(i) for i in data["slice_index"]),
        )


def called_groups(predictions: Predictions, thresholds: Thresholds) -> npt.NDArray[np.int64]:
    """The group the app would show per slice (-1: no canal found, so no grade)."""
    called = np.full(len(predictions), -1, np.int64)
    for i, (score, probs) in enumerate(
        zip(predictions.score, predictions.probabilities, strict=True)
    ):
        if score >= thresholds.canal_score and score > 0 and np.isfinite(probs).all():
            called[i] = classify(probs, thresholds).position
    return called


def acceptance_metrics(predictions: Predictions, thresholds: Thresholds) -> dict[str, Any]:
    """The acceptance numbers of ``predictions`` under ``thresholds`` (see module docstring)."""
    p = predictions
    found = p.score >= thresholds.canal_score
    has_box = ~np.isnan(p.truth_box).any(axis=1)
    detection = detection_metrics(
        np.where(found[:, None], p.box, 0.0)[has_box],
        np.where(found, p.score, 0.0)[has_box],
        p.truth_box[has_box],
    )
    called = called_groups(p, thresholds)
    graded = (p.truth_group >= 0) & ~p.degenerative & has_box
    truth = p.truth_group[graded]
    pred = np.where(called[graded] >= 0, called[graded], GradeGroup.NORMAL.position)
    table = confusion_table(truth, pred, 3)
    high = GradeGroup.HIGH.position
    is_high, called_high = truth == high, pred == high
    n_studies = len(p.study_names)
    study_truth = np.zeros(n_studies, bool)
    study_called = np.zeros(n_studies, bool)
    np.logical_or.at(study_truth, p.study[graded], truth == high)
    np.logical_or.at(study_called, p.study, called == high)
    return {
        "n_studies": n_studies,
        "n_slices_graded": len(truth),
        "canal_ap50": detection["ap50"],
        "canal_found_iou50": detection["found"],
        "canal_mean_iou": detection["mean_iou"],
        "three_class_ac1": float(gwet_ac1(table).value) if len(truth) else 0.0,
        "three_class_accuracy": float(np.mean(truth == pred)) if len(truth) else 0.0,
        "confusion_table": table.tolist(),
        "high_grade_image_sensitivity": _share(called_high[is_high]),
        "high_grade_image_specificity": _share(~called_high[~is_high]),
        "high_grade_study_sensitivity": _share(study_called[study_truth]),
        "high_grade_study_specificity": _share(~study_called[~study_truth]),
        "called_by_bilsky_grade": _called_by_grade(p, graded, called),
        "thresholds": {
            "high": thresholds.high,
            "any_mscc": thresholds.any_mscc,
            "canal_score": thresholds.canal_score,
        },
        "backend": p.backend,
    }


def _called_by_grade(
    p: Predictions, graded: npt.NDArray[np.bool_], called: npt.NDArray[np.int64]
) -> dict[str, dict[str, int]]:
    """How the graded slices of each fine Bilsky grade were called: where the three-class
    errors sit (say, 1a called normal or 1b called high), which the 3×3 table hides."""
    if len(p.truth_grade) != len(p):
        return {}
    names = {g.position: g.value for g in GradeGroup} | {-1: "canal not found"}
    table: dict[str, dict[str, int]] = {}
    for grade, group in zip(np.asarray(p.truth_grade)[graded], called[graded], strict=True):
        if grade:
            row = table.setdefault(str(grade), {})
            row[names[int(group)]] = row.get(names[int(group)], 0) + 1
    order = [names[g.position] for g in GradeGroup] + [names[-1]]
    return {
        grade: {name: row[name] for name in order if name in row}
        for grade, row in sorted(table.items())
    }


def choose_thresholds(
    predictions: Predictions,
    *,
    min_sensitivity: float = DEFAULT_MIN_SENSITIVITY,
    max_canal_score: float = 0.5,
    canal_recall_loss: float = 0.005,
    lowest_high: float = 0.05,
) -> Thresholds:
    """Decision thresholds chosen on held-out predictions (never on the test set).

    * ``canal_score``: the highest value (at most ``max_canal_score``) that loses at most
      ``canal_recall_loss`` of the canals found at score > 0 (every axial slice of a spine
      CT has a canal, so a missed canal is worse than a low-confidence one);
    * ``high``: the highest P(high) threshold whose per-image high-grade sensitivity is at
      least ``min_sensitivity`` (the most specific one that keeps the target sensitivity),
      but not below ``lowest_high`` (where the target needs less, it is not met);
    * ``any_mscc``: the value that maximises three-class Gwet's AC1 given ``high``.
    """
    p = predictions
    has_box = ~np.isnan(p.truth_box).any(axis=1)
    iou_ok = _iou(p.box, p.truth_box) >= 0.5
    hits = np.sort(p.score[has_box & iou_ok & (p.score > 0)])
    canal = max_canal_score
    if hits.size:
        allowed = int(np.floor(canal_recall_loss * hits.size))
        if hits[allowed] < max_canal_score:
            # Just below that score (rounded down), so the slice that sets it still counts.
            canal = max(float(np.floor(hits[allowed] * 1000.0) / 1000.0), 0.01)
    graded = (p.truth_group >= 0) & ~p.degenerative & has_box & (p.score >= canal)
    graded &= np.isfinite(p.probabilities).all(axis=1)
    probs, truth = p.probabilities[graded], p.truth_group[graded]
    high_class = GradeGroup.HIGH.position
    p_high = probs[:, high_class]
    positives = np.sort(p_high[truth == high_class])
    high = 0.5
    if positives.size:
        allowed = int(np.floor((1.0 - min_sensitivity) * positives.size))
        high = float(np.clip(positives[allowed] - 1e-4, lowest_high, 0.95))
    best_any, best_ac1 = 0.5, -np.inf
    for any_mscc in np.round(np.arange(0.2, 0.91, 0.05), 2):
        th = Thresholds(high, float(any_mscc), canal)
        pred = np.asarray([classify(q, th).position for q in probs], np.int64)
        ac1 = float(gwet_ac1(confusion_table(truth, pred, 3)).value) if len(truth) else 0.0
        if ac1 > best_ac1 + 1e-9:
            best_any, best_ac1 = float(any_mscc), ac1
    return Thresholds(round(high, 4), best_any, canal)


def evaluate_model_folder(
    model_dir: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    *,
    backend_choice: str = "onnx-cpu",
    thresholds: Thresholds | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, Any]:
    """Acceptance metrics of the model in ``model_dir`` on the labelled ``data_dir`` (with
    the manifest's thresholds unless ``thresholds`` is given)."""
    from mscc_desktop.inference.backends import resolve_model

    folders = find_studies(data_dir)
    predictions = collect_predictions(
        model_dir, folders, backend_choice=backend_choice, progress=progress, cancel=cancel
    )
    chosen = thresholds if thresholds is not None else resolve_model(Path(model_dir)).thresholds
    result = acceptance_metrics(predictions, chosen)
    result["test_data"] = str(data_dir)
    return result


def _iou(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    from mscc_desktop.training.metrics import box_iou

    return box_iou(a, np.nan_to_num(b))


def _share(flags: npt.NDArray[np.bool_]) -> float:
    return float(flags.mean()) if flags.size else float("nan")
