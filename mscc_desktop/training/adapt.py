"""Adapt a model to a site from the site's own reviewed studies, with guard rails.

``mscc-desktop adapt --base MODEL --data DIR --out FOLDER`` (``DIR`` written by
``mscc-desktop dataset export --reviewed``):

1. The site's studies are split **by patient** (the dataset's pseudonymous patient keys):
   about a third of the patients, at least one with a high-grade slice where there is one,
   are held out; the rest adapt the model.
2. The depth follows the amount of data (:func:`plan_depth`): the base model's
   probabilities fit a new **temperature** (negative log-likelihood, as the shipped recipe
   does) and the **operating point** is chosen again by the recipe's rule (the most specific
   P(high) cut-off that keeps the per-image high-grade sensitivity); with many patients the
   grader's **prototypes and window-BN statistics** are re-estimated on the site's slices,
   and with many more its **last stage** is fine-tuned (:mod:`.adapt_grader`). The deeper
   steps need the base folder's trainable grader weights (``export --trainable-weights``);
   their temperature and operating point are then fitted on adaptation patients whose
   slices the weights did not see.
3. **Guard rails.** Base and adapted model are compared on the held-out patients with the
   paper's statistics (per-image high-grade sensitivity and specificity with exact 95 % CIs,
   AUC with DeLong's CI, three-class Gwet's AC1 with its CI). The adapted model is offered
   only when it is not worse: sensitivity, specificity and AC1 each at least the base's
   lower confidence bound. The numbers are kept either way.
4. The new folder has its own id, version and provenance (base model and checksum, data
   counts by group, patients, date, user, depth, the comparison) in its manifest.
"""

from __future__ import annotations

import getpass
import logging
import os
import random
import shutil
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from mscc_desktop.core.errors import MsccError
from mscc_desktop.core.findings import Thresholds
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.labels import dataset_patients, read_labels_csv
from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report, sub_progress
from mscc_desktop.evaluation.accuracy import clopper_pearson
from mscc_desktop.evaluation.agreement import confusion_table, gwet_ac1
from mscc_desktop.evaluation.auc import delong_auc
from mscc_desktop.evaluation.calibration import TemperatureFit, fit_temperature
from mscc_desktop.training.acceptance import (
    Predictions,
    called_groups,
    choose_thresholds,
    collect_predictions,
)
from mscc_desktop.training.grader_weights import GRADER_WEIGHTS_FILE
from mscc_desktop.training.study_reader import find_studies

logger = logging.getLogger(__name__)

MIN_SENSITIVITY = 0.95  # the shipped recipe's operating-point rule (training README)


class AdaptDepth(StrEnum):
    CALIBRATE = "calibrate"  # temperature and thresholds
    PROTOTYPES_BN = "prototypes_bn"  # + the prototypes and window-BN statistics
    FINE_TUNE = "fine_tune"  # + the last stages


@dataclass(frozen=True, slots=True)
class AdaptPlan:
    wanted: AdaptDepth  # what the amount of data calls for (or the user asked for)
    performed: AdaptDepth  # what this run does
    note: str


def plan_depth(
    n_studies: int,
    n_patients: int,
    n_high_patients: int,
    *,
    has_weights: bool,
    requested: AdaptDepth | None = None,
) -> AdaptPlan:
    """The depth the adaptation data call for, and what can be done.

    A few patients recalibrate (temperature and operating point). From 30 patients, 10 of them
    with high grade, the prototypes and window-BN statistics are re-estimated; from 150
    patients, 40 with high grade, the last stage is fine-tuned too. Why so many: on real-CT
    sites of 4 patients (60 studies; ``scripts/site_simulation.py --protocol``) the deeper
    steps lowered the held-out AUC while recalibration raised specificity and AC1; a site
    needs many patients before re-fitted weights generalise to its next one. ``requested``
    replaces the rule (``adapt --depth``; the guard rails still judge the result). The deeper
    steps need the base's trainable grader weights; without them the model is recalibrated
    and the note says what the data would have allowed.
    """
    if requested is not None:
        wanted = requested
    elif n_patients >= 150 and n_high_patients >= 40:
        wanted = AdaptDepth.FINE_TUNE
    elif n_patients >= 30 and n_high_patients >= 10:
        wanted = AdaptDepth.PROTOTYPES_BN
    else:
        wanted = AdaptDepth.CALIBRATE
    if wanted is AdaptDepth.CALIBRATE or has_weights:
        return AdaptPlan(wanted, wanted, "")
    note = (
        f"{n_studies} studies of {n_patients} patients ({n_high_patients} with high grade) "
        f"would support '{wanted.value}', which needs the model's trainable grader weights; "
        "this model has none (export it with --trainable-weights), so it was recalibrated "
        "(temperature and operating point)."
    )
    return AdaptPlan(wanted, AdaptDepth.CALIBRATE, note)


