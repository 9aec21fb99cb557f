"""How stable is the recipe's threshold rule? Validation studies against a calibration set.

For each trained run (an exported model folder and the grader's run folder, whose checkpoint
records which training studies it held out for validation) :func:`assess_run` collects the
pipeline's predictions on

* the grader's validation studies (under ``--train``),
* a calibration set (``--calibration``: generated studies never trained on), and
* the test set (``--test``),

chooses the decision thresholds with :func:`mscc_desktop.training.acceptance.choose_thresholds`
on the validation studies and, separately, on the calibration set, and reports for each
choice the test-set figures (AC1, high-grade sensitivity/specificity, per-study specificity)
and, with ``--real-data``, how many of the hand-labelled real CT slices are called high. A
study-level bootstrap (``--bootstrap`` resamples) shows how far the P(high) threshold moves
with the studies it is chosen on: its 5th, 50th and 95th percentiles per set.

Nothing here tunes anything: the rule is the recipe's, and the test and real slices are only
reported. ``scripts/threshold_stability.py`` runs it (E7-E13 of
``docs/TRAINING_EXPERIMENTS.md``)::

    python scripts/threshold_stability.py --train WORK/train --calibration CAL \\
        --test WORK/test --real-data ../shared/data \\
        --run E7=MODELS/e7:RUNS/e7/grader --run E12=MODELS/e12:RUNS/e12/grader --json out.json
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from mscc_desktop.core.findings import Thresholds
from mscc_desktop.training.acceptance import (
    DEFAULT_MIN_SENSITIVITY,
    Predictions,
    acceptance_metrics,
    choose_thresholds,
    collect_predictions,
)
from mscc_desktop.training.study_reader import find_studies


def bootstrap_high_threshold(
    predictions: Predictions,
    resamples: int,
    rng: np.random.Generator,
    min_sensitivity: float = DEFAULT_MIN_SENSITIVITY,
) -> list[float]:
    """5th, 50th and 95th percentile of the chosen P(high) threshold over study resamples."""
    n = len(predictions.study_names)
    highs = [
        choose_thresholds(
            predictions.of_studies(rng.choice(n, n).tolist()), min_sensitivity=min_sensitivity
        ).high
        for _ in range(resamples)
    ]
    return [round(float(np.percentile(highs, q)), 3) for q in (5, 50, 95)]


def _real_high(
    model: Path, real_data: Path, real_boxes: Path, thresholds: Thresholds
) -> dict[str, int]:
    from mscc_desktop.evaluation.real_canal import (
        check_canal,
        labelled_real_slices,
        summarise_checks,
    )
    from mscc_desktop.inference.backends import create_backend, resolve_model

    manifest = resolve_model(model)
    checks = check_canal(
        labelled_real_slices(real_boxes, real_data),
        create_backend(manifest, "onnx-cpu"),
        manifest,
        thresholds=thresholds,
    )
    summary = summarise_checks(checks)
    return {"n_slices": summary.n_slices, "n_found": summary.n_found,
            "n_high": summary.n_high, "n_low": summary.n_low}  # fmt: skip


def assess_run(
    model: Path,
    grader_run: Path,
    *,
    train: Path,
    calibration: Path,
    test: Path,
    real_data: Path | None,
    real_boxes: Path,
    resamples: int,
    seed: int,
    min_sensitivity: float = DEFAULT_MIN_SENSITIVITY,
) -> dict[str, Any]:
    """Thresholds from the validation studies and from the calibration set, judged on test.

    ``real_boxes`` is the folder of hand-drawn real canal boxes
    (:func:`~mscc_desktop.evaluation.real_canal.labelled_real_slices`), used with ``real_data``.
    """
    from mscc_desktop.training.engine import load_checkpoint

    split = load_checkpoint(grader_run / "best.pt", kind="grader")["split"]
    sets = {
        "validation": collect_predictions(model, [train / name for name in split["val"]]),
        "calibration": collect_predictions(model, find_studies(calibration)),
    }
    test_predictions = collect_predictions(model, find_studies(test))
    rng = np.random.default_rng(seed)
    result: dict[str, Any] = {}
    for name, predictions in sets.items():
        chosen = choose_thresholds(predictions, min_sensitivity=min_sensitivity)
        metrics = acceptance_metrics(test_predictions, chosen)
        row: dict[str, Any] = {
            "min_sensitivity": min_sensitivity,
            "n_studies": len(predictions.study_names),
            "n_high_grade_slices": predictions.n_high_grade,
            "thresholds": asdict(chosen),
            "high_threshold_bootstrap_5_50_95": bootstrap_high_threshold(
                predictions, resamples, rng, min_sensitivity
            ),
            "test": {
                key: metrics[key]
                for key in (
                    "three_class_ac1",
                    "high_grade_image_sensitivity",
                    "high_grade_image_specificity",
                    "high_grade_study_sensitivity",
                    "high_grade_study_specificity",
                )
            },
        }
        if real_data is not None:
            row["real_ct"] = _real_high(model, real_data, real_boxes, chosen)
        result[name] = row
    return result


def stability_table(results: dict[str, dict[str, Any]]) -> str:
    """The Markdown table of :func:`assess_run`'s results, by run name."""
    lines = [
        "| run | chosen on | studies / high slices | P(high) thr. | bootstrap 5-50-95 % "
        "| test AC1 | test sens / spec | per-study spec | real high |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run, by_set in results.items():
        for name, row in by_set.items():
            t = row["test"]
            real = row.get("real_ct")
            real_text = f"{real['n_high']}/{real['n_slices']}" if real else "-"
            boot = "-".join(f"{v:.3f}" for v in row["high_threshold_bootstrap_5_50_95"])
            lines.append(
                f"| {run} | {name} | {row['n_studies']} / {row['n_high_grade_slices']} "
                f"| {row['thresholds']['high']:.3f} | {boot} | {t['three_class_ac1']:.3f} "
                f"| {t['high_grade_image_sensitivity']:.3f} / "
                f"{t['high_grade_image_specificity']:.3f} "
                f"| {t['high_grade_study_specificity']:.2f} | {real_text} |"
            )
    return "\n".join(lines)


__all__ = ["assess_run", "bootstrap_high_threshold", "stability_table"]
