"""Where the torch backend's time goes: the exported networks against eager torch, per stage.

    python scripts/profile_torch_backend.py --model DIR --checkpoints DET GRA \
        --study STUDY [--batch-size 8] [--device cuda] [--json FILE]

For one model folder (``.pt2`` programs) and the checkpoints it was exported from, on the
slices of ``STUDY`` (pre-processed as the pipeline does), times with a synchronised clock,
median of ``--repeats``:

* ``prep``: windowing and detector input on this machine's CPU (one thread);
* the detector as the backend runs it (``.pt2`` program, fp16 autocast on CUDA), the same
  program in fp32, the eager ``CanalDetector`` it was exported from, and torchvision's eager
  ``FasterRCNN`` (the reference the issue quotes: about 0.55 s for both networks, batch 8);
* the grader as the backend runs it, per batch and for all slices at once;

and prints the torch profiler's top operators of one pass of the backend's detector, by
device time and by host time. Issue 5's GPU target needs this split: the pipeline benchmark
only says how long ``detect`` took, not why.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _timer(device: Any) -> Callable[[Callable[[], Any]], float]:
    import torch

    def timed(run: Callable[[], Any]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    return timed


def _median(timed: Callable[[Callable[[], Any]], float], run: Callable[[], Any], n: int) -> float:
    run()  # warm-up (cuDNN algorithm choice, allocator)
    return statistics.median(timed(run) for _ in range(n))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--checkpoints", type=Path, nargs=2, required=True, metavar=("DET", "GRA"))
    parser.add_argument("--study", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import numpy as np
    import torch

    from mscc_desktop.core.findings import Box
    from mscc_desktop.inference.backends import load_model_settings
    from mscc_desktop.inference.backends.torch import TorchBackend
    from mscc_desktop.inference.backends.torch_preprocess import TorchPreprocessor
    from mscc_desktop.inference.pipeline import _prepare, analyse_volume
    from mscc_desktop.inference.preprocess import NUMPY_PREPROCESSOR, grader_input
    from mscc_desktop.training.detector_export import CanalDetector
    from mscc_desktop.training.engine import load_checkpoint
    from mscc_desktop.training.networks import build_detector
    from scripts.bench_pipeline import _load_volume

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    settings = load_model_settings(args.model)
    volume, _ = _load_volume(args.study)
    n, b = volume.n_slices, args.batch_size
    timed = _timer(device)
    results: dict[str, Any] = {"device": torch.cuda.get_device_name(device) if cuda else "cpu"}
    results["torch"] = torch.__version__

    start = time.perf_counter()
    starts = range(0, n, b)
    batches = [
        _prepare(volume, s, min(s + b, n), settings, NUMPY_PREPROCESSOR).prepared for s in starts
    ]
    results["prep_s"] = time.perf_counter() - start
    on_device_prep = TorchPreprocessor(device)

    def prepare_on_device() -> None:
        for s in starts:
            _prepare(volume, s, min(s + b, n), settings, on_device_prep)

    results["prep_on_device_s"] = _median(timed, prepare_on_device, args.repeats)
    assert settings.detector_torch is not None and settings.grader_torch is not None
    backends = {
        half: TorchBackend(
            settings.detector_torch,
            settings.grader_torch,
            use_cuda=cuda,
            half=half,
            threads=torch.get_num_threads(),
        )
        for half in ({True, False} if cuda else {False})
    }
    backend = backends[cuda]  # as the app runs it: fp16 autocast on CUDA

    def detect_all(runner: Any) -> Callable[[], None]:
        def run() -> None:
            for batch in batches:
                runner.detect(batch.detector)

        return run

    backend_detect = detect_all(backend)
    results["detect_backend_s"] = _median(timed, backend_detect, args.repeats)
    results["detect_backend_fp32_s"] = _median(timed, detect_all(backends[False]), args.repeats)

    det_ckpt = load_checkpoint(args.checkpoints[0], kind="detector")
    from mscc_desktop.training.configs import detector_config_from_dict

    det_cfg = detector_config_from_dict(det_ckpt["config"])
    eager = build_detector(det_cfg)
    eager.load_state_dict(det_ckpt["model"])
    eager = eager.eval().to(device)
    canal = CanalDetector(eager, input_size=det_cfg.input_size).eval().to(device)
    on_device = [torch.from_numpy(batch.detector).to(device) for batch in batches]

    def autocast() -> Any:
        return torch.autocast(device_type=device.type, dtype=torch.float16, enabled=cuda)

    def canal_eager() -> None:
        with torch.inference_mode(), autocast():
            for images in on_device:
                canal(images)

    def torchvision_eager() -> None:
        with torch.inference_mode(), autocast():
            for images in on_device:
                eager(list(images))

    results["detect_canal_eager_s"] = _median(timed, canal_eager, args.repeats)
    results["detect_torchvision_eager_s"] = _median(timed, torchvision_eager, args.repeats)

    boxes = [Box(0.45 * 512, 0.55 * 512, 0.5 * 512, 0.6 * 512)]
    crops = [
        grader_input(
            batch.windowed,
            boxes * batch.windowed.shape[0],
            size=settings.grader_size,
            margin=settings.crop_margin,
            mean=settings.grader_mean,
            std=settings.grader_std,
        )
        for batch in batches
    ]
    all_crops = np.concatenate(crops)

    def grade_batches() -> None:
        for batch_crops in crops:
            backend.grade(batch_crops)

    results["grade_backend_s"] = _median(timed, grade_batches, args.repeats)
    results["grade_backend_all_at_once_s"] = _median(
        timed, lambda: backend.grade(all_crops), args.repeats
    )

    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        backend_detect()
        if cuda:
            torch.cuda.synchronize(device)
    table = prof.key_averages()
    by = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    print(f"== backend detector, top operators by {by}")
    print(table.table(sort_by=by, row_limit=18, max_name_column_width=60))
    if cuda:
        print("== backend detector, top operators by self_cpu_time_total")
        print(table.table(sort_by="self_cpu_time_total", row_limit=18, max_name_column_width=60))

    def analyse() -> None:
        analyse_volume(volume, backend, settings, batch_size=b)

    results["analyse_volume_s"] = _median(timed, analyse, args.repeats)
    with profile(activities=activities) as prof:
        analyse()
        if cuda:
            torch.cuda.synchronize(device)
    print("== whole analysis (the app's pre-processing), top operators by cpu_time_total")
    print(
        prof.key_averages().table(sort_by="cpu_time_total", row_limit=25, max_name_column_width=60)
    )
    results["batch_size"], results["n_slices"] = b, n
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
