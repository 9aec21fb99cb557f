"""Training samples for the detector and the grader, made with the inference pre-processing.

Everything a network sees in training goes through the functions inference uses
(:func:`~mscc_desktop.core.windows.window_stack`, :func:`~mscc_desktop.inference.preprocess.
detector_input`, :func:`~mscc_desktop.inference.preprocess.crop_region`,
:func:`~mscc_desktop.inference.preprocess.resample`, :func:`~mscc_desktop.inference.preprocess.
grader_input`), so there is no train/serve skew.

Decoding DICOM dominates a CPU epoch if done per step, so each study is decoded once and the
slices a network needs are cached as HU (int16), which is what the HU-domain augmentation of
:mod:`mscc_desktop.training.augment` works on:

* detector: each chosen labelled slice at full resolution and its box in slice pixels; a
  sample is augmented in HU, windowed and pre-processed with :func:`detector_input` per step
  (un-augmented, it is exactly the inference input);
* grader: a native-resolution HU patch around the canal, big enough for every augmented crop
  (random resized crop, centre jitter), plus the box in patch pixels. Crops are windowed and
  resampled from it on the fly, exactly as inference crops from the full windowed slice (the
  patch reaches the slice edge wherever a crop could leave the slice, so edge clamping is
  identical, and windowing commutes with cropping).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence, Sized
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.findings import Box
from mscc_desktop.core.grades import BilskyGrade, GradeGroup
from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report
from mscc_desktop.core.windows import window_stack
from mscc_desktop.inference.preprocess import (
    SquareFit,
    crop_region,
    detector_input,
    grader_input,
    resample,
)
from mscc_desktop.training.augment import (
    Augmentation,
    SliceTransform,
    augmentation,
    canal_density,
    canal_flatten,
    canal_noise,
    elastic,
    photometric,
    random_transform,
)
from mscc_desktop.training.configs import GraderConfig


@dataclass(frozen=True, slots=True)
class SliceLabel:
    """Ground truth of one slice of a loaded volume."""

    slice_index: int  # index into the volume (head first)
    sop_instance_uid: str
    box: Box | None  # canal box in slice pixels (edges), None when not drawn
    group: GradeGroup | None  # None when not graded
    degenerative: bool = False
    grade: BilskyGrade | None = None  # the fine Bilsky grade, where labels.csv gives one


@dataclass(frozen=True, slots=True, eq=False)
class LabelledStudy:
    """A study's HU volume ``(slice, row, col)`` and its slice labels."""

    name: str
    hu: npt.NDArray[np.int16] | npt.NDArray[np.float32]
    labels: tuple[SliceLabel, ...]


def as_int16_hu(hu: npt.NDArray[np.generic]) -> npt.NDArray[np.int16]:
    """HU as int16 (rounded and clipped): the cache format, half the bytes of float32."""
    if hu.dtype == np.int16:
        return np.ascontiguousarray(hu)  # type: ignore[return-value]
    rounded: npt.NDArray[np.int16] = np.clip(np.rint(hu), -32768, 32767).astype(np.int16)
    return rounded


@dataclass(frozen=True, slots=True, eq=False)
class DetectorSamples:
    """Cached detector slices: ``hu`` int16 ``(row, col)`` each, ``boxes`` ``(K, 4)`` in slice
    pixels (NaN row when the slice has no canal box), ``size`` the detector input side."""

    hu: tuple[npt.NDArray[np.int16], ...]
    boxes: npt.NDArray[np.float32]
    study_names: tuple[str, ...]
    size: int

    def __len__(self) -> int:
        return len(self.hu)

    def fit(self, index: int) -> SquareFit:
        rows, cols = self.hu[index].shape
        return SquareFit(rows, cols, self.size)

    def detector_boxes(self, indices: Sequence[int]) -> npt.NDArray[np.float32]:
        """Boxes of ``indices`` in detector pixels (NaN rows kept)."""
        scales = np.asarray([self.fit(i).scale for i in indices], np.float32)
        return self.boxes[list(indices)] * scales[:, np.newaxis]

    def inputs(self, indices: Sequence[int]) -> npt.NDArray[np.float32]:
        """Exactly the inference detector input ``(n, 3, D, D)`` of the given slices."""
        out = np.empty((len(indices), 3, self.size, self.size), np.float32)
        for k, index in enumerate(indices):
            windowed = window_stack(self.hu[index])[np.newaxis]
            out[k] = detector_input(windowed, size=self.size)[0][0]
        return out


@dataclass(frozen=True, slots=True, eq=False)
class GraderSamples:
    """Cached grader patches: int16 HU ``(h, w)`` each, with the canal box in patch pixels."""

    patches: tuple[npt.NDArray[np.int16], ...]
    boxes: tuple[Box, ...]
    groups: npt.NDArray[np.int64]  # class index in GROUP_ORDER
    study_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.patches)

    def class_counts(self, n_classes: int = 3) -> list[int]:
        return [int(c) for c in np.bincount(self.groups, minlength=n_classes)]

    def subset(self, indices: Sequence[int]) -> GraderSamples:
        return GraderSamples(
            tuple(self.patches[i] for i in indices),
            tuple(self.boxes[i] for i in indices),
            self.groups[list(indices)],
            tuple(self.study_names[i] for i in indices),
        )


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
    """HU slices and boxes for every ``slice_stride``-th labelled slice of each study.

    Slices whose box is missing are kept as negatives only if the label says the slice was
    looked at (``group`` set) — a slice without a canal teaches the detector to say so.
    """
    slices: list[npt.NDArray[np.int16]] = []
    boxes: list[npt.NDArray[np.float32]] = []
    names: list[str] = []
    for position, study in enumerate(studies):
        check_cancel(cancel)
        chosen = [lab for lab in study.labels[::slice_stride] if lab.box is not None or lab.group]
        for lab in chosen:
            slices.append(as_int16_hu(study.hu[lab.slice_index]))
            if lab.box is None:
                boxes.append(np.full(4, np.nan, dtype=np.float32))
            else:
                boxes.append(np.asarray(lab.box.as_tuple(), np.float32))
            names.append(study.name)
        _report(progress, position, studies, f"detector cache {study.name}")
    if not slices:
        raise ValueError("no labelled slices with a canal box to train the detector on")
    return DetectorSamples(tuple(slices), np.stack(boxes), tuple(names), size)


