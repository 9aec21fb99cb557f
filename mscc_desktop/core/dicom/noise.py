"""Measured image noise of one slice: the series choice's fallback when kernels say nothing.

Two reconstructions of one scan differ mainly in their high-frequency content: a sharp or
lung kernel multiplies the fine-grained noise. A robust estimate of that noise on one middle
slice tells the soft reconstruction from the sharp one when the kernel name is unknown or
both kernels are of one class. Only one frame of each tied series is decoded, so the
choice stays cheap.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.dicom.decode import DecodeTask, HuRule, run_task
from mscc_desktop.core.dicom.geometry import DisplayTransform, axes
from mscc_desktop.core.dicom.headers import FrameRef

logger = logging.getLogger(__name__)

SOFT_TISSUE_HU = (-100.0, 200.0)
"""Noise is measured where the (smoothed) image is soft tissue: fat, muscle, organs, the
canal. Air, lung and bone would add the kernel's edge overshoot, not noise."""

MIN_PIXELS = 200
"""Fewer soft-tissue pixels than this give no usable estimate."""

_MAX_SIDE_PIXELS = 4096  # the loader's limit (load.MAX_SIDE_PIXELS): hostile sizes refused
_LAPLACIAN_GAIN = math.sqrt(20.0)  # 4-neighbour Laplacian of white noise: variance 20 σ²
_MAD_TO_SIGMA = 1.4826  # median absolute deviation → standard deviation for Gaussian data


def _box_mean(image: npt.NDArray[np.float64], radius: int) -> npt.NDArray[np.float64]:
    """Mean over the (2·radius+1)² neighbourhood of each pixel (edges repeated)."""
    size = 2 * radius + 1
    padded = np.pad(image, radius, mode="edge")
    sums = np.pad(padded.cumsum(axis=0).cumsum(axis=1), ((1, 0), (1, 0)))
    total = sums[size:, size:] - sums[:-size, size:] - sums[size:, :-size] + sums[:-size, :-size]
    mean: npt.NDArray[np.float64] = total / float(size * size)
    return mean


def image_noise_hu(image: npt.NDArray[np.generic]) -> float | None:
    """Robust high-frequency noise (HU) of one ``(row, col)`` HU image.

    The median absolute deviation of a 4-neighbour Laplacian over soft-tissue pixels
    (:data:`SOFT_TISSUE_HU`, judged on a 5×5 mean so that the noise itself does not decide
    which pixels count), scaled so that white noise of standard deviation σ gives σ. CT
    noise is correlated, so this is a measure for comparing series, not a pixel SD: the
    sharper the kernel, the larger it is. ``None`` when the slice has too little soft tissue.
    """
    values = np.asarray(image, dtype=np.float64)
    if values.ndim != 2 or min(values.shape) < 8:
        return None
    smooth = _box_mean(values, 2)
    soft = ((smooth >= SOFT_TISSUE_HU[0]) & (smooth <= SOFT_TISSUE_HU[1])).astype(np.float64)
    # Only pixels whose whole 3×3 neighbourhood is soft tissue: no tissue edge in the Laplacian.
    inside = _box_mean(soft, 1)[1:-1, 1:-1] > 0.999
    laplacian = (
        4.0 * values[1:-1, 1:-1]
        - values[:-2, 1:-1]
        - values[2:, 1:-1]
        - values[1:-1, :-2]
        - values[1:-1, 2:]
    )
    sample = laplacian[inside]
    if sample.size < MIN_PIXELS:
        return None
    deviation = float(np.median(np.abs(sample - np.median(sample))))
    return _MAD_TO_SIGMA * deviation / _LAPLACIAN_GAIN


def middle_frame(frames: Sequence[FrameRef]) -> FrameRef:
    """The frame in the middle of the series along its slice normal (file order if unknown)."""
    orientation = frames[0].geometry.orientation
    positions = [ref.geometry.position_mm for ref in frames]
    if orientation is None or any(p is None for p in positions):
        return frames[len(frames) // 2]
    normal = np.asarray(axes(orientation)[2])
    depth = np.asarray(positions, dtype=np.float64) @ normal
    order = np.argsort(depth, kind="stable")
    return frames[int(order[len(order) // 2])]


def series_noise_hu(frames: Sequence[FrameRef]) -> float | None:
    """:func:`image_noise_hu` of the middle slice of a series; decodes that one frame only.

    ``None`` when the frame cannot be decoded or holds too little soft tissue; never raises
    for a bad file (decoding errors are contained as in the loader).
    """
    if not frames:
        return None
    ref = middle_frame(frames)
    header = ref.header
    geometry = ref.geometry
    if (
        header.samples_per_pixel != 1
        or not 0 < header.rows <= _MAX_SIDE_PIXELS
        or not 0 < header.columns <= _MAX_SIDE_PIXELS
    ):
        return None
    fmt = header.pixel_format()
    rule = HuRule(
        slope=geometry.rescale_slope if geometry.rescale_slope is not None else 1.0,
        intercept=geometry.rescale_intercept or 0.0,
        to_hu=True,
        padding_value=header.pixel_padding_value,
        padding_limit=header.pixel_padding_range_limit,
    )
    task = DecodeTask(header.path, fmt, ((ref.index, 0, rule),), DisplayTransform(), "float32")
    (result,) = run_task(task)
    if result.image is None:
        logger.info("noise not measured: %s", result.error)
        return None
    return image_noise_hu(result.image)
