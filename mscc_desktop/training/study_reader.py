"""Read a labelled data folder into :class:`~mscc_desktop.training.datasets.LabelledStudy` s.

Layout (what ``mscc-desktop synth`` writes and what a site produces with LabelImg)::

    DATA_DIR/<study>/labels.csv        one row per graded slice
    DATA_DIR/<study>/dicom/...         the CT series (any file names)
    DATA_DIR/<study>/**/*.xml          LabelImg Pascal VOC files, one per slice, object "canal"

The series is loaded with the app's own importer (``core.dicom.open_folder``), so training
sees HU exactly as the app does. Labels are matched to slices by SOP Instance UID, never by
file order.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mscc_desktop.core.dicom import open_folder
from mscc_desktop.core.findings import Box
from mscc_desktop.core.labels import read_labels_csv, read_voc_boxes
from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report
from mscc_desktop.core.volume import Volume
from mscc_desktop.training.datasets import LabelledStudy, SliceLabel

logger = logging.getLogger(__name__)

LABELS_FILE = "labels.csv"
DICOM_FOLDER = "dicom"


def find_studies(data_dir: str | os.PathLike[str]) -> list[Path]:
    """Study folders under ``data_dir``: those holding a ``labels.csv``, sorted by path.

    Linked folders are followed (a training set may be a folder of links to studies kept
    elsewhere, as the patient folds are), each real folder once.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such data folder")
    found: list[Path] = []
    seen: set[str] = set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders[:] = []
            continue
        seen.add(real)
        subfolders.sort()
        if LABELS_FILE in files and (Path(folder) / LABELS_FILE).is_file():
            found.append(Path(folder))
    return sorted(found)


def load_study(folder: Path, *, workers: int | None = None) -> LabelledStudy:
    """Load one study's series and labels (boxes from its VOC files)."""
    return load_study_and_volume(folder, workers=workers)[1]


def load_study_and_volume(
    folder: Path, *, workers: int | None = None
) -> tuple[Volume, LabelledStudy]:
    """Like :func:`load_study`, also returning the loaded :class:`Volume` (for evaluation)."""
    dicom = folder / DICOM_FOLDER if (folder / DICOM_FOLDER).is_dir() else folder
    volume = open_folder(dicom, workers=workers).volume
    rows = read_labels_csv(folder / LABELS_FILE)
    boxes: dict[str, Box] = read_voc_boxes(folder, rows)
    index_of = {uid: i for i, uid in enumerate(volume.sop_instance_uids)}
    labels: list[SliceLabel] = []
    missing = 0
    for row in rows:
        index = index_of.get(row.sop_instance_uid)
        if index is None:
            missing += 1
            continue
        labels.append(
            SliceLabel(
                slice_index=index,
                sop_instance_uid=row.sop_instance_uid,
                box=boxes.get(row.sop_instance_uid),
                group=row.group,
                degenerative=row.degenerative,
                grade=row.bilsky_grade,
            )
        )
    if missing:
        logger.warning("%s: %d labelled slices are not in the loaded series", folder.name, missing)
    labels.sort(key=lambda lab: lab.slice_index)
    return volume, LabelledStudy(folder.name, volume.hu, tuple(labels))


def load_studies(
    data_dir: str | os.PathLike[str],
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> list[LabelledStudy]:
    """Every labelled study under ``data_dir`` (see the module docstring)."""
    folders = find_studies(data_dir)
    if not folders:
        raise FileNotFoundError(f"{data_dir}: no labelled studies (<study>/{LABELS_FILE})")
    studies: list[LabelledStudy] = []
    for position, folder in enumerate(folders):
        check_cancel(cancel)
        studies.append(load_study(folder))
        report(progress, (position + 1) / len(folders), f"loaded {folder.name}")
    names = [s.name for s in studies]
    if len(set(names)) != len(names):
        raise ValueError(f"{data_dir}: two study folders share a name; names must be unique")
    return studies


@dataclass(frozen=True, slots=True)
class StudySource:
    """Study names known up front and the studies themselves, produced one at a time.

    Loading a folder yields each study when it is read, so only one HU volume is in memory
    while the training caches are built (40 studies of 512² slices would otherwise hold
    gigabytes).
    """

    names: tuple[str, ...]
    studies: Iterable[LabelledStudy]


def study_source(
    data_dir: str | os.PathLike[str] | None,
    studies: Sequence[LabelledStudy] | None = None,
    *,
    log: Callable[[str], None] | None = None,
    cancel: CancelToken | None = None,
) -> StudySource:
    """The given in-memory ``studies``, or the labelled studies of ``data_dir`` read lazily."""
    if studies is not None:
        return StudySource(tuple(s.name for s in studies), studies)
    if data_dir is None:
        raise ValueError("no training data: give --data DIR")
    folders = find_studies(data_dir)
    if not folders:
        raise FileNotFoundError(f"{data_dir}: no labelled studies (<study>/{LABELS_FILE})")
    names = tuple(f.name for f in folders)
    if len(set(names)) != len(names):
        raise ValueError(f"{data_dir}: two study folders share a name; names must be unique")

    def _read() -> Iterator[LabelledStudy]:
        for position, folder in enumerate(folders):
            check_cancel(cancel)
            if log is not None:
                log(f"reading study {position + 1}/{len(folders)}: {folder.name}")
            yield load_study(folder)

    return StudySource(names, _read())


def training_data_summary(
    data_dir: Path | None,
    names: Sequence[str],
    n_slices: int,
    train_names: Sequence[str],
    val_names: Sequence[str],
) -> dict[str, Any]:
    """What the manifest's ``training_data`` records (generator, seeds when known, counts)."""
    summary: dict[str, Any] = {
        "data_dir": str(data_dir) if data_dir is not None else "",
        "n_studies": len(names),
        "n_slices": n_slices,
        "train_studies": list(train_names),
        "val_studies": list(val_names),
    }
    if data_dir is not None:
        info = data_dir / "dataset.json"
        if info.is_file():
            import json

            try:
                summary["dataset"] = json.loads(info.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                logger.warning("%s is unreadable; training data description is partial", info)
    return summary
