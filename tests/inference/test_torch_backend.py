"""The torch backend's loading of ``torch.export`` programs: devices baked in at export are
moved with the weights, and fp16 trouble falls back to fp32 instead of failing the analysis.

(Found on an H100: the exported detector creates tensors with ``arange``/``full`` on the
export device, the CPU, so moving only its weights to CUDA failed at the first call.)
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from mscc_desktop.inference.pipeline import ModelSettings

torch = pytest.importorskip("torch")

from mscc_desktop.inference.backends.torch import TorchBackend, _load_module  # noqa: E402


class _MakesTensors(torch.nn.Module):
    """Like the exported detector: creates tensors inside forward (device fixed at export)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ramp = torch.arange(x.shape[-1], dtype=torch.float32)
        return x * self.scale + ramp + torch.full((1,), 0.5)


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "makes_tensors.pt2"
    exported = torch.export.export(_MakesTensors(), (torch.zeros(2, 4),))
    torch.export.save(exported, str(path))
    return path


def _devices_in_graph(module: torch.nn.Module) -> set[str]:
    found = set()
    for node in module.graph.nodes:  # type: ignore[union-attr]
        device = node.kwargs.get("device") if node.op == "call_function" else None
        if device is not None:
            found.add(str(device))
    return found


def test_export_bakes_the_cpu_into_the_graph(program: Path) -> None:
    """The premise: without the device pass the graph would keep making CPU tensors."""
    module = torch.export.load(str(program)).module()
    assert "cpu" in _devices_in_graph(module)


def test_loading_onto_another_device_moves_the_baked_devices_too(program: Path) -> None:
    # "meta" stands in for CUDA here: any device but the CPU takes the same path.
    module = _load_module(program, torch.device("meta"))
    assert _devices_in_graph(module) == {"meta"}
    assert all(p.device.type == "meta" for p in module.parameters())


def test_loaded_program_has_no_dtype_asserts_and_computes_the_same(program: Path) -> None:
    module = _load_module(program, torch.device("cpu"))
    target = torch.ops.aten._assert_tensor_metadata.default
    assert not [n for n in module.graph.nodes if n.target == target]
    x = torch.randn(2, 4)
    expected = _MakesTensors()(x)
    torch.testing.assert_close(module(x), expected)


def test_fp16_failure_falls_back_to_fp32_and_says_so(
    tiny_settings: ModelSettings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert tiny_settings.detector_torch and tiny_settings.grader_torch
    backend = TorchBackend(tiny_settings.detector_torch, tiny_settings.grader_torch)
    backend._half = True  # as on CUDA with half=True
    real_run = TorchBackend._run

    def run(self: TorchBackend, module: object, array: np.ndarray) -> object:
        if self._half:
            raise RuntimeError("\"nms_kernel\" not implemented for 'Half'")
        return real_run(self, module, array)

    monkeypatch.setattr(TorchBackend, "_run", run)
    crops = np.zeros((2, 3, tiny_settings.grader_size, tiny_settings.grader_size), np.float32)
    with caplog.at_level(logging.WARNING):
        probs = backend.grade(crops)
    assert probs.shape == (2, 3, 3)
    assert backend._half is False and "fp16" not in backend.device
    assert "running in fp32" in caplog.text
