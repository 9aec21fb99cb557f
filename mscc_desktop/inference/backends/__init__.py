"""Choosing an inference backend that really works on this machine.

:func:`create_backend` builds the backend the user chose — or, for ``auto``, the fastest
that works: ONNX Runtime on CUDA, then PyTorch on CUDA (when torch and a torch artefact are
installed), then ONNX Runtime on the CPU, then PyTorch on the CPU. "Works" is proven by a
tiny warm-up inference, not assumed from what is installed: onnxruntime-gpu lists its CUDA
provider even on machines without a GPU and falls back to the CPU silently.

A GPU that was asked for, or that ``auto`` can see, but that cannot be used gives a CPU
backend whose ``fallback_warning`` says so; the pipeline turns it into a visible notice.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Final

import numpy as np

from mscc_desktop.core.config import (
    DEFAULT_MODEL_ID,
    active_model_id,
    models_dir,
    site_models_dir,
)
from mscc_desktop.core.errors import BackendUnavailableError, ModelIntegrityError, MsccError
from mscc_desktop.inference.backends.base import InferenceBackend
from mscc_desktop.inference.manifest import MANIFEST_NAME, ModelManifest
from mscc_desktop.inference.model_folder import default_model_folder, load_model_folder
from mscc_desktop.inference.model_settings import ModelSettings, model_settings

logger = logging.getLogger(__name__)

AUTO: Final = "auto"
BACKEND_CHOICES: tuple[str, ...] = ("auto", "onnx-cuda", "onnx-cpu", "torch-cuda", "torch-cpu")


@lru_cache(maxsize=1)
def physical_cores() -> int:
    """Physical CPU cores this process may use (hyper-threads not counted)."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return max(1, (os.cpu_count() or 2) // 2) if (os.cpu_count() or 1) > 1 else 1
    cores: set[tuple[str, str]] = set()
    for cpu in allowed:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            return max(1, len(allowed))
        cores.add((package, core))
    return max(1, len(cores) or len(allowed))