class AdaptError(MsccError):
    """The site data cannot adapt the model (too few studies, no held-out patient...)."""


@dataclass(frozen=True, slots=True)
class Figures:
    """One model's held-out statistics (each with its 95 % interval)."""

    sensitivity: tuple[float, float, float]  # value, low, high
    specificity: tuple[float, float, float]
    auc: tuple[float, float, float]
    ac1: tuple[float, float, float]
    n_slices: int
    n_high: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "high_grade_image_sensitivity": list(self.sensitivity),
            "high_grade_image_specificity": list(self.specificity),
            "high_grade_auc": list(self.auc),
            "three_class_ac1": list(self.ac1),
            "n_slices": self.n_slices,
            "n_high_slices": self.n_high,
        }


@dataclass(frozen=True, slots=True)
class AdaptReport:
    folder: Path
    model_id: str
    plan: AdaptPlan
    temperature: float
    thresholds: Thresholds
    base: Figures
    adapted: Figures
    offered: bool
    reasons: tuple[str, ...]  # why it is not offered ("" list when it is)
    n_adapt_patients: int
    n_held_out_patients: int
    slices_by_group: dict[str, int]
    # What the figures were computed from (for pooling several splits in a benchmark).
    held_out_base: Predictions | None = None
    held_out_adapted: Predictions | None = None
    base_calibration: tuple[float, Thresholds] | None = None


def held_out_figures(
    predictions: Predictions, temperature: float, thresholds: Thresholds
) -> Figures:
    """The guard-rail statistics of ``predictions`` scaled by ``temperature``."""
    return pooled_figures([(predictions, temperature, thresholds)])


def pooled_figures(parts: Sequence[tuple[Predictions, float, Thresholds]]) -> Figures:
    """The guard-rail statistics over several prediction sets, each called with its own
    temperature and thresholds (e.g. every patient held out once, by its own adapted model)."""
    truths, preds, p_highs = [], [], []
    high = GradeGroup.HIGH.position
    for predictions, temperature, thresholds in parts:
        p = predictions.calibrated(temperature)
        graded = (p.truth_group >= 0) & ~p.degenerative
        called = called_groups(p, thresholds)[graded]
        truths.append(p.truth_group[graded])
        preds.append(np.where(called >= 0, called, GradeGroup.NORMAL.position))
        p_highs.append(np.nan_to_num(p.probabilities[graded][:, high], nan=0.0))
    truth, pred, p_high = np.concatenate(truths), np.concatenate(preds), np.concatenate(p_highs)
    is_high, called_high = truth == high, pred == high
    sens = clopper_pearson(int((called_high & is_high).sum()), int(is_high.sum()))
    spec = clopper_pearson(int((~called_high & ~is_high).sum()), int((~is_high).sum()))
    auc = delong_auc(is_high, p_high)
    ac1 = gwet_ac1(confusion_table(truth, pred, 3))
    return Figures(
        (sens.value, sens.ci_low, sens.ci_high),
        (spec.value, spec.ci_low, spec.ci_high),
        (auc.value, auc.ci_low, auc.ci_high),
        (ac1.value, ac1.ci_low, ac1.ci_high),
        int(truth.size),
        int(is_high.sum()),
    )


