"""Export trained checkpoints to a model folder (``mscc-desktop export``).

Writes ``detector.onnx`` and ``grader.onnx`` (TorchScript-based ONNX exporter, opset 17, dynamic
batch; I/O contract in :mod:`mscc_desktop.inference.backends.base`), optionally ``torch.export``
programs (``.pt2``, dynamic batch) for the torch backend, and ``manifest.json`` with checksums
(:mod:`mscc_desktop.inference.manifest`).

Each exported network is checked against the torch module it came from on a batch of 3 (and
a batch of 1 for the dynamic axis) before the manifest is written: boxes within 0.5 px,
probabilities within 1e-4. An export that fails the check is not installed.

``fp16_weights`` halves the files: weights are rounded to fp16 once, the torch reference uses the
rounded weights, and the ONNX graph stores large float initializers as fp16 behind a ``Cast`` to
fp32 that ONNX Runtime folds at session creation, so inference still computes in fp32. The
``.pt2`` programs keep fp32 weights (rounded to fp16 values when ``fp16_weights``): a program
with fp16 parameters would need every consumer to upcast it.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mscc_desktop.core.findings import Thresholds
from mscc_desktop.core.windows import PAPER_WINDOWS
from mscc_desktop.inference.manifest import (
    INTENDED_USE,
    INTENDED_USE_INSERTED,
    DetectorSpec,
    GraderSpec,
    ModelManifest,
    TrainingData,
    WindowSpec,
)
from mscc_desktop.inference.model_folder import write_model_folder
from mscc_desktop.training.configs import (
    DETECTOR_CLASSES,
    GraderConfig,
    detector_config_from_dict,
    grader_config_from_dict,
)
from mscc_desktop.training.cwl import CWLGrader, GraderExport
from mscc_desktop.training.detector_export import CanalDetector
from mscc_desktop.training.engine import load_checkpoint
from mscc_desktop.training.grader_weights import (
    GRADER_WEIGHTS_FILE,
    TrainableGrader,
    save_grader_weights,
)
from mscc_desktop.training.networks import build_detector, count_parameters

logger = logging.getLogger(__name__)

OPSET = 17
DETECTOR_FILE = "detector.onnx"
DETECTOR_INT8_FILE = "detector-int8.onnx"
GRADER_FILE = "grader.onnx"
DETECTOR_TORCH_FILE = "detector.pt2"
GRADER_TORCH_FILE = "grader.pt2"
BOX_TOLERANCE_PX = 0.5
PROB_TOLERANCE = 1e-4
_FP16_MIN_ELEMENTS = 1024  # small tensors (biases, anchors, thresholds) stay fp32


class ExportCheckError(RuntimeError):
    """ONNX Runtime and torch disagree beyond the tolerance: the export is not used."""


@dataclass(frozen=True, slots=True)
class LoadedNetworks:
    """Both networks rebuilt from checkpoints, in eval mode, with what the manifest needs."""

    detector: CanalDetector
    grader: GraderExport
    detector_ckpt: dict[str, Any]
    grader_ckpt: dict[str, Any]


def round_to_fp16(module: nn.Module) -> None:
    """Round every fp32 weight to the nearest fp16 value, in place (what fp16 storage keeps)."""
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            if tensor.dtype == torch.float32:
                tensor.copy_(tensor.half().float())


def grader_from_checkpoint(checkpoint: dict[str, Any]) -> tuple[CWLGrader, GraderConfig]:
    """The trained CWL grader of a grader checkpoint, in eval mode, and its config."""
    config = grader_config_from_dict(checkpoint["config"])
    grader = CWLGrader(config.arch, n_windows=config.n_windows, temperature=config.temperature)
    grader.load_state_dict(checkpoint["model"])
    return grader.eval(), config


def load_networks(detector_ckpt: Path, grader_ckpt: Path, *, fp16_weights: bool) -> LoadedNetworks:
    """Rebuild the exported forms of both networks from training checkpoints."""
    det = load_checkpoint(detector_ckpt, kind="detector")
    gra = load_checkpoint(grader_ckpt, kind="grader")
    det_config = detector_config_from_dict(det["config"])
    model = build_detector(det_config)
    model.load_state_dict(det["model"])
    model.eval()
    grader, _ = grader_from_checkpoint(gra)
    if fp16_weights:
        round_to_fp16(model)
        round_to_fp16(grader)
    detector = CanalDetector(model, input_size=det_config.input_size).eval()
    return LoadedNetworks(detector, GraderExport(grader).eval(), det, gra)


def _export_onnx(
    module: nn.Module,
    example: torch.Tensor,
    path: Path,
    *,
    inputs: list[str],
    outputs: list[str],
) -> None:
    axes = {name: {0: "batch"} for name in inputs + outputs}
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is deprecated in favour of the dynamo exporter, which needs
        # onnxscript (not a dependency) and cannot yet express NMS with a dynamic batch.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=axes,
            do_constant_folding=True,
        )


def write_grader_onnx(
    grader: GraderExport, config: GraderConfig, path: Path, *, detector_path: Path, fp16: bool
) -> float:
    """Export ``grader`` to ``path`` (fp16 initializers when ``fp16``) and check it with the
    app's ONNX backend beside ``detector_path``; returns the largest probability difference."""
    crops = torch.randn(
        (3, config.n_windows, config.crop_size, config.crop_size),
        generator=torch.Generator().manual_seed(1),
    )
    _export_onnx(grader, crops, path, inputs=["crops"], outputs=["probs"])
    if fp16:
        store_initializers_fp16(path)
    backend = _onnx_backend(detector_path, path)
    try:
        return check_grader(backend, grader, crops)
    finally:
        del backend