@lru_cache(maxsize=1)
def nvidia_gpus() -> tuple[str, ...]:
    """Names of the NVIDIA GPUs CUDA programs will see, in CUDA device order (may be empty).

    Asks ``nvidia-smi`` (installed with the driver) so that no CUDA library has to load;
    honours ``CUDA_VISIBLE_DEVICES`` given as indices.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1", "none", "NoDevFiles"):
        return ()
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return ()
    try:
        done = subprocess.run(
            [tool, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    names = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not names:
        return ()
    if visible is not None:
        parts = [p.strip() for p in visible.split(",")]
        if all(p.isdigit() for p in parts):
            return tuple(names[int(p)] for p in parts if int(p) < len(names))
    return tuple(names)


def warm_up(backend: InferenceBackend, model: ModelSettings) -> None:
    """Run one tiny inference through both networks and check the output shapes.

    Raises
    ------
    ModelIntegrityError
        When the model's outputs do not follow the I/O contract.
    BackendUnavailableError
        When the runtime fails (e.g. a GPU that cannot run the model).
    """
    images = np.zeros((1, 3, model.detector_size, model.detector_size), dtype=np.float32)
    boxes, scores = backend.detect(images)
    crops = np.zeros(
        (1, len(model.presets), model.grader_size, model.grader_size), dtype=np.float32
    )
    probs = backend.grade(crops)
    if boxes.shape != (1, 4) or scores.shape != (1,) or probs.shape != (1, len(model.presets), 3):
        raise ModelIntegrityError(
            f"Model {model.model_id} does not follow the model I/O contract (detector gave "
            f"{boxes.shape}/{scores.shape}, grader gave {probs.shape}). Re-export the model."
        )
    if not np.all(np.isfinite(probs)):
        raise BackendUnavailableError(f"The grader gave non-finite output on {backend.device}.")


def _onnx(model: ModelSettings, *, cuda: bool, threads: int, gpu: str) -> InferenceBackend:
    from mscc_desktop.inference.backends.onnx import OnnxBackend

    if model.detector_onnx is None or model.grader_onnx is None:
        raise BackendUnavailableError(f"Model {model.model_id} has no ONNX files.")
    # The int8 detector is for the CPU only: ONNX Runtime's CUDA provider runs quantized
    # graphs through slow fall-backs, and a CUDA session that fails is refused below anyway.
    int8 = None if cuda else model.detector_onnx_int8
    backend = OnnxBackend(
        int8 or model.detector_onnx,
        model.grader_onnx,
        use_cuda=cuda,
        threads=threads,
        gpu_name=gpu,
        detector_note="int8 detector" if int8 else "",
    )
    if cuda and not backend.on_cuda:
        raise BackendUnavailableError(
            "ONNX Runtime could not start its CUDA provider (CUDA or cuDNN libraries missing, "
            "or the driver is too old)."
        )
    return backend


def _torch(model: ModelSettings, *, cuda: bool, threads: int, half: bool) -> InferenceBackend:
    from mscc_desktop.inference.backends.torch import TorchBackend, torch_installed

    if not torch_installed():
        raise BackendUnavailableError(
            "The torch backend needs PyTorch, which is not installed. Use an ONNX backend."
        )
    if model.detector_torch is None or model.grader_torch is None:
        raise BackendUnavailableError(
            f"The torch backend needs exported torch files (.pt2 or TorchScript) in the model "
            f"folder; model {model.model_id} ships ONNX files only. Use an ONNX backend."
        )
    return TorchBackend(
        model.detector_torch, model.grader_torch, use_cuda=cuda, threads=threads, half=half
    )


def _plan(choice: str, gpus: tuple[str, ...]) -> list[tuple[str, bool]]:
    """Backends to try in order: (key, is_gpu)."""
    if choice == "onnx-cuda":
        return [("onnx-cuda", True), ("onnx-cpu", False)]
    if choice == "torch-cuda":
        return [("torch-cuda", True), ("torch-cpu", False)]
    if choice in ("onnx-cpu", "torch-cpu"):
        return [(choice, False)]
    gpu_first = [("onnx-cuda", True), ("torch-cuda", True)] if gpus else []
    return [*gpu_first, ("onnx-cpu", False), ("torch-cpu", False)]


def resolve_model(
    id_or_dir: str | os.PathLike[str] | None = None,
    *,
    models_root: str | os.PathLike[str] | None = None,
    site_models_root: str | os.PathLike[str] | None = None,
) -> ModelManifest:
    """Load and verify a model: a model folder, an id in the models folder, or the default.

    Parameters
    ----------
    id_or_dir
        A model folder, or the id of a folder in ``models_root``; the default model
        (:data:`~mscc_desktop.core.config.DEFAULT_MODEL_ID`) when ``None``.
    models_root
        Where ids are looked up; :func:`~mscc_desktop.core.config.models_dir` when ``None``.
    site_models_root
        Where the site's adapted models are looked up after ``models_root``;
        :func:`~mscc_desktop.core.config.site_models_dir` of the user data folder when ``None``.

    Raises
    ------
    ModelIntegrityError
        Not found, incomplete, or failing its checksums (the message says which).
    """
    root = Path(models_root) if models_root is not None else models_dir()
    if id_or_dir is None:
        chosen = active_model_id()  # the site's choice (models --use), else the default
        if models_root is None and chosen is None:
            return load_model_folder(default_model_folder())
        id_or_dir = chosen or DEFAULT_MODEL_ID
    text = os.fspath(id_or_dir)
    candidate = Path(text)
    if (candidate / MANIFEST_NAME).is_file() or (candidate.is_dir() and candidate.name != text):
        return load_model_folder(candidate)
    site = Path(site_models_root) if site_models_root is not None else site_models_dir()
    if Path(text).name == text:
        # The installed models first, then the site's adapted ones (user data folder).
        for folder in (root, site):
            if (folder / text).is_dir():
                return load_model_folder(folder / text)
    raise ModelIntegrityError(
        f"No model {text!r}: it is neither a model folder nor the id of a model in {root} "
        f"or {site}. 'mscc-desktop models' lists the installed models."
    )


def load_model_settings(
    id_or_dir: str | os.PathLike[str] | None = None,
    *,
    models_root: str | os.PathLike[str] | None = None,
) -> ModelSettings:
    """:func:`resolve_model` as the pipeline's :class:`ModelSettings` (verified files)."""
    return ModelSettings.from_manifest(resolve_model(id_or_dir, models_root=models_root))


