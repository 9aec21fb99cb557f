"""A model folder's trainable grader weights: what site adaptation re-fits.

The ONNX grader runs the app; adapting it to a site (:mod:`.adapt_grader`) needs the torch
weights. ``export --trainable-weights`` writes them as :data:`GRADER_WEIGHTS_FILE`, a slim
grader checkpoint (fp16 tensors, no optimiser state), listed and checksummed in the manifest
like every other file of the folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mscc_desktop.training.configs import GraderConfig, grader_config_from_dict
from mscc_desktop.training.cwl import CWLGrader
from mscc_desktop.training.engine import CHECKPOINT_FORMAT

GRADER_WEIGHTS_FILE = "grader.weights.pt"


@dataclass(slots=True)
class TrainableGrader:
    """A grader rebuilt from a model folder's weights, with what its crops need."""

    grader: CWLGrader
    config: GraderConfig
    mean: tuple[float, ...]
    std: tuple[float, ...]
    checkpoint: dict[str, Any]


def save_grader_weights(trainable: TrainableGrader, path: Path) -> None:
    """Write the grader's weights as a slim grader checkpoint (fp16 tensors: half the bytes).

    The file is an ordinary grader checkpoint without optimiser state, so ``export`` and
    ``train --init-weights`` read it too.
    """
    state = {
        key: value.half() if value.is_floating_point() else value
        for key, value in trainable.grader.state_dict().items()
    }
    keep = ("config", "norm_mean", "norm_std", "class_counts", "training_data", "best_metrics")
    payload = {k: trainable.checkpoint[k] for k in keep if k in trainable.checkpoint}
    payload.update(kind="grader", model=state, format=CHECKPOINT_FORMAT)
    payload["config"] = trainable.config.to_dict()
    torch.save(payload, path)


def load_grader_weights(path: Path) -> TrainableGrader:
    """The grader of a model folder's weights file, in fp32 and eval mode.

    Read with ``weights_only``: a model folder may come from elsewhere, and this file holds
    tensors and plain values only (a training checkpoint, with its random-number states,
    goes through :func:`trainable_from_checkpoint`).
    """
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or checkpoint.get("kind") != "grader":
        raise ValueError(f"{path} holds no grader weights")
    return trainable_from_checkpoint(checkpoint)


def trainable_from_checkpoint(checkpoint: dict[str, Any]) -> TrainableGrader:
    """The grader of a grader checkpoint (full or slim), in fp32 and eval mode."""
    config = grader_config_from_dict(checkpoint["config"])
    grader = CWLGrader(config.arch, n_windows=config.n_windows, temperature=config.temperature)
    state = {k: v.float() if v.is_floating_point() else v for k, v in checkpoint["model"].items()}
    grader.load_state_dict(state)
    return TrainableGrader(
        grader.eval(),
        config,
        tuple(float(m) for m in checkpoint["norm_mean"]),
        tuple(float(s) for s in checkpoint["norm_std"]),
        checkpoint,
    )