def store_initializers_fp16(path: Path) -> None:
    """Rewrite an ONNX file so that large fp32 initializers are stored as fp16 + Cast."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    casts = []
    kept = []
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        if init.data_type != TensorProto.FLOAT or array.size < _FP16_MIN_ELEMENTS:
            kept.append(init)
            continue
        stored = f"{init.name}__fp16"
        kept.append(numpy_helper.from_array(array.astype(np.float16), stored))
        casts.append(helper.make_node("Cast", [stored], [init.name], to=TensorProto.FLOAT))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _onnx_backend(detector_path: Path, grader_path: Path) -> Any:
    """The app's own ONNX Runtime CPU backend on the exported files (the check then also
    proves that the backend accepts them; training never imports onnxruntime itself)."""
    from mscc_desktop.inference.backends.onnx import OnnxBackend

    return OnnxBackend(detector_path, grader_path, threads=max(1, torch.get_num_threads()))


def _int8_detector(float_backend: Any, out_dir: Path, data_dir: Path, size: int) -> dict[str, Any]:
    """Write the int8 detector next to the float one; its comparison for the manifest.

    An int8 copy that disagrees with the float detector beyond tolerance is deleted and the
    record says why (``refused``): the model stays complete with its float detector, which
    every backend runs, so a long training recipe does not end without a model because of an
    optional speed-up. Missing or unreadable calibration data still raise.
    """
    from mscc_desktop.training.quantize import (
        QuantizationError,
        calibration_images,
        compare_detectors,
        quantize_detector,
    )

    images = calibration_images(data_dir, size=size)
    int8_path = out_dir / DETECTOR_INT8_FILE
    quantize_detector(out_dir / DETECTOR_FILE, int8_path, images)
    # The box head's float weights are most of the file: stored fp16 like the float model's.
    store_initializers_fp16(int8_path)
    int8_backend = _onnx_backend(int8_path, out_dir / GRADER_FILE)
    record: dict[str, Any] = {
        "method": "onnxruntime static quantization: QDQ, Conv only, per-channel int8 weights, "
        "uint8 activations (MinMax calibration)",
        "calibration": f"{len(images)} slices of {data_dir.name} (evenly spaced per study)",
    }
    try:
        check = compare_detectors(*float_backend.detect(images), *int8_backend.detect(images))
    except QuantizationError as error:
        del int8_backend
        int8_path.unlink(missing_ok=True)
        logger.info("int8 detector not written: %s", error)
        return {"refused": f"{error} The CPU backend runs the float detector.", **record}
    return {"file": DETECTOR_INT8_FILE, **record, "vs_float": check.to_dict()}


def check_detector(backend: Any, detector: CanalDetector, images: torch.Tensor) -> float:
    """Max box difference (px) between ONNX Runtime and torch; raises beyond tolerance."""
    worst = 0.0
    for batch in (images, images[:1]):
        with torch.no_grad():
            boxes, scores = detector(batch)
        ort_boxes, ort_scores = backend.detect(batch.numpy())
        box_diff = float(np.abs(ort_boxes - boxes.numpy()).max())
        score_diff = float(np.abs(ort_scores - scores.numpy()).max())
        worst = max(worst, box_diff)
        if box_diff > BOX_TOLERANCE_PX or score_diff > 1e-3:
            raise ExportCheckError(
                f"detector ONNX differs from torch: boxes {box_diff:.3g} px, "
                f"scores {score_diff:.3g}"
            )
    return worst


def check_grader(backend: Any, grader: GraderExport, crops: torch.Tensor) -> float:
    """Max probability difference between ONNX Runtime and torch; raises beyond tolerance."""
    worst = 0.0
    for batch in (crops, crops[:1]):
        with torch.no_grad():
            probs = grader(batch).numpy()
        worst = max(worst, float(np.abs(backend.grade(batch.numpy()) - probs).max()))
    if worst > PROB_TOLERANCE:
        raise ExportCheckError(f"grader ONNX differs from torch by {worst:.3g} in probability")
    return worst


def _example_images(size: int, n: int = 3) -> torch.Tensor:
    """A plausible detector batch: a bright ring (vertebra) around a dark disc in soft tissue."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    images = torch.full((n, 3, size, size), 0.3)
    for i in range(n):
        cy, cx = size * (0.55 + 0.05 * i), size * (0.45 + 0.05 * i)
        dist = torch.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        images[i, :, dist < size * 0.08] = 1.0
        images[i, :, dist < size * 0.04] = 0.2
    generator = torch.Generator().manual_seed(0)
    return (images + 0.05 * torch.rand(images.shape, generator=generator)).clamp(0, 1)


