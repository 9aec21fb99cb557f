"""ONNX Runtime backend: the default, shipped with the installer (CUDA when it works, else CPU).

ONNX Runtime falls back to the CPU *silently* when its CUDA provider cannot load (missing
CUDA/cuDNN libraries, no driver): the session is created anyway with only the CPU provider.
:class:`OnnxBackend` therefore reads back the providers each session really got and reports
that, so the factory can turn a lost GPU into a visible warning.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as _ort_state

from mscc_desktop.core.errors import BackendUnavailableError, ModelIntegrityError
from mscc_desktop.inference.backends.base import FloatArray

logger = logging.getLogger(__name__)

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"

# onnxruntime's own exception types derive from Exception directly, not RuntimeError.
_ORT_ERRORS: tuple[type[BaseException], ...] = (
    RuntimeError,
    ValueError,
    *(
        getattr(_ort_state, name)
        for name in (
            "Fail", "InvalidArgument", "NoSuchFile", "NoModel", "EngineError", "RuntimeException",
            "InvalidProtobuf", "ModelLoaded", "NotImplemented", "InvalidGraph", "EPFail",
        )
        if isinstance(getattr(_ort_state, name, None), type)
    ),
)  # fmt: skip


def runtime_text() -> str:
    """E.g. ``"ONNX Runtime 1.31.1"``."""
    return f"ONNX Runtime {ort.__version__}"


def runtime_description() -> str:
    """ONNX Runtime's version and whether this build can use CUDA, for ``--version``.

    Asks ONNX Runtime only what it was built with (cheap); no session is created.
    """
    providers = [p.removesuffix("ExecutionProvider") for p in ort.get_available_providers()]
    cuda = (
        "CUDA provider present (used when a GPU, its driver and CUDA/cuDNN libraries are found)"
        if "CUDA" in providers
        else "CPU only"
    )
    return f"ONNX Runtime {ort.__version__}, {cuda}"


def cuda_provider_installed() -> bool:
    """True when this onnxruntime build has the CUDA provider (it may still fail to load)."""
    return CUDA_PROVIDER in ort.get_available_providers()


def _session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Physical cores: hyper-threads add contention, not speed, to convolution kernels.
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    # Idle ONNX Runtime threads otherwise spin for a while after each run and starve numpy's
    # pre-processing between batches (measured 15x slower crops on 2 cores).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    # Errors from a provider that fails to load would otherwise go straight to stderr;
    # the factory reports the fall-back itself.
    options.log_severity_level = 4
    return options


def _providers(use_cuda: bool, device_id: int) -> list[Any]:
    if not use_cuda:
        return [CPU_PROVIDER]
    cuda_options = {
        "device_id": device_id,
        # The default exhaustive cuDNN search stalls the first inference for seconds
        # (../shared/PERF_NOTES.md); the heuristic choice is within a few percent.
        "cudnn_conv_algo_search": "HEURISTIC",
    }
    return [(CUDA_PROVIDER, cuda_options), CPU_PROVIDER]


def _open(path: Path, options: ort.SessionOptions, providers: list[Any]) -> ort.InferenceSession:
    if not path.is_file():
        raise ModelIntegrityError(f"Model file {path.name} is missing from {path.parent}.")
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except _ORT_ERRORS as error:
        raise ModelIntegrityError(
            f"ONNX Runtime cannot load {path.name}: the file is damaged or not an ONNX model. "
            "Reinstall the model.",
            details=str(error),
        ) from error


class OnnxBackend:
    """Runs the detector and grader ONNX files with ONNX Runtime.

    Parameters
    ----------
    detector_path, grader_path
        The model's ONNX files (checksums already verified by the manifest loader).
    use_cuda
        Ask for the CUDA execution provider (with the CPU as ONNX Runtime's fall-back).
    threads
        CPU intra-op threads (physical cores).
    device_id, gpu_name
        CUDA device and its name for :attr:`device`.
    fallback_warning
        Set by the factory when a GPU was wanted but this backend runs on the CPU.
    detector_note
        Added to :attr:`device` (e.g. ``"int8 detector"`` for the quantized CPU detector).
    """

    def __init__(
        self,
        detector_path: Path,
        grader_path: Path,
        *,
        use_cuda: bool = False,
        threads: int = 1,
        device_id: int = 0,
        gpu_name: str = "",
        fallback_warning: str | None = None,
        detector_note: str = "",
    ) -> None:
        options = _session_options(threads)
        providers = _providers(use_cuda, device_id)
        self._detector = _open(detector_path, options, providers)
        self._grader = _open(grader_path, options, providers)
        self._threads = threads
        self._gpu_name = gpu_name or f"GPU {device_id}"
        self._fallback = fallback_warning
        self._detector_note = detector_note
        self._det_input = self._detector.get_inputs()[0].name
        self._grade_input = self._grader.get_inputs()[0].name
        det_outputs = [o.name for o in self._detector.get_outputs()]
        self._det_outputs = (
            ["boxes", "scores"] if {"boxes", "scores"} <= set(det_outputs) else det_outputs[:2]
        )
        if len(self._det_outputs) != 2:
            raise ModelIntegrityError(
                f"{detector_path.name} has {len(det_outputs)} outputs; the detector must "
                "output boxes and scores."
            )

    @property
    def on_cuda(self) -> bool:
        """True only when both sessions really got the CUDA provider."""
        return all(
            CUDA_PROVIDER in session.get_providers() for session in (self._detector, self._grader)
        )

    @property
    def name(self) -> str:
        return "onnx-cuda" if self.on_cuda else "onnx-cpu"

    @property
    def runtime(self) -> str:
        return runtime_text()

    @property
    def device(self) -> str:
        if self.on_cuda:
            return f"CUDA · {self._gpu_name}"
        text = f"CPU · {self._threads} thread{'s' if self._threads != 1 else ''}"
        return f"{text} · {self._detector_note}" if self._detector_note else text

    @property
    def fallback_warning(self) -> str | None:
        return self._fallback

    def set_fallback_warning(self, text: str | None) -> None:
        """Record why the CPU is used although a GPU was wanted (the factory calls this)."""
        self._fallback = text

    def detect(self, images: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Best canal box ``(N, 4)`` and score ``(N,)`` per image."""
        boxes, scores = self._run(
            self._detector, self._det_outputs, {self._det_input: images}, "detector"
        )
        return (
            np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
            np.asarray(scores, dtype=np.float32).reshape(-1),
        )

    def grade(self, crops: FloatArray) -> FloatArray:
        """Per-window probabilities ``(N, W, 3)``."""
        (probs,) = self._run(self._grader, None, {self._grade_input: crops}, "grader")
        return np.asarray(probs, dtype=np.float32)

    @staticmethod
    def _run(
        session: ort.InferenceSession,
        outputs: list[str] | None,
        feed: dict[str, FloatArray],
        what: str,
    ) -> list[Any]:
        contiguous = {
            key: np.ascontiguousarray(value, dtype=np.float32) for key, value in feed.items()
        }
        try:
            return list(session.run(outputs, contiguous))
        except _ORT_ERRORS as error:
            # Out of GPU memory, a shape the model does not accept, a driver fault.
            raise BackendUnavailableError(
                f"The {what} failed in ONNX Runtime; try a smaller --batch-size or the CPU "
                "backend.",
                details=str(error),
            ) from error


__all__ = ["OnnxBackend", "cuda_provider_installed", "runtime_description", "runtime_text"]
