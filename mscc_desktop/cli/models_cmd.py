"""``mscc-desktop models``: list installed models and verify every file's checksum.

Looks in the models folder (``$MSCC_MODELS_DIR``, beside the app, or the source tree's
``models/``) or in ``--dir``. Exit codes: 0 every listed model is intact, 1 at least one failed
its integrity check, 2 no model installed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mscc_desktop.cli import EXIT_ERROR, EXIT_NOTHING, EXIT_OK
from mscc_desktop.core.config import (
    DEFAULT_MODEL_ID,
    active_model_id,
    models_dir,
    site_models_dir,
)
from mscc_desktop.inference.model_folder import InstalledModel, list_models


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", metavar="DIR", help="models folder (default: the app's)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    switch = parser.add_mutually_exclusive_group()
    switch.add_argument("--use", metavar="ID", help="analyse new studies with this model")
    switch.add_argument(
        "--rollback", action="store_true", help="go back to the model used before this one"
    )
    parser.add_argument("--db", metavar="FILE", help="results store (for the audit trail)")


def _switch(args: argparse.Namespace) -> int:
    from mscc_desktop import storage
    from mscc_desktop.core.config import AppConfig
    from mscc_desktop.workflow.model_choice import roll_back, use_model

    config = AppConfig.default(db=args.db)
    root = Path(args.dir) if args.dir else config.models_dir
    db = storage.open_store(config.db_path)
    try:
        if args.use:
            change = use_model(db, args.use, data_dir=config.data_dir, models_root=root)
        else:
            change = roll_back(db, data_dir=config.data_dir, models_root=root)
    finally:
        db.close()
    print(
        f"New analyses now use {change.current} {change.version} (sha256 {change.sha256[:12]}); "
        f"before: {change.previous}. Earlier analyses keep the model that made them."
    )
    return EXIT_OK


def _as_json(model: InstalledModel) -> dict[str, object]:
    if model.manifest is None:
        return {"folder": str(model.folder), "ok": False, "error": model.error}
    m = model.manifest
    return {
        "folder": str(model.folder),
        "ok": True,
        "id": m.model_id,
        "version": m.version,
        "created": m.created,
        "sha256": m.model_sha256,
        "default": m.model_id == DEFAULT_MODEL_ID,
        "detector_size": m.detector.input_size,
        "grader_size": m.grader.input_size,
        "torch_files": m.detector.torch_file is not None and m.grader.torch_file is not None,
        "size_bytes": sum(f.size_bytes for f in m.files),
        "synthetic_only": m.synthetic_only,
        "intended_use": m.intended_use,
        "thresholds": {
            "high": m.thresholds.high,
            "any_mscc": m.thresholds.any_mscc,
            "canal_score": m.thresholds.canal_score,
        },
        "probability_temperature": m.probability_temperature,
        "limitations": list(m.limitations),
        "evaluation": dict(m.evaluation),
    }


def run(args: argparse.Namespace) -> int:
    if args.use or args.rollback:
        return _switch(args)
    root = Path(args.dir) if args.dir else models_dir()
    models = list_models(root)
    if not args.dir:
        models += list_models(site_models_dir())
    if args.json:
        json.dump([_as_json(m) for m in models], sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not models:
        print(f"No models installed in {root}.")
    else:
        in_use = active_model_id() or DEFAULT_MODEL_ID
        print(f"Models in {root} and the site's folder {site_models_dir()}:")
        for model in models:
            if model.manifest is None:
                print(f"  {model.folder.name:28s} REFUSED: {model.error}")
                continue
            m = model.manifest
            default = " (default)" if m.model_id == DEFAULT_MODEL_ID else ""
            if m.model_id == in_use:
                default += " (in use)"
            size_mb = sum(f.size_bytes for f in m.files) / 1e6
            print(
                f"  {m.model_id:28s} {m.version:8s} sha256 {m.short_sha}  {size_mb:5.1f} MB  "
                f"verified{default}"
            )
            if m.synthetic_only:
                print(f"  {'':28s} {m.intended_use}")
            calibration = (
                f"probabilities calibrated (temperature {m.probability_temperature:.2f})"
                if m.probability_temperature != 1.0
                else "probabilities not calibrated"
            )
            print(
                f"  {'':28s} calls high grade from P(high) {m.thresholds.high:.2f}, low grade "
                f"from P(low or high) {m.thresholds.any_mscc:.2f}; {calibration}"
            )
            for text in m.limitations:
                print(f"  {'':28s} limitation: {text}")
    if not models:
        return EXIT_NOTHING
    return EXIT_OK if all(m.ok for m in models) else EXIT_ERROR