def runtimes_description() -> str:
    """The inference runtimes installed here, in one line (``mscc-desktop --version``).

    E.g. ``"ONNX Runtime 1.31.1, CPU only; torch backend not installed"``. Imports ONNX
    Runtime (its version and providers only) but never torch, which is looked up only.
    """
    # ONNX Runtime's telemetry client starts on import unless this is set first (it would
    # queue events under ~/.cache and later try to post them): see
    # installer/rthooks/pyi_rth_mscc_offline.py.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    try:
        from mscc_desktop.inference.backends.onnx import runtime_description
    except ImportError:
        return "ONNX Runtime not installed"
    from mscc_desktop.inference.backends.torch import torch_installed

    torch = "available" if torch_installed() else "not installed"
    return f"{runtime_description()}; torch backend {torch}"


def create_backend(
    model: ModelManifest | ModelSettings,
    choice: str = AUTO,
    *,
    threads: int | None = None,
    half: bool = True,
    warm: bool = True,
) -> InferenceBackend:
    """The backend for ``choice`` that really works here, warmed up.

    Parameters
    ----------
    model
        The model to run (its files verified by the manifest loader).
    choice
        One of :data:`BACKEND_CHOICES`. ``auto`` tries GPU backends first when a GPU is
        visible, then the CPU. An explicit ``*-cuda`` choice falls back to the same runtime
        on the CPU; an explicit ``*-cpu`` choice does not fall back.
    threads
        CPU threads; default: the physical cores.
    half
        Let the torch backend use fp16 on CUDA.
    warm
        Prove each candidate with a one-image inference (recommended; costs one slice).

    Returns
    -------
    InferenceBackend
        With ``fallback_warning`` set when a GPU was wanted or seen but the CPU is used.

    Raises
    ------
    BackendUnavailableError
        When no candidate works (e.g. ``torch-cpu`` without torch); the message lists why
        each was rejected.
    ModelIntegrityError
        When the model's files are missing, damaged or break the I/O contract.
    """
    settings = model_settings(model)
    if choice not in BACKEND_CHOICES:
        raise BackendUnavailableError(
            f"Unknown backend {choice!r}; choose one of {', '.join(BACKEND_CHOICES)}."
        )
    cpu_threads = threads if threads is not None else physical_cores()
    gpus = nvidia_gpus()
    gpu_name = gpus[0] if gpus else ""
    builders: dict[str, Callable[[], InferenceBackend]] = {
        "onnx-cuda": lambda: _onnx(settings, cuda=True, threads=cpu_threads, gpu=gpu_name),
        "onnx-cpu": lambda: _onnx(settings, cuda=False, threads=cpu_threads, gpu=""),
        "torch-cuda": lambda: _torch(settings, cuda=True, threads=cpu_threads, half=half),
        "torch-cpu": lambda: _torch(settings, cuda=False, threads=cpu_threads, half=False),
    }
    rejected: list[str] = []
    gpu_wanted = choice.endswith("-cuda") or (choice == AUTO and bool(gpus))
    for key, is_gpu in _plan(choice, gpus):
        try:
            if is_gpu and not gpus:
                raise BackendUnavailableError("no NVIDIA GPU is visible (nvidia-smi found none)")
            backend = builders[key]()
            if warm:
                warm_up(backend, settings)
        except BackendUnavailableError as error:
            logger.info("backend %s unavailable: %s", key, error.message)
            rejected.append(f"{key}: {error.message}")
            continue
        except ModelIntegrityError:
            raise
        except MsccError as error:  # any other reported failure: try the next candidate
            rejected.append(f"{key}: {error.message}")
            continue
        if gpu_wanted and not is_gpu:
            where = f" ({gpu_name})" if gpu_name else ""
            why = "; ".join(r for r in rejected if "cuda" in r.split(":")[0])
            warning = (
                f"The GPU{where} could not be used, so the analysis runs on the CPU "
                f"({backend.device}) and is slower. Reason: {why or 'unknown'}"
            )
            setter = getattr(backend, "set_fallback_warning", None)
            if setter is not None:
                setter(warning)
            logger.warning("GPU not used: %s", why)
        logger.info("inference backend: %s · %s", backend.runtime, backend.device)
        return backend
    raise BackendUnavailableError(
        f"No inference backend works for {choice!r}: " + " | ".join(rejected)
    )


__all__ = [
    "AUTO",
    "BACKEND_CHOICES",
    "create_backend",
    "load_model_settings",
    "nvidia_gpus",
    "physical_cores",
    "resolve_model",
    "runtimes_description",
    "warm_up",
]
