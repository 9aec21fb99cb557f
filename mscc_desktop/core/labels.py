"""Ground-truth files: LabelImg Pascal VOC boxes, ``labels.csv`` and ``study.json``.

These are what a site's radiologists produce (LabelImg boxes around the spinal canal and a
per-slice grade, as in Hallinan et al. 2023) and what the synthetic generator writes, so
training, evaluation and the generator share one reader/writer.

Pixel conventions
-----------------
* :class:`~mscc_desktop.core.findings.Box` uses **continuous, 0-based pixel-edge**
  coordinates of the displayed slice: column ``c`` covers ``[c, c + 1)`` in x, row ``r``
  covers ``[r, r + 1)`` in y.
* Pascal VOC ``<bndbox>`` holds **1-based, inclusive integer pixel indices**: ``xmin`` is
  the first column inside the box (1 = the leftmost column), ``xmax`` the last. So
  ``Box(x0=xmin - 1, y0=ymin - 1, x1=xmax, y1=ymax)`` (the convention of the VOC devkit and
  of detectron2's VOC loader), and writing uses the smallest enclosing integer box.
* LabelImg itself writes ``int()`` of the dragged corner positions, clamping the minimum to
  1; read back with the rule above a hand-drawn box lands within one pixel of what was
  drawn. VOC files are written the way LabelImg writes them (tab-indented, no XML
  declaration, ``<source><database>Unknown</database></source>``, ``<segmented>0``, one
  ``<object>`` per box with ``pose``/``truncated``/``difficult``).

``labels.csv`` has one row per slice: ``sop_instance_uid, slice_index, z_mm,
vertebral_level, bilsky_grade, group, degenerative``. ``slice_index`` is the slice's
position in the loaded volume (head first, as :class:`~mscc_desktop.core.volume.Volume`
orders it); ``bilsky_grade`` may be empty when only the three-class group is known.
"""

from __future__ import annotations

import csv
import json
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mscc_desktop.core.errors import MsccError
from mscc_desktop.core.findings import Box
from mscc_desktop.core.grades import BilskyGrade, GradeGroup, parse_group

CANAL_LABEL = "canal"
"""Object name of the spinal-canal box in VOC files."""

LABELS_CSV_COLUMNS: tuple[str, ...] = (
    "sop_instance_uid",
    "slice_index",
    "z_mm",
    "vertebral_level",
    "bilsky_grade",
    "group",
    "degenerative",
)


class LabelFileError(MsccError):
    """A VOC, labels.csv or study.json file cannot be read or is inconsistent."""


