"""Optional PyTorch backend (CUDA, else CPU) for sites that install torch.

With :mod:`~mscc_desktop.inference.backends.torch_preprocess` (its pre-processing on the GPU), the
only inference module that imports torch, and only inside functions: importing this module
costs nothing; creating a backend pays torch's ~2 s import. It never imports
``mscc_desktop.training``: it runs self-contained artefacts that ``mscc-desktop export``
writes beside the ONNX files, with the same I/O contract
(:mod:`mscc_desktop.inference.backends.base`):

* ``*.pt2`` — a ``torch.export`` program (preferred), or
* ``*.pt`` / ``*.ts`` — a TorchScript module.

A model folder with ONNX files only cannot run on this backend; the factory says so.
"""

from __future__ import annotations

import importlib.util
import logging
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from mscc_desktop.core.errors import BackendUnavailableError, ModelIntegrityError
from mscc_desktop.inference.backends.base import FloatArray
from mscc_desktop.inference.backends.torch_preprocess import TorchPreprocessor

logger = logging.getLogger(__name__)


def torch_installed() -> bool:
    """True when torch can be imported (checked without importing it)."""
    return importlib.util.find_spec("torch") is not None


def _load_module(path: Path, device: Any) -> Any:
    import torch

    try:
        # Registers torchvision's operators (nms, roi_align) that exported detectors call.
        import torchvision  # noqa: F401
    except ImportError:
        logger.info("torchvision not installed; exported detectors that use its ops will fail")
    if not path.is_file():
        raise ModelIntegrityError(f"Model file {path.name} is missing from {path.parent}.")
    damaged = ModelIntegrityError(
        f"PyTorch cannot load {path.name}: the file is damaged or was written by an "
        "incompatible torch version. Re-export the model or use an ONNX backend."
    )
    if not zipfile.is_zipfile(path):  # both formats are zip archives; torch logs noisily
        raise damaged
    try:
        if path.suffix == ".pt2":
            program = torch.export.load(str(path))
            if device.type != "cpu":
                # An exported graph keeps the device of every tensor it creates (aranges,
                # fills) as it was at export, on the CPU: moving only the weights would mix
                # devices at run time. This pass rewrites those devices too.
                from torch.export.passes import move_to_device_pass

                program = move_to_device_pass(program, device)
            module = _without_metadata_asserts(program.module())
        else:
            # Exports may store fp16 weights to halve the files; run them in fp32.
            module = torch.jit.load(str(path), map_location="cpu").float()  # type: ignore[no-untyped-call]
    except (
        RuntimeError,
        ValueError,
        OSError,
        KeyError,
        EOFError,
        zipfile.BadZipFile,
        pickle.UnpicklingError,
    ) as error:
        damaged.details = str(error)
        raise damaged from error
    return module.to(device)


def _without_metadata_asserts(module: Any) -> Any:
    """Drop the dtype/device assertions ``torch.export`` writes into the graph: they pin
    intermediate tensors to float32, which fp16 autocast changes by design. Inputs are
    checked here instead (:meth:`TorchBackend._call` passes contiguous float32)."""
    import torch

    graph = module.graph
    target = torch.ops.aten._assert_tensor_metadata.default
    asserts = [n for n in graph.nodes if n.op == "call_function" and n.target == target]
    for node in asserts:
        graph.erase_node(node)
    if asserts:
        module.recompile()
    return module


