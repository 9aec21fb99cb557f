"""Backend choice: what runs is what works, and a lost GPU is never silent."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mscc_desktop.core.errors import BackendUnavailableError, ModelIntegrityError
from mscc_desktop.inference import backends
from mscc_desktop.inference.backends import create_backend, physical_cores
from mscc_desktop.inference.pipeline import ModelSettings

pytest.importorskip("torch")

REAL_GPUS = backends.nvidia_gpus()


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "nvidia_gpus", lambda: ())


@pytest.fixture
def invisible_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A GPU that nvidia-smi lists but that CUDA cannot use (no runtime libraries here)."""
    if REAL_GPUS:
        pytest.skip("this machine has a usable GPU; the fall-back path cannot be provoked")
    monkeypatch.setattr(backends, "nvidia_gpus", lambda: ("NVIDIA Phantom 9000",))


def test_auto_without_gpu_runs_onnx_on_the_cpu_without_warning(
    tiny_settings: ModelSettings, no_gpu: None
) -> None:
    backend = create_backend(tiny_settings, "auto")
    assert backend.name == "onnx-cpu"
    assert backend.device == f"CPU · {physical_cores()} thread{'s' if physical_cores() > 1 else ''}"
    assert backend.fallback_warning is None


def test_auto_with_unusable_gpu_falls_back_with_a_warning(
    tiny_settings: ModelSettings, invisible_gpu: None
) -> None:
    backend = create_backend(replace(tiny_settings, detector_torch=None), "auto")
    assert backend.name == "onnx-cpu"
    assert backend.fallback_warning is not None
    assert "NVIDIA Phantom 9000" in backend.fallback_warning
    assert "CPU" in backend.fallback_warning and "onnx-cuda" in backend.fallback_warning


def test_asking_for_cuda_without_a_gpu_warns(tiny_settings: ModelSettings, no_gpu: None) -> None:
    backend = create_backend(tiny_settings, "onnx-cuda")
    assert backend.name == "onnx-cpu"
    assert backend.fallback_warning is not None and "no NVIDIA GPU" in backend.fallback_warning


def test_asking_for_the_cpu_never_warns(tiny_settings: ModelSettings, invisible_gpu: None) -> None:
    assert create_backend(tiny_settings, "onnx-cpu").fallback_warning is None


def test_threads_can_be_chosen(tiny_settings: ModelSettings, no_gpu: None) -> None:
    assert create_backend(tiny_settings, "onnx-cpu", threads=1).device == "CPU · 1 thread"


def test_unknown_choice_is_rejected(tiny_settings: ModelSettings) -> None:
    with pytest.raises(BackendUnavailableError, match="onnx-cpu"):
        create_backend(tiny_settings, "tensorrt")


def test_model_without_onnx_files_uses_torch_in_auto(
    tiny_settings: ModelSettings, no_gpu: None
) -> None:
    backend = create_backend(replace(tiny_settings, detector_onnx=None), "auto")
    assert backend.name == "torch-cpu"


def test_torch_backend_without_torch_files_says_what_is_missing(
    tiny_settings: ModelSettings,
) -> None:
    with pytest.raises(BackendUnavailableError, match="ONNX files only"):
        create_backend(replace(tiny_settings, grader_torch=None), "torch-cpu")


def test_model_breaking_the_io_contract_is_refused(
    tiny_settings: ModelSettings, no_gpu: None
) -> None:
    # The grader says it has 3 windows; a model claiming 2 breaks the contract at warm-up.
    two_windows = replace(
        tiny_settings,
        presets=tiny_settings.presets[:2],
        windows=tiny_settings.windows[:2],
        grader_mean=(0.5, 0.5),
        grader_std=(0.3, 0.3),
    )
    with pytest.raises((ModelIntegrityError, BackendUnavailableError)):
        create_backend(two_windows, "onnx-cpu")


def test_physical_cores_is_sane() -> None:
    import os

    assert 1 <= physical_cores() <= (os.cpu_count() or 1)


def test_importing_the_inference_layer_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "import mscc_desktop.inference.backends, mscc_desktop.inference.pipeline\n"
        "import mscc_desktop.inference.backends.torch, tests.factories.fake_backend\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_backend_results_do_not_depend_on_the_choice(
    tiny_settings: ModelSettings, no_gpu: None
) -> None:
    onnx = create_backend(tiny_settings, "onnx-cpu")
    torch_cpu = create_backend(tiny_settings, "torch-cpu")
    rng = np.random.default_rng(3)
    images = rng.random((3, 3, 64, 64), dtype=np.float32)
    crops = rng.standard_normal((3, 3, 32, 32), dtype=np.float32)
    np.testing.assert_allclose(onnx.detect(images)[0], torch_cpu.detect(images)[0], atol=1e-3)
    np.testing.assert_allclose(onnx.grade(crops), torch_cpu.grade(crops), atol=1e-5)


def test_torch_cuda_without_cuda_falls_back_to_torch_cpu_with_a_warning(
    tiny_settings: ModelSettings,
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA works here")
    backend = create_backend(tiny_settings, "torch-cuda")
    assert backend.name == "torch-cpu" and backend.runtime.startswith("PyTorch")
    assert backend.fallback_warning is not None


def test_damaged_torch_file_is_refused(tiny_settings: ModelSettings, tmp_path: Path) -> None:
    bad = tmp_path / "grader.pt2"
    bad.write_bytes(b"not a torch export")
    with pytest.raises(ModelIntegrityError, match=r"grader\.pt2"):
        create_backend(replace(tiny_settings, grader_torch=bad), "torch-cpu")


def test_torchscript_twins_stored_in_fp16_run_in_fp32(
    tiny_settings: ModelSettings, tmp_path: Path, no_gpu: None
) -> None:
    """What ``mscc-desktop export --torchscript`` writes: traced modules, fp16 weights."""
    import torch

    from tests.inference.tiny_models import DETECTOR_SIZE, GRADER_SIZE, build

    detector, grader = build()
    for module, example, name in (
        (detector, torch.rand(2, 3, DETECTOR_SIZE, DETECTOR_SIZE), "detector.pt"),
        (grader, torch.randn(2, 3, GRADER_SIZE, GRADER_SIZE), "grader.pt"),
    ):
        with torch.no_grad():
            traced = torch.jit.trace(module, (example,), check_trace=False)
        traced.half().save(str(tmp_path / name))
    settings = replace(
        tiny_settings, detector_torch=tmp_path / "detector.pt", grader_torch=tmp_path / "grader.pt"
    )
    backend = create_backend(settings, "torch-cpu")
    crops = np.random.default_rng(0).standard_normal((4, 3, 32, 32), dtype=np.float32)
    probs = backend.grade(crops)
    _, fresh_grader = build()  # tracing shares the weights that .half() rounded in place
    with torch.no_grad():
        reference = fresh_grader(torch.from_numpy(crops)).numpy()
    np.testing.assert_allclose(probs, reference, atol=2e-2)  # fp16-rounded weights
    assert probs.dtype == np.float32
