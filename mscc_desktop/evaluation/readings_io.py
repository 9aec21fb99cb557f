"""Reading and writing readings: reader CSV files and a labelled data folder's labels.csv files.

Reader / reference CSV (UTF-8, a header row, one row per image; column names are matched
without regard to case, and a few aliases are accepted):

================  ==========================================================================
column            meaning
================  ==========================================================================
study             study identifier (aliases: study_id, study_uid, study_instance_uid)
image_id          image identifier within the study (aliases: image, sop_instance_uid)
group             grade: normal/low/high or a Bilsky grade 0, 1a, 1b, 1c, 2, 3
                  (aliases: grade, bilsky_grade); any spelling ``core.grades.parse_group`` takes
p_normal, p_low,  optional; all three or none; each in [0, 1], summing to 1 (within 0.01)
p_high
degenerative      optional, reference only: true/false, yes/no, 1/0 or empty (false)
================  ==========================================================================

A labelled data folder (the synthetic layout) holds ``DATA_DIR/<study>/labels.csv`` with columns
sop_instance_uid, slice_index, z_mm, vertebral_level, bilsky_grade, group, degenerative; the
study id is the folder name and the image id the SOP Instance UID.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from mscc_desktop.core.errors import EvaluationInputError
from mscc_desktop.core.grades import GradeGroup, parse_group
from mscc_desktop.evaluation.readings import ImageReading, Readings

logger = logging.getLogger(__name__)

READER_COLUMNS: tuple[str, ...] = ("study", "image_id", "group", "p_normal", "p_low", "p_high")
_ALIASES: dict[str, tuple[str, ...]] = {
    "study": ("study", "study_id", "study_uid", "study_instance_uid"),
    "image_id": ("image_id", "image", "sop_instance_uid"),
    "group": ("group", "grade", "bilsky_grade"),
}
_PROBABILITY_COLUMNS = ("p_normal", "p_low", "p_high")
_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f", ""}
_SUM_TOLERANCE = 0.01
LABELS_FILE = "labels.csv"


def _resolve_columns(header: Iterable[str], path: Path) -> dict[str, str]:
    """Map canonical column names to the file's own header names."""
    by_lower = {name.strip().lower(): name for name in header if name is not None}
    resolved: dict[str, str] = {}
    for canonical, aliases in _ALIASES.items():
        found = next((by_lower[a] for a in aliases if a in by_lower), None)
        if found is None:
            raise EvaluationInputError(
                f"{path}: no {canonical!r} column (accepted names: {', '.join(aliases)}); "
                f"the header has: {', '.join(by_lower) or 'nothing'}"
            )
        resolved[canonical] = found
    present = [c for c in _PROBABILITY_COLUMNS if c in by_lower]
    if present and len(present) != len(_PROBABILITY_COLUMNS):
        raise EvaluationInputError(
            f"{path}: probability columns must come as a set (p_normal, p_low, p_high); "
            f"found only {', '.join(present)}"
        )
    for column in present:
        resolved[column] = by_lower[column]
    if "degenerative" in by_lower:
        resolved["degenerative"] = by_lower["degenerative"]
    return resolved


def parse_flag(text: str, *, where: str) -> bool:
    """A yes/no cell; ``where`` is "file, line N" for the error message."""
    cleaned = text.strip().lower()
    if cleaned in _TRUE:
        return True
    if cleaned in _FALSE:
        return False
    raise EvaluationInputError(
        f"{where}: degenerative must be true/false (or yes/no, 1/0), got {text!r}"
    )


def _parse_group(text: str, *, where: str, column: str) -> GradeGroup:
    try:
        return parse_group(text)
    except ValueError as error:
        raise EvaluationInputError(f"{where}, column {column!r}: {error}") from None


def _parse_probabilities(
    row: Mapping[str, str | None], columns: Mapping[str, str], *, where: str
) -> tuple[float, float, float]:
    values: list[float] = []
    for name in _PROBABILITY_COLUMNS:
        cell = (row.get(columns[name]) or "").strip()
        try:
            value = float(cell)
        except ValueError:
            raise EvaluationInputError(
                f"{where}: {name} must be a number in [0, 1], got {cell!r} (when the probability "
                "columns are present every row needs all three)"
            ) from None
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise EvaluationInputError(f"{where}: {name} must be in [0, 1], got {cell!r}")
        values.append(value)
    total = sum(values)
    if abs(total - 1.0) > _SUM_TOLERANCE:
        raise EvaluationInputError(
            f"{where}: p_normal + p_low + p_high must be 1 (they are the three groups' "
            f"probabilities), got {total:.4f}"
        )
    return (values[0], values[1], values[2])


