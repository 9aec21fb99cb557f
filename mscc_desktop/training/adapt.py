"""Adapt a model to a site from the site's own reviewed studies, with guard rails.

``mscc-desktop adapt --base MODEL --data DIR --out FOLDER`` (``DIR`` written by
``mscc-desktop dataset export --reviewed``):

1. The site's studies are split **by patient** (the dataset's pseudonymous patient keys):
   about a third of the patients, at least one with a high-grade slice where there is one,
   are held out; the rest adapt the model.
2. The depth follows the amount of data (:func:`plan_depth`). This build performs the first
   step for every amount: the base model's probabilities on the adaptation studies fit a new
   **temperature** (negative log-likelihood, as the shipped recipe does) and the **operating
   point** is chosen again by the recipe's rule (the most specific P(high) cut-off that keeps
   the per-image high-grade sensitivity). Re-estimating the prototypes and window-BN
   statistics, and fine-tuning the last stages, need the model's torch weights, which the
   ONNX-only shipped model does not carry; the plan says so when the data would call for it.
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
from collections.abc import Sequence
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
from mscc_desktop.evaluation.calibration import fit_temperature
from mscc_desktop.training.acceptance import (
    Predictions,
    called_groups,
    choose_thresholds,
    collect_predictions,
)
from mscc_desktop.training.study_reader import find_studies

logger = logging.getLogger(__name__)

MIN_SENSITIVITY = 0.95  # the shipped recipe's operating-point rule (docs/TRAINING_EXPERIMENTS.md)


class AdaptDepth(StrEnum):
    CALIBRATE = "calibrate"  # temperature and thresholds
    PROTOTYPES_BN = "prototypes_bn"  # + the prototypes and window-BN statistics
    FINE_TUNE = "fine_tune"  # + the last stages


@dataclass(frozen=True, slots=True)
class AdaptPlan:
    wanted: AdaptDepth  # what the amount of data calls for
    performed: AdaptDepth  # what this build does
    note: str


def plan_depth(n_patients: int, n_high_patients: int) -> AdaptPlan:
    """The depth the data call for: a few patients recalibrate; more re-estimate prototypes
    and BN statistics (>= 30 patients, >= 10 with high grade); many fine-tune (>= 150, 40)."""
    if n_patients >= 150 and n_high_patients >= 40:
        wanted = AdaptDepth.FINE_TUNE
    elif n_patients >= 30 and n_high_patients >= 10:
        wanted = AdaptDepth.PROTOTYPES_BN
    else:
        wanted = AdaptDepth.CALIBRATE
    note = ""
    if wanted is not AdaptDepth.CALIBRATE:
        note = (
            f"{n_patients} patients ({n_high_patients} with high grade) would support "
            f"'{wanted.value}', which needs the model's torch weights; this model has ONNX "
            "files only, so it was recalibrated (temperature and operating point)."
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


def held_out_figures(
    predictions: Predictions, temperature: float, thresholds: Thresholds
) -> Figures:
    """The guard-rail statistics of ``predictions`` scaled by ``temperature``."""
    p = predictions.calibrated(temperature)
    graded = (p.truth_group >= 0) & ~p.degenerative
    called = called_groups(p, thresholds)[graded]
    truth = p.truth_group[graded]
    pred = np.where(called >= 0, called, GradeGroup.NORMAL.position)
    high = GradeGroup.HIGH.position
    is_high, called_high = truth == high, pred == high
    sens = clopper_pearson(int((called_high & is_high).sum()), int(is_high.sum()))
    spec = clopper_pearson(int((~called_high & ~is_high).sum()), int((~is_high).sum()))
    p_high = np.nan_to_num(p.probabilities[graded][:, high], nan=0.0)
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


def _has_high(folder: Path) -> bool:
    return any(row.group is GradeGroup.HIGH for row in read_labels_csv(folder / "labels.csv"))


def adapt_model(
    base_dir: Path,
    data_dir: Path,
    out_dir: Path,
    *,
    model_id: str | None = None,
    user: str = "",
    seed: int = 0,
    backend_choice: str = "onnx-cpu",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> AdaptReport:
    """Adapt the model in ``base_dir`` to the site data in ``data_dir``; write ``out_dir``."""
    from mscc_desktop.inference.backends import resolve_model
    from mscc_desktop.inference.model_folder import load_model_folder, write_model_folder

    base = resolve_model(Path(base_dir))
    assert base.folder is not None
    folders = find_studies(data_dir)
    if not folders:
        raise AdaptError(f"{data_dir} holds no labelled study (export one with 'dataset export').")
    patients = dataset_patients(data_dir)
    high = {f.name: _has_high(f) for f in folders}
    adapt_folders, held_out = split_by_patient(folders, patients, high, seed=seed)
    n_patients = len({patients.get(f.name, f.name) for f in folders})
    n_high_patients = len({patients.get(f.name, f.name) for f in folders if high[f.name]})
    plan = plan_depth(n_patients, n_high_patients)
    report(progress, 0.0, f"Running the base model on {len(adapt_folders)} adaptation studies")
    fitting = collect_predictions(
        base.folder, adapt_folders, backend_choice=backend_choice,
        progress=sub_progress(progress, 0.0, 0.6), cancel=cancel,
    )  # fmt: skip
    check_cancel(cancel)
    graded = (fitting.truth_group >= 0) & np.isfinite(fitting.probabilities).all(axis=1)
    if not graded.any():
        raise AdaptError("The adaptation studies have no slice the model could grade.")
    fit = fit_temperature(fitting.probabilities[graded], fitting.truth_group[graded])
    thresholds = choose_thresholds(
        fitting.calibrated(fit.temperature), min_sensitivity=MIN_SENSITIVITY, lowest_high=0.0
    )
    report(progress, 0.6, f"Checking on {len(held_out)} held-out studies")
    checking = collect_predictions(
        base.folder, held_out, backend_choice=backend_choice,
        progress=sub_progress(progress, 0.6, 0.95), cancel=cancel,
    )  # fmt: skip
    base_figures = held_out_figures(checking, base.probability_temperature, base.thresholds)
    adapted_figures = held_out_figures(checking, fit.temperature, thresholds)
    reasons = not_worse(base_figures, adapted_figures)
    counts = {g.value: int((fitting.truth_group == g.position).sum()) for g in GradeGroup}
    new_id = model_id or f"{base.model_id}-site"
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    who = user or getpass.getuser()
    n_held_out = len({patients.get(f.name, f.name) for f in held_out})
    adaptation: dict[str, Any] = {
        "base_model": base.model_id,
        "base_version": base.version,
        "base_sha256": base.model_sha256,
        "depth_wanted": plan.wanted.value,
        "depth_performed": plan.performed.value,
        "note": plan.note,
        "date": now,
        "user": who,
        "patients": {"adapt": n_patients - n_held_out, "held_out": n_held_out},
        "studies": {"adapt": len(adapt_folders), "held_out": len(held_out)},
        "adapt_slices_by_group": counts,
        "temperature_fit": {"nll_before": fit.nll_before, "nll_after": fit.nll_after},
        "held_out_base": base_figures.as_dict(),
        "held_out_adapted": adapted_figures.as_dict(),
        "offered": not reasons,
        "refused_because": list(reasons),
    }  # fmt: skip
    final = Path(out_dir)
    if final.exists():
        raise AdaptError(f"{final} exists already; choose a new folder for the adapted model.")
    # Written beside its final place and renamed when whole: a process killed half-way (a
    # cancel in the workstation) never leaves a model folder that looks installed.
    final.parent.mkdir(parents=True, exist_ok=True)
    out = final.parent / f".{final.name}.partial-{os.getpid()}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    try:
        names = [f.name for f in base.files]
        for name in names:
            shutil.copy2(base.folder / name, out / name)
        manifest = replace(
            base,
            model_id=new_id,
            version=f"{base.version}+site.{now[:10].replace('-', '')}",
            created=now,
            description=(
                f"{base.description.strip()} Adapted to this site's reviewed studies "
                f"({plan.performed.value}: temperature and operating point) from "
                f"{base.model_id} {base.version}."
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
        n_adapt_patients=n_patients - n_held_out,
        n_held_out_patients=n_held_out,
        slices_by_group=counts,
    )
