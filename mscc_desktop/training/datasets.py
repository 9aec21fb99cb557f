"""Training samples for the detector and the grader, made with the inference pre-processing.

Everything a network sees in training goes through the functions inference uses
(:func:`~mscc_desktop.core.windows.window_stack`, :func:`~mscc_desktop.inference.preprocess.
detector_input`, :func:`~mscc_desktop.inference.preprocess.crop_region`,
:func:`~mscc_desktop.inference.preprocess.resample`, :func:`~mscc_desktop.inference.preprocess.
grader_input`), so there is no train/serve skew.

Decoding DICOM and windowing dominate a CPU epoch if done per step, so each study is decoded
once and cached compactly:

* detector: the ``(3, D, D)`` detector input of each labelled slice as float16 (the only
  change from inference is fp16 rounding, < 3e-4 on [0, 1]) and its box in detector pixels;
* grader: a native-resolution uint8 patch of the three windowed images around the canal,
  big enough for every augmented crop (random resized crop, centre jitter), plus the box in
  patch pixels. Crops are resampled from it on the fly, exactly as inference crops from the
  full slice (the patch reaches the slice edge wherever a crop could leave the slice, so edge
  clamping is identical).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence, Sized
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.findings import Box
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report
from mscc_desktop.core.windows import window_stack
from mscc_desktop.inference.preprocess import crop_region, detector_input, grader_input, resample
from mscc_desktop.training.configs import GraderConfig

DETECTOR_CHUNK = 16  # slices windowed and resized at a time (bounded float32 memory)


@dataclass(frozen=True, slots=True)
class SliceLabel:
    """Ground truth of one slice of a loaded volume."""

    slice_index: int  # index into the volume (head first)
    sop_instance_uid: str
    box: Box | None  # canal box in slice pixels (edges), None when not drawn
    group: GradeGroup | None  # None when not graded
    degenerative: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class LabelledStudy:
    """A study's HU volume ``(slice, row, col)`` and its slice labels."""

    name: str
    hu: npt.NDArray[np.int16] | npt.NDArray[np.float32]
    labels: tuple[SliceLabel, ...]


@dataclass(frozen=True, slots=True, eq=False)
class DetectorSamples:
    """Cached detector inputs: ``images`` float16 ``(K, 3, D, D)``, ``boxes`` ``(K, 4)`` in
    detector pixels (NaN row when the slice has no canal box)."""

    images: npt.NDArray[np.float16]
    boxes: npt.NDArray[np.float32]
    study_names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass(frozen=True, slots=True, eq=False)
class GraderSamples:
    """Cached grader patches: uint8 ``(W, h, w)`` each, with the canal box in patch pixels."""

    patches: tuple[npt.NDArray[np.uint8], ...]
    boxes: tuple[Box, ...]
    groups: npt.NDArray[np.int64]  # class index in GROUP_ORDER
    study_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.patches)

    def class_counts(self, n_classes: int = 3) -> list[int]:
        return [int(c) for c in np.bincount(self.groups, minlength=n_classes)]


def _report(
    progress: ProgressFn | None, position: int, studies: Iterable[LabelledStudy], text: str
) -> None:
    total = len(studies) if isinstance(studies, Sized) else 0
    report(progress, (position + 1) / total if total else 0.0, text)


