"""A simulated site: studies analysed by the app, reviewed by a scripted reader, adapted.

The whole loop of issue 21 without a person: synthetic staging-CT studies with known Bilsky
grades (``synth``) are analysed by a model into a fresh store; a scripted reader reviews every
finding against the truth (accept when the truth agrees, reject a false one, regrade a wrong
grade) and is wrong on purpose a given share of the time (a random other verdict); studies with
no finding and no disease get the one-action "no MSCC"; every study is signed off. Then the
reviews are exported (``dataset export --reviewed``) and the model adapted (``adapt``).

Used by ``scripts/site_simulation.py`` (the README's benchmark) and by the tests, smaller.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils import Database

from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.labels import read_labels_csv
from mscc_desktop.core.review import ReviewDecision
from mscc_desktop.core.tasks import ProgressFn, report, sub_progress
from mscc_desktop.workflow import reading


@dataclass(frozen=True, slots=True)
class SimulatedSite:
    store: Path
    studies: Path
    dataset: Path
    n_studies: int
    verdicts: dict[str, int]  # what the scripted reader said, by kind
    reader_errors: int


def _truth_group(groups: list[GradeGroup]) -> GradeGroup:
    """The worst true group over a finding's slices (what a reader would call it)."""
    order = {GradeGroup.NORMAL: 0, GradeGroup.LOW: 1, GradeGroup.HIGH: 2}
    return max(groups, key=lambda g: order[g]) if groups else GradeGroup.NORMAL


def scripted_review(
    db: Database, study_folder: Path, *, error_rate: float, rng: random.Random, counts: Counter[str]
) -> int:
    """Review the study's latest analysis against its labels.csv; returns the errors made."""
    truth = {
        row.sop_instance_uid: row.group for row in read_labels_csv(study_folder / "labels.csv")
    }
    errors = 0
    for study_id, stored in reading.analyses_of_folder(db, study_folder / "dicom"):
        findings = stored.result.findings
        if findings is None:
            continue
        for lesion in findings.lesions:
            slices = findings.slices[lesion.first_slice : lesion.last_slice + 1]
            real = _truth_group(
                [truth[s.sop_instance_uid] for s in slices if s.sop_instance_uid in truth]
            )
            group: GradeGroup | None
            if real is GradeGroup.NORMAL:
                decision, group = ReviewDecision.REJECT, None
            elif real is lesion.group:
                decision, group = ReviewDecision.ACCEPT, None
            else:
                decision, group = ReviewDecision.REGRADE, real
            if rng.random() < error_rate:  # the reader gets this one wrong
                errors += 1
                wrong = [
                    (ReviewDecision.ACCEPT, None),
                    (ReviewDecision.REJECT, None),
                    *[(ReviewDecision.REGRADE, g) for g in GradeGroup if g is not lesion.group],
                ]
                wrong = [w for w in wrong if w != (decision, group)]
                decision, group = rng.choice(wrong)
            reading.save_review(
                db, stored.id, lesion.number, decision=decision, regraded_group=group,
                user="scripted reader",
            )  # fmt: skip
            counts[decision.value] += 1
        disease = any(g is not GradeGroup.NORMAL for g in truth.values())
        if not findings.lesions and not disease:
            reading.set_study_no_mscc(db, study_id, user="scripted reader")
            counts["no_mscc"] += 1
        reading.sign_off_study(db, study_id, user="scripted reader")
    return errors


def simulate_site(
    root: Path,
    *,
    n_studies: int,
    seed: int,
    error_rate: float = 0.1,
    matrix: int = 256,
    max_slices: int = 40,
    model: str | None = None,
    studies_from: Path | None = None,
    progress: ProgressFn | None = None,
) -> SimulatedSite:
    """Generate, analyse and review a site under ``root``; export its reviewed studies.

    ``studies_from``: a folder of labelled study folders to use instead of new phantoms
    (e.g. real CT with inserted disease, ``synth --on-real``); they are analysed where they
    are and never written to.
    """
    from mscc_desktop.cli import main as cli
    from mscc_desktop.workflow.site_data import export_reviewed

    store = root / "site.sqlite"
    if studies_from is not None:
        studies = Path(studies_from)
    else:
        studies = root / "studies"
        report(progress, 0.0, "Generating studies")
        code = cli(
            ["synth", str(studies), "--studies", str(n_studies), "--seed", str(seed),
             "--matrix", str(matrix), "--max-slices", str(max_slices)]
        )  # fmt: skip
        if code:
            raise RuntimeError(f"synth failed (exit {code})")
    report(progress, 0.2, "Analysing")
    command = ["analyze", str(studies), "--db", str(store), "-q", "--backend", "onnx-cpu"]
    if model:
        command += ["--model", model]
    if cli(command) not in (0,):
        raise RuntimeError("analyze failed")
    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    errors = 0
    db = reading.open_store(store)
    try:
        folders = sorted(p for p in studies.iterdir() if (p / "labels.csv").is_file())
        if studies_from is None and len(folders) != n_studies:
            raise RuntimeError(f"{len(folders)} studies generated, {n_studies} asked for")
        for number, folder in enumerate(folders):
            errors += scripted_review(db, folder, error_rate=error_rate, rng=rng, counts=counts)
            report(sub_progress(progress, 0.6, 0.8), number / len(folders), "Reviewing")
        dataset = root / "dataset"
        export_reviewed(db, dataset, progress=sub_progress(progress, 0.8, 1.0))
    finally:
        db.close()
    return SimulatedSite(store, studies, dataset, len(folders), dict(counts), errors)


