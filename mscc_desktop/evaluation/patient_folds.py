"""Leave-patients-out folds over the real CT, and the check that no patient leaks across them.

Every real-CT figure of a model must come from patients it never saw, neither in training nor
in the choice of its threshold. With few patients (twelve here) each one matters, so folds
are declared as groups of patients: fold ``k`` tests on group ``k``, chooses its thresholds
(and probability temperature) on group ``k + 1`` (its *calibration patients*), and trains on
the other groups. Phantom studies belong to no patient and may be used anywhere.

A study's patient is read from its ``study.json`` (``real_patient``, written by
:mod:`mscc_desktop.synth.real_study`); a study without one is a phantom.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mscc_desktop.core.errors import MsccError
from mscc_desktop.core.labels import LabelFileError, read_study_json

PHANTOM = "phantom"
"""The patient of a synthetic study (no real patient)."""


class FoldLeakError(MsccError):
    """A patient would land in two roles of one fold (training, calibration, test)."""


@dataclass(frozen=True, slots=True)
class PatientFold:
    """One fold: which real patients it tests on, calibrates on and trains on."""

    index: int
    test: tuple[str, ...]
    calibration: tuple[str, ...]
    train: tuple[str, ...]

    def role(self, patient: str) -> str:
        """``"test"``, ``"calibration"``, ``"train"`` (phantoms train), or ``"unused"``."""
        if patient == PHANTOM or patient in self.train:
            return "train"
        if patient in self.test:
            return "test"
        if patient in self.calibration:
            return "calibration"
        return "unused"


def make_folds(groups: Sequence[Sequence[str]]) -> list[PatientFold]:
    """Fold ``k`` tests ``groups[k]``, calibrates on ``groups[k + 1]`` (cyclically) and trains
    on the rest.

    Raises
    ------
    FoldLeakError
        A patient is in two groups, a group is empty, or there are fewer than three groups
        (then no fold would have training patients).
    """
    if len(groups) < 3:
        raise FoldLeakError(f"need at least 3 patient groups for test/calibration/train, got "
                            f"{len(groups)}")  # fmt: skip
    seen: dict[str, int] = {}
    for k, group in enumerate(groups):
        if not group:
            raise FoldLeakError(f"patient group {k} is empty")
        for patient in group:
            if patient == PHANTOM:
                raise FoldLeakError(f"'{PHANTOM}' is not a patient (group {k})")
            if patient in seen:
                raise FoldLeakError(
                    f"patient {patient} is in groups {seen[patient]} and {k}: a patient must "
                    "be in one group only"
                )
            seen[patient] = k
    folds = []
    n = len(groups)
    for k in range(n):
        calibration = (k + 1) % n
        train = tuple(p for j, g in enumerate(groups) if j not in (k, calibration) for p in g)
        folds.append(PatientFold(k, tuple(groups[k]), tuple(groups[calibration]), train))
    return folds


def study_patient(folder: str | os.PathLike[str]) -> str:
    """The real patient of a labelled study folder (``study.json``), or :data:`PHANTOM`."""
    path = Path(folder) / "study.json"
    if not path.is_file():
        return PHANTOM
    try:
        extra = read_study_json(path).extra
    except (OSError, ValueError, LabelFileError):
        return PHANTOM
    patient = extra.get("real_patient")
    return str(patient) if patient else PHANTOM


def check_fold(
    fold: PatientFold,
    *,
    train: Iterable[str | os.PathLike[str]],
    calibration: Iterable[str | os.PathLike[str]],
    test: Iterable[str | os.PathLike[str]],
) -> None:
    """Check the study folders given to each role against ``fold``, by their patients.

    Raises
    ------
    FoldLeakError
        A real patient's study is in two roles, in a role the fold does not give that
        patient, or a phantom is in the calibration or test role (real-CT figures must be
        real patients only).
    """
    roles = {"train": train, "calibration": calibration, "test": test}
    for role, folders in roles.items():
        for folder in folders:
            patient = study_patient(folder)
            if patient == PHANTOM and role != "train":
                raise FoldLeakError(f"fold {fold.index}: phantom study {Path(folder).name} in "
                                    f"the {role} role")  # fmt: skip
            # Each patient has exactly one role in a fold, so a study given to another role
            # is how a patient would land in two.
            if patient != PHANTOM and fold.role(patient) != role:
                raise FoldLeakError(
                    f"fold {fold.index}: study {Path(folder).name} of patient {patient} is "
                    f"given to {role}, but this fold has that patient in "
                    f"{fold.role(patient)}"
                )
