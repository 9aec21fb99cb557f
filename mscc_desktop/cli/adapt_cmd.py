"""``mscc-desktop adapt``: adapt a model to this site from its reviewed studies.

Reads a dataset written by ``mscc-desktop dataset export --reviewed``, holds out about a third
of its patients, recalibrates the model on the rest and compares it with its base on the
held-out patients with the paper's statistics. The new model folder is written either way;
it is offered for use (``mscc-desktop models --use ID``) only when it is not worse.
Calibration runs the ONNX model on the CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mscc_desktop.cli import EXIT_ERROR, EXIT_OK

if TYPE_CHECKING:
    from mscc_desktop.training.adapt import AdaptReport

EPILOG = """\
examples:
  mscc-desktop dataset export --reviewed --out /data/site
  mscc-desktop adapt --base mscc-compact-real --data /data/site
  mscc-desktop models --use mscc-compact-real-site      (only when it was offered)

exit codes: 0 adapted and offered, 1 error, 4 adapted but worse than its base (not offered).
"""
EXIT_WORSE = 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("--base", default=None, metavar="MODEL", help="model id or folder")
    parser.add_argument("--data", required=True, metavar="DIR", help="dataset export folder")
    parser.add_argument(
        "--out", metavar="FOLDER", help="new model folder (default: the site models folder)"
    )
    parser.add_argument("--id", metavar="ID", help="new model id (default: <base>-site)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the patient split")
    parser.add_argument(
        "--depth",
        choices=("calibrate", "prototypes_bn", "fine_tune"),
        help="how deep to adapt (default: what the amount of data supports; the deeper "
        "steps need a model exported with --trainable-weights)",
    )
    parser.add_argument("--user", default="", help="who adapts (default: the login name)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument(
        "--json-progress",
        action="store_true",
        help="progress as JSON lines on stderr (for the workstation's Models page)",
    )
    parser.add_argument("--json", metavar="FILE", help="write the result as JSON")


def _json_progress(fraction: float, text: str, /) -> None:
    print(json.dumps({"progress": round(fraction, 4), "text": text}), file=sys.stderr, flush=True)


def result_dict(result: AdaptReport) -> dict[str, object]:
    """The adaptation's outcome as JSON (what the Models page shows side by side)."""
    return {
        "model_id": result.model_id,
        "folder": str(result.folder),
        "offered": result.offered,
        "reasons": list(result.reasons),
        "temperature": result.temperature,
        "threshold_high": result.thresholds.high,
        "depth_wanted": result.plan.wanted.value,
        "depth_performed": result.plan.performed.value,
        "note": result.plan.note,
        "patients": {"adapt": result.n_adapt_patients, "held_out": result.n_held_out_patients},
        "adapt_slices_by_group": result.slices_by_group,
        "base": result.base.as_dict(),
        "adapted": result.adapted.as_dict(),
    }


def _figure(values: tuple[float, float, float]) -> str:
    return f"{values[0]:.3f} [{values[1]:.3f}-{values[2]:.3f}]"


def run(args: argparse.Namespace) -> int:
    from mscc_desktop.cli.train_cmd import TRAINING_EXTRA_HINT, training_available

    if not training_available():  # the installed workstation carries no torch
        print(f"mscc-desktop adapt: {TRAINING_EXTRA_HINT}", file=sys.stderr)
        return EXIT_ERROR
    from mscc_desktop.cli.analyze_output import ProgressBar
    from mscc_desktop.core.config import AppConfig, site_models_dir
    from mscc_desktop.inference.backends import resolve_model
    from mscc_desktop.training.adapt import AdaptDepth, adapt_model

    config = AppConfig.default()
    base = resolve_model(args.base or config.model_id, models_root=config.models_dir)
    assert base.folder is not None
    new_id = args.id or f"{base.model_id}-site"
    out = Path(args.out) if args.out else site_models_dir(config.data_dir) / new_id
    bar = ProgressBar(sys.stderr, enabled=not (args.quiet or args.json_progress))
    bar.start(f"Adapting {base.model_id} {base.version}")
    progress = _json_progress if args.json_progress else bar
    result = adapt_model(
        base.folder, Path(args.data), out, model_id=new_id, user=args.user, seed=args.seed,
        depth=AdaptDepth(args.depth) if args.depth else None, progress=progress,
    )  # fmt: skip
    bar.finish("done")
    if args.json:
        Path(args.json).write_text(json.dumps(result_dict(result), indent=2))
    if result.plan.note:
        print(f"note: {result.plan.note}", file=sys.stderr)
    print(
        f"Adapted ({result.plan.performed.value}) on {result.n_adapt_patients} patients "
        f"({', '.join(f'{n} {g}' for g, n in result.slices_by_group.items())} slices); "
        f"checked on {result.n_held_out_patients} held-out patients "
        f"({result.base.n_slices} slices, {result.base.n_high} high grade)."
    )
    print(f"{'held-out figure':34s} {'base':>22s} {'adapted':>22s}")
    for name, attr in (
        ("high-grade sensitivity (image)", "sensitivity"),
        ("high-grade specificity (image)", "specificity"),
        ("high-grade AUC", "auc"),
        ("three-class Gwet's AC1", "ac1"),
    ):
        print(
            f"{name:34s} {_figure(getattr(result.base, attr)):>22s} "
            f"{_figure(getattr(result.adapted, attr)):>22s}"
        )
    print(
        f"temperature {result.temperature:.3f}, P(high) cut-off {result.thresholds.high:.4f}; "
        f"written to {result.folder}"
    )
    if not result.offered:
        for reason in result.reasons:
            print(f"not offered: {reason}", file=sys.stderr)
        return EXIT_WORSE
    print(f"Offered: use it with 'mscc-desktop models --use {result.model_id}'.")
    return EXIT_OK if result.offered else EXIT_ERROR