def shuffle_labels(dataset: Path, seed: int) -> None:
    """A deliberately harmful relabelling: every study's groups shuffled among its labelled
    slices, with a quarter more "high" than there was (the boxes stay right)."""
    import csv

    rng = random.Random(seed)
    for path in sorted(dataset.rglob("labels.csv")):
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        if not rows:
            continue
        groups = [row["group"] for row in rows] + ["high"] * (len(rows) // 4)
        rng.shuffle(groups)
        for row, group in zip(rows, groups, strict=False):
            row["group"] = group
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def phantom_grader_base(protocol: Path, fold: int, grader: Path, out: Path) -> Path:
    """A base that learnt grading from phantoms only: the fold's detector with ``grader`` (a
    grader checkpoint trained on phantoms, e.g. the recipe's ``runs/grader/best.pt``), its
    temperature and operating point fitted on the fold's calibration patients by the recipe's
    rule. It stands for a model made elsewhere, meeting a site's real CT for the first time.
    """
    from dataclasses import replace

    from mscc_desktop.inference.model_folder import write_model_folder
    from mscc_desktop.training.acceptance import collect_predictions
    from mscc_desktop.training.adapt import calibration_on
    from mscc_desktop.training.export import export_model
    from mscc_desktop.training.study_reader import find_studies

    detector = protocol / f"fold{fold}" / "runs" / "detector" / "best.pt"
    manifest = export_model(
        detector, grader, out, model_id=f"phantom-grader-fold{fold}",
        fp16_weights=True, trainable_weights=True,
    )  # fmt: skip
    predictions = collect_predictions(out, find_studies(protocol / f"fold{fold}" / "calibration"))
    fit, thresholds = calibration_on(predictions)
    write_model_folder(
        replace(manifest, thresholds=thresholds, probability_temperature=fit.temperature,
                folder=None),
        out, file_names=[f.name for f in manifest.files],
    )  # fmt: skip
    return out


def protocol_base_model(protocol: Path, fold: int, seed: int, out: Path) -> Path:
    """A base model for a simulated site from the patient protocol's ``fold`` (grader
    ``seed``): its exported folder, with the grader's trainable weights and the temperature
    and operating point the protocol chose on the fold's calibration patients.

    The fold's test patients were never seen by this model (not in training, not in
    calibration), so they can stand in for a new site.
    """
    import json
    import shutil

    import torch

    from mscc_desktop.core.findings import Thresholds
    from mscc_desktop.inference.model_folder import load_model_folder, write_model_folder
    from mscc_desktop.training.cwl import GraderExport
    from mscc_desktop.training.engine import load_checkpoint
    from mscc_desktop.training.export import check_grader, round_to_fp16
    from mscc_desktop.training.grader_weights import (
        GRADER_WEIGHTS_FILE,
        save_grader_weights,
        trainable_from_checkpoint,
    )

    source = protocol / f"fold{fold}" / f"model_seed{seed}"
    checkpoint = protocol / f"fold{fold}" / "runs" / f"grader_seed{seed}" / "best.pt"
    point = json.loads((protocol / "protocol.json").read_text())["operating_points"]
    point = point[f"fold{fold}_seed{seed}"]
    shutil.copytree(source, out)
    base = load_model_folder(out)
    trainable = trainable_from_checkpoint(load_checkpoint(checkpoint, kind="grader"))
    round_to_fp16(trainable.grader)
    # The weights must be the ones the ONNX grader holds: the export's own check.
    from mscc_desktop.inference.backends import create_backend

    size, n = trainable.config.crop_size, trainable.config.n_windows
    crops = torch.randn((4, n, size, size), generator=torch.Generator().manual_seed(2))
    check_grader(create_backend(base, "onnx-cpu"), GraderExport(trainable.grader), crops)
    save_grader_weights(trainable, out / GRADER_WEIGHTS_FILE)
    names = [f.name for f in base.files] + [GRADER_WEIGHTS_FILE]
    thresholds = Thresholds(**point["thresholds"])
    manifest = replace(
        base,
        model_id=f"protocol-fold{fold}-seed{seed}",
        thresholds=thresholds,
        probability_temperature=float(point["temperature"]),
        folder=None,
    )
    write_model_folder(manifest, out, file_names=names)
    return out


@dataclass(frozen=True, slots=True)
class RotationResult:
    """Every patient held out once: base and adapted figures pooled over the held-out sets."""

    depth: str
    base: Any  # adapt.Figures
    adapted: Any  # adapt.Figures
    offered: tuple[bool, ...]  # per rotation
    seconds: tuple[float, ...]  # per rotation (wall)
    held_out: tuple[str, ...]  # patient key of each rotation
    # The same, scored against the simulation's truth instead of the reader's reviews (which
    # keep the base model's own per-slice grades inside an accepted finding); None without it.
    base_vs_truth: Any = None
    adapted_vs_truth: Any = None


def truth_by_uid(studies: Path) -> dict[str, int]:
    """The true group position of every labelled slice under ``studies``, by SOP Instance UID."""
    from mscc_desktop.training.study_reader import find_studies

    truth = {}
    for folder in find_studies(studies):  # follows linked study folders, as the folds hold
        for row in read_labels_csv(folder / "labels.csv"):
            truth[row.sop_instance_uid] = row.group.position if row.group is not None else -1
    return truth


def against_truth(predictions: Any, dataset: Path, truth: dict[str, int]) -> Any:
    """``predictions`` of dataset studies with their labels replaced by the true groups."""
    uid_of: dict[tuple[str, int], str] = {}
    for name in set(predictions.study_names):
        for row in read_labels_csv(dataset / name / "labels.csv"):
            uid_of[(name, row.slice_index)] = row.sop_instance_uid
    groups = np.asarray(
        [
            truth.get(uid_of.get((predictions.study_names[s], i), ""), -1)
            for s, i in zip(predictions.study, predictions.slice_index, strict=True)
        ],
        np.int64,
    )
    return replace(predictions, truth_group=groups)


def leave_one_patient_out(
    dataset: Path,
    base: Path,
    work: Path,
    *,
    depths: Sequence[str],
    seed: int = 0,
    truth_from: Path | None = None,
    progress: ProgressFn | None = None,
) -> list[RotationResult]:
    """Adapt ``base`` once per site patient held out (every depth), and pool the figures.

    Each held-out patient's slices are called by a model that never saw that patient: the
    base (when it comes from a protocol fold whose test patients form the site) and the model
    adapted on the other patients. Pooling gives figures over every site patient.
    ``truth_from`` (the simulated studies with their true labels) also scores both models
    against the truth rather than against the reader's reviews.
    """
    import time

    from mscc_desktop.core.labels import dataset_patients
    from mscc_desktop.training.adapt import AdaptDepth, adapt_model, pooled_figures

    patients = sorted(set(dataset_patients(dataset).values()))
    truth = truth_by_uid(truth_from) if truth_from is not None else None
    results = []
    total = len(depths) * len(patients)
    for d, depth in enumerate(depths):
        base_parts, adapted_parts, offered, seconds = [], [], [], []
        base_truth, adapted_truth = [], []
        for k, patient in enumerate(patients):
            started = time.perf_counter()
            step = d * len(patients) + k
            result = adapt_model(
                base, dataset, work / f"{depth}-{k}", model_id=f"sim-{depth}-{k}",
                seed=seed, depth=AdaptDepth(depth), held_out_patients=[patient],
                progress=sub_progress(progress, step / total, (step + 1) / total),
            )  # fmt: skip
            assert result.held_out_base is not None and result.held_out_adapted is not None
            assert result.base_calibration is not None
            base_parts.append((result.held_out_base, *result.base_calibration))
            adapted_parts.append((result.held_out_adapted, result.temperature, result.thresholds))
            if truth is not None:
                base_truth.append(
                    (against_truth(result.held_out_base, dataset, truth), *result.base_calibration)
                )
                adapted_truth.append(
                    (against_truth(result.held_out_adapted, dataset, truth),
                     result.temperature, result.thresholds)
                )  # fmt: skip
            offered.append(result.offered)
            seconds.append(time.perf_counter() - started)
        results.append(
            RotationResult(
                depth,
                pooled_figures(base_parts),
                pooled_figures(adapted_parts),
                tuple(offered),
                tuple(seconds),
                tuple(patients),
                pooled_figures(base_truth) if base_truth else None,
                pooled_figures(adapted_truth) if adapted_truth else None,
            )
        )
    return results
