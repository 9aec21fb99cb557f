"""The protocol's folds on disk and its operating point, without training (no torch run)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mscc_desktop.training.acceptance import Predictions, load_predictions, save_predictions
from mscc_desktop.training.patient_protocol import Protocol, ProtocolSettings
from mscc_desktop.training.study_reader import find_studies

GROUPS = (("P1",), ("P2",), ("P3", "P4"))


def _study(root: Path, name: str, **extra: object) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "labels.csv").write_text("sop_instance_uid,slice_index,bilsky_grade,group\n")
    (folder / "study.json").write_text(json.dumps({"study_id": name, **extra}))
    return folder


@pytest.fixture
def protocol(tmp_path: Path) -> Protocol:
    phantoms = tmp_path / "phantoms"
    for k in range(4):
        _study(phantoms, f"synth_{k}")
    (phantoms / "dataset.json").write_text(json.dumps({"generator": "g", "seeds": [5]}))
    real = tmp_path / "real"
    for patient in ("P1", "P2", "P3", "P4"):
        for variant in (0, 1):
            _study(real, f"{patient}_s__v{variant:02d}", real_patient=patient,
                   real_series=f"{patient}_s", variant=variant, anatomy=patient)  # fmt: skip
    settings = ProtocolSettings(
        work=tmp_path / "work", phantom_train=phantoms, real_studies=real,
        base_detector=tmp_path / "d.pt", base_grader=tmp_path / "g.pt", groups=GROUPS,
        grader_phantom_studies=3, detector_phantom_studies=1, detector_real_variants=0,
    )  # fmt: skip
    return Protocol(settings)


def test_each_fold_links_its_patients_into_their_roles(protocol: Protocol) -> None:
    fold = protocol.folds[0]  # test P1, calibrate on P2, train on P3 and P4
    dirs = protocol.prepare(fold)
    names = {role: sorted(p.name for p in find_studies(d)) for role, d in dirs.items()}
    assert names["test"] == ["P1_s__v00", "P1_s__v01"]
    assert names["calibration"] == ["P2_s__v00", "P2_s__v01"]
    real_train = [n for n in names["grader_train"] if not n.startswith("synth")]
    assert real_train == ["P3_s__v00", "P3_s__v01", "P4_s__v00", "P4_s__v01"]
    assert sum(n.startswith("synth") for n in names["grader_train"]) == 3
    # The detector sees fewer phantoms and only the unchanged real series here.
    detector_real = [n for n in names["detector_train"] if not n.startswith("synth")]
    assert detector_real == ["P3_s__v00", "P4_s__v00"]
    assert sum(n.startswith("synth") for n in names["detector_train"]) == 1
    described = json.loads((dirs["grader_train"] / "dataset.json").read_text())
    assert described["synthetic"] is False and described["real_patients"] == ["P3", "P4"]


def test_a_real_patient_in_no_group_is_refused(protocol: Protocol, tmp_path: Path) -> None:
    _study(tmp_path / "real", "P9_s__v00", real_patient="P9", real_series="P9_s", variant=0)
    with pytest.raises(ValueError, match="P9"):
        Protocol(protocol.s)


def _predictions(names: list[str], truth: list[int], p_high: list[float]) -> Predictions:
    n = len(truth)
    probs = np.array([[1 - p, 0.0, p] for p in p_high])
    return Predictions(
        study_names=tuple(names),
        study=np.arange(n) % len(names),
        truth_box=np.tile([10.0, 10.0, 30.0, 30.0], (n, 1)),
        truth_group=np.asarray(truth),
        degenerative=np.zeros(n, bool),
        box=np.tile([10.0, 10.0, 30.0, 30.0], (n, 1)),
        score=np.full(n, 0.99),
        probabilities=probs,
        backend="test",
        truth_grade=tuple("2" if t == 2 else "0" for t in truth),
        slice_index=tuple(range(n)),
    )


def test_the_operating_point_comes_from_the_calibration_patients_only(
    protocol: Protocol, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    truth = [2] * 40 + [0] * 160
    cal_p = [float(rng.uniform(0.3, 0.9)) for _ in range(40)] + [
        float(rng.uniform(0.0, 0.35)) for _ in range(160)
    ]
    calibration = _predictions(["P2_s__v00", "P2_s__v01"], truth, cal_p)
    # Round trip through the cache file the protocol writes.
    calibration = load_predictions(save_predictions(calibration, tmp_path / "c.npz"))
    test = _predictions(["P1_s__v00", "P1_s__v01"], [2, 0, 2, 0], [0.95, 0.02, 0.5, 0.6])
    answers, point = protocol.answers(test, calibration)
    # Sensitivity >= 95 % on 40 calibration positives puts the cut-off at or below the
    # second-lowest positive (after the temperature, which keeps the order).
    assert 0.05 <= point["thresholds"]["high"] <= 0.95
    assert point["temperature"] > 0
    assert answers.patient.tolist() == ["P1"] * 4
    assert answers.disease_free.tolist() == [True, False, True, False]
    assert answers.called[0] == 2 and answers.called[1] == 0
