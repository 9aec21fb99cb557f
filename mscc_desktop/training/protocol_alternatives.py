"""Offline checks of ideas on one protocol fold's cached predictions (issue 20).

    python scripts/protocol_alternatives.py seeds      WORK/protocol/fold0
    python scripts/protocol_alternatives.py ensemble   WORK/protocol/fold0
    python scripts/protocol_alternatives.py centring   WORK/protocol/fold0 [--seed 1]
    python scripts/protocol_alternatives.py compare    WORK/protocol/fold0 OTHER_DIR [--seed 1]

(the script prints each check's lines). Every check reads the
``predictions_{calibration,test}_seedN.npz`` that the protocol wrote
(``training/patient_protocol.py``) and judges them exactly as the protocol does: temperature
and thresholds chosen on the fold's calibration patients, figures on its held-out patients.

* ``seeds``: the protocol's own figures for each grader seed of the fold;
* ``ensemble``: the seeds' probabilities averaged (a 3-model ensemble);
* ``centring``: adaptation to the study at inference: each study's P(high) logits shifted so
  that their median (or 30th / 70th percentile) sits at the calibration patients' normal
  median, then the specificity at 95 % sensitivity compared with the plain model's;
* ``compare``: another model's predictions on the same fold (``OTHER_DIR`` holds its
  ``predictions_*_seedN.npz``, e.g. a grader trained with another recipe).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mscc_desktop.evaluation.real_ct_protocol import protocol_figures
from mscc_desktop.training.acceptance import Predictions, load_predictions
from mscc_desktop.training.patient_protocol import Protocol, ProtocolSettings

SEEDS = (1, 2, 3)


def _protocol(fold_dir: Path) -> Protocol:
    """A protocol object used only for its judging (``answers``); it trains nothing."""
    work = fold_dir.parent
    base = work.parent
    settings = ProtocolSettings(
        work=work, phantom_train=base / "train", real_studies=base / "real",
        base_detector=base / "runs" / "detector" / "best.pt",
        base_grader=base / "runs" / "grader" / "best.pt",
    )  # fmt: skip
    return Protocol(settings)


def _pair(folder: Path, seed: int) -> tuple[Predictions, Predictions]:
    return (
        load_predictions(folder / f"predictions_test_seed{seed}.npz"),
        load_predictions(folder / f"predictions_calibration_seed{seed}.npz"),
    )


def _line(tag: str, protocol: Protocol, test: Predictions, calibration: Predictions) -> str:
    answers, point = protocol.answers(test, calibration)
    figures = protocol_figures(answers)
    free, inserted = figures["real_disease_free"], figures["inserted"]
    return (
        f"{tag:10s} cut-off {point['thresholds']['high']:.3f} | disease-free: called high "
        f"{free['called_high']:.3f}, studies flagged {free['studies_flagged_high']}, canal found "
        f"{free['canal_found']:.3f} | inserted: sensitivity "
        f"{inserted['high_grade_image_sensitivity']:.3f}, specificity "
        f"{inserted['high_grade_image_specificity']:.3f}, AC1 {inserted['three_class_ac1']:.3f}, "
        f"per study {inserted['high_grade_study_sensitivity']:.2f}"
    )


def seeds(fold_dir: Path) -> list[str]:
    """The protocol's figures for each grader seed of the fold, a line each."""
    protocol = _protocol(fold_dir)
    return [_line(f"seed {seed}", protocol, *_pair(fold_dir, seed)) for seed in SEEDS]


def ensemble(fold_dir: Path) -> list[str]:
    """Each seed's line, then the line of the seeds' averaged probabilities."""
    protocol = _protocol(fold_dir)
    pairs = [_pair(fold_dir, seed) for seed in SEEDS]
    lines = [
        _line(f"seed {seed}", protocol, *pair) for seed, pair in zip(SEEDS, pairs, strict=True)
    ]
    tests, calibrations = zip(*pairs, strict=True)
    # The seeds share the fold's detector, so their slices line up one to one.
    assert all(np.array_equal(t.score, tests[0].score) for t in tests)
    mean_test = replace(tests[0], probabilities=np.mean([t.probabilities for t in tests], 0))
    mean_cal = replace(
        calibrations[0], probabilities=np.mean([c.probabilities for c in calibrations], 0)
    )
    lines.append(_line("ensemble", protocol, mean_test, mean_cal))
    return lines


def _logit(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))  # type: ignore[no-any-return]


def _specificity_at(
    score: npt.NDArray[np.float64], usable: npt.NDArray[np.bool_], high: npt.NDArray[np.bool_],
    sensitivity: float = 0.95,
) -> tuple[float, float]:  # fmt: skip
    positives = np.sort(score[usable & high])
    cut = positives[int(np.floor((1 - sensitivity) * len(positives)))]
    negatives = usable & ~high
    return float(cut), float(np.count_nonzero((score < cut) & negatives) / negatives.sum())


def centring(fold_dir: Path, seed: int) -> list[str]:
    """Specificity at 95 % sensitivity, plain and with each study's logits centred."""
    protocol = _protocol(fold_dir)
    test, calibration = _pair(fold_dir, seed)
    _, point = protocol.answers(test, calibration)
    temperature, canal = point["temperature"], point["thresholds"]["canal_score"]

    def logits(p: Predictions) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        probs = p.calibrated(temperature).probabilities
        return _logit(probs[:, 2]), np.isfinite(probs).all(axis=1) & (p.score >= canal)

    cal_logit, cal_ok = logits(calibration)
    reference = float(np.median(cal_logit[cal_ok & (calibration.truth_group == 0)]))
    score, usable = logits(test)
    high = test.truth_group == 2
    cut, spec = _specificity_at(score, usable, high)
    lines = [f"plain      cut {cut:.3f} specificity {spec:.3f} at 95 % sensitivity"]
    for q in (30, 50, 70):
        shifted = score.copy()
        for study in range(len(test.study_names)):
            mask = (test.study == study) & usable
            if mask.sum() >= 10:  # too few slices say nothing about the study
                shifted[mask] = score[mask] - np.percentile(score[mask], q) + reference
        cut, spec = _specificity_at(shifted, usable, high)
        lines.append(f"centred q{q} cut {cut:.3f} specificity {spec:.3f} at 95 % sensitivity")
    return lines


def compare(fold_dir: Path, other: Path, seed: int) -> list[str]:
    """The fold's own line for ``seed``, then the other predictions' line."""
    protocol = _protocol(fold_dir)
    return [
        _line(f"seed {seed}", protocol, *_pair(fold_dir, seed)),
        _line(other.name, protocol, *_pair(other, seed)),
    ]


__all__ = ["SEEDS", "centring", "compare", "ensemble", "seeds"]
