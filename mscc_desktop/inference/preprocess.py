"""Pre-processing shared by training and inference (one implementation: no train/serve skew).

Everything here is numpy. Training (torch) calls these same functions in its datasets.

Detector input
    The slice in the three paper windows (bone, abdomen, spine) as three channels, scaled to
    [0, 1], padded to a square with 0 (air is black in all three windows) and resized to the
    manifest's ``detector_size``. Boxes come back in that square's pixels and are mapped to the
    slice with :class:`SquareFit`.

Grader input
    A square crop around the canal box, enlarged by ``margin`` (a fraction of the box's larger
    side on each side), taken from each windowed slice, resized to ``grader_size``, scaled to
    [0, 1] and normalised with that window's mean and std from the manifest.

Where it runs
    :class:`NumpyPreprocessor` is the reference and what every CPU backend uses. A GPU
    backend may offer its own :class:`BatchPreprocessor` that computes the same inputs where
    its networks run
    (:class:`~mscc_desktop.inference.backends.torch_preprocess.TorchPreprocessor`), so that
    only int16 HU go to the device; it must match the reference to float rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.findings import Box
from mscc_desktop.core.windows import Window, window_stack

FloatArray = npt.NDArray[np.float32]
UInt8Array = npt.NDArray[np.uint8]


@lru_cache(maxsize=64)
def interp_matrix(n_out: int, start: float, length: float, n_in: int) -> FloatArray:
    """Matrix (n_out, n_in) that samples a 1-D signal bilinearly (edge-clamped) with area
    pre-filtering when shrinking, mapping output pixel centres onto [start, start+length).

    Shrinking by more than 1.5× averages over the footprint of each output pixel (a box
    filter) so thin structures such as the canal wall do not alias.
    """
    scale = length / n_out
    matrix = np.zeros((n_out, n_in), dtype=np.float64)
    centres = start + (np.arange(n_out) + 0.5) * scale - 0.5
    if scale <= 1.5:
        left = np.floor(centres).astype(int)
        frac = centres - left
        for offset, weight in ((0, 1.0 - frac), (1, frac)):
            idx = np.clip(left + offset, 0, n_in - 1)
            np.add.at(matrix, (np.arange(n_out), idx), weight)
    else:
        # Box filter over [centre - scale/2, centre + scale/2] with fractional end weights.
        lo = centres + 0.5 - scale / 2.0
        hi = centres + 0.5 + scale / 2.0
        for i in range(n_out):
            first, last = int(np.floor(lo[i])), int(np.ceil(hi[i]))
            for j in range(first, last):
                overlap = min(hi[i], j + 1) - max(lo[i], j)
                if overlap > 0:
                    matrix[i, min(max(j, 0), n_in - 1)] += overlap
        matrix /= matrix.sum(axis=1, keepdims=True)
    return matrix.astype(np.float32)


@lru_cache(maxsize=64)
def _interp_taps(
    n_out: int, start: float, length: float, n_in: int
) -> tuple[npt.NDArray[np.intp], FloatArray]:
    """:func:`interp_matrix` as its few non-zero taps per output: indices and weights
    ``(n_out, k)``, k = the most taps any output uses (unused taps have weight 0)."""
    matrix = interp_matrix(n_out, start, length, n_in)
    nonzero = matrix != 0
    k = max(1, int(nonzero.sum(axis=1).max()))
    # Non-zero columns first (stable: in column order), then zero-weight padding.
    order = np.argsort(~nonzero, axis=1, kind="stable")[:, :k]
    weights = np.take_along_axis(matrix, order, axis=1).astype(np.float32)
    return order.astype(np.intp), weights


def resample(
    image: npt.NDArray[np.generic],
    *,
    out_shape: tuple[int, int],
    region: tuple[float, float, float, float] | None = None,
) -> FloatArray:
    """Resample the last two axes of ``image`` (…, row, col) to ``out_shape``.

    ``region`` is (x0, y0, x1, y1) in input pixel edges; default the whole image. Regions
    reaching outside the image repeat the edge pixels. Separable: each axis is a weighted sum
    of a few gathered rows/columns (the non-zero taps of :func:`interp_matrix`), which is
    the matrix product without its zeros — about 7× faster than BLAS on a 512² batch, and
    single-threaded, so it does not fight the inference runtime for cores. ``image`` may be
    uint8: it is never converted to float32 as a whole.
    """
    rows, cols = image.shape[-2], image.shape[-1]
    x0, y0, x1, y1 = region if region is not None else (0.0, 0.0, float(cols), float(rows))
    row_idx, row_w = _interp_taps(out_shape[0], float(y0), float(y1 - y0), rows)
    col_idx, col_w = _interp_taps(out_shape[1], float(x0), float(x1 - x0), cols)
    data = np.asarray(image)
    # Only the columns the output reads: a canal crop spans ~60 of 512, so the row pass
    # shrinks 8× (the column taps are shifted to match); crops 0.9 → 0.34 ms per slice.
    first_col, last_col = int(col_idx.min()), int(col_idx.max()) + 1
    if first_col > 0 or last_col < cols:
        data = data[..., first_col:last_col]
        col_idx = col_idx - first_col
    partial = np.multiply(row_w[:, 0, None], data[..., row_idx[:, 0], :], dtype=np.float32)
    for tap in range(1, row_idx.shape[1]):
        partial += row_w[:, tap, None] * data[..., row_idx[:, tap], :]
    # np.take gathers along the last axis faster than fancy indexing: the 512→320 detector
    # input went from 3.9 to 2.6 ms per slice (scripts/bench_preprocess.py).
    out = np.take(partial, col_idx[:, 0], axis=-1) * col_w[:, 0]
    for tap in range(1, col_idx.shape[1]):
        out += np.take(partial, col_idx[:, tap], axis=-1) * col_w[:, tap]
    return np.asarray(out, dtype=np.float32)


@dataclass(frozen=True, slots=True)
class SquareFit:
    """How a (rows, cols) slice was padded to a square and resized to ``size``."""

    rows: int
    cols: int
    size: int

    @property
    def side(self) -> int:
        return max(self.rows, self.cols)

    @property
    def scale(self) -> float:
        """Detector pixels per slice pixel."""
        return self.size / self.side

    def to_slice(self, box: Box) -> Box:
        """Map a box in detector pixels back to slice pixels, clipped to the slice."""
        s = 1.0 / self.scale
        return Box(
            float(np.clip(box.x0 * s, 0, self.cols)),
            float(np.clip(box.y0 * s, 0, self.rows)),
            float(np.clip(box.x1 * s, 0, self.cols)),
            float(np.clip(box.y1 * s, 0, self.rows)),
        )

    def to_detector(self, box: Box) -> Box:
        s = self.scale
        return Box(box.x0 * s, box.y0 * s, box.x1 * s, box.y1 * s)


def detector_input(windowed: UInt8Array, *, size: int) -> tuple[FloatArray, SquareFit]:
    """Detector tensor for a batch of windowed slices.

    Parameters
    ----------
    windowed
        uint8 ``(batch, 3, row, col)``: each slice in bone, abdomen and spine windows
        (:func:`mscc_desktop.core.windows.window_stack`, transposed to batch first).
    size
        Square input size of the detector (from the manifest).

    Returns
    -------
    tensor, fit
        float32 ``(batch, 3, size, size)`` in [0, 1], and the mapping back to slice pixels.
    """
    batch, channels, rows, cols = windowed.shape
    fit = SquareFit(rows, cols, size)
    side = fit.side
    # Padding on the right/bottom keeps slice pixel (0, 0) at detector pixel (0, 0).
    region = (0.0, 0.0, float(side), float(side))
    if rows != cols:
        padded = np.zeros((batch, channels, side, side), dtype=np.uint8)
        padded[:, :, :rows, :cols] = windowed
        windowed = padded
    if side == size:
        # Already the detector's size (512² slices, paper config): resampling is the identity,
        # and skipping it takes 0.2 instead of 3.5 ms per slice (scripts/bench_preprocess.py);
        # on a GPU this pre-processing bounds the pipeline.
        out = np.multiply(windowed, np.float32(1.0 / 255.0), dtype=np.float32)
        return out, fit
    out = resample(windowed, out_shape=(size, size), region=region)
    out *= np.float32(1.0 / 255.0)
    return out, fit


def crop_region(box: Box, *, margin: float) -> tuple[float, float, float, float]:
    """Square region centred on ``box``: its larger side plus ``margin`` × that side each way."""
    cx, cy = box.centre
    half = max(box.width, box.height) * (0.5 + margin)
    half = max(half, 4.0)  # never a sub-pixel crop from a degenerate box
    return (cx - half, cy - half, cx + half, cy + half)


def grader_input(
    windowed: UInt8Array,
    boxes: list[Box],
    *,
    size: int,
    margin: float,
    mean: tuple[float, ...],
    std: tuple[float, ...],
) -> FloatArray:
    """Grader tensor: one normalised crop per window around each slice's canal box.

    Parameters
    ----------
    windowed
        uint8 ``(batch, n_windows, row, col)`` windowed slices.
    boxes
        One canal box (slice pixels) per slice.
    size, margin
        Crop output size and margin (from the manifest).
    mean, std
        Per-window normalisation of the [0, 1] crop (from the manifest, computed on the
        training set).

    Returns
    -------
    numpy.ndarray
        float32 ``(batch, n_windows, size, size)``.
    """
    batch, n_windows = windowed.shape[0], windowed.shape[1]
    if len(boxes) != batch:
        raise ValueError(f"{len(boxes)} boxes for {batch} slices")
    out = np.empty((batch, n_windows, size, size), dtype=np.float32)
    for index, box in enumerate(boxes):
        region = crop_region(box, margin=margin)
        out[index] = resample(windowed[index], out_shape=(size, size), region=region)
    out *= np.float32(1.0 / 255.0)
    mean_arr = np.asarray(mean, dtype=np.float32).reshape(1, n_windows, 1, 1)
    std_arr = np.asarray(std, dtype=np.float32).reshape(1, n_windows, 1, 1)
    out -= mean_arr
    out /= std_arr
    return out


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """A batch of slices ready for the detector, where the backend's networks run."""

    windowed: Any  # (batch, window, row, col): uint8 numpy, or a device tensor of grey levels
    detector: Any  # (batch, 3, D, D) float32: numpy, or a device tensor
    fit: SquareFit

    @property
    def n_slices(self) -> int:
        return int(self.windowed.shape[0])


