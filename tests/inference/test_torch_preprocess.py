"""Pre-processing on the torch device gives the reference's inputs (numpy, the one the networks
were trained with), and the pipeline's results do not depend on where it ran.

Run on torch's CPU device: the operations are the same ones a GPU runs.
``MSCC_TEST_TORCH_DEVICE=cuda`` runs them on a GPU (``scripts/gpu_checks.sh`` does; the
pipeline test then uses the CUDA backend as the app does, in fp32).
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from mscc_desktop.core.findings import AnalysisStatus, Box, Thresholds
from mscc_desktop.core.windows import PAPER_WINDOWS, Window, window_stack
from mscc_desktop.inference.pipeline import ModelSettings, analyse_volume, preprocessor_for
from mscc_desktop.inference.preprocess import NUMPY_PREPROCESSOR
from tests.inference.phantoms import phantom_volume

torch = pytest.importorskip("torch")

from mscc_desktop.inference.backends.torch import TorchBackend  # noqa: E402
from mscc_desktop.inference.backends.torch_preprocess import TorchPreprocessor  # noqa: E402

DEVICE = os.environ.get("MSCC_TEST_TORCH_DEVICE", "cpu")
WINDOWS = tuple(PAPER_WINDOWS.values())
MEAN, STD = (0.45, 0.35, 0.3), (0.25, 0.2, 0.3)


@pytest.fixture
def on_torch() -> TorchPreprocessor:
    return TorchPreprocessor(DEVICE)


def _numpy(value: object) -> np.ndarray:
    return value.cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def test_windowing_gives_the_reference_grey_levels_exactly(on_torch: TorchPreprocessor) -> None:
    rng = np.random.default_rng(0)
    ints = rng.integers(-1024, 3000, size=(3, 21, 17)).astype(np.int16)
    # Every HU at a window's edges and at its grey-level steps, where rounding decides.
    ints[0].flat[: 600 - 357] = np.arange(-450, 1500, 8)[: 600 - 357]
    floats = (ints.astype(np.float32) + rng.choice([0.0, 0.5, 0.25], size=ints.shape)).astype(
        np.float32
    )
    odd_windows = (*WINDOWS, Window(1.0, 40.0), Window(37.0, -13.0))
    for hu in (ints, floats):
        expected = window_stack(hu, odd_windows).swapaxes(0, 1)
        got = on_torch.window(torch.from_numpy(hu).to(DEVICE), odd_windows)
        np.testing.assert_array_equal(_numpy(got), expected.astype(np.float32))


@pytest.mark.parametrize(
    ("shape", "size"),
    [((64, 64), 64), ((96, 96), 64), ((200, 200), 64), ((48, 80), 64), ((90, 60), 128)],
    ids=["identity", "bilinear", "area", "wide-padded", "tall-enlarged"],
)
def test_detector_input_matches_the_reference(
    on_torch: TorchPreprocessor, shape: tuple[int, int], size: int
) -> None:
    hu = np.random.default_rng(1).integers(-1000, 1600, size=(2, *shape)).astype(np.int16)
    expected = NUMPY_PREPROCESSOR.detector_batch(hu, windows=WINDOWS, size=size)
    got = on_torch.detector_batch(hu, windows=WINDOWS, size=size)
    assert got.fit == expected.fit and got.n_slices == 2
    np.testing.assert_array_equal(_numpy(got.windowed), expected.windowed.astype(np.float32))
    assert got.detector.shape == expected.detector.shape == (2, 3, size, size)
    np.testing.assert_allclose(_numpy(got.detector), expected.detector, rtol=0, atol=2e-6)


def test_grader_crops_match_the_reference(on_torch: TorchPreprocessor) -> None:
    rng = np.random.default_rng(2)
    hu = rng.integers(-200, 900, size=(4, 90, 110)).astype(np.int16)
    prepared_np = NUMPY_PREPROCESSOR.detector_batch(hu, windows=WINDOWS, size=64)
    prepared_t = on_torch.detector_batch(hu, windows=WINDOWS, size=64)
    boxes = [
        Box(40.0, 50.0, 58.0, 66.0),  # a canal, crop enlarged to 24 px
        Box(0.5, 1.0, 9.0, 7.5),  # at the corner: the crop reaches outside the slice
        Box(100.0, 80.0, 110.0, 90.0),  # at the far edge
        Box(20.0, 10.0, 90.0, 85.0),  # large: the crop shrinks (area filter)
    ]
    for indices, chosen in (([0, 1, 2, 3], boxes), ([3, 1], [boxes[3], boxes[1]])):
        kwargs: dict[str, Any] = {"size": 32, "margin": 0.25, "mean": MEAN, "std": STD}
        expected = NUMPY_PREPROCESSOR.grader_batch(prepared_np, indices, chosen, **kwargs)
        got = on_torch.grader_batch(prepared_t, indices, chosen, **kwargs)
        assert got.shape == expected.shape == (len(indices), 3, 32, 32)
        # Normalised values (std 0.2-0.3): 1e-5 is a thousandth of a grey level.
        np.testing.assert_allclose(_numpy(got), expected, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="boxes"):
        on_torch.grader_batch(prepared_t, [0, 1], boxes[:1], **kwargs)


def test_the_pipeline_gives_the_same_results_with_either_preprocessing(
    tiny_settings: ModelSettings,
) -> None:
    assert tiny_settings.detector_torch and tiny_settings.grader_torch
    cuda = DEVICE.startswith("cuda")
    backend = TorchBackend(tiny_settings.detector_torch, tiny_settings.grader_torch, use_cuda=cuda)
    if not cuda:
        assert backend.preprocessor is None  # on the CPU numpy does it
        assert preprocessor_for(backend) is NUMPY_PREPROCESSOR
        # As on CUDA: the backend offers its device pre-processing and gets device tensors.
        backend._preprocessor = TorchPreprocessor("cpu")
    assert backend.preprocessor is not None
    assert preprocessor_for(backend) is backend.preprocessor
    assert preprocessor_for(backend, on_device=False) is NUMPY_PREPROCESSOR
    every_slice = replace(tiny_settings, thresholds=Thresholds(canal_score=0.0))
    volume = phantom_volume([0.0, 1.0, None, 0.5, 0.0], shape=(100, 120))
    results = [
        analyse_volume(volume, backend, every_slice, batch_size=2, preprocess_on_device=flag)
        for flag in (False, True)
    ]
    numpy_run, device_run = (r.findings for r in results)
    assert all(r.status is AnalysisStatus.COMPLETE for r in results)
    assert numpy_run is not None and device_run is not None
    graded = 0
    for a, b in zip(numpy_run.slices, device_run.slices, strict=True):
        assert (a.box is None) == (b.box is None)
        if a.box is None or b.box is None:
            continue
        np.testing.assert_allclose(a.box.as_tuple(), b.box.as_tuple(), atol=1e-3)
        assert a.probabilities is not None and b.probabilities is not None
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-5)
        assert a.group == b.group
        graded += 1
    assert graded >= 4  # the comparison covered the grader, not only "canal not found"
