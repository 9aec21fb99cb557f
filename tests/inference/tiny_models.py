"""Tiny torch networks that obey the model I/O contract, exported like a real model folder.

The detector returns one box and a score per image; the grader routes each window through
its own batch-norm set over shared convolutions and returns a per-window softmax, like CWL.
Weights are random but seeded; the networks are small enough to export in a second.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

DETECTOR_SIZE = 64
GRADER_SIZE = 32
N_WINDOWS = 3


class TinyDetector(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Linear(8, 5)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.features(images).mean(dim=(2, 3))
        out = torch.sigmoid(self.head(pooled))
        size = float(DETECTOR_SIZE)
        x0 = out[:, 0] * size * 0.5
        y0 = out[:, 1] * size * 0.5
        x1 = x0 + 4.0 + out[:, 2] * size * 0.4
        y1 = y0 + 4.0 + out[:, 3] * size * 0.4
        return torch.stack([x0, y0, x1, y1], dim=1), out[:, 4]


class TinyGrader(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 3, stride=2, padding=1)
        self.norms = nn.ModuleList(nn.BatchNorm2d(6) for _ in range(N_WINDOWS))
        self.head = nn.Linear(6, 3)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        per_window = []
        for index, norm in enumerate(self.norms):
            feature = torch.relu(norm(self.conv(crops[:, index : index + 1])))
            per_window.append(torch.softmax(self.head(feature.mean(dim=(2, 3))), dim=1))
        return torch.stack(per_window, dim=1)


def build(seed: int = 0) -> tuple[TinyDetector, TinyGrader]:
    torch.manual_seed(seed)
    detector, grader = TinyDetector().eval(), TinyGrader().eval()
    with torch.no_grad():  # distinct running statistics per window, as after CWL training
        for norm in grader.norms:
            norm.running_mean.uniform_(-0.5, 0.5)
            norm.running_var.uniform_(0.5, 2.0)
    return detector, grader


def export_onnx(module: nn.Module, example: torch.Tensor, path: Path, names: list[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=[names[0]],
            output_names=names[1:],
            dynamic_axes={names[0]: {0: "batch"}, **{n: {0: "batch"} for n in names[1:]}},
            opset_version=17,
            dynamo=False,
        )


def export_pt2(module: nn.Module, example: torch.Tensor, path: Path, input_name: str) -> None:
    batch = torch.export.Dim("batch", min=1, max=256)
    program = torch.export.export(module, (example,), dynamic_shapes={input_name: {0: batch}})
    torch.export.save(program, str(path))


def write_model_folder(folder: Path, *, torch_files: bool = True, seed: int = 0) -> None:
    """detector.onnx, grader.onnx (and detector.pt2, grader.pt2) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    detector, grader = build(seed)
    images = torch.rand(2, 3, DETECTOR_SIZE, DETECTOR_SIZE)
    crops = torch.randn(2, N_WINDOWS, GRADER_SIZE, GRADER_SIZE)
    export_onnx(detector, images, folder / "detector.onnx", ["images", "boxes", "scores"])
    export_onnx(grader, crops, folder / "grader.onnx", ["crops", "probs"])
    if torch_files:
        export_pt2(detector, images, folder / "detector.pt2", "images")
        export_pt2(grader, crops, folder / "grader.pt2", "crops")
