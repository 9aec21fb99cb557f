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
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from mscc_desktop import storage
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.labels import read_labels_csv
from mscc_desktop.core.tasks import ProgressFn, report, sub_progress


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
    for entry in storage.list_studies(db):
        for record in storage.series_for_study(db, entry.study_id):
            if Path(record.source_path).resolve() != (study_folder / "dicom").resolve():
                continue
            history = storage.analysis_history(db, record.id)
            if not history:
                continue
            stored = storage.load_analysis(db, history[0].id)
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
                    decision, group = storage.ReviewDecision.REJECT, None
                elif real is lesion.group:
                    decision, group = storage.ReviewDecision.ACCEPT, None
                else:
                    decision, group = storage.ReviewDecision.REGRADE, real
                if rng.random() < error_rate:  # the reader gets this one wrong
                    errors += 1
                    wrong = [
                        (storage.ReviewDecision.ACCEPT, None),
                        (storage.ReviewDecision.REJECT, None),
                        *[
                            (storage.ReviewDecision.REGRADE, g)
                            for g in GradeGroup
                            if g is not lesion.group
                        ],
                    ]
                    wrong = [w for w in wrong if w != (decision, group)]
                    decision, group = rng.choice(wrong)
                storage.save_review(
                    db, stored.id, lesion.number, decision=decision, regraded_group=group,
                    user="scripted reader",
                )  # fmt: skip
                counts[decision.value] += 1
            disease = any(g is not GradeGroup.NORMAL for g in truth.values())
            if not findings.lesions and not disease:
                storage.set_study_no_mscc(db, entry.study_id, user="scripted reader")
                counts["no_mscc"] += 1
            storage.set_study_review_status(
                db, entry.study_id, storage.ReviewStatus.REVIEWED, user="scripted reader"
            )
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
    progress: ProgressFn | None = None,
) -> SimulatedSite:
    """Generate, analyse and review a site under ``root``; export its reviewed studies."""
    from mscc_desktop.cli import main as cli
    from mscc_desktop.workflow.site_data import export_reviewed

    studies = root / "studies"
    store = root / "site.sqlite"
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
    db = storage.open_store(store)
    try:
        folders = sorted(p for p in studies.iterdir() if (p / "labels.csv").is_file())
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
