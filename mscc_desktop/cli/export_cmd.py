"""``mscc-desktop export``: turn trained checkpoints into a verified model folder.

Writes ONNX (opset 17, dynamic batch) for the detector and the grader, optionally torch.export
programs (.pt2) for the torch backend, optionally an int8 detector for the ONNX Runtime CPU
backend (``--int8-calibration``), and ``manifest.json`` with sha256 checksums. Each network
is checked against torch before the manifest is written. Needs the ``train`` extra.
Exit codes: 0 exported, 1 error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mscc_desktop.cli import EXIT_ERROR, EXIT_OK
from mscc_desktop.cli.train_cmd import TRAINING_EXTRA_HINT, training_available


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--detector", required=True, metavar="CKPT", help="detector checkpoint (best.pt)"
    )
    parser.add_argument(
        "--grader", required=True, metavar="CKPT", help="grader checkpoint (best.pt)"
    )
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="model folder, e.g. models/<id>"
    )
    parser.add_argument("--id", dest="model_id", help="model id (default: the folder name)")
    parser.add_argument("--version", default="1.0.0", help="model version (default 1.0.0)")
    parser.add_argument("--description", default="", help="one-line description")
    parser.add_argument(
        "--fp16-weights",
        action="store_true",
        help="store weights as fp16 (half the size; inference still runs in fp32)",
    )
    parser.add_argument(
        "--torch-files",
        action="store_true",
        help="also write torch.export programs (.pt2) for the optional torch backend",
    )
    parser.add_argument(
        "--trainable-weights",
        action="store_true",
        help="also keep the grader's weights (fp16, a few MB) so that 'adapt' can re-fit "
        "its prototypes, BN statistics and last stage to a site's reviewed studies",
    )
    parser.add_argument(
        "--int8-calibration",
        metavar="DATA",
        help="also write an int8 detector for the ONNX Runtime CPU backend, calibrated on "
        "slices of the study folders in DATA (e.g. the training data)",
    )
    parser.add_argument(
        "--evaluation", metavar="JSON", help="evaluation results to record in the manifest"
    )


def run(args: argparse.Namespace) -> int:
    if not training_available():
        print(f"mscc-desktop export: {TRAINING_EXTRA_HINT}", file=sys.stderr)
        return EXIT_ERROR
    evaluation = None
    if args.evaluation:
        try:
            evaluation = json.loads(Path(args.evaluation).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            print(f"mscc-desktop export: cannot read {args.evaluation}: {error}", file=sys.stderr)
            return EXIT_ERROR
    # Imported here, not at the top: only this command may pay for torch (pyproject's import
    # contracts let the CLI import training, and no one else).
    from mscc_desktop.training import cli as training_cli

    ok = training_cli.run_export(
        Path(args.detector),
        Path(args.grader),
        Path(args.out),
        model_id=args.model_id,
        version=args.version,
        description=args.description,
        fp16_weights=args.fp16_weights,
        torch_files=args.torch_files,
        trainable_weights=args.trainable_weights,
        evaluation=evaluation,
        int8_calibration=Path(args.int8_calibration) if args.int8_calibration else None,
    )
    return EXIT_OK if ok else EXIT_ERROR