def not_worse(base: Figures, adapted: Figures) -> tuple[str, ...]:
    """Why ``adapted`` is worse than ``base`` (empty when it is not)."""
    reasons = []
    for name, ours, theirs in (
        ("per-image high-grade sensitivity", adapted.sensitivity, base.sensitivity),
        ("per-image high-grade specificity", adapted.specificity, base.specificity),
        ("three-class AC1", adapted.ac1, base.ac1),
    ):
        if np.isfinite(theirs[1]) and (not np.isfinite(ours[0]) or ours[0] < theirs[1]):
            reasons.append(
                f"{name} {ours[0]:.3f} is below the base model's 95 % interval "
                f"({theirs[1]:.3f}-{theirs[2]:.3f})"
            )
    return tuple(reasons)


def split_by_patient(
    folders: Sequence[Path], patient_of: dict[str, str], has_high: dict[str, bool], *, seed: int
) -> tuple[list[Path], list[Path]]:
    """(adapt, held out): about a third of the patients held out, at least one, and at least
    one patient with high grade on each side where two or more have it."""
    patients = sorted({patient_of.get(f.name, f.name) for f in folders})
    if len(patients) < 2:
        raise AdaptError(
            "Adaptation needs reviewed studies of at least 2 patients (one is held out to "
            f"check the result); the data hold {len(patients)}."
        )
    rng = random.Random(seed)
    high = [
        p
        for p in patients
        if any(has_high[f.name] for f in folders if patient_of.get(f.name, f.name) == p)
    ]
    other = [p for p in patients if p not in high]
    rng.shuffle(high)
    rng.shuffle(other)
    n_out = max(1, round(len(patients) / 3))
    held: list[str] = []
    if len(high) >= 2:
        held.append(high.pop())
    for pool in (other, high):
        while len(held) < n_out and pool:
            held.append(pool.pop())
    if len(held) == len(patients):  # keep at least one patient to adapt on
        held.pop()
    out = [f for f in folders if patient_of.get(f.name, f.name) in held]
    kept = [f for f in folders if patient_of.get(f.name, f.name) not in held]
    return kept, out


def calibration_on(predictions: Predictions) -> tuple[TemperatureFit, Thresholds]:
    """Temperature (negative log-likelihood) and the recipe's operating point on ``predictions``."""
    graded = (predictions.truth_group >= 0) & np.isfinite(predictions.probabilities).all(axis=1)
    if not graded.any():
        raise AdaptError("The adaptation studies have no slice the model could grade.")
    fit = fit_temperature(predictions.probabilities[graded], predictions.truth_group[graded])
    thresholds = choose_thresholds(
        predictions.calibrated(fit.temperature), min_sensitivity=MIN_SENSITIVITY, lowest_high=0.0
    )
    return fit, thresholds


def _patients(folders: Sequence[Path], patient_of: dict[str, str]) -> set[str]:
    return {patient_of.get(f.name, f.name) for f in folders}


