"""The small interface every inference backend implements (ONNX Runtime, torch, fakes).

Model I/O contract (what ``mscc-desktop export`` writes and every backend runs):

``detector``
    input ``images`` float32 ``(N, 3, D, D)``: windowed slices from
    :func:`~mscc_desktop.inference.preprocess.detector_input`;
    outputs ``boxes`` float32 ``(N, 4)`` — the best canal box per image, x0 y0 x1 y1 in
    detector pixels — and ``scores`` float32 ``(N,)`` (0 when no box was proposed).
``grader``
    input ``crops`` float32 ``(N, W, S, S)`` from
    :func:`~mscc_desktop.inference.preprocess.grader_input`, W windows in
    :data:`~mscc_desktop.core.windows.WINDOW_ORDER`, each routed through its own batch-norm set;
    output ``probs`` float32 ``(N, W, 3)``: per-window softmax over (normal, low, high).
    Average fusion over the available windows happens in :func:`fuse_windows`.

Optional: a backend may have a ``preprocessor`` attribute, a
:class:`~mscc_desktop.inference.preprocess.BatchPreprocessor` that computes these inputs on
its own device (the torch backend on CUDA does); ``detect`` and ``grade`` then also accept
what it makes. The pipeline finds it with
:func:`~mscc_desktop.inference.pipeline.preprocessor_for`; every other backend gets numpy's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
ProbabilityT = TypeVar("ProbabilityT", npt.NDArray[np.float32], npt.NDArray[np.float64])


class InferenceBackend(Protocol):
    """Runs the two networks of one model on one device."""

    @property
    def name(self) -> str:
        """Backend key, e.g. ``"onnx-cpu"``."""
        ...

    @property
    def runtime(self) -> str:
        """Runtime and version, e.g. ``"ONNX Runtime 1.31.1"``."""
        ...

    @property
    def device(self) -> str:
        """What it really runs on, e.g. ``"CUDA · NVIDIA H100"`` or ``"CPU · 2 threads"``."""
        ...

    @property
    def fallback_warning(self) -> str | None:
        """Set when a GPU was asked for (or ``auto`` found one) but the CPU is used."""
        ...

    def detect(self, images: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Best canal box ``(N, 4)`` and its score ``(N,)`` for a detector batch."""
        ...

    def grade(self, crops: FloatArray) -> FloatArray:
        """Per-window class probabilities ``(N, W, 3)`` for a grader batch."""
        ...


def fuse_windows(per_window: FloatArray, available: Sequence[bool] | None = None) -> FloatArray:
    """Average fusion (CWL): mean of the per-window softmax over the available windows.

    Parameters
    ----------
    per_window
        ``(N, W, 3)`` probabilities from :meth:`InferenceBackend.grade`.
    available
        Which of the W windows to use; all when ``None``. At least one must be available.

    Returns
    -------
    numpy.ndarray
        ``(N, 3)`` probabilities that sum to 1.
    """
    n_windows = per_window.shape[1]
    mask = np.ones(n_windows, dtype=bool) if available is None else np.asarray(available, bool)
    if mask.shape != (n_windows,) or not mask.any():
        raise ValueError("average fusion needs at least one available window")
    fused = per_window[:, mask, :].mean(axis=1)
    fused /= fused.sum(axis=1, keepdims=True)
    return np.asarray(fused, dtype=np.float32)


# The range a model manifest may carry (and a temperature fit searches): below 0.05 or above
# 20 the calibrated probabilities are all but 0/1 or all but uniform, i.e. a broken fit.
MIN_TEMPERATURE = 0.05
MAX_TEMPERATURE = 20.0


def apply_temperature(probabilities: ProbabilityT, temperature: float) -> ProbabilityT:
    """Temperature scaling of fused class probabilities: ``softmax(log(p) / temperature)``.

    The model folder's ``probability_temperature`` (fitted on its calibration studies by
    :func:`mscc_desktop.evaluation.calibration.fit_temperature`) makes the shown probability
    mean what it says; it never changes which class is most probable. A temperature above 1
    softens over-confident probabilities, below 1 sharpens under-confident ones.

    Parameters
    ----------
    probabilities
        ``(N, 3)`` probabilities (rows sum to 1), e.g. from :func:`fuse_windows`.
    temperature
        Positive; exactly 1.0 returns ``probabilities`` itself, unchanged bit for bit.

    Returns
    -------
    numpy.ndarray
        ``(N, 3)`` probabilities that sum to 1, of the input's dtype (float32 in the
        pipeline, float64 when fitting). A class with probability 0 stays 0.
    """
    if temperature == 1.0:
        return probabilities
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"the probability temperature must be positive, not {temperature!r}")
    p = np.asarray(probabilities, dtype=np.float64)
    with np.errstate(divide="ignore"):
        logits = np.log(p) / float(temperature)
    logits -= logits.max(axis=-1, keepdims=True)
    scaled = np.exp(logits)
    scaled /= scaled.sum(axis=-1, keepdims=True)
    return scaled.astype(probabilities.dtype)