# --------------------------------------------------------------------------- boxes
def box_to_voc(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """(xmin, ymin, xmax, ymax), 1-based inclusive, enclosing ``box`` within the image."""
    xmin = min(max(math.floor(box.x0) + 1, 1), width)
    ymin = min(max(math.floor(box.y0) + 1, 1), height)
    xmax = min(max(math.ceil(box.x1), xmin), width)
    ymax = min(max(math.ceil(box.y1), ymin), height)
    return xmin, ymin, xmax, ymax


def voc_to_box(xmin: float, ymin: float, xmax: float, ymax: float) -> Box:
    """Continuous 0-based edge box of a VOC ``bndbox``."""
    if xmax < xmin or ymax < ymin:
        raise ValueError(f"empty VOC box ({xmin}, {ymin}, {xmax}, {ymax})")
    return Box(float(xmin) - 1.0, float(ymin) - 1.0, float(xmax), float(ymax))


# --------------------------------------------------------------------------- VOC
@dataclass(frozen=True, slots=True)
class VocObject:
    """One labelled box. ``box`` is in continuous 0-based pixel-edge coordinates."""

    name: str
    box: Box
    difficult: bool = False
    truncated: bool = False
    pose: str = "Unspecified"


@dataclass(frozen=True, slots=True)
class VocAnnotation:
    """A LabelImg Pascal VOC annotation of one image (one axial slice)."""

    filename: str
    width: int
    height: int
    depth: int = 1
    objects: tuple[VocObject, ...] = ()
    folder: str = ""
    path: str = ""
    database: str = "Unknown"
    verified: bool = False

    def boxes(self, name: str | None = CANAL_LABEL) -> tuple[Box, ...]:
        """Boxes of objects called ``name`` (all objects when ``None``)."""
        return tuple(o.box for o in self.objects if name is None or o.name == name)


def voc_to_string(annotation: VocAnnotation) -> str:
    """The XML text LabelImg would write for ``annotation``."""
    root = ET.Element("annotation")
    if annotation.verified:
        root.set("verified", "yes")
    ET.SubElement(root, "folder").text = annotation.folder
    ET.SubElement(root, "filename").text = annotation.filename
    ET.SubElement(root, "path").text = annotation.path
    source = ET.SubElement(root, "source")
    ET.SubElement(source, "database").text = annotation.database
    size = ET.SubElement(root, "size")
    ET.SubElement(size, "width").text = str(annotation.width)
    ET.SubElement(size, "height").text = str(annotation.height)
    ET.SubElement(size, "depth").text = str(annotation.depth)
    ET.SubElement(root, "segmented").text = "0"
    for obj in annotation.objects:
        node = ET.SubElement(root, "object")
        ET.SubElement(node, "name").text = obj.name
        ET.SubElement(node, "pose").text = obj.pose
        xmin, ymin, xmax, ymax = box_to_voc(obj.box, annotation.width, annotation.height)
        touches = xmin == 1 or ymin == 1 or xmax == annotation.width or ymax == annotation.height
        ET.SubElement(node, "truncated").text = "1" if (obj.truncated or touches) else "0"
        ET.SubElement(node, "difficult").text = "1" if obj.difficult else "0"
        bnd = ET.SubElement(node, "bndbox")
        for tag, value in (("xmin", xmin), ("ymin", ymin), ("xmax", xmax), ("ymax", ymax)):
            ET.SubElement(bnd, tag).text = str(value)
    ET.indent(root, space="\t")
    return ET.tostring(root, encoding="unicode") + "\n"


def write_voc(annotation: VocAnnotation, path: str | os.PathLike[str]) -> Path:
    """Write ``annotation`` as a LabelImg-style VOC XML file (UTF-8)."""
    target = Path(path)
    target.write_text(voc_to_string(annotation), encoding="utf-8")
    return target


def read_voc(path: str | os.PathLike[str]) -> VocAnnotation:
    """Read a Pascal VOC XML file (LabelImg, CVAT, Roboflow exports).

    Raises
    ------
    LabelFileError
        The file is not well-formed XML, lacks ``<size>``, or has a malformed box.
    """
    source = Path(path)
    try:
        root = ET.parse(source).getroot()
    except (ET.ParseError, OSError) as error:
        raise LabelFileError(
            f"{source.name}: not a readable Pascal VOC file ({error}); "
            "re-export it from LabelImg as Pascal VOC"
        ) from error
    if root.tag != "annotation":
        raise LabelFileError(f"{source.name}: root element is <{root.tag}>, expected <annotation>")
    try:
        width = int(float(_text(root, "size/width")))
        height = int(float(_text(root, "size/height")))
        depth_text = root.findtext("size/depth")
        depth = int(float(depth_text)) if depth_text and depth_text.strip() else 1
        objects = []
        for node in root.findall("object"):
            bnd = node.find("bndbox")
            if bnd is None:
                raise ValueError("an <object> has no <bndbox>")
            coords = [float(_text(bnd, tag)) for tag in ("xmin", "ymin", "xmax", "ymax")]
            objects.append(
                VocObject(
                    name=(node.findtext("name") or "").strip(),
                    box=voc_to_box(*coords),
                    difficult=_flag(node.findtext("difficult")),
                    truncated=_flag(node.findtext("truncated")),
                    pose=(node.findtext("pose") or "Unspecified").strip(),
                )
            )
    except ValueError as error:
        raise LabelFileError(f"{source.name}: {error}") from error
    return VocAnnotation(
        filename=(root.findtext("filename") or "").strip(),
        width=width,
        height=height,
        depth=depth,
        objects=tuple(objects),
        folder=(root.findtext("folder") or "").strip(),
        path=(root.findtext("path") or "").strip(),
        database=(root.findtext("source/database") or "Unknown").strip(),
        verified=root.get("verified", "").lower() == "yes",
    )


def _text(node: ET.Element, tag: str) -> str:
    text = node.findtext(tag)
    if text is None or not text.strip():
        raise ValueError(f"missing <{tag}>")
    return text.strip()


def _flag(text: str | None) -> bool:
    return (text or "0").strip().lower() in ("1", "true", "yes")


# --------------------------------------------------------------------------- labels.csv
@dataclass(frozen=True, slots=True)
class SliceLabel:
    """The reference label of one axial slice."""

    sop_instance_uid: str
    slice_index: int
    z_mm: float
    vertebral_level: str
    bilsky_grade: BilskyGrade | None  # None when only the group was recorded
    group: GradeGroup
    degenerative: bool = False

    def __post_init__(self) -> None:
        if self.bilsky_grade is not None and self.bilsky_grade.group != self.group:
            raise ValueError(
                f"slice {self.slice_index}: grade {self.bilsky_grade.value} belongs to group "
                f"{self.bilsky_grade.group.value}, not {self.group.value}"
            )


def write_labels_csv(labels: Iterable[SliceLabel], path: str | os.PathLike[str]) -> Path:
    """Write ``labels.csv`` (columns :data:`LABELS_CSV_COLUMNS`, one row per slice)."""
    target = Path(path)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(LABELS_CSV_COLUMNS)
        for label in labels:
            writer.writerow(
                (
                    label.sop_instance_uid,
                    label.slice_index,
                    f"{label.z_mm:.3f}",
                    label.vertebral_level,
                    label.bilsky_grade.value if label.bilsky_grade is not None else "",
                    label.group.value,
                    1 if label.degenerative else 0,
                )
            )
    return target


def read_labels_csv(path: str | os.PathLike[str]) -> tuple[SliceLabel, ...]:
    """Read ``labels.csv``; the group may be derived from the grade when left empty.

    Raises
    ------
    LabelFileError
        Missing columns, unparsable values, or a grade that contradicts its group; the
        message names the row.
    """
    source = Path(path)
    try:
        handle = source.open(newline="", encoding="utf-8-sig")
    except OSError as error:
        raise LabelFileError(f"{source.name}: cannot be opened ({error})") from error
    with handle:
        reader = csv.DictReader(handle)
        missing = {"slice_index", "bilsky_grade", "group"} - set(reader.fieldnames or ())
        if missing:
            raise LabelFileError(
                f"{source.name}: missing column(s) {', '.join(sorted(missing))}; "
                f"expected {', '.join(LABELS_CSV_COLUMNS)}"
            )
        labels = []
        for line, row in enumerate(reader, start=2):
            try:
                labels.append(_label_from_row(row))
            except ValueError as error:
                raise LabelFileError(f"{source.name}, line {line}: {error}") from error
    return tuple(labels)


def _label_from_row(row: Mapping[str, str | None]) -> SliceLabel:
    grade_text = (row.get("bilsky_grade") or "").strip()
    group_text = (row.get("group") or "").strip()
    grade = BilskyGrade(grade_text.lower().removeprefix("bilsky").strip()) if grade_text else None
    if group_text:
        group = parse_group(group_text)
    elif grade is not None:
        group = grade.group
    else:
        raise ValueError("neither bilsky_grade nor group is given")
    z_text = (row.get("z_mm") or "").strip()
    return SliceLabel(
        sop_instance_uid=(row.get("sop_instance_uid") or "").strip(),
        slice_index=int((row.get("slice_index") or "").strip()),
        z_mm=float(z_text) if z_text else math.nan,
        vertebral_level=(row.get("vertebral_level") or "").strip(),
        bilsky_grade=grade,
        group=group,
        degenerative=_flag(row.get("degenerative")),
    )


# --------------------------------------------------------------------------- study.json
@dataclass(frozen=True, slots=True)
class LevelRecord:
    """A vertebral body's z-range in the study."""

    name: str
    z_top_mm: float
    z_bottom_mm: float


@dataclass(frozen=True, slots=True)
class LesionRecord:
    """One lesion: ``kind`` is "epidural", "bone" or "degenerative"."""

    kind: str
    level: str
    z_top_mm: float
    z_bottom_mm: float
    peak_grade: BilskyGrade | None = None
    slice_range: tuple[int, int] | None = None  # first and last slice index showing it
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StudyRecord:
    """The ``study.json`` of a labelled study (generator runs fill ``parameters``)."""

    study_id: str
    generator: str = ""
    generator_version: str = ""
    seed: int | None = None
    levels: tuple[LevelRecord, ...] = ()
    lesions: tuple[LesionRecord, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)


def study_to_dict(record: StudyRecord) -> dict[str, Any]:
    """JSON-ready dict of ``record`` (stable key order)."""
    return {
        "study_id": record.study_id,
        "generator": record.generator,
        "generator_version": record.generator_version,
        "seed": record.seed,
        "levels": [
            {"name": lv.name, "z_top_mm": lv.z_top_mm, "z_bottom_mm": lv.z_bottom_mm}
            for lv in record.levels
        ],
        "lesions": [
            {
                "kind": les.kind,
                "level": les.level,
                "z_top_mm": les.z_top_mm,
                "z_bottom_mm": les.z_bottom_mm,
                "peak_grade": les.peak_grade.value if les.peak_grade is not None else None,
                "slice_range": list(les.slice_range) if les.slice_range is not None else None,
                "detail": dict(les.detail),
            }
            for les in record.lesions
        ],
        **dict(record.extra),
        "parameters": dict(record.parameters),
    }


def _pair(value: Any) -> tuple[int, int] | None:
    if not value:
        return None
    first, last = value
    return (int(first), int(last))


def write_study_json(record: StudyRecord, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    target.write_text(json.dumps(study_to_dict(record), indent=2) + "\n", encoding="utf-8")
    return target


def read_study_json(path: str | os.PathLike[str]) -> StudyRecord:
    """Read ``study.json``; unknown top-level keys are kept in ``extra``."""
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise LabelFileError(f"{source.name}: not a readable study JSON ({error})") from error
    if not isinstance(data, dict) or "study_id" not in data:
        raise LabelFileError(f"{source.name}: expected an object with a 'study_id'")
    try:
        levels = tuple(
            LevelRecord(str(lv["name"]), float(lv["z_top_mm"]), float(lv["z_bottom_mm"]))
            for lv in data.get("levels", [])
        )
        lesions = tuple(
            LesionRecord(
                kind=str(les["kind"]),
                level=str(les.get("level", "")),
                z_top_mm=float(les["z_top_mm"]),
                z_bottom_mm=float(les["z_bottom_mm"]),
                peak_grade=BilskyGrade(les["peak_grade"]) if les.get("peak_grade") else None,
                slice_range=_pair(les.get("slice_range")),
                detail=dict(les.get("detail", {})),
            )
            for les in data.get("lesions", [])
        )
    except (KeyError, TypeError, ValueError) as error:
        raise LabelFileError(f"{source.name}: malformed levels or lesions ({error})") from error
    known = {
        "study_id",
        "generator",
        "generator_version",
        "seed",
        "levels",
        "lesions",
        "parameters",
    }
    seed = data.get("seed")
    return StudyRecord(
        study_id=str(data["study_id"]),
        generator=str(data.get("generator", "")),
        generator_version=str(data.get("generator_version", "")),
        seed=int(seed) if seed is not None else None,
        levels=levels,
        lesions=lesions,
        parameters=dict(data.get("parameters", {})),
        extra={k: v for k, v in data.items() if k not in known},
    )


# --------------------------------------------------------------------------- folders
def read_voc_boxes(
    folder: str | os.PathLike[str],
    rows: Iterable[SliceLabel] | None = None,
    *,
    name: str = CANAL_LABEL,
) -> dict[str, Box]:
    """Canal boxes of a study folder keyed by SOP Instance UID.

    Every ``*.xml`` under ``folder`` is read; its ``<filename>`` is looked up next to the XML,
    in ``folder/dicom`` and in ``folder`` (LabelImg stores the image name there), and that
    DICOM file's (0008,0018) SOP Instance UID keys the first box whose object name contains
    ``name`` (case-insensitive; a file with a single unnamed-class box also counts). With
    ``rows``, only UIDs that appear in them are returned.

    Raises
    ------
    LabelFileError
        A malformed XML file (named in the message).
    """
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    root = Path(folder)
    wanted = {row.sop_instance_uid for row in rows} if rows is not None else None
    boxes: dict[str, Box] = {}
    for xml in sorted(root.rglob("*.xml")):
        annotation = read_voc(xml)
        chosen = [o.box for o in annotation.objects if name.lower() in o.name.lower()]
        if not chosen and len(annotation.objects) == 1:
            chosen = [annotation.objects[0].box]
        if not chosen or not annotation.filename:
            continue
        image_name = Path(annotation.filename).name
        for candidate in (xml.parent / image_name, root / "dicom" / image_name, root / image_name):
            if not candidate.is_file():
                continue
            try:
                header = dcmread(
                    candidate, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]
                )
            except (InvalidDicomError, OSError, ValueError, TypeError, AttributeError):
                continue
            uid = str(getattr(header, "SOPInstanceUID", "") or "")
            if uid and (wanted is None or uid in wanted):
                boxes.setdefault(uid, chosen[0])
            break
    return boxes


DATASET_FILE = "dataset.json"
"""The manifest ``dataset export --reviewed`` writes beside its study folders (counts by
group and each study folder's pseudonymous patient key)."""


def read_dataset_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """``folder``'s dataset manifest as written; :class:`LabelFileError` when unreadable."""
    path = Path(folder) / DATASET_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise LabelFileError(f"{path} cannot be read ({error.__class__.__name__}).") from error
    if not isinstance(data, dict):
        raise LabelFileError(f"{path} is not a dataset manifest (no JSON object).")
    return data


def dataset_patients(folder: str | os.PathLike[str]) -> dict[str, str]:
    """Study folder name -> patient key from ``folder``'s dataset manifest, for splitting by
    patient; empty when there is no manifest (then each study is its own patient)."""
    if not (Path(folder) / DATASET_FILE).is_file():
        return {}
    series = read_dataset_manifest(folder).get("series", [])
    return {str(entry["folder"]): str(entry["patient"]) for entry in series}
