"""The site's own reads as training data: reviewed studies become labelled slices.

Rules (issue 21), applied to the latest complete, current analysis of each series of a study
the reader signed off:

* a study the reader marked "no MSCC" labels every slice normal, whatever the model flagged;
* an accepted finding keeps its grades: each of its slices keeps the group the model gave it
  (a finding's grade is its worst slice's; the slices tapering off above and below it are
  lower, and labelling them all with the peak grade would teach the model to over-call);
* a rejected finding becomes normal;
* a regraded finding takes the reader's group on the slices that carried the finding's own
  group; its other slices keep theirs, but never above the reader's group;
* a finding with no verdict is left out (its slices get no label): the reader signed the
  study off without saying, and a guess would teach the model its own mistakes;
* every other slice of a reviewed study is normal;
* a slice where the canal was not found has no box to crop, so it gets no label.

Canal boxes are the detector's (the workstation has no box editing yet, so no reader-moved
box exists to prefer). Everything here reads the store; :func:`export_reviewed` writes the
training layout that ``train``, ``evaluate --model`` and ``adapt`` read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import dcmread
from sqlite_utils import Database

from mscc_desktop import storage
from mscc_desktop.core.findings import AnalysisStatus, SliceResult
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.labels import (
    CANAL_LABEL,
    DATASET_FILE,
    SliceLabel,
    VocAnnotation,
    VocObject,
    write_labels_csv,
    write_voc,
)
from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report
from mscc_desktop.workflow.deidentify_copy import deidentified_copy

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LabelledSlice:
    slice: SliceResult
    group: GradeGroup
    source: str  # "no_mscc", "accepted", "rejected", "regraded", "unflagged"


@dataclass(frozen=True, slots=True)
class ReviewedSeries:
    """One series of a signed-off study, its analysis and its labelled slices."""

    study_id: int
    series_id: int
    analysis_id: int
    patient_key: str  # pseudonymous: split by patient without naming anyone
    source_folder: Path
    no_mscc: bool
    labelled: tuple[LabelledSlice, ...]
    n_left_out: int  # slices of unreviewed findings, or without a canal box

    def counts(self) -> Counter[str]:
        return Counter(item.group.value for item in self.labelled)


@dataclass
class SiteDataSummary:
    """What the store holds for site training, by group (for the Models page and ``adapt``)."""

    n_studies: int = 0
    n_patients: int = 0
    n_series: int = 0
    slices_by_group: Counter[str] = field(default_factory=Counter)
    studies_with_high: int = 0
    n_left_out: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> series


def _patient_key(db: Database, study_id: int) -> str:
    row = db.execute(
        "SELECT p.patient_id, p.patient_name, p.birth_date FROM studies s"
        " JOIN patients p ON p.id = s.patient_ref WHERE s.id = ?",
        [study_id],
    ).fetchone()
    text = "|".join(str(v) for v in row) if row else str(study_id)
    return "P" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _latest_current_complete(db: Database, series_id: int) -> int | None:
    for summary in storage.analysis_history(db, series_id):
        if summary.status is AnalysisStatus.COMPLETE and not summary.stale:
            return summary.id
    return None


_ORDER = {GradeGroup.NORMAL: 0, GradeGroup.LOW: 1, GradeGroup.HIGH: 2}


def _lower(a: GradeGroup, b: GradeGroup) -> GradeGroup:
    return a if _ORDER[a] <= _ORDER[b] else b


def label_slices(
    stored: storage.StoredAnalysis, reviews: dict[int, storage.Review], *, no_mscc: bool
) -> tuple[list[LabelledSlice], int]:
    """The rules above for one analysis: labelled slices, and how many were left out."""
    findings = stored.result.findings
    if findings is None:
        return [], 0
    verdicts: dict[int, tuple[GradeGroup | None, str]] = {}
    if not no_mscc:
        for lesion in findings.lesions:
            review = reviews.get(lesion.number)
            decision = review.decision if review is not None else None
            for index in range(lesion.first_slice, lesion.last_slice + 1):
                model_group = findings.slices[index].group
                if model_group is None or model_group is GradeGroup.NORMAL:
                    if decision is not None:
                        continue  # a normal slice inside the run stays normal
                    verdicts[index] = (None, "unreviewed")
                    continue
                if decision is storage.ReviewDecision.ACCEPT:
                    verdicts[index] = (model_group, "accepted")
                elif decision is storage.ReviewDecision.REJECT:
                    verdicts[index] = (GradeGroup.NORMAL, "rejected")
                elif decision is storage.ReviewDecision.REGRADE and review is not None:
                    reader = review.regraded_group or GradeGroup.NORMAL
                    own = model_group is lesion.group
                    verdicts[index] = (reader if own else _lower(model_group, reader), "regraded")
                else:
                    verdicts[index] = (None, "unreviewed")
    labelled: list[LabelledSlice] = []
    left_out = 0
    for result in findings.slices:
        group, source = verdicts.get(result.index, (GradeGroup.NORMAL, "unflagged"))
        if no_mscc:
            group, source = GradeGroup.NORMAL, "no_mscc"
        if group is None or result.box is None:
            left_out += 1
            continue
        labelled.append(LabelledSlice(result, group, source))
    return labelled, left_out


def reviewed_series(db: Database) -> tuple[list[ReviewedSeries], SiteDataSummary]:
    """Every series of every signed-off study, labelled; and a summary by group."""
    summary = SiteDataSummary()
    found: list[ReviewedSeries] = []
    patients: set[str] = set()
    for study in storage.list_studies(db):
        if storage.study_review_status(db, study.study_id) is not storage.ReviewStatus.REVIEWED:
            continue
        no_mscc = storage.study_no_mscc(db, study.study_id)
        study_high = False
        used = False
        for record in storage.series_for_study(db, study.study_id):
            analysis_id = _latest_current_complete(db, record.id)
            if analysis_id is None:
                summary.skipped["no current complete analysis"] += 1
                continue
            stored = storage.load_analysis(db, analysis_id)
            labelled, left_out = label_slices(
                stored, storage.load_reviews(db, analysis_id), no_mscc=no_mscc
            )
            if not labelled:
                summary.skipped["no labelled slice"] += 1
                continue
            key = _patient_key(db, study.study_id)
            item = ReviewedSeries(
                study.study_id,
                record.id,
                analysis_id,
                key,
                record.source_path,
                no_mscc,
                tuple(labelled),
                left_out,
            )
            found.append(item)
            used = True
            patients.add(key)
            summary.n_series += 1
            summary.slices_by_group.update(item.counts())
            summary.n_left_out += left_out
            study_high |= any(s.group is GradeGroup.HIGH for s in labelled)
        summary.n_studies += int(used)
        summary.studies_with_high += int(study_high)
    summary.n_patients = len(patients)
    return found, summary


@dataclass(frozen=True, slots=True)
class DatasetExport:
    folder: Path
    n_series: int
    slices_by_group: dict[str, int]
    n_patients: int
    deidentified: bool
    linked: bool


def export_reviewed(
    db: Database,
    out: Path,
    *,
    deidentify: bool = False,
    link: bool = False,
    secret: bytes | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> DatasetExport:
    """Write the reviewed series as a training data folder.

    Layout (what ``training.study_reader`` reads)::

        OUT/dataset.json                 counts by group, patient keys, how it was made
        OUT/<S0001>/labels.csv           one row per labelled slice
        OUT/<S0001>/voc/<n>.xml          the canal box of each labelled slice
        OUT/<S0001>/dicom/               copies of the source files (or a link to the
                                         source folder with ``link``; de-identified copies
                                         with ``deidentify``)

    Folder and file names carry no patient data. ``link`` and ``deidentify`` exclude each
    other: a link exposes the source files as they are.
    """
    if link and deidentify:
        raise ValueError("a linked dataset cannot be de-identified; copy it instead")
    series, summary = reviewed_series(db)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for number, item in enumerate(series, start=1):
        check_cancel(cancel)
        report(progress, (number - 1) / max(1, len(series)), f"Series {number} of {len(series)}")
        name = f"S{number:04d}"
        folder = out / name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        placed = _write_dicom(
            item, folder / "dicom", deidentify=deidentify, link=link, secret=secret
        )
        _write_labels(item, folder, placed)
        entries.append(
            {
                "folder": name,
                "patient": item.patient_key,
                "no_mscc": item.no_mscc,
                "slices": dict(item.counts()),
                "left_out": item.n_left_out,
            }
        )
    manifest = {
        "made_by": "mscc-desktop dataset export --reviewed",
        "deidentified": deidentify,
        "linked": link,
        "n_series": len(series),
        "n_patients": summary.n_patients,
        "slices_by_group": dict(summary.slices_by_group),
        "studies_with_high": summary.studies_with_high,
        "series": entries,
    }
    (out / DATASET_FILE).write_text(json.dumps(manifest, indent=2))
    report(progress, 1.0, "Exported")
    return DatasetExport(
        out, len(series), dict(summary.slices_by_group), summary.n_patients, deidentify, link
    )


def export_reviewed_from(
    db_path: Path,
    out: Path,
    *,
    link: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> DatasetExport:
    """:func:`export_reviewed` with a read-only connection of this thread (for a worker)."""
    db = storage.open_store(db_path, read_only=True)
    try:
        return export_reviewed(db, out, link=link, progress=progress, cancel=cancel)
    finally:
        db.close()


def _series_files(folder: Path) -> dict[str, Path]:
    """SOP Instance UID -> file for every DICOM file in ``folder`` (foreign files skipped).

    Every image of the series is kept, not only the labelled slices: the importer needs the
    whole stack to rebuild the geometry the boxes and slice indices refer to.
    """
    found: dict[str, Path] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            header = dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
        except Exception:  # noqa: BLE001 - a foreign file beside the series is not ours to copy
            continue
        uid = str(getattr(header, "SOPInstanceUID", "") or "")
        if uid:
            found.setdefault(uid, path)
    return found


def _write_dicom(
    item: ReviewedSeries, target: Path, *, deidentify: bool, link: bool, secret: bytes | None
) -> dict[str, tuple[str, str]]:
    """Copy, link or de-identify the series' files: old UID -> (new UID, file name)."""
    files = _series_files(item.source_folder)
    if link:
        os.symlink(item.source_folder.resolve(), target, target_is_directory=True)
        return {uid: (uid, path.name) for uid, path in files.items()}
    target.mkdir()
    placed: dict[str, tuple[str, str]] = {}
    for number, (uid, path) in enumerate(sorted(files.items()), start=1):
        destination = target / f"{number:05d}.dcm"
        if deidentify:
            placed[uid] = (deidentified_copy(path, destination, secret=secret), destination.name)
        else:
            shutil.copy2(path, destination)
            placed[uid] = (uid, destination.name)
    return placed