def build_detector_samples(
    studies: Iterable[LabelledStudy],
    *,
    size: int,
    slice_stride: int = 1,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> DetectorSamples:
    """Detector inputs for every ``slice_stride``-th labelled slice of each study.

    Slices whose box is missing are kept as negatives only if the label says the slice was
    looked at (``group`` set) — a slice without a canal teaches the detector to say so.
    """
    images: list[npt.NDArray[np.float16]] = []
    boxes: list[npt.NDArray[np.float32]] = []
    names: list[str] = []
    for position, study in enumerate(studies):
        check_cancel(cancel)
        chosen = [lab for lab in study.labels[::slice_stride] if lab.box is not None or lab.group]
        for start in range(0, len(chosen), DETECTOR_CHUNK):
            chunk = chosen[start : start + DETECTOR_CHUNK]
            hu = study.hu[[lab.slice_index for lab in chunk]]
            windowed = np.ascontiguousarray(window_stack(hu).swapaxes(0, 1))
            tensor, fit = detector_input(windowed, size=size)
            images.append(tensor.astype(np.float16))
            for lab in chunk:
                if lab.box is None:
                    boxes.append(np.full(4, np.nan, dtype=np.float32))
                else:
                    boxes.append(np.asarray(fit.to_detector(lab.box).as_tuple(), np.float32))
                names.append(study.name)
        _report(progress, position, studies, f"detector cache {study.name}")
    if not images:
        raise ValueError("no labelled slices with a canal box to train the detector on")
    return DetectorSamples(np.concatenate(images), np.stack(boxes), tuple(names))


def patch_half_size(box: Box, config: GraderConfig) -> float:
    """Half side of a patch that holds every augmented crop around ``box``."""
    side = max(box.width, box.height)
    half = max(side * (0.5 + config.crop_margin), 4.0)
    stretch = math.sqrt(config.scale_range[1] * max(config.aspect_range[1], 1.0))
    return half * stretch + config.centre_jitter * side + 2.0


def build_grader_samples(
    studies: Iterable[LabelledStudy],
    config: GraderConfig,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> GraderSamples:
    """Windowed native-resolution patches around the canal of every graded slice.

    Slices flagged degenerative are left out when ``config.exclude_degenerative`` (the paper
    excluded degenerative canal narrowing), as are slices without a box or a grade.
    """
    patches: list[npt.NDArray[np.uint8]] = []
    boxes: list[Box] = []
    groups: list[int] = []
    names: list[str] = []
    for position, study in enumerate(studies):
        check_cancel(cancel)
        rows, cols = study.hu.shape[1], study.hu.shape[2]
        for lab in study.labels:
            if lab.box is None or lab.group is None:
                continue
            if lab.degenerative and config.exclude_degenerative:
                continue
            cx, cy = lab.box.centre
            half = patch_half_size(lab.box, config)
            x0, x1 = max(0, math.floor(cx - half)), min(cols, math.ceil(cx + half))
            y0, y1 = max(0, math.floor(cy - half)), min(rows, math.ceil(cy + half))
            patches.append(window_stack(study.hu[lab.slice_index, y0:y1, x0:x1]))
            boxes.append(Box(lab.box.x0 - x0, lab.box.y0 - y0, lab.box.x1 - x0, lab.box.y1 - y0))
            groups.append(lab.group.position)
            names.append(study.name)
        _report(progress, position, studies, f"grader cache {study.name}")
    if not patches:
        raise ValueError("no graded slices with a canal box to train the grader on")
    return GraderSamples(tuple(patches), tuple(boxes), np.asarray(groups, np.int64), tuple(names))


def augmented_region(
    box: Box, config: GraderConfig, rng: np.random.Generator
) -> tuple[float, float, float, float]:
    """The authors' random resized crop (area scale 0.8-1.2, aspect 3/4-4/3) around the
    inference crop region, plus a centre shift that mimics detector box error."""
    x0, y0, x1, y1 = crop_region(box, margin=config.crop_margin)
    side = x1 - x0
    scale = rng.uniform(*config.scale_range)
    log_ratio = rng.uniform(math.log(config.aspect_range[0]), math.log(config.aspect_range[1]))
    ratio = math.exp(log_ratio)
    width = side * math.sqrt(scale * ratio)
    height = side * math.sqrt(scale / ratio)
    jitter = config.centre_jitter * max(box.width, box.height)
    cx = (x0 + x1) / 2.0 + rng.uniform(-jitter, jitter)
    cy = (y0 + y1) / 2.0 + rng.uniform(-jitter, jitter)
    return (cx - width / 2.0, cy - height / 2.0, cx + width / 2.0, cy + height / 2.0)


def grader_crop(
    samples: GraderSamples,
    index: int,
    config: GraderConfig,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    rng: np.random.Generator | None = None,
) -> npt.NDArray[np.float32]:
    """Normalised ``(W, S, S)`` crop of sample ``index``; augmented when ``rng`` is given.

    Without ``rng`` this is exactly :func:`~mscc_desktop.inference.preprocess.grader_input`
    on the ground-truth box.
    """
    patch = samples.patches[index]
    box = samples.boxes[index]
    size = config.crop_size
    if rng is None:
        return grader_input(
            patch[np.newaxis],
            [box],
            size=size,
            margin=config.crop_margin,
            mean=tuple(mean),
            std=tuple(std),
        )[0]
    region = augmented_region(box, config, rng)
    crop = resample(patch, out_shape=(size, size), region=region)
    crop *= np.float32(1.0 / 255.0)
    n = crop.shape[0]
    crop -= np.asarray(mean, np.float32).reshape(n, 1, 1)
    crop /= np.asarray(std, np.float32).reshape(n, 1, 1)
    if rng.random() < config.hflip_probability:
        crop = np.ascontiguousarray(crop[:, :, ::-1])
    return crop


def window_statistics(
    samples: GraderSamples, config: GraderConfig, *, limit: int = 4000
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-window mean and std of un-augmented [0, 1] crops (the manifest's normalisation).

    Uses at most ``limit`` evenly spaced samples: the statistics converge long before that.
    """
    n_windows = samples.patches[0].shape[0]
    indices = np.linspace(0, len(samples) - 1, num=min(limit, len(samples))).round().astype(int)
    zeros, ones = (0.0,) * n_windows, (1.0,) * n_windows
    total = np.zeros(n_windows)
    total_sq = np.zeros(n_windows)
    count = 0
    for index in np.unique(indices):
        crop = grader_crop(samples, int(index), config, mean=zeros, std=ones).astype(np.float64)
        total += crop.sum(axis=(1, 2))
        total_sq += (crop * crop).sum(axis=(1, 2))
        count += crop.shape[1] * crop.shape[2]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean * mean, 1e-8))
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def split_by_study(
    names: Sequence[str], *, val_fraction: float, seed: int
) -> tuple[list[str], list[str]]:
    """Train and validation study names: whole studies, never slices of one study in both."""
    unique = sorted(set(names))
    if len(unique) < 2 or val_fraction <= 0:
        return unique, []
    rng = np.random.default_rng(seed)
    order = list(rng.permutation(len(unique)))
    n_val = min(len(unique) - 1, max(1, round(len(unique) * val_fraction)))
    val = sorted(unique[i] for i in order[:n_val])
    train = sorted(unique[i] for i in order[n_val:])
    return train, val
