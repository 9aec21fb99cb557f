"""The real-CT figures of the patient-level protocol, from per-slice answers of held-out models.

Each slice answer comes from a model that never saw the slice's patient (see
:mod:`mscc_desktop.evaluation.patient_folds`), with thresholds chosen on other patients. The
figures, for one training seed:

* the canal found (IoU >= 0.5 with the hand-checked box) on the real, disease-free slices,
  and on their small-field reconstructions;
* real disease-free slices called low grade, and called high grade; real disease-free
  studies flagged high grade (any slice called high);
* on the same patients with inserted disease: three-class Gwet's AC1, high-grade per-image
  sensitivity and specificity, per-study sensitivity (a study with a high-grade slice is
  flagged);
* the same on the small-field reconstructions, and per patient.

:func:`across_seeds` summarises the figures of several seeds as mean, lowest and highest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.evaluation.agreement import confusion_table, gwet_ac1

IOU_FOUND = 0.5
_HIGH = GradeGroup.HIGH.position
_LOW = GradeGroup.LOW.position


@dataclass(frozen=True, slots=True, eq=False)
class SliceAnswers:
    """Per graded slice: where it came from, its truth and the held-out model's answer.

    ``called`` is the group the app shows (-1: no canal found, so no grade; counted as not
    called low or high). ``iou`` is the canal box's IoU with the drawn box.
    """

    study: npt.NDArray[np.str_]
    patient: npt.NDArray[np.str_]
    disease_free: npt.NDArray[np.bool_]  # from an unchanged real series
    small_fov: npt.NDArray[np.bool_]  # from a small-field reconstruction
    truth: npt.NDArray[np.int64]  # group position
    called: npt.NDArray[np.int64]
    iou: npt.NDArray[np.float64]
    p_high: npt.NDArray[np.float64]
    series: npt.NDArray[np.str_]  # the reconstruction (kernel) the slice comes from
    pair_key: npt.NDArray[np.str_]  # the same for one slice's other reconstructions

    def __len__(self) -> int:
        return int(self.truth.shape[0])

    def where(self, mask: npt.NDArray[np.bool_]) -> SliceAnswers:
        return SliceAnswers(
            self.study[mask],
            self.patient[mask],
            self.disease_free[mask],
            self.small_fov[mask],
            self.truth[mask],
            self.called[mask],
            self.iou[mask],
            self.p_high[mask],
            self.series[mask],
            self.pair_key[mask],
        )

    @staticmethod
    def concatenate(parts: Sequence[SliceAnswers]) -> SliceAnswers:
        return SliceAnswers(
            *(
                np.concatenate([getattr(p, name) for p in parts])
                for name in (
                    "study",
                    "patient",
                    "disease_free",
                    "small_fov",
                    "truth",
                    "called",
                    "iou",
                    "p_high",
                    "series",
                    "pair_key",
                )
            )
        )


def _share(flags: npt.NDArray[np.bool_]) -> float | None:
    return float(flags.mean()) if flags.size else None


def _flagged_studies(answers: SliceAnswers) -> dict[str, bool]:
    flagged: dict[str, bool] = {}
    for study, called in zip(answers.study, answers.called, strict=True):
        flagged[str(study)] = flagged.get(str(study), False) or bool(called == _HIGH)
    return flagged


def disease_free_figures(answers: SliceAnswers) -> dict[str, Any]:
    """Canal found and false calls on real slices without disease."""
    flagged = _flagged_studies(answers)
    return {
        "n_slices": len(answers),
        "n_studies": len(flagged),
        "canal_found": _share(answers.iou >= IOU_FOUND),
        "called_low": _share(answers.called == _LOW),
        "called_high": _share(answers.called == _HIGH),
        "n_called_high": int((answers.called == _HIGH).sum()),
        "studies_flagged_high": int(sum(flagged.values())),
        "flagged_studies": sorted(s for s, f in flagged.items() if f),
    }


def inserted_figures(answers: SliceAnswers) -> dict[str, Any]:
    """Agreement and high-grade accuracy on slices with inserted disease (and their
    disease-free neighbours in the same studies)."""
    called = np.where(answers.called >= 0, answers.called, GradeGroup.NORMAL.position)
    table = confusion_table(answers.truth, called, 3)
    is_high, called_high = answers.truth == _HIGH, called == _HIGH
    truth_studies: dict[str, bool] = {}
    for study, truth in zip(answers.study, answers.truth, strict=True):
        truth_studies[str(study)] = truth_studies.get(str(study), False) or bool(truth == _HIGH)
    flagged = _flagged_studies(answers)
    positive = [s for s, t in truth_studies.items() if t]
    return {
        "n_slices": len(answers),
        "n_studies": len(truth_studies),
        "n_high_grade_slices": int(is_high.sum()),
        "three_class_ac1": float(gwet_ac1(table).value) if len(answers) else None,
        "confusion_table": table.tolist(),
        "high_grade_image_sensitivity": _share(called_high[is_high]),
        "high_grade_image_specificity": _share(~called_high[~is_high]),
        "high_grade_study_sensitivity": _share(np.array([flagged[s] for s in positive])),
        "n_high_grade_studies": len(positive),
        "canal_found": _share(answers.iou >= IOU_FOUND),
    }


def protocol_figures(answers: SliceAnswers) -> dict[str, Any]:
    """Every figure of one seed's pooled held-out answers (see the module docstring)."""
    normal = answers.disease_free & ~answers.small_fov
    inserted = ~answers.disease_free & ~answers.small_fov
    result: dict[str, Any] = {
        "real_disease_free": disease_free_figures(answers.where(normal)),
        "inserted": inserted_figures(answers.where(inserted)),
    }
    if answers.small_fov.any():
        result["small_fov_disease_free"] = disease_free_figures(
            answers.where(answers.disease_free & answers.small_fov)
        )
        result["small_fov_inserted"] = inserted_figures(
            answers.where(~answers.disease_free & answers.small_fov)
        )
    per_patient: dict[str, Any] = {}
    for patient in sorted(set(answers.patient.tolist())):
        mine = answers.patient == patient
        free = disease_free_figures(answers.where(mine & normal))
        ins = inserted_figures(answers.where(mine & inserted)) if (mine & inserted).any() else {}
        per_patient[patient] = {
            "disease_free_slices": free["n_slices"],
            "canal_found": free["canal_found"],
            "called_high": free["n_called_high"],
            "studies_flagged_high": free["studies_flagged_high"],
            "inserted_sensitivity": ins.get("high_grade_image_sensitivity"),
            "inserted_specificity": ins.get("high_grade_image_specificity"),
        }
    result["per_patient"] = per_patient
    consistency = kernel_consistency(answers)
    if consistency["n_pairs"]:
        result["two_kernels"] = consistency
    return result


