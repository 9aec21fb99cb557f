"""LabelImg Pascal VOC files, labels.csv and study.json: read, write and conventions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mscc_desktop.core.dicom.write import CtSeriesSpec, write_ct_series
from mscc_desktop.core.findings import Box
from mscc_desktop.core.grades import BilskyGrade, GradeGroup
from mscc_desktop.core.labels import (
    LABELS_CSV_COLUMNS,
    LabelFileError,
    LesionRecord,
    LevelRecord,
    SliceLabel,
    StudyRecord,
    VocAnnotation,
    VocObject,
    box_to_voc,
    read_labels_csv,
    read_study_json,
    read_voc,
    read_voc_boxes,
    voc_to_box,
    voc_to_string,
    write_labels_csv,
    write_study_json,
    write_voc,
)

# Written by LabelImg 1.8 for a 512x512 greyscale PNG (box dragged around the canal).
LABELIMG_XML = """<annotation>
\t<folder>slices</folder>
\t<filename>IM00042.png</filename>
\t<path>C:\\data\\slices\\IM00042.png</path>
\t<source>
\t\t<database>Unknown</database>
\t</source>
\t<size>
\t\t<width>512</width>
\t\t<height>512</height>
\t\t<depth>1</depth>
\t</size>
\t<segmented>0</segmented>
\t<object>
\t\t<name>canal</name>
\t\t<pose>Unspecified</pose>
\t\t<truncated>0</truncated>
\t\t<difficult>0</difficult>
\t\t<bndbox>
\t\t\t<xmin>241</xmin>
\t\t\t<ymin>318</ymin>
\t\t\t<xmax>262</xmax>
\t\t\t<ymax>337</ymax>
\t\t</bndbox>
\t</object>
</annotation>
"""


def test_voc_indices_are_one_based_and_inclusive() -> None:
    # Pixels 0..9 (columns) and 0..4 (rows) inclusive: edges [0, 10) x [0, 5).
    assert box_to_voc(Box(0.0, 0.0, 10.0, 5.0), 512, 512) == (1, 1, 10, 5)
    assert voc_to_box(1, 1, 10, 5) == Box(0.0, 0.0, 10.0, 5.0)
    # A fractional box is enclosed by whole pixels.
    assert box_to_voc(Box(3.2, 4.7, 8.1, 9.0), 512, 512) == (4, 5, 9, 9)


def test_voc_boxes_are_clamped_to_the_image() -> None:
    assert box_to_voc(Box(-3.0, -1.0, 600.0, 700.0), 512, 256) == (1, 1, 512, 256)


def test_reads_a_file_written_by_labelimg(tmp_path: Path) -> None:
    path = tmp_path / "IM00042.xml"
    path.write_text(LABELIMG_XML, encoding="utf-8")
    annotation = read_voc(path)
    assert annotation.filename == "IM00042.png"
    assert (annotation.width, annotation.height, annotation.depth) == (512, 512, 1)
    assert annotation.boxes() == (Box(240.0, 317.0, 262.0, 337.0),)


def test_written_file_matches_labelimg_layout(tmp_path: Path) -> None:
    annotation = VocAnnotation(
        filename="IM00042.png",
        width=512,
        height=512,
        folder="slices",
        path="C:\\data\\slices\\IM00042.png",
        objects=(VocObject("canal", Box(240.0, 317.0, 262.0, 337.0)),),
    )
    assert voc_to_string(annotation) == LABELIMG_XML
    path = write_voc(annotation, tmp_path / "a.xml")
    assert read_voc(path) == annotation


def test_box_touching_the_border_is_marked_truncated() -> None:
    text = voc_to_string(
        VocAnnotation("a.png", 64, 64, objects=(VocObject("canal", Box(0, 5, 10, 20)),))
    )
    assert "<truncated>1</truncated>" in text


@pytest.mark.parametrize(
    "content",
    [
        "not xml at all",
        "<other/>",
        "<annotation><size><width>5</width></size></annotation>",
        LABELIMG_XML.replace("<xmax>262</xmax>", "<xmax>abc</xmax>"),
        LABELIMG_XML.replace("<xmax>262</xmax>", "<xmax>10</xmax>"),
    ],
)
def test_malformed_voc_files_raise_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LabelFileError, match=r"bad\.xml"):
        read_voc(path)


def _labels() -> list[SliceLabel]:
    return [
        SliceLabel("1.2.3.1", 0, 120.5, "T5", BilskyGrade.G0, GradeGroup.NORMAL),
        SliceLabel("1.2.3.2", 1, 117.5, "T5/T6", BilskyGrade.G1B, GradeGroup.LOW),
        SliceLabel("1.2.3.3", 2, 114.5, "T6", BilskyGrade.G3, GradeGroup.HIGH),
        SliceLabel("1.2.3.4", 3, 111.5, "T6", BilskyGrade.G0, GradeGroup.NORMAL, degenerative=True),
    ]


def test_labels_csv_round_trip(tmp_path: Path) -> None:
    path = write_labels_csv(_labels(), tmp_path / "labels.csv")
    assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(LABELS_CSV_COLUMNS)
    assert list(read_labels_csv(path)) == _labels()


def test_group_only_and_grade_only_rows_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(
        "sop_instance_uid,slice_index,bilsky_grade,group\n1.2,0,,High grade\n1.3,1,1a,\n",
        encoding="utf-8",
    )
    first, second = read_labels_csv(path)
    assert first.group == GradeGroup.HIGH and first.bilsky_grade is None
    assert second.group == GradeGroup.LOW and second.bilsky_grade == BilskyGrade.G1A


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("slice_index,bilsky_grade\n0,1a\n", "missing column"),
        ("sop_instance_uid,slice_index,bilsky_grade,group\n1.2,0,3,low\n", "line 2"),
        ("sop_instance_uid,slice_index,bilsky_grade,group\n1.2,x,1a,low\n", "line 2"),
        ("sop_instance_uid,slice_index,bilsky_grade,group\n1.2,0,,\n", "line 2"),
    ],
)
def test_bad_labels_csv_names_the_problem(tmp_path: Path, body: str, match: str) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(LabelFileError, match=match):
        read_labels_csv(path)


def test_study_json_round_trip(tmp_path: Path) -> None:
    record = StudyRecord(
        study_id="synth_0001",
        generator="mscc-desktop synth",
        generator_version="1.0.0",
        seed=17,
        levels=(LevelRecord("T6", 100.0, 81.0),),
        lesions=(
            LesionRecord(
                "epidural", "T6", 101.0, 75.0, BilskyGrade.G2, (3, 11), {"direction_deg": 0.0}
            ),
            LesionRecord("degenerative", "T9/T10", 20.0, 10.0),
        ),
        parameters={"scan": {"matrix": 512}},
        extra={"grade_counts": {"0": 100}},
    )
    path = write_study_json(record, tmp_path / "study.json")
    assert read_study_json(path) == record


def test_unreadable_study_json_raises(tmp_path: Path) -> None:
    path = tmp_path / "study.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(LabelFileError, match="study_id"):
        read_study_json(path)


def test_voc_boxes_are_keyed_by_the_dicom_sop_instance_uid(tmp_path: Path) -> None:
    hu = np.zeros((2, 32, 32), dtype=np.int16)
    spec = CtSeriesSpec(pixel_spacing_mm=(1.0, 1.0), z_positions_mm=(0.0, -1.0), seed="labels")
    written = write_ct_series(hu, spec, tmp_path / "dicom")
    for path, x0 in zip(written.paths, (5.0, 9.0), strict=True):
        annotation = VocAnnotation(
            path.name, 32, 32, objects=(VocObject("canal", Box(x0, 4.0, 20.0, 15.0)),)
        )
        write_voc(annotation, tmp_path / f"{path.stem}.xml")
    boxes = read_voc_boxes(tmp_path)
    assert boxes == {
        written.sop_instance_uids[0]: Box(5.0, 4.0, 20.0, 15.0),
        written.sop_instance_uids[1]: Box(9.0, 4.0, 20.0, 15.0),
    }
    only = [SliceLabel(written.sop_instance_uids[1], 1, -1.0, "", None, GradeGroup.NORMAL)]
    assert list(read_voc_boxes(tmp_path, only)) == [written.sop_instance_uids[1]]