def _torch_program(module: nn.Module, example: torch.Tensor, path: Path, *, name: str) -> None:
    """Save a ``torch.export`` program with a dynamic batch axis (``.pt2``) for the torch
    backend, and check it against the eager module on a batch of a different size."""
    batch = torch.export.Dim("batch", min=1, max=4096)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.export.export(module, (example,), dynamic_shapes={name: {0: batch}})
        torch.export.save(program, str(path))
        reloaded = torch.export.load(str(path)).module()
        probe = example[:1]
        expected, got = module(probe), reloaded(probe)
    pairs = zip(expected, got, strict=True) if isinstance(expected, tuple) else [(expected, got)]
    for want, have in pairs:
        if float((want - have).abs().max()) > 1e-4:
            raise ExportCheckError(f"{path.name} differs from the eager module")


def _training_data(nets: LoadedNetworks) -> TrainingData:
    """From the checkpoints' data summaries and the data folder's ``dataset.json`` (written
    by ``scripts/train_shipped_model.py``: generator, version, seeds)."""
    det = nets.detector_ckpt.get("training_data", {})
    gra = nets.grader_ckpt.get("training_data", {})
    # The grader's data set first: it is the fuller one when the two differ (the recipe gives
    # the detector fewer phantoms and variants, since a detector step costs 8x more).
    dataset = gra.get("dataset") or det.get("dataset") or {}
    seeds = dataset.get("seeds", [])
    synthetic = bool(dataset.get("synthetic", True))
    return TrainingData(
        synthetic=synthetic,
        description=str(
            dataset.get("description")
            or "Synthetic staging-CT phantoms generated by mscc-desktop synth; no patient data."
        ),
        generator=str(dataset.get("generator", "")),
        generator_version=str(dataset.get("generator_version", "")),
        seeds=tuple(int(s) for s in seeds) if isinstance(seeds, list) else (),
        n_studies=max(int(det.get("n_studies", 0)), int(gra.get("n_studies", 0))),
        n_slices=max(int(det.get("n_slices", 0)), int(gra.get("n_slices", 0))),
    )