def kernel_consistency(answers: SliceAnswers) -> dict[str, Any]:
    """How often the same slice reconstructed with two kernels gets the same group, and how
    far apart its P(high) values are (slices whose ``pair_key`` appears in two series)."""
    by_key: dict[str, list[int]] = {}
    for row, key in enumerate(answers.pair_key.tolist()):
        by_key.setdefault(key, []).append(row)
    same, gaps, truth_high = [], [], []
    for rows in by_key.values():
        if len(rows) != 2 or answers.series[rows[0]] == answers.series[rows[1]]:
            continue
        a, b = rows
        called_a = max(int(answers.called[a]), 0)
        called_b = max(int(answers.called[b]), 0)
        same.append(called_a == called_b)
        gaps.append(abs(float(answers.p_high[a]) - float(answers.p_high[b])))
        truth_high.append(bool(answers.truth[a] == _HIGH))
    return {
        "n_pairs": len(same),
        "same_group": _share(np.asarray(same, bool)),
        "mean_abs_p_high_difference": float(np.mean(gaps)) if gaps else None,
        "n_high_grade_pairs": int(sum(truth_high)),
    }


# The scalar figures summarised across seeds (path in the figures dict → name).
HEADLINE: dict[str, tuple[str, str]] = {
    "canal_found_real": ("real_disease_free", "canal_found"),
    "real_called_low": ("real_disease_free", "called_low"),
    "real_called_high": ("real_disease_free", "called_high"),
    "real_studies_flagged_high": ("real_disease_free", "studies_flagged_high"),
    "real_disease_free_studies": ("real_disease_free", "n_studies"),
    "inserted_ac1": ("inserted", "three_class_ac1"),
    "inserted_high_sensitivity": ("inserted", "high_grade_image_sensitivity"),
    "inserted_high_specificity": ("inserted", "high_grade_image_specificity"),
    "inserted_study_sensitivity": ("inserted", "high_grade_study_sensitivity"),
    "canal_found_small_fov": ("small_fov_disease_free", "canal_found"),
    "small_fov_called_high": ("small_fov_disease_free", "called_high"),
    "small_fov_inserted_ac1": ("small_fov_inserted", "three_class_ac1"),
    "small_fov_inserted_high_sensitivity": ("small_fov_inserted", "high_grade_image_sensitivity"),
    "two_kernels_same_group": ("two_kernels", "same_group"),
}