class BatchPreprocessor(Protocol):
    """Turns HU slices into the two networks' inputs (the rules above, one place each)."""

    def detector_batch(
        self,
        hu: npt.NDArray[np.int16] | npt.NDArray[np.float32],
        *,
        windows: tuple[Window, ...],
        size: int,
    ) -> PreparedBatch:
        """Window ``(batch, row, col)`` HU slices and make the detector input."""
        ...

    def grader_batch(
        self,
        batch: PreparedBatch,
        indices: Sequence[int],
        boxes: Sequence[Box],
        *,
        size: int,
        margin: float,
        mean: tuple[float, ...],
        std: tuple[float, ...],
    ) -> Any:
        """Grader input ``(len(indices), W, size, size)`` for slices ``indices`` of ``batch``
        around ``boxes`` (slice pixels, one per index)."""
        ...


class NumpyPreprocessor:
    """The reference pre-processing on the CPU (:func:`detector_input`, :func:`grader_input`)."""

    def detector_batch(
        self,
        hu: npt.NDArray[np.int16] | npt.NDArray[np.float32],
        *,
        windows: tuple[Window, ...],
        size: int,
    ) -> PreparedBatch:
        # Only this batch is converted: a whole volume never exists as float32.
        windowed = np.ascontiguousarray(window_stack(hu, windows).swapaxes(0, 1))
        tensor, fit = detector_input(windowed, size=size)
        return PreparedBatch(windowed, tensor, fit)

    def grader_batch(
        self,
        batch: PreparedBatch,
        indices: Sequence[int],
        boxes: Sequence[Box],
        *,
        size: int,
        margin: float,
        mean: tuple[float, ...],
        std: tuple[float, ...],
    ) -> FloatArray:
        return grader_input(
            batch.windowed[list(indices)],
            list(boxes),
            size=size,
            margin=margin,
            mean=mean,
            std=std,
        )


NUMPY_PREPROCESSOR = NumpyPreprocessor()
