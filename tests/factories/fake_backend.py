"""A deterministic stand-in for the networks, for tests of the pipeline, GUI and reports.

:class:`FakeBackend` implements :class:`~mscc_desktop.inference.backends.base.InferenceBackend`
without any model:

Detection
    Finds the spinal canal the way a person would on a phantom: the largest dark hole fully
    enclosed by bone (a bright ring in the bone window). Or, with ``slice_boxes``, returns the
    given box of each slice.
Grading
    With ``slice_probabilities``, returns each slice's row of that table in every window.
    Without it, a small heuristic: the share of the canal (centre of the crop) filled with
    enhancing soft tissue rather than CSF gives P(high) and P(low).

Tables are per slice of the series. Backends receive images, not slice numbers, so the fake
counts slices in call order: the pipeline calls :meth:`detect` with consecutive slices and
:meth:`grade` with the slices whose canal was found (score >= ``canal_score``), in order.
The count wraps at the table length, so repeated analyses of the same series line up; call
:meth:`reset` after a cancelled one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from mscc_desktop.core.findings import Box
from mscc_desktop.inference.backends.base import FloatArray
from mscc_desktop.inference.preprocess import SquareFit

BONE_LEVEL = 0.45  # bone window (W 1500 / L 300) value of ~225 HU: bone, not soft tissue
MIN_CANAL_FRACTION = 2e-4  # hole area as a share of the image: rejects noise holes
MAX_CANAL_FRACTION = 0.03  # ... and the chest cavity inside a ring of ribs
TISSUE_LEVEL = 0.3  # spine window (W 200 / L 100) value of ~60 HU: enhancing tissue, not CSF


class FakeBackend:
    """Deterministic fake detector and grader (see the module docstring).

    Parameters
    ----------
    slice_probabilities
        Optional ``(normal, low, high)`` per slice of the series, in slice order.
    slice_boxes
        Optional canal box per slice in *slice* pixels (``None``: canal not found); needs
        ``slice_shape`` and ``detector_size`` to map them to detector pixels.
    slice_shape, detector_size
        The series' ``(rows, cols)`` and the model's detector input side.
    score
        Detection score of a found canal.
    canal_score
        The pipeline's canal threshold: slices scored below it are not graded.
    n_windows
        Windows the grader returns (the model's).
    name, runtime, device, fallback_warning
        What the backend reports.
    """

    def __init__(
        self,
        *,
        slice_probabilities: Sequence[Sequence[float]] | None = None,
        slice_boxes: Sequence[Box | None] | None = None,
        slice_shape: tuple[int, int] | None = None,
        detector_size: int | None = None,
        score: float = 0.98,
        canal_score: float = 0.5,
        grade_means: Sequence[float] = (0.5, 0.5, 0.5),
        grade_stds: Sequence[float] = (0.25, 0.25, 0.25),
        n_windows: int = 3,
        name: str = "fake",
        runtime: str = "Fake backend 1.0",
        device: str = "CPU · deterministic fake",
        fallback_warning: str | None = None,
    ) -> None:
        if slice_boxes is not None and (slice_shape is None or detector_size is None):
            raise ValueError("slice_boxes need slice_shape and detector_size")
        self._probs = (
            None
            if slice_probabilities is None
            else np.asarray(slice_probabilities, dtype=np.float32).reshape(-1, 3)
        )
        self._boxes = None if slice_boxes is None else list(slice_boxes)
        self._fit = (
            SquareFit(slice_shape[0], slice_shape[1], detector_size)
            if slice_shape is not None and detector_size is not None
            else None
        )
        self._score = float(score)
        self._canal_score = float(canal_score)
        self._mean = np.asarray(grade_means, dtype=np.float32)
        self._std = np.asarray(grade_stds, dtype=np.float32)
        self._n_windows = n_windows
        self._name, self._runtime, self._device = name, runtime, device
        self._fallback = fallback_warning
        self._next_slice = 0
        self._to_grade: deque[int] = deque()
        self.detect_batches: list[int] = []  # batch sizes seen, for tests
        self.grade_batches: list[int] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def runtime(self) -> str:
        return self._runtime

    @property
    def device(self) -> str:
        return self._device

    @property
    def fallback_warning(self) -> str | None:
        return self._fallback

    def reset(self) -> None:
        """Start counting slices from the first again."""
        self._next_slice = 0
        self._to_grade.clear()

    def _period(self) -> int | None:
        if self._boxes is not None:
            return len(self._boxes)
        if self._probs is not None:
            return len(self._probs)
        return None

    def detect(self, images: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Best canal box and score per detector image (see the class docstring)."""
        n = images.shape[0]
        self.detect_batches.append(n)
        boxes = np.zeros((n, 4), dtype=np.float32)
        scores = np.zeros(n, dtype=np.float32)
        period = self._period()
        for i in range(n):
            slice_index = self._next_slice
            self._next_slice = slice_index + 1 if period is None else (slice_index + 1) % period
            box = self._given_box(slice_index) if self._boxes is not None else ring_canal(images[i])
            if box is not None:
                boxes[i] = box.as_tuple()
                scores[i] = self._score
                if self._score >= self._canal_score:
                    self._to_grade.append(slice_index)
        return boxes, scores

    def _given_box(self, slice_index: int) -> Box | None:
        assert self._boxes is not None and self._fit is not None
        box = self._boxes[slice_index]
        return None if box is None else self._fit.to_detector(box)

    def grade(self, crops: FloatArray) -> FloatArray:
        """Per-window probabilities: the table row of each slice, or the heuristic."""
        n = crops.shape[0]
        self.grade_batches.append(n)
        out = np.empty((n, self._n_windows, 3), dtype=np.float32)
        for i in range(n):
            slice_index = self._to_grade.popleft() if self._to_grade else -1
            if self._probs is not None and slice_index >= 0:
                row = self._probs[slice_index % len(self._probs)]
            else:
                row = heuristic_probabilities(crops[i], self._mean, self._std)
            out[i, :, :] = row / row.sum()
        return out


def ring_canal(image: FloatArray) -> Box | None:
    """The largest dark hole enclosed by bone in a detector image ``(3, D, D)``, as a box in
    detector pixels; ``None`` when there is none of a plausible size."""
    bone = image[0] > BONE_LEVEL
    holes = ndimage.binary_fill_holes(bone) & ~bone
    labels, count = ndimage.label(holes)
    if count == 0:
        return None
    areas = np.bincount(labels.ravel())[1:]
    total = float(bone.size)
    plausible = [
        (int(area), label + 1)
        for label, area in enumerate(areas)
        if MIN_CANAL_FRACTION * total <= area <= MAX_CANAL_FRACTION * total
    ]
    if not plausible:
        return None
    _, label = max(plausible)
    rows, cols = np.nonzero(labels == label)
    return Box(float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1))


def heuristic_probabilities(crop: FloatArray, mean: FloatArray, std: FloatArray) -> FloatArray:
    """(normal, low, high) from how much of the canal holds enhancing tissue.

    ``crop`` is one grader crop ``(W, S, S)``, normalised; the last window is the spine
    window. The canal fills the middle of the crop (the crop adds a margin around the box).
    """
    spine = crop[-1] * std[-1] + mean[-1]
    size = spine.shape[-1]
    # The middle half of the crop lies inside the canal for margins up to ~0.5.
    lo, hi = int(size * 0.25), max(int(size * 0.75), int(size * 0.25) + 1)
    filled = float(np.mean(spine[lo:hi, lo:hi] > TISSUE_LEVEL))
    p_high = float(np.clip((filled - 0.5) * 2.0, 0.0, 1.0)) * 0.9
    p_low = float(np.clip(filled * 2.0, 0.0, 1.0)) * (0.9 - p_high)
    p_normal = max(1.0 - p_high - p_low, 0.02)
    return np.asarray((p_normal, p_low + 0.01, p_high + 0.01), dtype=np.float32)


__all__ = ["FakeBackend", "heuristic_probabilities", "ring_canal"]
