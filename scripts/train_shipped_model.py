"""Reproduce the shipped model: phantoms, real CT with inserted disease, the patient-level
protocol, the model and its figures (``mscc_desktop.training.recipe`` has every step).

One command, fixed seeds, runs on a 2-core CPU with the ``compact`` config::

    MSCC_REAL_DATA=../shared/data python scripts/train_shipped_model.py \
        --work /tmp/mscc-train --out models/mscc-compact-real

Every step is skipped when its output exists (``--force`` redoes them), so an interrupted run
picks up where it stopped; training resumes from ``last.pt``. ``--generate-only`` writes the
phantom studies and stops (for experiments such as ``scripts/grader_sweep.py``).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from mscc_desktop.core.config import DEFAULT_MODEL_ID
from mscc_desktop.training.recipe import RecipeSettings, run_recipe

ROOT = Path(__file__).resolve().parents[1]
REAL_BOXES = ROOT / "tests" / "data" / "real_canal_boxes"


def _mix(text: str) -> tuple[float, float, float]:
    parts = [float(x) for x in text.split(",")]
    if len(parts) != 3 or min(parts) < 0 or sum(parts) <= 0:
        raise argparse.ArgumentTypeError(f"need three shares like 0.65,0.175,0.175: {text!r}")
    total = sum(parts)
    return (parts[0] / total, parts[1] / total, parts[2] / total)


def _seeds(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def main() -> int:
    defaults = RecipeSettings(work=Path(), out=Path())
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("build/shipped-model"))
    parser.add_argument("--out", type=Path, default=Path("models") / DEFAULT_MODEL_ID)
    parser.add_argument("--config", default="compact", choices=("compact", "paper", "tiny"))
    parser.add_argument("--train-studies", type=int, default=defaults.train_studies)
    parser.add_argument("--test-studies", type=int, default=defaults.test_studies)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--test-seed", type=int, default=defaults.test_seed)
    parser.add_argument("--calibration-studies", type=int, default=defaults.calibration_studies)
    parser.add_argument("--calibration-seed", type=int, default=defaults.calibration_seed)
    parser.add_argument("--render-slices", type=int, default=defaults.render_slices,
                        help="slices rendered per phantom, spread over its C7-L3 scan")  # fmt: skip
    parser.add_argument("--train-class-mix", type=_mix, default=defaults.train_class_mix)
    parser.add_argument("--train-no-disease", type=float, default=defaults.train_no_disease)
    parser.add_argument("--canal-heterogeneity", action="store_true",
                        help="experiment E22: blotches and streaks in every canal")  # fmt: skip
    parser.add_argument("--matrix", type=int, default=512)
    parser.add_argument("--detector-epochs", type=int, help="base detector (phantoms)")
    parser.add_argument("--grader-epochs", type=int, help="base grader (phantoms)")
    parser.add_argument("--slice-stride", type=int, default=1)
    parser.add_argument("--sequential", action="store_true",
                        help="train the base networks one after another")  # fmt: skip
    parser.add_argument("--generate-workers", type=int, default=2)
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--version", default="2.0.0")
    parser.add_argument("--no-fp16-weights", action="store_true")
    parser.add_argument("--torch-files", action="store_true")
    parser.add_argument(
        "--real-data",
        type=Path,
        default=Path(os.environ["MSCC_REAL_DATA"]) if os.environ.get("MSCC_REAL_DATA") else None,
        help="the shared real CT folder (default $MSCC_REAL_DATA)",
    )
    parser.add_argument("--boxes", type=Path, default=REAL_BOXES,
                        help="hand-checked canal boxes of the real CT (VOC)")  # fmt: skip
    parser.add_argument("--real-variants", type=int, default=defaults.real_variants)
    parser.add_argument("--small-fov-mm", type=float, default=defaults.small_fov_mm)
    parser.add_argument("--protocol-seeds", type=_seeds, default=defaults.protocol_seeds)
    parser.add_argument("--no-protocol", action="store_true",
                        help="skip the patient-level protocol (the model alone)")  # fmt: skip
    parser.add_argument("--fine-tune-grader-epochs", type=int,
                        default=defaults.fine_tune_grader_epochs)  # fmt: skip
    parser.add_argument("--fine-tune-detector-epochs", type=int,
                        default=defaults.fine_tune_detector_epochs)  # fmt: skip
    parser.add_argument("--min-sensitivity", type=float, default=defaults.min_sensitivity)
    parser.add_argument("--force", action="store_true", help="redo steps whose output exists")
    args = parser.parse_args()
    if len({args.seed, args.test_seed, args.calibration_seed}) < 3:
        parser.error("--seed, --calibration-seed and --test-seed must differ (the calibration "
                     "and test sets are never trained on)")  # fmt: skip
    settings = RecipeSettings(
        work=args.work,
        out=args.out,
        config=args.config,
        train_studies=args.train_studies,
        test_studies=args.test_studies,
        calibration_studies=args.calibration_studies,
        seed=args.seed,
        test_seed=args.test_seed,
        calibration_seed=args.calibration_seed,
        render_slices=args.render_slices,
        train_class_mix=args.train_class_mix,
        train_no_disease=args.train_no_disease,
        canal_heterogeneity=args.canal_heterogeneity,
        matrix=args.matrix,
        detector_epochs=args.detector_epochs,
        grader_epochs=args.grader_epochs,
        slice_stride=args.slice_stride,
        sequential=args.sequential,
        generate_workers=args.generate_workers,
        generate_only=args.generate_only,
        version=args.version,
        fp16_weights=not args.no_fp16_weights,
        torch_files=args.torch_files,
        force=args.force,
        real_data=args.real_data,
        boxes=args.boxes,
        real_variants=args.real_variants,
        small_fov_mm=args.small_fov_mm,
        protocol_seeds=args.protocol_seeds,
        run_protocol=not args.no_protocol,
        fine_tune_grader_epochs=args.fine_tune_grader_epochs,
        fine_tune_detector_epochs=args.fine_tune_detector_epochs,
        min_sensitivity=args.min_sensitivity,
    )
    evaluation = run_recipe(settings)
    if evaluation:
        summary = evaluation.get("patient_protocol", {}).get("summary", {})
        print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
