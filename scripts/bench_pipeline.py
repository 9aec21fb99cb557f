#!/usr/bin/env python
"""Benchmark the study pipeline: every available backend against a naive torch baseline.

One generated 120-slice 512 x 512 study (or ``--study DIR``) is loaded and analysed by:

* each inference backend that works here (onnx-cpu, onnx-cuda, torch-cpu, torch-cuda) through
  :func:`mscc_desktop.inference.pipeline.analyse_volume` (batched, pre-processing overlapped);
  when the model has an int8 CPU detector, onnx-cpu runs it and a second onnx-cpu row times
  the float detector;
* a naive baseline in the same run: per slice, unbatched, torch eager — torchvision's Faster
  R-CNN called on one image, then the CWL grader on that slice's three crops.

Each runs in a fresh child process, so import costs and peak memory (max RSS) are its own.
Times: load (DICOM → HU volume), model (load + warm-up), detect / grade (inside the
networks), total (loaded volume → findings), end-to-end (load + total), slices/s.

The model is a model folder (``--model``, default the shipped one) or, with
``--random-export CONFIG``, random-weight checkpoints of a training config exported with
``mscc_desktop.training.export`` (timing only: the findings are meaningless). The baseline uses
the same checkpoints when it has them (``--checkpoints`` or ``--random-export``), else random
weights of the architecture recorded in the manifest.

    python scripts/bench_pipeline.py --random-export compact
    python scripts/bench_pipeline.py --model models/mscc-compact-real --json bench.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BACKENDS = ("onnx-cpu", "onnx-cuda", "torch-cpu", "torch-cuda")


# ------------------------------------------------------------------------ study and model
def write_study(folder: Path, *, n_slices: int, size: int) -> Path:
    """A staging-CT-like phantom: body, vertebral ring around the canal, lesions on some
    slices (enhancing tissue in the canal), noise; 3 mm slices, written as DICOM."""
    from mscc_desktop.core.dicom import CtSeriesSpec, write_ct_series
    from mscc_desktop.core.volume import SeriesInfo

    rng = np.random.default_rng(7)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    scale = size / 512.0
    body = ((rows - 256 * scale) / (200 * scale)) ** 2 + ((cols - 256 * scale) / (230 * scale)) ** 2
    dist = np.hypot(rows - 330 * scale, cols - 256 * scale)
    volume = np.empty((n_slices, size, size), dtype=np.int16)
    for k in range(n_slices):
        hu = np.where(body <= 1.0, 40.0, -1000.0).astype(np.float32)
        hu[dist <= 28 * scale] = 700.0
        canal = dist < 12 * scale
        hu[canal] = 8.0
        if k % 30 in range(12, 16):  # a lesion every 30 slices
            hu[canal & (rows < 330 * scale)] = 85.0
        hu += rng.normal(0.0, 12.0, size=hu.shape).astype(np.float32)
        volume[k] = np.clip(np.rint(hu), -1024, 3000).astype(np.int16)
    info = SeriesInfo(
        modality="CT",
        series_description="BENCH AXIAL 3mm",
        study_description="CT CHEST ABDOMEN",
        contrast_agent="IOHEXOL",
        body_part="CHESTABDOMEN",
        patient_id="BENCH",
    )
    spec = CtSeriesSpec(
        pixel_spacing_mm=(0.78, 0.78),
        z_positions_mm=tuple(-3.0 * k for k in range(n_slices)),
        slice_thickness_mm=3.0,
        info=info,
        seed="bench",
    )
    write_ct_series(volume, spec, folder)
    return folder


def random_export(
    config: str, out: Path, detector_overrides: dict[str, str] | None = None
) -> tuple[Path, Path, Path]:
    """Random-weight checkpoints of ``config`` exported to a model folder (ONNX + TorchScript);
    ``detector_overrides`` are ``--set``-style changes of the detector config."""
    from dataclasses import replace

    import torch

    from mscc_desktop.training.configs import detector_config, grader_config, with_overrides
    from mscc_desktop.training.cwl import CWLGrader
    from mscc_desktop.training.engine import save_checkpoint
    from mscc_desktop.training.export import export_model
    from mscc_desktop.training.networks import build_detector

    torch.manual_seed(0)
    det_cfg = with_overrides(detector_config(config), detector_overrides or {})
    gra_cfg = grader_config(config)
    detector = build_detector(det_cfg).eval()
    grader = CWLGrader(gra_cfg.arch, n_windows=gra_cfg.n_windows, temperature=gra_cfg.temperature)
    det_ckpt, gra_ckpt = out / "detector.ckpt", out / "grader.ckpt"
    save_checkpoint(
        det_ckpt, {"kind": "detector", "config": det_cfg.to_dict(), "model": detector.state_dict()}
    )
    save_checkpoint(
        gra_ckpt,
        {
            "kind": "grader",
            "config": replace(gra_cfg, feature_dim=grader.feature_dim).to_dict(),
            "model": grader.eval().state_dict(),
            "norm_mean": [0.45, 0.35, 0.3],
            "norm_std": [0.25, 0.25, 0.25],
        },
    )
    folder = out / f"random-{config}"
    export_model(det_ckpt, gra_ckpt, folder, model_id=f"random-{config}", torchscript=True)
    return folder, det_ckpt, gra_ckpt


# ------------------------------------------------------------------------ children
def _load_volume(study: Path) -> tuple[Any, float]:
    from mscc_desktop.core.dicom import load_series, pick_series, scan_folder

    start = time.perf_counter()
    scan = scan_folder(study, min_slices=1)
    chosen = pick_series(scan.series).chosen
    if chosen is None:
        raise SystemExit(f"no analysable series in {study}")
    volume = load_series(chosen)
    return volume, time.perf_counter() - start


def _peak_rss_mb() -> float:
    """Peak resident memory of this process. ``VmHWM`` rather than ``ru_maxrss``: the latter
    survives exec on Linux, so a child would report its parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