def read_readings_csv(path: str | os.PathLike[str], *, name: str | None = None) -> Readings:
    """Read a reader's (or the reference's) CSV file; see the module docstring for its columns.

    Parameters
    ----------
    path
        The CSV file.
    name
        The reader's name in tables (default: the file's stem).

    Raises
    ------
    EvaluationInputError
        Missing file or columns, an unknown grade (file, line and value), bad probabilities,
        an image listed twice (with both line numbers), or no rows.
    """
    file = Path(path)
    if not file.is_file():
        raise EvaluationInputError(f"{file}: no such file")
    images: list[ImageReading] = []
    first_line: dict[tuple[str, str], int] = {}
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = _resolve_columns(reader.fieldnames or [], file)
            has_probabilities = "p_normal" in columns
            for row in reader:
                where = f"{file}, line {reader.line_num}"
                study = (row.get(columns["study"]) or "").strip()
                image_id = (row.get(columns["image_id"]) or "").strip()
                if not study and not image_id and not any((v or "").strip() for v in row.values()):
                    continue  # a blank line, as spreadsheets leave at the end
                if not study or not image_id:
                    raise EvaluationInputError(f"{where}: empty study or image id")
                key = (study, image_id)
                if key in first_line:
                    raise EvaluationInputError(
                        f"{where}: study {study!r} image {image_id!r} is already graded on line "
                        f"{first_line[key]}; give each image exactly one row"
                    )
                first_line[key] = reader.line_num
                group = _parse_group(
                    row.get(columns["group"]) or "", where=where, column=columns["group"]
                )
                probabilities = (
                    _parse_probabilities(row, columns, where=where) if has_probabilities else None
                )
                degenerative = (
                    parse_flag(row.get(columns["degenerative"]) or "", where=where)
                    if "degenerative" in columns
                    else False
                )
                images.append(ImageReading(study, image_id, group, probabilities, degenerative))
    except UnicodeDecodeError:
        raise EvaluationInputError(f"{file}: not a UTF-8 text (CSV) file") from None
    except csv.Error as error:
        raise EvaluationInputError(f"{file}: not a readable CSV file ({error})") from None
    if not images:
        raise EvaluationInputError(f"{file}: no rows below the header")
    return Readings(name or file.stem, tuple(images), source=str(file))


def _read_labels_file(file: Path, study: str) -> list[ImageReading]:
    images: list[ImageReading] = []
    with file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = {h.strip().lower(): h for h in (reader.fieldnames or []) if h is not None}
        if "sop_instance_uid" not in header or not ({"group", "bilsky_grade"} & header.keys()):
            raise EvaluationInputError(
                f"{file}: a labels file needs sop_instance_uid and group (or bilsky_grade) columns"
            )
        for row in reader:
            where = f"{file}, line {reader.line_num}"
            uid = (row.get(header["sop_instance_uid"]) or "").strip()
            if not uid:
                raise EvaluationInputError(f"{where}: empty sop_instance_uid")
            group = _labels_group(row, header, where=where)
            degenerative = False
            if "degenerative" in header:
                degenerative = parse_flag(row.get(header["degenerative"]) or "", where=where)
            images.append(ImageReading(study, uid, group, None, degenerative))
    return images


def _labels_group(
    row: Mapping[str, str | None], header: Mapping[str, str], *, where: str
) -> GradeGroup:
    """The group column, checked against the Bilsky grade when both are given."""
    group_text = (row.get(header["group"]) or "").strip() if "group" in header else ""
    grade_text = (row.get(header["bilsky_grade"]) or "").strip() if "bilsky_grade" in header else ""
    group = _parse_group(group_text, where=where, column="group") if group_text else None
    from_grade = (
        _parse_group(grade_text, where=where, column="bilsky_grade") if grade_text else None
    )
    if group is not None and from_grade is not None and group is not from_grade:
        raise EvaluationInputError(
            f"{where}: group {group_text!r} contradicts Bilsky grade {grade_text!r} "
            f"(which is {from_grade.value})"
        )
    result = group if group is not None else from_grade
    if result is None:
        raise EvaluationInputError(f"{where}: neither group nor bilsky_grade is filled in")
    return result


def read_labels_folder(data_dir: str | os.PathLike[str], *, name: str = "reference") -> Readings:
    """The reference standard of a labelled data folder: every ``<study>/labels.csv``.

    Kept apart from ``core.labels.read_labels_csv`` on purpose: that reader wants the whole
    synthetic layout (``slice_index``, both grade columns), while a site's reference file
    here needs only ``sop_instance_uid`` and a group or a grade, and its errors name the
    file and line for the person who wrote it.

    Raises
    ------
    EvaluationInputError
        No such folder, no labels files, or a bad labels file (file, line and value).
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise EvaluationInputError(f"{root}: no such folder")
    files = sorted(p for p in root.glob(f"*/{LABELS_FILE}") if p.is_file())
    if not files:
        raise EvaluationInputError(
            f"{root}: no labelled studies found (expected {root}/<study>/{LABELS_FILE})"
        )
    images: list[ImageReading] = []
    for file in files:
        try:
            images.extend(_read_labels_file(file, file.parent.name))
        except UnicodeDecodeError:
            raise EvaluationInputError(f"{file}: not a UTF-8 text (CSV) file") from None
        except csv.Error as error:
            raise EvaluationInputError(f"{file}: not a readable CSV file ({error})") from None
    logger.debug("read %d labelled images from %d studies", len(images), len(files))
    return Readings(name, tuple(images), source=str(root))


def write_readings_csv(readings: Readings, path: str | os.PathLike[str]) -> Path:
    """Write readings in the reader CSV format (probability columns when every image has them)."""
    file = Path(path)
    with_probabilities = readings.has_probabilities
    columns = list(READER_COLUMNS if with_probabilities else READER_COLUMNS[:3])
    with file.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for image in readings.images:
            row: list[str] = [image.study, image.image_id, image.group.value]
            if with_probabilities and image.probabilities is not None:
                row.extend(repr(float(p)) for p in image.probabilities)
            writer.writerow(row)
    return file
