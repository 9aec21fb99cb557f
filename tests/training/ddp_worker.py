"""Run by ``torchrun`` in tests/training/test_ddp.py: one tiny training run per process.

Usage: torchrun --nproc-per-node=2 tests/training/ddp_worker.py OUT_DIR detector|grader

Each rank writes ``rank<k>.json`` with its world size, how many training slices it saw per
epoch and a checksum of its final parameters, so the test can check that the ranks split the
data and still ended with identical weights (gradients were averaged).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import torch

from mscc_desktop.training import distributed
from mscc_desktop.training.engine import TrainOptions
from tests.training.factories import make_studies


def main() -> None:
    out, network = Path(sys.argv[1]), sys.argv[2]
    torch.set_num_threads(1)
    studies = make_studies(4, n_slices=12, size=64)
    options = TrainOptions(None, out / network, config="tiny", epochs=2, show_progress=False)
    captured: dict[str, object] = {}
    real_shutdown = distributed.shutdown

    def record_then_shutdown(context: distributed.DistContext) -> None:
        # Runs inside the training function, before the process group goes away.
        captured["world_size"] = context.world_size
        captured["rank"] = context.rank
        real_shutdown(context)

    distributed.shutdown = record_then_shutdown  # type: ignore[assignment]
    if network == "grader":
        from mscc_desktop.training import train_grader as module
    else:
        from mscc_desktop.training import train_detector as module
    model_holder: dict[str, torch.nn.Module] = {}
    real_wrap = distributed.wrap_model

    def keep_model(model: torch.nn.Module, context: distributed.DistContext) -> torch.nn.Module:
        wrapped = real_wrap(model, context)
        model_holder["model"] = distributed.unwrap(wrapped)
        captured["ddp"] = type(wrapped).__name__
        return wrapped

    distributed.wrap_model = keep_model  # type: ignore[attr-defined]
    run = getattr(module, f"train_{network}")
    run(options, studies=studies)
    digest = hashlib.sha256()
    for name, param in sorted(model_holder["model"].named_parameters()):
        digest.update(name.encode())
        digest.update(param.detach().cpu().numpy().tobytes())
    captured["params_sha256"] = digest.hexdigest()
    rank = os.environ.get("RANK", "0")
    (out / f"{network}-rank{rank}.json").write_text(json.dumps(captured))


if __name__ == "__main__":
    main()
