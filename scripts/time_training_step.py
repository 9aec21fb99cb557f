"""Time one training step and one inference batch of candidate detector and grader sizes.

Used to choose the ``compact`` config (it must train on a 2-core CPU within the 90-minute
shipped-model recipe). Inputs are random tensors of the right shapes with a canal-sized box, so
the figures measure compute only (data loading is cached separately).

    python scripts/time_training_step.py --what detector --variants compact resnet18@320
    python scripts/time_training_step.py --what grader --variants resnet18@96 resnet10@112
    python scripts/time_training_step.py --what export --variants compact paper

``--what export`` exports random-weight checkpoints of whole configs (detector + grader of the
same name) with ``mscc_desktop.training.export`` (fp32 and ``--fp16-weights``) and reports
parameters, file sizes, export time and ONNX Runtime CPU time per slice (batch ``--batch``).

A variant is ``<config or backbone/arch>[@<size>]``. Prints the median of ``--repeats`` timed
steps after one warm-up step, per step and per slice.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch

from mscc_desktop.training.configs import (
    DETECTOR_CONFIGS,
    GRADER_CONFIGS,
    DetectorConfig,
    GraderConfig,
    detector_config,
    grader_config,
)
from mscc_desktop.training.cwl import CWLGrader, GraderExport, class_weights, cwl_loss
from mscc_desktop.training.detector_export import CanalDetector
from mscc_desktop.training.networks import build_detector, count_parameters


def _detector_variant(text: str) -> DetectorConfig:
    name, _, size = text.partition("@")
    if name in DETECTOR_CONFIGS:
        config = detector_config(name)
    else:
        config = replace(detector_config("compact"), backbone=name)
    if size:
        config = replace(config, input_size=int(size))
    return config


def _grader_variant(text: str) -> GraderConfig:
    name, _, size = text.partition("@")
    config = (
        grader_config(name)
        if name in GRADER_CONFIGS
        else replace(grader_config("compact"), arch=name)
    )
    if size:
        config = replace(config, crop_size=int(size))
    return config


def _median_seconds(step: object, repeats: int) -> float:
    fn = step  # a zero-argument callable
    fn()  # type: ignore[operator]  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_detector(config: DetectorConfig, *, batch: int, repeats: int) -> None:
    torch.manual_seed(0)
    model = build_detector(config)
    size = config.input_size
    images = [torch.rand(3, size, size) for _ in range(batch)]
    side = size * 0.07
    targets = [
        {
            "boxes": torch.tensor(
                [[size / 2 - side, size * 0.6, size / 2 + side, size * 0.6 + 1.6 * side]]
            ),
            "labels": torch.tensor([1]),
        }
        for _ in range(batch)
    ]
    opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)

    def train_step() -> None:
        model.train()
        losses = model(images, targets)
        total = sum(losses.values())
        opt.zero_grad()
        total.backward()  # type: ignore[union-attr]
        opt.step()

    train_s = _median_seconds(train_step, repeats)
    wrapper = CanalDetector(model.eval(), input_size=size).eval()
    stacked = torch.stack(images)

    def infer() -> None:
        with torch.no_grad():
            wrapper(stacked)

    infer_s = _median_seconds(infer, repeats)
    params_m = count_parameters(model) / 1e6
    print(
        f"detector {config.name}/{config.backbone}@{size} params={params_m:.2f}M batch={batch}: "
        f"train {train_s * 1000:.0f} ms/step = {train_s / batch * 1000:.0f} ms/slice; "
        f"inference {infer_s / batch * 1000:.0f} ms/slice"
    )


def time_grader(config: GraderConfig, *, batch: int, repeats: int) -> None:
    torch.manual_seed(0)
    model = CWLGrader(config.arch, n_windows=config.n_windows, temperature=config.temperature)
    size = config.crop_size
    crops = torch.randn(batch, config.n_windows, size, size)
    target = torch.randint(0, 3, (batch,))
    weights = class_weights([80, 10, 10])
    opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)

    def train_step() -> None:
        model.train()
        _, logits = model(crops)
        loss, _, _ = cwl_loss(
            logits,
            target,
            weights=weights,
            temperature=config.temperature,
            compactness_weight=config.compactness_weight,
            feature_dim=model.feature_dim,
        )
        opt.zero_grad()
        loss.backward()
        opt.step()

    train_s = _median_seconds(train_step, repeats)
    export = GraderExport(model).eval()

    def infer() -> None:
        with torch.no_grad():
            export(crops)

    infer_s = _median_seconds(infer, repeats)
    print(
        f"grader {config.arch}@{size} params={count_parameters(model) / 1e6:.2f}M batch={batch}x"
        f"{config.n_windows} windows: train {train_s * 1000:.0f} ms/step = "
        f"{train_s / batch * 1000:.1f} ms/slice; inference {infer_s / batch * 1000:.1f} ms/slice"
    )


def time_export(name: str, *, batch: int, repeats: int) -> None:
    import tempfile
    from pathlib import Path

    import numpy as np

    from mscc_desktop.inference.backends.onnx import OnnxBackend
    from mscc_desktop.training.engine import save_checkpoint
    from mscc_desktop.training.export import export_model

    torch.manual_seed(0)
    det_cfg, gra_cfg = detector_config(name), grader_config(name)
    detector = build_detector(det_cfg).eval()
    grader = CWLGrader(gra_cfg.arch, n_windows=gra_cfg.n_windows, temperature=gra_cfg.temperature)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        det_ckpt, gra_ckpt = root / "d.pt", root / "g.pt"
        save_checkpoint(
            det_ckpt,
            {"kind": "detector", "config": det_cfg.to_dict(), "model": detector.state_dict()},
        )
        save_checkpoint(
            gra_ckpt,
            {
                "kind": "grader",
                "config": replace(gra_cfg, feature_dim=grader.feature_dim).to_dict(),
                "model": grader.eval().state_dict(),
                "norm_mean": [0.4, 0.6, 0.5],
                "norm_std": [0.15, 0.25, 0.35],
            },
        )
        for fp16 in (False, True):
            start = time.perf_counter()
            manifest = export_model(
                det_ckpt, gra_ckpt, root / f"m{fp16}", fp16_weights=fp16, torch_files=not fp16
            )
            export_s = time.perf_counter() - start
            sizes = {f.name: f.size_bytes / 1e6 for f in manifest.files}
            backend = OnnxBackend(
                root / f"m{fp16}" / "detector.onnx",
                root / f"m{fp16}" / "grader.onnx",
                threads=torch.get_num_threads(),
            )
            images = np.random.default_rng(0).random(
                (batch, 3, det_cfg.input_size, det_cfg.input_size), dtype=np.float32
            )
            crops = (
                np.random.default_rng(1)
                .normal(size=(batch, 3, gra_cfg.crop_size, gra_cfg.crop_size))
                .astype(np.float32)
            )
            det_s = _median_seconds(lambda b=backend, x=images: b.detect(x), repeats)
            gra_s = _median_seconds(lambda b=backend, x=crops: b.grade(x), repeats)
            files = ", ".join(f"{k} {v:.1f} MB" for k, v in sizes.items())
            det_m = count_parameters(detector) / 1e6
            print(
                f"export {name} fp16_weights={fp16}: detector {det_m:.2f}M "
                f"params, grader {count_parameters(grader) / 1e6:.2f}M; {files}; export "
                f"{export_s:.0f} s; ONNX Runtime CPU batch {batch}: detector "
                f"{det_s / batch * 1000:.0f} ms/slice, grader {gra_s / batch * 1000:.1f} ms/slice"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--what", choices=("detector", "grader", "export"), required=True)
    parser.add_argument("--variants", nargs="+", required=True)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for variant in args.variants:
        if args.what == "export":
            time_export(variant, batch=args.batch, repeats=args.repeats)
        elif args.what == "detector":
            time_detector(_detector_variant(variant), batch=args.batch, repeats=args.repeats)
        else:
            time_grader(_grader_variant(variant), batch=args.batch, repeats=args.repeats)


if __name__ == "__main__":
    main()