class TorchBackend:
    """Runs exported torch artefacts of the detector and the grader.

    Parameters
    ----------
    detector_path, grader_path
        ``.pt2`` (torch.export) or TorchScript files (checksums verified by the loader).
    use_cuda
        Run on CUDA device ``device_id``; raises :class:`BackendUnavailableError` when torch
        has no usable CUDA (the factory then falls back, with a warning).
    threads
        CPU threads (physical cores) when on the CPU.
    half
        On CUDA, run under fp16 autocast (about 3× faster on tensor-core GPUs).
    fallback_warning
        Set by the factory when a GPU was wanted but this backend runs on the CPU.
    """

    def __init__(
        self,
        detector_path: Path,
        grader_path: Path,
        *,
        use_cuda: bool = False,
        threads: int = 1,
        device_id: int = 0,
        half: bool = False,
        fallback_warning: str | None = None,
    ) -> None:
        if not torch_installed():
            raise BackendUnavailableError(
                "The torch backend needs PyTorch, which is not installed. "
                "Use --backend onnx-cpu or onnx-cuda."
            )
        import torch

        if use_cuda and not torch.cuda.is_available():
            raise BackendUnavailableError(
                "PyTorch has no usable CUDA device here (CPU-only build, no driver or no GPU)."
            )
        self._torch = torch
        self._device = torch.device(f"cuda:{device_id}" if use_cuda else "cpu")
        if not use_cuda:
            torch.set_num_threads(max(1, threads))
        self._threads = threads
        self._half = half and use_cuda
        self._gpu_name = torch.cuda.get_device_name(device_id) if use_cuda else ""
        self._detector = _load_module(detector_path, self._device)
        self._grader = _load_module(grader_path, self._device)
        self._fallback = fallback_warning
        self._preprocessor: TorchPreprocessor | None = None
        if use_cuda:
            # On a GPU the network inputs are computed there (only int16 HU are uploaded);
            # on the CPU numpy's tuned code is as fast and runs beside the networks.
            self._preprocessor = TorchPreprocessor(self._device)

    @property
    def preprocessor(self) -> TorchPreprocessor | None:
        """Pre-processing on this backend's device (the pipeline uses it); ``None`` on CPU."""
        return self._preprocessor

    @property
    def name(self) -> str:
        return "torch-cuda" if self._device.type == "cuda" else "torch-cpu"

    @property
    def runtime(self) -> str:
        return f"PyTorch {self._torch.__version__.split('+')[0]}"

    @property
    def device(self) -> str:
        if self._device.type == "cuda":
            precision = " · fp16" if self._half else ""
            return f"CUDA · {self._gpu_name}{precision}"
        return f"CPU · {self._threads} thread{'s' if self._threads != 1 else ''}"

    @property
    def fallback_warning(self) -> str | None:
        return self._fallback

    def set_fallback_warning(self, text: str | None) -> None:
        """Record why the CPU is used although a GPU was wanted (the factory calls this)."""
        self._fallback = text

    def _run(self, module: Any, array: Any) -> Any:
        torch = self._torch
        with torch.inference_mode():
            if isinstance(array, torch.Tensor):  # made on the device by the preprocessor
                tensor = array.to(self._device, torch.float32).contiguous()
            else:
                tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
                tensor = tensor.to(self._device, non_blocking=True)
            if self._half:
                with torch.autocast(device_type="cuda", dtype=torch.float16):
                    return module(tensor)
            return module(tensor)

    def _call(self, module: Any, array: Any, what: str) -> Any:
        try:
            try:
                return self._run(module, array)
            except RuntimeError as error:
                if not self._half or "out of memory" in str(error):
                    raise
                # An operator without an fp16 kernel: say so, and carry on in fp32 (the
                # device string then no longer claims fp16).
                logger.warning("fp16 autocast failed in the %s; running in fp32: %s", what, error)
                self._half = False
                return self._run(module, array)
        except (RuntimeError, ValueError) as error:  # CUDA out of memory is a RuntimeError
            raise BackendUnavailableError(
                f"The {what} failed in PyTorch; try a smaller --batch-size or another backend.",
                details=str(error),
            ) from error

    def _numpy(self, tensor: Any) -> FloatArray:
        return np.asarray(tensor.detach().float().cpu().numpy(), dtype=np.float32)

    def detect(self, images: Any) -> tuple[FloatArray, FloatArray]:
        """Best canal box ``(N, 4)`` and score ``(N,)`` per image (numpy or a device tensor
        from :attr:`preprocessor`)."""
        boxes, scores = self._call(self._detector, images, "detector")
        return self._numpy(boxes).reshape(-1, 4), self._numpy(scores).reshape(-1)

    def grade(self, crops: Any) -> FloatArray:
        """Per-window probabilities ``(N, W, 3)`` (crops: numpy or a device tensor)."""
        return self._numpy(self._call(self._grader, crops, "grader"))


__all__ = ["TorchBackend", "torch_installed"]