class TimedBackend:
    """Wraps a backend, adding up the seconds spent inside detect and grade.

    With ``grade_all`` a slice without a canal box gets a centre box and score 1, so every
    slice is graded: random-weight detectors find nothing, and the benchmark must still time
    the grader on every slice, as the baseline does.
    """

    def __init__(self, inner: Any, *, grade_all: bool = False) -> None:
        self.inner = inner
        self.grade_all = grade_all
        self.detect_s = self.grade_s = 0.0
        self.name, self.runtime, self.device = inner.name, inner.runtime, inner.device
        self.fallback_warning = inner.fallback_warning
        # A GPU backend's own pre-processing (the pipeline finds it here as on the backend).
        self.preprocessor = getattr(inner, "preprocessor", None)

    def detect(self, images: Any) -> Any:
        start = time.perf_counter()
        boxes, scores = self.inner.detect(images)
        self.detect_s += time.perf_counter() - start
        if self.grade_all:
            size = images.shape[-1]
            empty = (
                (scores < 0.5) | (boxes[:, 2] - boxes[:, 0] < 1) | (boxes[:, 3] - boxes[:, 1] < 1)
            )
            boxes[empty] = (size * 0.45, size * 0.55, size * 0.55, size * 0.65)
            scores[empty] = 1.0
        return boxes, scores

    def grade(self, crops: Any) -> Any:
        start = time.perf_counter()
        out = self.inner.grade(crops)
        self.grade_s += time.perf_counter() - start
        return out