def across_seeds(per_seed: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean, lowest and highest of each headline figure over the seeds' figures."""
    summary: dict[str, dict[str, float]] = {}
    for name, (section, key) in HEADLINE.items():
        values = [
            float(figures[section][key])
            for figures in per_seed.values()
            if section in figures and figures[section].get(key) is not None
        ]
        if values:
            summary[name] = {
                "mean": round(float(np.mean(values)), 4),
                "min": round(float(np.min(values)), 4),
                "max": round(float(np.max(values)), 4),
                "n_seeds": len(values),
            }
    return summary


TARGETS: dict[str, tuple[str, float]] = {
    "real_called_high": ("<=", 0.02),
    "real_studies_flagged_high": ("<=", 0.0),
    "canal_found_real": (">=", 0.95),
    "inserted_ac1": (">=", 0.85),
    "inserted_high_sensitivity": (">=", 0.95),
    "inserted_high_specificity": (">=", 0.95),
    "inserted_study_sensitivity": (">=", 1.0),
}
"""Issue 20's targets for the real-CT figures (leave-patients-out, mean over seeds)."""

PHANTOM_TARGETS: dict[str, tuple[str, float]] = {
    "canal_ap50": (">=", 0.98),
    "three_class_ac1": (">=", 0.90),
}
"""The targets on the phantom test set (issue 4)."""


def misses(value: float | None, target: tuple[str, float]) -> bool:
    """True when ``value`` is known and on the wrong side of ``target``."""
    if value is None:
        return False
    op, bound = target
    return value > bound if op == "<=" else value < bound


def limitations(
    summary: Mapping[str, Mapping[str, float]],
    n_patients: int,
    *,
    phantom: Mapping[str, Any] | None = None,
) -> list[str]:
    """The model card's plain-language statements: what it was trained on, and every figure
    (protocol ``summary`` means, ``phantom`` test figures) that misses its target."""
    lines = [
        f"Trained on synthetic phantoms and on the CT of {n_patients} real patients with "
        "epidural disease inserted by software; no real patient with epidural disease was "
        "available. Not for clinical use."
    ]

    def mean(name: str) -> float | None:
        item = summary.get(name)
        return None if item is None else float(item["mean"])

    def missed(name: str) -> bool:
        return misses(mean(name), TARGETS[name])

    def pct(name: str) -> str:
        return f"{100 * (mean(name) or 0.0):.1f} %"

    if missed("real_called_high"):
        lines.append(
            f"On real CT without disease from patients it never saw, it called "
            f"{pct('real_called_high')} of slices high grade (target at most 2 %): expect "
            "false high-grade findings."
        )
    if missed("real_studies_flagged_high"):
        of = mean("real_disease_free_studies")
        lines.append(
            f"In that test it flagged {mean('real_studies_flagged_high'):.1f} "
            + (f"of the {of:.0f} " if of else "")
            + "real disease-free series as high grade (mean over seeds; target: none)."
        )
    if missed("inserted_high_sensitivity") or missed("inserted_high_specificity"):
        lines.append(
            f"On real CT with inserted disease it found {pct('inserted_high_sensitivity')} of "
            f"high-grade slices at {pct('inserted_high_specificity')} specificity (targets "
            "95 % and 95 %); inserted disease is not real disease."
        )
    if missed("inserted_study_sensitivity"):
        lines.append(
            f"It flagged {pct('inserted_study_sensitivity')} of the real studies with inserted "
            "high-grade disease (target: all): it can miss a study."
        )
    if missed("inserted_ac1"):
        lines.append(
            f"Its normal/low/high agreement with the inserted truth is Gwet's AC1 "
            f"{mean('inserted_ac1'):.2f} (target 0.85): treat low versus high grade as "
            "uncertain."
        )
    if missed("canal_found_real"):
        lines.append(
            f"It found the spinal canal on {pct('canal_found_real')} of real slices (target "
            "95 %): check the canal box of every finding."
        )
    if phantom is not None:
        ap50 = phantom.get("canal_ap50")
        ac1 = phantom.get("three_class_ac1")
        if misses(ap50, PHANTOM_TARGETS["canal_ap50"]):
            lines.append(f"On synthetic phantoms its canal AP50 is {ap50:.3f} (target 0.98).")
        if misses(ac1, PHANTOM_TARGETS["three_class_ac1"]):
            lines.append(
                f"On synthetic phantoms its normal/low/high AC1 is {ac1:.2f} (target 0.90)."
            )
    return lines
