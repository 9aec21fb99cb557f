"""What the pipeline does with the grader's per-window probabilities: fusion and calibration.

Plain numpy functions shared by the pipeline, training and evaluation; no backend needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

ProbabilityT = TypeVar("ProbabilityT", npt.NDArray[np.float32], npt.NDArray[np.float64])


def fuse_windows(
    per_window: npt.NDArray[np.float32], available: Sequence[bool] | None = None
) -> npt.NDArray[np.float32]:
    """Average fusion (CWL): mean of the per-window softmax over the available windows.

    Parameters
    ----------
    per_window
        ``(N, W, 3)`` probabilities from
        :meth:`~mscc_desktop.inference.backends.base.InferenceBackend.grade`.
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