def child_backend(args: argparse.Namespace) -> list[dict[str, Any]]:
    from mscc_desktop.core.errors import MsccError
    from mscc_desktop.inference.backends import create_backend, load_model_settings
    from mscc_desktop.inference.pipeline import analyse_volume

    volume, load_s = _load_volume(Path(args.study))
    start = time.perf_counter()
    settings = load_model_settings(args.model)
    if args.float_detector:  # the same model without its int8 CPU detector
        settings = dataclasses.replace(settings, detector_onnx_int8=None)
    try:
        backend = create_backend(settings, args.child)
    except MsccError as error:
        details = f" ({error.details[-300:]})" if error.details else ""
        return [{"name": args.child, "unavailable": error.message + details}]
    model_s = time.perf_counter() - start
    if backend.name != args.child:  # fell back to the CPU: say why, briefly
        why = (backend.fallback_warning or backend.name).split("Reason: ")[-1]
        return [{"name": args.child, "unavailable": why}]
    on_device = getattr(backend, "preprocessor", None) is not None
    # With --compare-preprocessing a GPU backend also runs with numpy pre-processing, in
    # this process (the model loads once: 15-29 s on the H100 machines).
    modes = (True, False) if on_device and args.compare_preprocessing else (on_device,)
    rows: list[dict[str, Any]] = []
    for device_prep in modes:
        runs = []
        for _ in range(args.repeats):
            timed = TimedBackend(backend, grade_all=args.grade_all)
            start = time.perf_counter()
            result = analyse_volume(
                volume,
                timed,
                settings,
                batch_size=args.batch_size,
                prefetch=args.prefetch if args.prefetch is not None else True,
                preprocess_on_device=device_prep,
            )
            runs.append((time.perf_counter() - start, timed.detect_s, timed.grade_s))
        total, detect, grade = (statistics.median(v) for v in zip(*runs, strict=True))
        findings = result.findings
        assert findings is not None
        row = {
            "name": args.child
            + {None: "", True: " (prefetch)", False: " (no prefetch)"}[args.prefetch]
            + (" (float detector)" if args.float_detector else "")
            + (" (numpy pre-processing)" if on_device and not device_prep else ""),
            "device": f"{backend.runtime} · {backend.device}",
            "preprocessing": "device" if device_prep else "numpy",
            "n_slices": volume.n_slices,
            "load_s": load_s,
            "model_s": model_s,
            "detect_s": detect,
            "grade_s": grade,
            "total_s": total,
            "peak_rss_mb": _peak_rss_mb(),
            "p_high": [s.p_high for s in findings.slices],
            "canal_found": sum(s.canal_found for s in findings.slices),
        }
        if rows:  # how far the two pre-processings' results are apart
            row["max_abs_p_high_diff"] = max(
                (
                    abs(a - b)
                    for a, b in zip(rows[0]["p_high"], row["p_high"], strict=True)
                    if a is not None and b is not None
                ),
                default=0.0,
            )
        rows.append(row)
    return rows


def _baseline_networks(args: argparse.Namespace, manifest: Any) -> tuple[Any, Any, str]:
    import torch

    from mscc_desktop.training.configs import detector_config_from_dict, grader_config_from_dict
    from mscc_desktop.training.cwl import CWLGrader
    from mscc_desktop.training.engine import load_checkpoint
    from mscc_desktop.training.networks import build_detector

    if args.checkpoints:
        det = load_checkpoint(Path(args.checkpoints[0]), kind="detector")
        gra = load_checkpoint(Path(args.checkpoints[1]), kind="grader")
        det_cfg, gra_cfg = (
            detector_config_from_dict(det["config"]),
            grader_config_from_dict(gra["config"]),
        )
        weights = "same checkpoints as the model"
    else:
        det_cfg = detector_config_from_dict(dict(manifest.architecture["detector"]["config"]))
        gra_cfg = grader_config_from_dict(dict(manifest.architecture["grader"]["config"]))
        det = gra = None
        weights = "random weights, same architecture"
    torch.manual_seed(0)
    detector = build_detector(det_cfg)
    grader = CWLGrader(gra_cfg.arch, n_windows=gra_cfg.n_windows, temperature=gra_cfg.temperature)
    if det is not None and gra is not None:
        detector.load_state_dict(det["model"])
        grader.load_state_dict(gra["model"])
    return detector.eval(), grader.eval(), weights


