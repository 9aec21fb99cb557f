"""The README's model-card tables (Markdown lines) from a model's manifest evaluation.

First the patient-level protocol (leave-patients-out, mean and range over the grader seeds,
against issue 20's targets), then the shipped model's own figures on the calibration
patients and on the phantom test set. Every number comes from ``manifest.json``; nothing is
recomputed here, so the README says what the model card says.
``scripts/model_card_table.py [models/mscc-compact-real]`` prints them.
"""

from __future__ import annotations

from typing import Any

from mscc_desktop.evaluation.real_ct_protocol import PHANTOM_TARGETS, TARGETS, misses

# Row label for each of the protocol's headline figures, in the order shown.
PROTOCOL_ROWS: dict[str, str] = {
    "canal_found_real": "Canal found (IoU ≥ 0.5), real slices",
    "real_called_low": "Real disease-free slices called low grade",
    "real_called_high": "Real disease-free slices called high grade",
    "real_studies_flagged_high": "Real disease-free series flagged high grade",
    "inserted_ac1": "Inserted disease: three-class AC1",
    "inserted_high_sensitivity": "Inserted disease: high grade sensitivity per image",
    "inserted_high_specificity": "Inserted disease: high grade specificity per image",
    "inserted_study_sensitivity": "Inserted disease: sensitivity per study",
    "canal_found_small_fov": "Small-field reconstructions: canal found",
    "small_fov_called_high": "Small-field, disease-free: slices called high",
    "small_fov_inserted_ac1": "Small-field, inserted disease: AC1",
    "small_fov_inserted_high_sensitivity": "Small-field, inserted disease: high sensitivity",
    "two_kernels_same_group": "Two kernels of the same slice: same grade",
}


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _target(op: str, value: float) -> str:
    return f"{'≥' if op == '>=' else '≤'} {value:g}"


def protocol_table(evaluation: dict[str, Any]) -> list[str]:
    protocol = evaluation.get("patient_protocol")
    if not protocol:
        return ["(the manifest holds no patient-level protocol)"]
    summary = protocol["summary"]
    seeds = max((row.get("n_seeds", 0) for row in summary.values()), default=0)
    lines = [
        f"| figure (held-out patients) | mean over {seeds} seeds | lowest – highest | target |",
        "|---|---|---|---|",
    ]
    for name, label in PROTOCOL_ROWS.items():
        row = summary.get(name)
        if row is None:
            continue
        target = TARGETS.get(name)
        missed = target is not None and misses(row["mean"], target)
        mean = _fmt(row["mean"])
        if name == "real_studies_flagged_high" and "real_disease_free_studies" in summary:
            mean = f"{row['mean']:.1f} of {summary['real_disease_free_studies']['mean']:.0f}"
        if missed:
            mean = f"**{mean}** (missed)"
        counted = name == "real_studies_flagged_high"  # a count of series, not a share
        low, high = (f"{row[k]:.0f}" if counted else _fmt(row[k]) for k in ("min", "max"))
        lines.append(
            f"| {label} | {mean} | {low} – {high} | {_target(*target) if target else ''} |"
        )
    cost = protocol.get("cost", {})
    if cost.get("total"):
        lines.append("")
        lines.append(
            f"Cost: {cost['total']['wall_s'] / 60:.0f} min wall, {cost['total']['cpu_s'] / 60:.0f}"
            f" min CPU over {len(cost.get('steps', {}))} steps ({cost.get('machine', '')})"
        )
    return lines


def per_patient_table(evaluation: dict[str, Any]) -> list[str]:
    """Each held-out patient's figures, seed by seed (from the protocol's per-seed figures)."""
    per_seed = evaluation.get("patient_protocol", {}).get("per_seed", {})
    if not per_seed:
        return []
    seeds = sorted(per_seed)
    patients = sorted({p for figures in per_seed.values() for p in figures["per_patient"]})
    lines = [
        "| held-out patient | disease-free slices | called high (each seed) | canal found "
        "| inserted: sensitivity / specificity (mean) |",
        "|---|---|---|---|---|",
    ]
    for patient in patients:
        rows = [per_seed[seed]["per_patient"][patient] for seed in seeds]
        found = [r["canal_found"] for r in rows if r["canal_found"] is not None]
        sens = [r["inserted_sensitivity"] for r in rows if r["inserted_sensitivity"] is not None]
        spec = [r["inserted_specificity"] for r in rows if r["inserted_specificity"] is not None]
        lines.append(
            f"| {patient} | {rows[0]['disease_free_slices']} | "
            f"{' / '.join(str(r['called_high']) for r in rows)} | "
            f"{_fmt(sum(found) / len(found) if found else None)} | "
            f"{_fmt(sum(sens) / len(sens) if sens else None)} / "
            f"{_fmt(sum(spec) / len(spec) if spec else None)} |"
        )
    return lines


# Row label for the shipped model's own figures.
MODEL_ROWS: dict[str, str] = {
    "canal_ap50": "Canal AP50",
    "canal_found_iou50": "Canal found (IoU ≥ 0.5)",
    "three_class_ac1": "Three-class AC1",
    "high_grade_image_sensitivity": "High grade sensitivity per image",
    "high_grade_image_specificity": "High grade specificity per image",
    "high_grade_study_sensitivity": "Sensitivity per study",
    "high_grade_study_specificity": "Specificity per study",
}


def model_table(evaluation: dict[str, Any]) -> list[str]:
    calibration = evaluation.get("calibration_patients", {})
    lines = [
        "| figure | calibration patients (never trained on) | phantom test set | phantom target |",
        "|---|---|---|---|",
    ]
    for key, label in MODEL_ROWS.items():
        target = PHANTOM_TARGETS.get(key)
        phantom = evaluation.get(key)
        missed = target is not None and misses(phantom, target)
        shown = f"**{_fmt(phantom)}** (missed)" if missed else _fmt(phantom)
        lines.append(
            f"| {label} | {_fmt(calibration.get(key))} | {shown} | "
            f"{_target(*target) if target else ''} |"
        )
    free = calibration.get("disease_free")
    if free:
        lines.append("")
        lines.append(
            "Calibration patients' unmodified slices: "
            + ", ".join(f"{k} {v}" for k, v in free.items() if not isinstance(v, (dict, list)))
        )
    return lines


__all__ = ["PROTOCOL_ROWS", "model_table", "per_patient_table", "protocol_table"]
