"""Entry points behind ``mscc-desktop train`` and ``mscc-desktop export`` (loaded by name).

They turn expected failures (bad data folder, unreadable checkpoint, export check failure) into
a one-line message on stderr and ``False``; everything else propagates.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mscc_desktop.core.errors import MsccError
from mscc_desktop.training.engine import TrainOptions
from mscc_desktop.training.export import ExportCheckError, export_model

if TYPE_CHECKING:
    from mscc_desktop.training.train_detector import DetectorRun
    from mscc_desktop.training.train_grader import GraderRun

logger = logging.getLogger(__name__)

__all__ = ["TrainOptions", "run_export", "run_training"]


def run_training(network: str, options: TrainOptions) -> bool:
    """Train ``network`` (``detector`` or ``grader``); ``True`` when a best checkpoint exists."""
    train: Callable[[TrainOptions], DetectorRun | GraderRun]
    if network == "detector":
        from mscc_desktop.training.train_detector import train_detector as train
    elif network == "grader":
        from mscc_desktop.training.train_grader import train_grader as train
    else:
        raise ValueError(f"unknown network {network!r}")
    try:
        result = train(options)
    except (FileNotFoundError, ValueError) as error:
        print(f"mscc-desktop train {network}: {error}", file=sys.stderr)
        return False
    if result.best_checkpoint.exists():
        best = ", ".join(f"{k} {v:.3f}" for k, v in result.best_metrics.items() if v == v)
        print(f"{network}: best checkpoint {result.best_checkpoint} ({best})")
        return True
    return False


def run_export(
    detector: Path,
    grader: Path,
    out: Path,
    *,
    model_id: str | None,
    version: str,
    description: str,
    fp16_weights: bool,
    torch_files: bool,
    evaluation: Mapping[str, Any] | None,
    int8_calibration: Path | None = None,
    trainable_weights: bool = False,
) -> bool:
    """Export a model folder; ``True`` on success (prints its id, checksum and size)."""
    for path in (detector, grader):
        if not path.is_file():
            print(f"mscc-desktop export: {path} does not exist", file=sys.stderr)
            return False
    try:
        manifest = export_model(
            detector,
            grader,
            out,
            model_id=model_id,
            version=version,
            description=description,
            fp16_weights=fp16_weights,
            torch_files=torch_files,
            trainable_weights=trainable_weights,
            evaluation=evaluation,
            int8_calibration=int8_calibration,
        )
    except (ValueError, ExportCheckError, MsccError) as error:
        print(f"mscc-desktop export: {error}", file=sys.stderr)
        return False
    refused = manifest.architecture["export"].get("int8_detector", {}).get("refused")
    if refused:
        print(f"mscc-desktop export: no int8 detector: {refused}", file=sys.stderr)
    size_mb = sum(f.size_bytes for f in manifest.files) / 1e6
    print(
        f"exported {manifest.model_id} {manifest.version} to {out} "
        f"(sha256 {manifest.short_sha}, {size_mb:.1f} MB)"
    )
    return True