def child_baseline(args: argparse.Namespace) -> dict[str, Any]:
    """Per slice, unbatched, torch eager: what a first implementation would do."""
    import torch

    from mscc_desktop.core.findings import Box, classify
    from mscc_desktop.core.windows import window_stack
    from mscc_desktop.inference.backends import physical_cores, resolve_model
    from mscc_desktop.inference.pipeline import ModelSettings
    from mscc_desktop.inference.preprocess import detector_input, grader_input
    from mscc_desktop.inference.probabilities import fuse_windows

    volume, load_s = _load_volume(Path(args.study))
    start = time.perf_counter()
    manifest = resolve_model(args.model)
    settings = ModelSettings.from_manifest(manifest)
    torch.set_num_threads(physical_cores())
    detector, grader, weights = _baseline_networks(args, manifest)
    model_s = time.perf_counter() - start
    n = (
        volume.n_slices
        if args.baseline_slices is None
        else min(args.baseline_slices, volume.n_slices)
    )
    detect_s = grade_s = 0.0
    p_high: list[float] = []
    found = 0
    start_total = time.perf_counter()
    with torch.inference_mode():
        for index in range(n):
            windowed = window_stack(volume.hu[index])[None]  # (1, 3, row, col)
            images, fit = detector_input(windowed, size=settings.detector_size)
            t0 = time.perf_counter()
            out = detector([torch.from_numpy(images[0])])[0]
            detect_s += time.perf_counter() - t0
            scores = out["scores"].numpy()
            ok = scores.size > 0 and float(scores.max()) >= settings.thresholds.canal_score
            found += bool(ok)
            # The naive version grades every slice (a centre box when nothing was found).
            size = settings.detector_size
            row = out["boxes"][int(scores.argmax())].tolist() if scores.size else None
            centre = (size * 0.45, size * 0.55, size * 0.55, size * 0.65)
            box = fit.to_slice(Box(*(row if row else centre)))
            crops = grader_input(
                windowed,
                [box],
                size=settings.grader_size,
                margin=settings.crop_margin,
                mean=settings.grader_mean,
                std=settings.grader_std,
            )
            t0 = time.perf_counter()
            _, logits = grader(torch.from_numpy(crops))
            probs = torch.softmax(logits, dim=-1).numpy()
            grade_s += time.perf_counter() - t0
            fused = fuse_windows(probs)[0]
            classify(fused, settings.thresholds)
            p_high.append(float(fused[2]) if ok else 0.0)
    total = time.perf_counter() - start_total
    return {
        "name": "baseline (torch eager, per slice)",
        "device": f"PyTorch {torch.__version__.split('+')[0]} · CPU · {physical_cores()} threads",
        "weights": weights,
        "n_slices": n,
        "load_s": load_s,
        "model_s": model_s,
        "detect_s": detect_s,
        "grade_s": grade_s,
        "total_s": total,
        "peak_rss_mb": _peak_rss_mb(),
        "p_high": p_high,
        "canal_found": found,
    }


# ------------------------------------------------------------------------ parent
def _run_child(
    kind: str, args: argparse.Namespace, model: Path, study: Path, extra: list[str]
) -> list[dict[str, Any]]:
    command = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--model",
        str(model),
        "--study",
        str(study),
        "--batch-size",
        str(args.batch_size),
        "--repeats",
        str(args.repeats),
        *extra,
    ]
    if args.compare_preprocessing:
        command.append("--compare-preprocessing")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return [{"name": kind, "unavailable": done.stderr.strip().splitlines()[-1:] or ["failed"]}]
    return [dict(row) for row in json.loads(done.stdout.strip().splitlines()[-1])]