def _write_labels(item: ReviewedSeries, folder: Path, placed: dict[str, tuple[str, str]]) -> None:
    voc_folder = folder / "voc"
    voc_folder.mkdir()
    width, height = _image_size(folder / "dicom")
    rows: list[SliceLabel] = []
    for labelled in item.labelled:
        result = labelled.slice
        if result.sop_instance_uid not in placed or result.box is None:
            continue  # its file is gone from the source folder
        uid, file_name = placed[result.sop_instance_uid]
        rows.append(
            SliceLabel(
                sop_instance_uid=uid,
                slice_index=result.index,
                z_mm=result.z_mm,
                vertebral_level="",
                bilsky_grade=None,
                group=labelled.group,
            )
        )
        write_voc(
            VocAnnotation(
                filename=file_name,
                width=width,
                height=height,
                objects=(VocObject(CANAL_LABEL, result.box),),
                folder="dicom",
            ),
            voc_folder / f"{result.index:04d}.xml",
        )
    write_labels_csv(rows, folder / "labels.csv")


def _image_size(dicom_folder: Path) -> tuple[int, int]:
    for path in sorted(dicom_folder.iterdir()):
        if path.is_file():
            ds = dcmread(path, stop_before_pixels=True, specific_tags=["Rows", "Columns"])
            return int(ds.Columns), int(ds.Rows)
    raise FileNotFoundError(dicom_folder)


__all__ = [
    "DatasetExport",
    "LabelledSlice",
    "ReviewedSeries",
    "SiteDataSummary",
    "export_reviewed",
    "export_reviewed_from",
    "label_slices",
    "reviewed_series",
]