def adapt_model(
    base_dir: Path,
    data_dir: Path,
    out_dir: Path,
    *,
    model_id: str | None = None,
    user: str = "",
    seed: int = 0,
    depth: AdaptDepth | None = None,
    held_out_patients: Collection[str] | None = None,
    backend_choice: str = "onnx-cpu",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> AdaptReport:
    """Adapt the model in ``base_dir`` to the site data in ``data_dir``; write ``out_dir``.

    ``depth`` replaces the data-size rule of :func:`plan_depth` (the guard rails still judge).
    ``held_out_patients`` (the dataset's patient keys) replaces the seeded split: a benchmark
    then holds every patient out in turn.
    """
    from mscc_desktop.inference.backends import resolve_model
    from mscc_desktop.inference.model_folder import load_model_folder, write_model_folder

    base = resolve_model(Path(base_dir))
    assert base.folder is not None
    folders = find_studies(data_dir)
    if not folders:
        raise AdaptError(f"{data_dir} holds no labelled study (export one with 'dataset export').")
    final = Path(out_dir)
    if final.exists():
        raise AdaptError(f"{final} exists already; choose a new folder for the adapted model.")
    patients = dataset_patients(data_dir)
    groups = {f.name: [row.group for row in read_labels_csv(f / "labels.csv")] for f in folders}
    high = {name: GradeGroup.HIGH in labelled for name, labelled in groups.items()}
    if held_out_patients is not None:
        chosen = set(held_out_patients)
        held_out = [f for f in folders if patients.get(f.name, f.name) in chosen]
        adapt_folders = [f for f in folders if patients.get(f.name, f.name) not in chosen]
        if not held_out or not adapt_folders:
            raise AdaptError("The held-out patients must leave studies on both sides.")
    else:
        adapt_folders, held_out = split_by_patient(folders, patients, high, seed=seed)
    n_adapt_patients = len(_patients(adapt_folders, patients))
    n_high_patients = len(_patients([f for f in adapt_folders if high[f.name]], patients))
    names = [f.name for f in base.files]
    plan = plan_depth(
        len(adapt_folders), n_adapt_patients, n_high_patients,
        has_weights=GRADER_WEIGHTS_FILE in names, requested=depth,
    )  # fmt: skip
    deep = plan.performed is not AdaptDepth.CALIBRATE
    # Fine-tuning fits weights: the temperature and operating point are then chosen on
    # adaptation patients it did not see (a third of them, where there are 3 or more).
    # Re-estimating BN statistics (no label) and class-mean prototypes has too little
    # capacity to need that, and keeps every adaptation slice for the statistics.
    fit_folders, calibration_folders = adapt_folders, adapt_folders
    if plan.performed is AdaptDepth.FINE_TUNE and n_adapt_patients >= 3:
        fit_folders, calibration_folders = split_by_patient(
            adapt_folders, patients, high, seed=seed + 1
        )
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    # Written beside its final place and renamed when whole: a process killed half-way (a
    # cancel in the workstation) never leaves a model folder that looks installed.
    final.parent.mkdir(parents=True, exist_ok=True)
    out = final.parent / f".{final.name}.partial-{os.getpid()}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    try:
        for name in names:
            shutil.copy2(base.folder / name, out / name)
        weights_change: dict[str, Any] = {}
        if deep:
            weights_change = _adapt_grader(
                base, out, fit_folders, plan.performed, seed=seed,
                progress=sub_progress(progress, 0.0, 0.45), cancel=cancel,
            )  # fmt: skip
            staged = write_model_folder(replace(base, folder=None), out, file_names=names)
            model_for_fit: Path = out
        else:
            staged = base
            model_for_fit = base.folder
        report(progress, 0.45, f"Calibrating on {len(calibration_folders)} studies")
        fitting = collect_predictions(
            model_for_fit, calibration_folders, backend_choice=backend_choice,
            progress=sub_progress(progress, 0.45, 0.65), cancel=cancel,
        )  # fmt: skip
        check_cancel(cancel)
        fit, thresholds = calibration_on(fitting)
        report(progress, 0.65, f"Checking on {len(held_out)} held-out studies")
        checking_base = collect_predictions(
            base.folder, held_out, backend_choice=backend_choice,
            progress=sub_progress(progress, 0.65, 0.8 if deep else 0.95), cancel=cancel,
        )  # fmt: skip
        checking_adapted = checking_base
        if deep:
            checking_adapted = collect_predictions(
                out, held_out, backend_choice=backend_choice,
                progress=sub_progress(progress, 0.8, 0.95), cancel=cancel,
            )  # fmt: skip
        base_figures = held_out_figures(
            checking_base, base.probability_temperature, base.thresholds
        )
        adapted_figures = held_out_figures(checking_adapted, fit.temperature, thresholds)
        reasons = not_worse(base_figures, adapted_figures)
        fit_counts = {
            g.value: sum(groups[f.name].count(g) for f in fit_folders) for g in GradeGroup
        }
        new_id = model_id or f"{base.model_id}-site"
        what = {
            AdaptDepth.CALIBRATE: "temperature and operating point",
            AdaptDepth.PROTOTYPES_BN: "prototypes, window-BN statistics, temperature and "
            "operating point",
            AdaptDepth.FINE_TUNE: "last stage, prototypes, window-BN statistics, temperature "
            "and operating point",
        }[plan.performed]
        adaptation = {
            "base_model": base.model_id,
            "base_version": base.version,
            "base_sha256": base.model_sha256,
            "depth_wanted": plan.wanted.value,
            "depth_performed": plan.performed.value,
            "note": plan.note,
            "date": now,
            "user": user or getpass.getuser(),
            "patients": {"adapt": n_adapt_patients,
                         "held_out": len(_patients(held_out, patients)),
                         "weights_fit": len(_patients(fit_folders, patients)) if deep else 0,
                         "calibration": len(_patients(calibration_folders, patients))},
            "studies": {"adapt": len(adapt_folders), "held_out": len(held_out)},
            "adapt_slices_by_group": fit_counts,
            "weights": weights_change,
            "temperature_fit": {"nll_before": fit.nll_before, "nll_after": fit.nll_after},
            "held_out_base": base_figures.as_dict(),
            "held_out_adapted": adapted_figures.as_dict(),
            "offered": not reasons,
            "refused_because": list(reasons),
        }  # fmt: skip
        manifest = replace(
            staged,
            model_id=new_id,
            version=f"{base.version}+site.{now[:10].replace('-', '')}",
            created=now,
            description=(
                f"{base.description.strip()} Adapted to this site's reviewed studies "
                f"({plan.performed.value}: {what}) from {base.model_id} {base.version}."
            ),
            thresholds=thresholds,
            probability_temperature=fit.temperature,
            evaluation={**dict(base.evaluation), "site_adaptation": adaptation},
            folder=None,
        )
        write_model_folder(manifest, out, file_names=names)
        os.rename(out, final)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    written = load_model_folder(final)
    report(progress, 1.0, "Adapted" if not reasons else "Adapted, but worse: not offered")
    return AdaptReport(
        folder=final,
        model_id=written.model_id,
        plan=plan,
        temperature=fit.temperature,
        thresholds=thresholds,
        base=base_figures,
        adapted=adapted_figures,
        offered=not reasons,
        reasons=reasons,
        n_adapt_patients=n_adapt_patients,
        n_held_out_patients=len(_patients(held_out, patients)),
        slices_by_group=fit_counts,
        held_out_base=checking_base,
        held_out_adapted=checking_adapted,
        base_calibration=(base.probability_temperature, base.thresholds),
    )


def _adapt_grader(
    base: Any,
    out: Path,
    folders: Sequence[Path],
    depth: AdaptDepth,
    *,
    seed: int,
    progress: ProgressFn | None,
    cancel: CancelToken | None,
) -> dict[str, Any]:
    """Re-fit the grader's weights in the staged folder ``out`` (see :mod:`.adapt_grader`)."""
    from mscc_desktop.training.adapt_grader import (
        export_grader,
        fine_tune_last_stage,
        refit_statistics,
        site_samples,
    )
    from mscc_desktop.training.grader_weights import load_grader_weights

    report(progress, 0.0, f"Reading {len(folders)} studies for the grader")
    trainable = load_grader_weights(out / GRADER_WEIGHTS_FILE)
    samples = site_samples(folders, trainable.config, cancel=cancel)
    report(progress, 0.15, f"{len(samples)} slices; re-estimating BN statistics and prototypes")
    change: dict[str, Any] = {"statistics": refit_statistics(
        trainable, samples, progress=sub_progress(progress, 0.15, 0.35), cancel=cancel
    )}  # fmt: skip
    if depth is AdaptDepth.FINE_TUNE:
        change["fine_tune"] = fine_tune_last_stage(
            trainable, samples, seed=seed, progress=sub_progress(progress, 0.35, 0.9),
            cancel=cancel,
        )  # fmt: skip
    check_cancel(cancel)
    report(progress, 0.9, "Writing the adapted grader")
    fp16 = bool(base.architecture.get("export", {}).get("fp16_weights", False))
    change["onnx_vs_torch_max_prob"] = export_grader(
        trainable, out, detector_file=base.detector.file, grader_file=base.grader.file, fp16=fp16
    )
    return change