def detector_sample(
    samples: DetectorSamples,
    index: int,
    augment: Augmentation,
    rng: np.random.Generator | None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """One training input ``(3, D, D)`` and its box ``(4,)`` in detector pixels (NaN when the
    slice has no canal), augmented in HU when ``rng`` is given."""
    box_row = samples.boxes[index]
    box = None if np.isnan(box_row).any() else Box(*(float(v) for v in box_row))
    hu = samples.hu[index]
    rows, cols = hu.shape
    fit = samples.fit(index)
    if rng is None or (augment.geometric is None and augment.photometric is None):
        image = samples.inputs([index])[0]
        row = _box_row(box, fit)
        if rng is not None and rng.random() < augment.flip_probability:
            # Flip the square detector input itself (padding and all), as before augmentation.
            image = np.ascontiguousarray(image[:, :, ::-1])
            row[[0, 2]] = samples.size - row[[2, 0]]
        return image, row
    work = hu.astype(np.float32)
    if augment.geometric is not None:
        transform = random_transform(rows, cols, box, augment.geometric, rng)
        work = transform.apply(work)
        box = transform.box(box) if box is not None else None
    if augment.photometric is not None:
        work = photometric(work, augment.photometric, rng)
    windowed = window_stack(work)[np.newaxis]
    image = detector_input(windowed, size=samples.size)[0][0]
    return image, _box_row(box, fit)


def _box_row(box: Box | None, fit: SquareFit) -> npt.NDArray[np.float32]:
    if box is None:
        return np.full(4, np.nan, dtype=np.float32)
    return np.asarray(fit.to_detector(box).as_tuple(), np.float32)


def patch_half_size(box: Box, config: GraderConfig) -> float:
    """Half side of a patch that holds every augmented crop around ``box`` (rotated too)."""
    side = max(box.width, box.height)
    half = max(side * (0.5 + config.crop_margin), 4.0)
    stretch = math.sqrt(config.scale_range[1] * max(config.aspect_range[1], 1.0))
    angle = math.radians(config.rotation_deg)
    turn = math.cos(angle) + math.sin(angle)  # a square turned by angle needs this much more
    return (half * stretch + config.centre_jitter * side) * turn + 2.0


def build_grader_samples(
    studies: Iterable[LabelledStudy],
    config: GraderConfig,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> GraderSamples:
    """Native-resolution HU patches around the canal of every graded slice.

    Slices flagged degenerative are left out when ``config.exclude_degenerative`` (the paper
    excluded degenerative canal narrowing), as are slices without a box or a grade.
    """
    patches: list[npt.NDArray[np.int16]] = []
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
            patches.append(as_int16_hu(study.hu[lab.slice_index, y0:y1, x0:x1]))
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
    on the ground-truth box. With it: HU-domain augmentation of the patch (rotation about the
    patch centre, an elastic warp with the shape presets, kernel, noise, calibration;
    :mod:`~mscc_desktop.training.augment`), then the windows, then the authors' random
    resized crop, a centre jitter and a flip.
    """
    patch = samples.patches[index]
    box = samples.boxes[index]
    size = config.crop_size
    if rng is None:
        crops = grader_input(
            window_stack(patch)[np.newaxis],
            [box],
            size=size,
            margin=config.crop_margin,
            mean=tuple(mean),
            std=tuple(std),
        )
        crop: npt.NDArray[np.float32] = crops[0]
        return crop
    aug = augmentation(config.augmentation)
    hu = patch.astype(np.float32)
    if config.rotation_deg > 0 and aug.photometric is not None:
        rows, cols = hu.shape
        angle = math.radians(rng.uniform(-config.rotation_deg, config.rotation_deg))
        turn = SliceTransform(rows, cols, 1.0, angle, (0.0, 0.0), False)
        hu, box = turn.apply(hu), turn.box(box)
    if (
        aug.canal_density is not None
        and aug.canal_density.applies_to(int(samples.groups[index]))
        and rng.random() < aug.canal_density.probability
    ):
        hu = canal_density(hu, box, aug.canal_density, rng)
    if (
        aug.canal_flatten is not None
        and aug.canal_flatten.applies_to(int(samples.groups[index]))
        and rng.random() < aug.canal_flatten.probability
    ):
        hu = canal_flatten(hu, box, aug.canal_flatten, rng)
    if aug.canal_noise is not None and rng.random() < aug.canal_noise.probability:
        hu = canal_noise(hu, box, aug.canal_noise, rng)
    if aug.elastic is not None and rng.random() < aug.elastic.probability:
        hu = elastic(hu, aug.elastic, max(box.width, box.height), rng)
    if aug.photometric is not None:
        hu = photometric(hu, aug.photometric, rng)
    windowed = window_stack(hu)
    region = augmented_region(box, config, rng)
    crop = resample(windowed, out_shape=(size, size), region=region)
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
    n_windows = config.n_windows
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