def _safe_id(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    if not cleaned:
        raise ValueError(f"model id {text!r} has no usable characters")
    return cleaned


def export_model(
    detector_ckpt: Path,
    grader_ckpt: Path,
    out_dir: Path,
    *,
    model_id: str | None = None,
    version: str = "1.0.0",
    description: str = "",
    fp16_weights: bool = False,
    torch_files: bool = False,
    trainable_weights: bool = False,
    torchscript: bool = False,
    thresholds: Thresholds | None = None,
    crop_margin: float | None = None,
    evaluation: Mapping[str, Any] | None = None,
    training_data: TrainingData | None = None,
    int8_calibration: Path | None = None,
) -> ModelManifest:
    """Export both checkpoints into the model folder ``out_dir`` and write its manifest.

    ``torch_files`` also writes ``torch.export`` programs (``.pt2``, fp32) for the optional
    torch backend; ``torchscript`` is an older name for the same switch (TorchScript itself
    is deprecated in torch 2.14, so no TorchScript file is written).

    ``trainable_weights`` keeps the grader's weights (:data:`GRADER_WEIGHTS_FILE`, fp16) for
    site adaptation (``adapt`` re-fits prototypes, BN statistics and the last stage).

    ``int8_calibration`` (a folder of study folders, e.g. the training data) adds an int8
    copy of the detector for the ONNX Runtime CPU backend (:mod:`.quantize`), calibrated on
    slices of those studies and checked against the float detector on them.

    Returns the written manifest. Raises :class:`ExportCheckError` when ONNX Runtime and torch
    disagree beyond tolerance (the folder then holds no manifest, so it is not a model).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "manifest.json").unlink(missing_ok=True)
    nets = load_networks(detector_ckpt, grader_ckpt, fp16_weights=fp16_weights)
    det_cfg = detector_config_from_dict(nets.detector_ckpt["config"])
    gra_cfg = grader_config_from_dict(nets.grader_ckpt["config"])
    images = _example_images(det_cfg.input_size)
    generator = torch.Generator().manual_seed(1)
    crops = torch.randn(
        (3, gra_cfg.n_windows, gra_cfg.crop_size, gra_cfg.crop_size), generator=generator
    )

    det_path, gra_path = out_dir / DETECTOR_FILE, out_dir / GRADER_FILE
    _export_onnx(nets.detector, images, det_path, inputs=["images"], outputs=["boxes", "scores"])
    _export_onnx(nets.grader, crops, gra_path, inputs=["crops"], outputs=["probs"])
    if fp16_weights:
        store_initializers_fp16(det_path)
        store_initializers_fp16(gra_path)
    backend = _onnx_backend(det_path, gra_path)
    box_diff = check_detector(backend, nets.detector, images)
    prob_diff = check_grader(backend, nets.grader, crops)
    files = [DETECTOR_FILE, GRADER_FILE]
    int8_check: dict[str, Any] | None = None
    if int8_calibration is not None:
        int8_check = _int8_detector(backend, out_dir, int8_calibration, det_cfg.input_size)
        if "file" in int8_check:
            files.append(DETECTOR_INT8_FILE)
    del backend
    write_torch = torch_files or torchscript
    if write_torch:
        _torch_program(nets.detector, images, out_dir / DETECTOR_TORCH_FILE, name="images")
        _torch_program(nets.grader, crops, out_dir / GRADER_TORCH_FILE, name="crops")
        files += [DETECTOR_TORCH_FILE, GRADER_TORCH_FILE]

    if trainable_weights:
        weights = TrainableGrader(
            nets.grader.grader, gra_cfg,
            tuple(float(m) for m in nets.grader_ckpt["norm_mean"]),
            tuple(float(s) for s in nets.grader_ckpt["norm_std"]),
            nets.grader_ckpt,
        )  # fmt: skip
        save_grader_weights(weights, out_dir / GRADER_WEIGHTS_FILE)
        files.append(GRADER_WEIGHTS_FILE)

    margin = gra_cfg.crop_margin if crop_margin is None else crop_margin
    data = training_data or _training_data(nets)
    manifest = ModelManifest(
        model_id=_safe_id(model_id or out_dir.name),
        version=version,
        created=datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        description=description
        or (
            f"Canal detector (Faster R-CNN {det_cfg.backbone}-FPN, {det_cfg.name} config) and "
            f"CWL grader ({gra_cfg.arch}, {gra_cfg.name} config)."
        ),
        windows=tuple(
            WindowSpec(preset, window.width, window.level)
            for preset, window in PAPER_WINDOWS.items()
        ),
        detector=DetectorSpec(
            file=DETECTOR_FILE,
            input_size=det_cfg.input_size,
            torch_file=DETECTOR_TORCH_FILE if write_torch else None,
            int8_file=DETECTOR_INT8_FILE if DETECTOR_INT8_FILE in files else None,
            classes=DETECTOR_CLASSES,
        ),
        grader=GraderSpec(
            file=GRADER_FILE,
            input_size=gra_cfg.crop_size,
            crop_margin=margin,
            mean=tuple(float(m) for m in nets.grader_ckpt["norm_mean"]),
            std=tuple(float(s) for s in nets.grader_ckpt["norm_std"]),
            torch_file=GRADER_TORCH_FILE if write_torch else None,
        ),
        thresholds=thresholds or Thresholds(),
        training_data=data,
        # Real CT in the training data (with inserted disease) changes what the card says.
        synthetic_only=data.synthetic,
        intended_use=INTENDED_USE if data.synthetic else INTENDED_USE_INSERTED,
        architecture={
            "detector": {
                "network": "Faster R-CNN (torchvision), top-1 canal box per image",
                "config": det_cfg.to_dict(),
                "parameters": count_parameters(nets.detector),
                "validation": nets.detector_ckpt.get("best_metrics") or {},
            },
            "grader": {
                "network": "CWL: window-specific batch norm + convolutional prototype head",
                "config": replace(gra_cfg).to_dict(),
                "parameters": count_parameters(nets.grader),
                "class_counts": list(nets.grader_ckpt.get("class_counts", [])),
                "validation": nets.grader_ckpt.get("best_metrics") or {},
            },
            "export": {
                "opset": OPSET,
                "fp16_weights": fp16_weights,
                "torch": torch.__version__,
                "onnx_vs_torch_max_box_px": box_diff,
                "onnx_vs_torch_max_prob": prob_diff,
                **({"int8_detector": int8_check} if int8_check is not None else {}),
            },
        },
        evaluation=dict(evaluation or {}),
    )
    written = write_model_folder(manifest, out_dir, file_names=files)
    logger.info("exported %s to %s (sha256 %s)", written.model_id, out_dir, written.short_sha)
    return written
