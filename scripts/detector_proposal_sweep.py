"""How many RPN proposals does the canal detector need at inference? Accuracy against speed.

    python scripts/detector_proposal_sweep.py --detector RUN/detector/best.pt \
        --grader RUN/grader/best.pt --test WORK/test [--real-data ../shared/data] \
        --variants 300/50 150/20 100/10 --out /tmp/proposal-sweep

Each variant ``PRE/POST`` sets the detector's inference-only settings
``rpn_pre_nms_top_n_test`` (best anchors per pyramid level before NMS) and
``rpn_post_nms_top_n_test`` (proposals per image that reach RoIAlign and the box head) in a
copy of the trained checkpoint, exports it like the recipe (fp16 weights) and reports canal
AP50, found share and mean IoU on the labelled synthetic test studies, the real-CT canal check
(hand-drawn boxes) and the ONNX Runtime detector's CPU time per slice. The timings interleave the
variants, repeat by repeat, so machine noise hits all of them alike; read them as ratios.
Trained weights are unchanged: only the number of candidate boxes differs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mscc_desktop.evaluation.real_canal import check_canal, labelled_real_slices, summarise_checks
from mscc_desktop.inference.backends import create_backend, resolve_model
from mscc_desktop.training.acceptance import evaluate_model_folder
from mscc_desktop.training.engine import load_checkpoint
from mscc_desktop.training.export import export_model

ROOT = Path(__file__).resolve().parents[1]
REAL_BOXES = ROOT / "tests" / "data" / "real_canal_boxes"


def _variant(text: str) -> tuple[int, int]:
    pre, _, post = text.partition("/")
    try:
        return int(pre), int(post)
    except ValueError:
        raise argparse.ArgumentTypeError(f"need PRE/POST such as 100/10: {text!r}") from None


def _export(args: argparse.Namespace, pre: int, post: int) -> Path:
    folder: Path = args.out / f"pre{pre}-post{post}"
    checkpoint = load_checkpoint(args.detector, kind="detector")
    checkpoint["config"]["rpn_pre_nms_top_n_test"] = pre
    checkpoint["config"]["rpn_post_nms_top_n_test"] = post
    folder.mkdir(parents=True, exist_ok=True)
    modified = folder / "detector.pt"
    torch.save(checkpoint, modified)
    model = folder / "model"
    export_model(modified, args.grader, model, model_id=f"sweep-{pre}-{post}", fp16_weights=True)
    return model


def _accuracy(args: argparse.Namespace, model: Path) -> dict[str, Any]:
    result = evaluate_model_folder(model, args.test)
    row = {key: result[key] for key in ("canal_ap50", "canal_found_iou50", "canal_mean_iou")}
    if args.real_data is not None:
        manifest = resolve_model(model)
        slices = labelled_real_slices(REAL_BOXES, args.real_data)
        summary = summarise_checks(check_canal(slices, create_backend(manifest, "onnx-cpu"),
                                               manifest)).to_dict()  # fmt: skip
        row["real_found_iou50"] = summary["n_found_iou50"]
        row["real_slices"] = summary["n_slices"]
        row["real_mean_iou"] = summary["mean_iou"]
    return row


def _timings(models: dict[str, Path], *, batch: int, repeats: int) -> dict[str, float]:
    backends = {name: create_backend(resolve_model(m), "onnx-cpu") for name, m in models.items()}
    size = resolve_model(next(iter(models.values()))).detector.input_size
    images = np.random.default_rng(0).random((batch, 3, size, size), dtype=np.float32)
    for backend in backends.values():
        backend.detect(images)  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in backends}
    for _ in range(repeats):
        for name, backend in backends.items():
            start = time.perf_counter()
            backend.detect(images)
            seconds[name].append((time.perf_counter() - start) / batch)
    return {name: 1000 * statistics.median(values) for name, values in seconds.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", type=Path, required=True)
    parser.add_argument("--grader", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True, help="labelled synthetic studies")
    parser.add_argument("--real-data", type=Path, help="shared real CT (../shared/data)")
    parser.add_argument("--variants", type=_variant, nargs="+",
                        default=[(300, 50), (150, 20), (100, 10)])  # fmt: skip
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--batch", type=int, default=4, help="the CPU default batch")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    models = {f"{pre}/{post}": _export(args, pre, post) for pre, post in args.variants}
    rows = {name: _accuracy(args, model) for name, model in models.items()}
    for name, ms in _timings(models, batch=args.batch, repeats=args.repeats).items():
        rows[name]["detector_ms_per_slice"] = ms
    first = next(iter(rows.values()))["detector_ms_per_slice"]
    print(f"{'pre/post':>9} {'AP50':>7} {'found':>7} {'mIoU':>6} {'real':>7} {'real mIoU':>9} "
          f"{'ms/slice':>8} {'vs first':>8}")  # fmt: skip
    for name, row in rows.items():
        ms = row["detector_ms_per_slice"]
        real = f"{row['real_found_iou50']}/{row['real_slices']}" if "real_slices" in row else "-"
        real_iou = f"{row['real_mean_iou']:.3f}" if "real_mean_iou" in row else "-"
        print(f"{name:>9} {row['canal_ap50']:7.4f} {row['canal_found_iou50']:7.4f} "
              f"{row['canal_mean_iou']:6.3f} {real:>7} {real_iou:>9} "
              f"{ms:8.2f} {first / ms:7.2f}x")  # fmt: skip
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
