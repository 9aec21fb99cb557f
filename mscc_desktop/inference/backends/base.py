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
    Average fusion over the available windows happens in
    :func:`~mscc_desktop.inference.probabilities.fuse_windows`.

Optional: a backend may have a ``preprocessor`` attribute, a
:class:`~mscc_desktop.inference.preprocess.BatchPreprocessor` that computes these inputs on
its own device (the torch backend on CUDA does); ``detect`` and ``grade`` then also accept
what it makes. The pipeline finds it with
:func:`~mscc_desktop.inference.pipeline.preprocessor_for`; every other backend gets numpy's.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


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