def _table(rows: list[dict[str, Any]], baseline: dict[str, Any] | None) -> str:
    head = (
        f"{'backend':34} {'slices':>6} {'load s':>7} {'model s':>7} {'detect s':>8} "
        f"{'grade s':>7} {'total s':>7} {'e2e s':>7} {'slices/s':>8} {'peak MB':>8} "
        f"{'vs base':>7}  device"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        if "unavailable" in row:
            lines.append(f"{row['name']:34} unavailable: {row['unavailable']}")
            continue
        per_slice = row["total_s"] / row["n_slices"]
        speedup = ""
        if baseline is not None and "total_s" in baseline and row is not baseline:
            speedup = f"{(baseline['total_s'] / baseline['n_slices']) / per_slice:6.1f}x"
        lines.append(
            f"{row['name']:34} {row['n_slices']:6d} {row['load_s']:7.2f} {row['model_s']:7.2f} "
            f"{row['detect_s']:8.2f} {row['grade_s']:7.2f} {row['total_s']:7.2f} "
            f"{row['load_s'] + row['total_s']:7.2f} {row['n_slices'] / row['total_s']:8.1f} "
            f"{row['peak_rss_mb']:8.0f} {speedup:>7}  {row['device']}"
        )
    return "\n".join(lines)


def _settings(items: list[str]) -> dict[str, str]:
    from mscc_desktop.cli.train_cmd import settings_from_text

    try:
        return settings_from_text(items)
    except ValueError as error:
        raise SystemExit(f"--detector-set {error}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", help="model folder or id (default: the shipped model)")
    source.add_argument("--random-export", metavar="CONFIG", help="compact | paper | tiny")
    parser.add_argument(
        "--checkpoints",
        nargs=2,
        metavar=("DET", "GRA"),
        help="training checkpoints of --model, for an identical baseline",
    )
    parser.add_argument("--study", help="DICOM folder to analyse (default: generated phantom)")
    parser.add_argument("--slices", type=int, default=120)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--batch-size", type=int, help="default: the app's")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--baseline-slices", type=int, help="time the baseline on N slices")
    parser.add_argument(
        "--compare-prefetch",
        action="store_true",
        help="also run onnx-cpu without overlapped pre-processing",
    )
    parser.add_argument(
        "--compare-preprocessing",
        action="store_true",
        help="a backend that pre-processes on its GPU also runs with numpy pre-processing "
        "(same process and model), and the rows say how far their P(high) differ",
    )
    parser.add_argument(
        "--export-to",
        metavar="DIR",
        help="with --random-export: write the model folder and checkpoints to DIR and stop "
        "(later runs: --model DIR/random-CONFIG --checkpoints DIR/detector.ckpt "
        "DIR/grader.ckpt --grade-all, without exporting again)",
    )
    parser.add_argument(
        "--detector-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --random-export: change a detector setting, e.g. rpn_post_nms_top_n_test=10",
    )
    parser.add_argument("--json", help="write the rows as JSON")
    parser.add_argument(
        "--grade-all",
        action="store_true",
        help="grade every slice even without a canal box (timing random "
        "weights; on by default with --random-export)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--prefetch", choices=("on", "off"), help=argparse.SUPPRESS)
    parser.add_argument("--float-detector", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.prefetch = {None: None, "on": True, "off": False}[args.prefetch]
    if args.batch_size is None:  # children always get it explicitly (no import in them)
        from mscc_desktop.inference.pipeline import DEFAULT_BATCH_SIZE

        args.batch_size = DEFAULT_BATCH_SIZE

    if args.child:
        rows = [child_baseline(args)] if args.child == "baseline" else child_backend(args)
        print(json.dumps(rows))
        return 0
    if args.export_to:
        if not args.random_export:
            parser.error("--export-to needs --random-export CONFIG")
        folder = Path(args.export_to)
        folder.mkdir(parents=True, exist_ok=True)
        overrides = _settings(args.detector_set)
        model, det_ckpt, gra_ckpt = random_export(args.random_export, folder, overrides)
        print(f"--model {model} --checkpoints {det_ckpt} {gra_ckpt} --grade-all")
        return 0

    from mscc_desktop.inference.backends import resolve_model

    with tempfile.TemporaryDirectory(prefix="mscc-bench-") as tmp:
        work = Path(tmp)
        if args.random_export:
            print(f"exporting random-weight '{args.random_export}' networks ...", flush=True)
            overrides = _settings(args.detector_set)
            model, det_ckpt, gra_ckpt = random_export(args.random_export, work, overrides)
            args.checkpoints = [str(det_ckpt), str(gra_ckpt)]
            args.grade_all = True
        else:
            manifest = resolve_model(args.model)
            assert manifest.folder is not None
            model = manifest.folder
        study = (
            Path(args.study)
            if args.study
            else write_study(work / "study", n_slices=args.slices, size=args.size)
        )
        extra = ["--checkpoints", *args.checkpoints] if args.checkpoints else []
        extra += ["--grade-all"] if args.grade_all else []
        has_int8 = resolve_model(model).detector.int8_file is not None
        rows = []
        for name in args.backends:
            rows += _run_child(name, args, model, study, extra)
            if name == "onnx-cpu" and has_int8:
                # The CPU backend runs the int8 detector: time the float one beside it.
                rows += _run_child(name, args, model, study, [*extra, "--float-detector"])
        if args.compare_prefetch and "onnx-cpu" in args.backends:
            for mode in ("on", "off"):
                rows += _run_child("onnx-cpu", args, model, study, [*extra, "--prefetch", mode])
        baseline = None
        if not args.no_baseline:
            if args.baseline_slices:
                extra += ["--baseline-slices", str(args.baseline_slices)]
            baseline = _run_child("baseline", args, model, study, extra)[0]
            rows.append(baseline)
    print(
        f"\nmodel: {model.name}   study: {args.slices} slices {args.size}x{args.size}"
        f"   batch {args.batch_size}   cpu cores visible: {os.cpu_count()}"
    )
    print(_table(rows, baseline))
    if baseline is not None and "weights" in baseline:
        print(f"baseline weights: {baseline['weights']}")
    for row in rows:
        if "max_abs_p_high_diff" in row:
            print(
                f"{row['name']}: P(high) at most {row['max_abs_p_high_diff']:.2g} from the "
                "device pre-processing's"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
