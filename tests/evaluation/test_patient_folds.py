"""Leave-patients-out folds: roles, and loud failure when a patient would leak."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mscc_desktop.evaluation.patient_folds import (
    PHANTOM,
    FoldLeakError,
    check_fold,
    make_folds,
    study_patient,
)

GROUPS = (("P1", "P2"), ("P3",), ("P4", "P5"), ("P6",))


def study(root: Path, name: str, patient: str | None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    extra = {"real_patient": patient} if patient else {}
    (folder / "study.json").write_text(json.dumps({"study_id": name, **extra}))
    return folder


def test_each_fold_tests_one_group_calibrates_on_the_next_and_trains_on_the_rest() -> None:
    folds = make_folds(GROUPS)
    assert len(folds) == 4
    assert folds[0].test == ("P1", "P2") and folds[0].calibration == ("P3",)
    assert set(folds[0].train) == {"P4", "P5", "P6"}
    assert folds[3].calibration == ("P1", "P2")  # cyclic
    for fold in folds:
        roles = [set(fold.test), set(fold.calibration), set(fold.train)]
        assert not (roles[0] & roles[1] or roles[0] & roles[2] or roles[1] & roles[2])
        assert set().union(*roles) == {p for g in GROUPS for p in g}
        assert fold.role(PHANTOM) == "train"
    # Over the folds, every patient is tested exactly once.
    assert sorted(p for f in folds for p in f.test) == sorted(p for g in GROUPS for p in g)


@pytest.mark.parametrize(
    "groups",
    [(("P1", "P2"), ("P2",), ("P3",)), (("P1",), ("P2",)), (("P1",), (), ("P3",))],
)
def test_bad_groups_are_refused(groups) -> None:
    with pytest.raises(FoldLeakError):
        make_folds(groups)


def test_a_patient_in_training_and_test_fails_loudly(tmp_path: Path) -> None:
    fold = make_folds(GROUPS)[0]
    train = [study(tmp_path, "p4", "P4"), study(tmp_path, "ph", None)]
    calibration = [study(tmp_path, "p3", "P3")]
    test = [study(tmp_path, "p1", "P1")]
    check_fold(fold, train=train, calibration=calibration, test=test)  # clean: no error
    leaked = study(tmp_path, "p1_other_variant", "P1")
    with pytest.raises(FoldLeakError, match="P1"):
        check_fold(fold, train=[*train, leaked], calibration=calibration, test=test)
    with pytest.raises(FoldLeakError, match="P3"):
        check_fold(fold, train=train, calibration=calibration, test=[*test, calibration[0]])
    with pytest.raises(FoldLeakError, match="phantom"):
        check_fold(fold, train=train, calibration=calibration, test=[*test, train[1]])


def test_the_patient_of_a_study_comes_from_its_study_json(tmp_path: Path) -> None:
    assert study_patient(study(tmp_path, "a", "CCTH-A01")) == "CCTH-A01"
    assert study_patient(study(tmp_path, "b", None)) == PHANTOM
    assert study_patient(tmp_path / "missing") == PHANTOM
