"""Reader CSV files, labelled data folders and matching readers to the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mscc_desktop.core.errors import EvaluationInputError
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.evaluation import (
    align,
    read_labels_folder,
    read_readings_csv,
    write_readings_csv,
)
from tests.evaluation.helpers import readings


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_aliases_bilsky_grades_probabilities_and_a_bom(tmp_path: Path) -> None:
    file = tmp_path / "dl.csv"
    file.write_bytes(
        "\ufeffStudy_UID,SOP_Instance_UID,Bilsky_Grade,p_normal,p_low,p_high\n"
        "S1,1.1,0,0.9,0.05,0.05\n"
        "S1,1.2,1b,0.2,0.7,0.1\n"
        "S2,2.1,Bilsky 2,0.1,0.1,0.8\n"
        ",,,,,\n".encode()
    )
    result = read_readings_csv(file, name="DL")
    assert result.name == "DL"
    assert [r.group for r in result.images] == [GradeGroup.NORMAL, GradeGroup.LOW, GradeGroup.HIGH]
    assert result.images[1].probabilities == (0.2, 0.7, 0.1)
    assert result.has_probabilities
    assert result.images[2].key == ("S2", "2.1")


def test_unknown_grade_names_file_line_and_value(tmp_path: Path) -> None:
    file = _write(tmp_path / "rad.csv", "study,image_id,group\nS1,a,normal\nS1,b,severe\n")
    with pytest.raises(EvaluationInputError) as error:
        read_readings_csv(file)
    message = str(error.value)
    assert f"{file}, line 3" in message
    assert "'severe'" in message
    assert "normal/low/high" in message


def test_bare_one_is_not_guessed(tmp_path: Path) -> None:
    file = _write(tmp_path / "rad.csv", "study,image_id,group\nS1,a,1\n")
    with pytest.raises(EvaluationInputError, match=r"line 2.*'1'"):
        read_readings_csv(file)


def test_duplicate_image_names_both_lines(tmp_path: Path) -> None:
    file = _write(tmp_path / "rad.csv", "study,image_id,group\nS1,a,normal\nS1,b,low\nS1,a,high\n")
    with pytest.raises(EvaluationInputError, match=r"line 4: study 'S1' image 'a'.*line 2"):
        read_readings_csv(file)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("study,group\nS1,normal\n", "no 'image_id' column"),
        ("study,image_id,group,p_high\nS1,a,high,0.9\n", "as a set"),
        ("study,image_id,group,p_normal,p_low,p_high\nS1,a,high,0.5,0.5,0.5\n", "must be 1"),
        ("study,image_id,group,p_normal,p_low,p_high\nS1,a,high,,,\n", "line 2: p_normal"),
        ("study,image_id,group,p_normal,p_low,p_high\nS1,a,high,1.2,-0.1,-0.1\n", "in \\[0, 1\\]"),
        ("study,image_id,group,degenerative\nS1,a,high,maybe\n", "degenerative must be"),
        ("study,image_id,group\n", "no rows"),
        ("study,image_id,group\nS1,,high\n", "empty study or image id"),
    ],
)
def test_bad_files_get_clear_messages(tmp_path: Path, text: str, expected: str) -> None:
    file = _write(tmp_path / "bad.csv", text)
    with pytest.raises(EvaluationInputError, match=expected):
        read_readings_csv(file)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(EvaluationInputError, match="no such file"):
        read_readings_csv(tmp_path / "absent.csv")
    binary = tmp_path / "image.csv"
    binary.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x80\x81")
    with pytest.raises(EvaluationInputError, match="UTF-8"):
        read_readings_csv(binary)


def test_round_trip_through_the_writer(tmp_path: Path) -> None:
    original = readings(
        "DL",
        [("S1", "a", "normal"), ("S1", "b", "high")],
        probabilities=[(0.8, 0.15, 0.05), (0.1, 0.2, 0.7)],
    )
    again = read_readings_csv(write_readings_csv(original, tmp_path / "dl.csv"), name="DL")
    assert again.images == original.images


def _labels_folder(root: Path) -> Path:
    header = "sop_instance_uid,slice_index,z_mm,vertebral_level,bilsky_grade,group,degenerative\n"
    (root / "study_b").mkdir(parents=True)
    (root / "study_a").mkdir()
    (root / "not_a_study").mkdir()
    _write(
        root / "study_a" / "labels.csv",
        header + "1.2.1,0,10.0,T4,0,normal,false\n1.2.2,1,6.0,T5,1c,high,false\n",
    )
    _write(root / "study_b" / "labels.csv", header + "1.3.1,0,4.0,T9,1a,low,true\n")
    return root


def test_reads_a_labelled_data_folder(tmp_path: Path) -> None:
    result = read_labels_folder(_labels_folder(tmp_path / "data"))
    assert [(r.study, r.image_id, r.group, r.degenerative) for r in result.images] == [
        ("study_a", "1.2.1", GradeGroup.NORMAL, False),
        ("study_a", "1.2.2", GradeGroup.HIGH, False),
        ("study_b", "1.3.1", GradeGroup.LOW, True),
    ]


def test_labels_with_contradicting_group_and_grade(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    _write(tmp_path / "s" / "labels.csv", "sop_instance_uid,bilsky_grade,group\n1.1,2,low\n")
    with pytest.raises(EvaluationInputError, match="line 2: group 'low' contradicts Bilsky"):
        read_labels_folder(tmp_path)


def test_empty_data_folder(tmp_path: Path) -> None:
    with pytest.raises(EvaluationInputError, match="no labelled studies"):
        read_labels_folder(tmp_path)


REFERENCE_ROWS = [
    ("S1", "a", "normal"),
    ("S1", "b", "high"),
    ("S2", "c", "low"),
    ("S2", "d", "normal"),
]


def test_align_orders_by_study_and_image_and_excludes_degenerative() -> None:
    reference = readings("reference", REFERENCE_ROWS[::-1], degenerative={"d"})
    reader = readings("R", [("S2", "c", "high"), ("S1", "b", "high"), ("S1", "a", "low")])
    aligned = align(reference, [reader])
    assert aligned.image_keys == (("S1", "a"), ("S1", "b"), ("S2", "c"))
    assert aligned.study_index.tolist() == [0, 0, 1]
    assert aligned.reference.tolist() == [0, 2, 1]
    assert aligned.readers[0].codes.tolist() == [1, 2, 2]
    assert aligned.n_excluded_degenerative == 1
    # A reader may also grade the excluded image; it is dropped.
    with_d = readings("R", [*REFERENCE_ROWS])
    assert align(reference, [with_d]).n_images == 3
    # Asked to include them, the reader must grade it.
    with pytest.raises(EvaluationInputError, match="1 reference image"):
        align(reference, [reader], include_degenerative=True)


def test_mismatched_ids_say_how_many_and_give_examples() -> None:
    reference = readings("reference", REFERENCE_ROWS)
    reader = readings("Rad 1", [("S1", "a", "normal"), ("S1", "x", "low"), ("S2", "c", "low")])
    with pytest.raises(EvaluationInputError) as error:
        align(reference, [reader])
    message = str(error.value)
    assert "reader 'Rad 1' (Rad 1.csv)" in message
    assert (
        "2 reference image(s) have no reading (e.g. study 'S1' image 'b', study 'S2' image 'd')"
        in message
    )
    assert "1 of its image(s) are not in the reference (e.g. study 'S1' image 'x')" in message


def test_mismatched_study_ids_get_a_hint() -> None:
    reference = readings("reference", REFERENCE_ROWS)
    renamed = readings("R", [(s.lower(), i, g) for s, i, g in REFERENCE_ROWS])
    with pytest.raises(EvaluationInputError, match="image ids agree but their study ids differ"):
        align(reference, [renamed])


def test_many_mismatches_are_summarised() -> None:
    reference = readings("reference", [("S", str(i), "normal") for i in range(40)])
    reader = readings("R", [("S", str(i), "normal") for i in range(10)])
    with pytest.raises(EvaluationInputError, match=r"30 reference image.*and 25 more"):
        align(reference, [reader])


def test_duplicates_and_reader_names_are_refused() -> None:
    reference = readings("reference", [*REFERENCE_ROWS, ("S1", "a", "low")])
    with pytest.raises(EvaluationInputError, match="1 image\\(s\\) more than once"):
        align(reference, [readings("R", REFERENCE_ROWS)])
    ok = readings("reference", REFERENCE_ROWS)
    with pytest.raises(EvaluationInputError, match="distinct; repeated: R"):
        align(ok, [readings("R", REFERENCE_ROWS), readings("R", REFERENCE_ROWS)])
    with pytest.raises(EvaluationInputError, match="at least one reader"):
        align(ok, [])


def test_nothing_left_after_exclusion() -> None:
    reference = readings("reference", REFERENCE_ROWS, degenerative={"a", "b", "c", "d"})
    with pytest.raises(EvaluationInputError, match=r"no image left.*4 excluded"):
        align(reference, [readings("R", REFERENCE_ROWS)])


def test_probabilities_are_kept_only_when_complete() -> None:
    reference = readings("reference", REFERENCE_ROWS[:2])
    probs = [(0.9, 0.05, 0.05), (0.1, 0.1, 0.8)]
    aligned = align(reference, [readings("R", REFERENCE_ROWS[:2], probabilities=probs)])
    probabilities = aligned.readers[0].probabilities
    assert probabilities is not None
    np.testing.assert_allclose(probabilities, probs)
