"""The canal of a real CT slice, fitted for disease insertion: bony canal, thecal sac, cord.

Disease is inserted into real, disease-free CT (:mod:`mscc_desktop.synth.real_insert`) with
the phantom generator's own lesion geometry (:mod:`mscc_desktop.synth.canal`), so the canal
of each real slice is described the way the generator describes its own: a
:class:`~mscc_desktop.synth.canal.CanalAnatomy` of star-shaped curves in a local frame in
millimetres (origin at the canal's centre, ``u`` towards the patient's left = columns,
``v`` towards posterior = rows).

* **Bony canal**: the region enclosed by bone around the centre of the hand-checked canal box
  (``tests/data/real_canal_boxes``), as polar radii smoothed into a Fourier outline.
* **Thecal sac**: where epidural fat is visible (below -30 HU inside the canal), the
  non-fat part of the canal; elsewhere, on most thoracic slices, CT shows the sac and the
  thin epidural space as one grey canal, and the sac is the canal less an epidural gap of
  anatomical size (drawn at random, thicker behind than in front, where it cannot be seen).
* **Cord**: CT rarely separates cord from CSF, so the cord is an ellipse of anatomical size
  and place (about half the sac's depth, a little anterior) inside the sac, drawn at random
  within those ranges, with at least 0.8 mm of CSF around it.

The slice is also split into **structure** and **noise** (:func:`structure_and_noise`): a
normalised Gaussian mean over soft tissue, fat and fluid (bone and air left out, so the bony
rim does not bleed into the canal) and the residual. Insertion edits the structure and keeps
the scanner's own noise, so an inserted tumour carries the slice's grain, not a pasted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from mscc_desktop.core.findings import Box
from mscc_desktop.synth.canal import CanalAnatomy, NeuralKind
from mscc_desktop.synth.shapes import F32, Blob, ellipse

__all__ = ["F32", "FittedCanal", "StructureNoise", "fit_canal", "structure_and_noise"]

BoolArray = npt.NDArray[np.bool_]

SOFT_TISSUE_HU = (-200.0, 250.0)
"""Pixels whose structure is estimated (fat, fluid, soft tissue); bone and air are not."""
STRUCTURE_SIGMA_MM = 1.6
"""Scale of the structure image: finer detail than this is treated as the scanner's noise."""
BONE_HU = 170.0
"""The canal's bony wall: smoothed HU above this (cortex and partial volume with it)."""
FAT_HU = -30.0
N_ANGLES = 72
N_HARMONICS = 5
MIN_CSF_MM = 0.8


@dataclass(frozen=True, slots=True)
class StructureNoise:
    """A slice split into ``structure + noise`` over ``valid`` (elsewhere noise is 0)."""

    structure: F32
    noise: F32
    valid: BoolArray


@dataclass(frozen=True, slots=True)
class FittedCanal:
    """A real slice's canal, ready for insertion.

    ``centre_px`` is the canal centre as (column, row) pixel-centre coordinates; the local
    frame is ``u = (col - cx) * col_mm``, ``v = (row - cy) * row_mm``.
    """

    anatomy: CanalAnatomy
    centre_px: tuple[float, float]
    spacing_mm: tuple[float, float]  # (row, col)
    canal_hu: float  # median structure HU inside the sac: the canal's apparent density
    soft_tissue_hu: float  # median structure HU of the paraspinal muscle
    noise_sd_hu: float  # robust SD of the noise inside the canal
    fat_visible: bool

    def local(
        self, rows: npt.NDArray[np.float64], cols: npt.NDArray[np.float64]
    ) -> tuple[F32, F32]:
        """Local-frame (u, v) in mm of pixel centres ``(rows, cols)``."""
        u = ((cols - self.centre_px[0]) * self.spacing_mm[1]).astype(np.float32)
        v = ((rows - self.centre_px[1]) * self.spacing_mm[0]).astype(np.float32)
        return u, v

    def to_pixels(self, u: float, v: float) -> tuple[float, float]:
        """(column, row) of local point (u, v) mm."""
        return (
            self.centre_px[0] + u / self.spacing_mm[1],
            self.centre_px[1] + v / self.spacing_mm[0],
        )


def structure_and_noise(
    hu: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    spacing_mm: tuple[float, float],
    *,
    sigma_mm: float = STRUCTURE_SIGMA_MM,
) -> StructureNoise:
    """Split ``hu`` (row, col) into a smooth structure image and the residual noise.

    The structure is a Gaussian mean over soft-tissue pixels only (normalised convolution), so
    bone does not brighten the canal's structure and the canal does not darken bone's.
    """
    image = np.asarray(hu, dtype=np.float32)
    valid = (image > SOFT_TISSUE_HU[0]) & (image < SOFT_TISSUE_HU[1])
    sigma = (sigma_mm / spacing_mm[0], sigma_mm / spacing_mm[1])
    weight = ndimage.gaussian_filter(valid.astype(np.float32), sigma, mode="nearest")
    total = ndimage.gaussian_filter(np.where(valid, image, 0.0).astype(np.float32), sigma)
    structure = np.where(valid, total / np.maximum(weight, 1e-3), image).astype(np.float32)
    noise = np.where(valid, image - structure, 0.0).astype(np.float32)
    return StructureNoise(structure, noise, valid)


def _lumen(hu: F32, box: Box) -> BoolArray:
    """The bone-enclosed region inside (a pixel around) the box that holds the box centre."""
    rows, cols = hu.shape
    r0, r1 = max(int(box.y0) - 1, 0), min(math.ceil(box.y1) + 1, rows)
    c0, c1 = max(int(box.x0) - 1, 0), min(math.ceil(box.x1) + 1, cols)
    inside = np.zeros(hu.shape, dtype=bool)
    inside[r0:r1, c0:c1] = True
    soft = ndimage.gaussian_filter(hu, 0.7) < BONE_HU
    candidate = soft & inside
    labels, n = ndimage.label(candidate)
    if n == 0:
        empty: BoolArray = candidate
        return empty
    cy, cx = round(box.centre[1] - 0.5), round(box.centre[0] - 0.5)
    label = labels[min(max(cy, 0), rows - 1), min(max(cx, 0), cols - 1)]
    if label == 0:  # the centre sits on bone (a tilted or odd canal): the largest region
        sizes = ndimage.sum(candidate, labels, range(1, n + 1))
        label = int(np.argmax(sizes)) + 1
    result: BoolArray = np.asarray(ndimage.binary_fill_holes(labels == label), dtype=bool)
    return result


def _polar_radii(
    mask: BoolArray, centre: tuple[float, float], spacing_mm: tuple[float, float]
) -> npt.NDArray[np.float64]:
    """Distance (mm) from ``centre`` (col, row) to the mask's edge along N_ANGLES rays."""
    theta = np.linspace(0.0, 2.0 * math.pi, N_ANGLES, endpoint=False)
    steps = np.arange(0.0, 40.0, 0.1)  # mm
    radii = np.zeros(N_ANGLES)
    rows, cols = mask.shape
    for k, angle in enumerate(theta):
        x = centre[0] + steps * math.cos(angle) / spacing_mm[1]
        y = centre[1] + steps * math.sin(angle) / spacing_mm[0]
        ci = np.clip(np.floor(x).astype(int), 0, cols - 1)
        ri = np.clip(np.floor(y).astype(int), 0, rows - 1)
        inside = mask[ri, ci]
        first_out = int(np.argmin(inside)) if not inside.all() else len(steps) - 1
        radii[k] = steps[max(first_out, 1)]
    return radii


def _fourier_blob(radii: npt.NDArray[np.float64]) -> Blob:
    """A Blob (circle with Fourier harmonics) through smoothed polar radii."""
    kernel = np.array([1.0, 2.0, 3.0, 2.0, 1.0]) / 9.0
    padded = np.concatenate([radii[-2:], radii, radii[:2]])
    smooth = np.convolve(padded, kernel, mode="valid")
    mean = float(smooth.mean())
    theta = np.linspace(0.0, 2.0 * math.pi, N_ANGLES, endpoint=False)
    relative = smooth / mean - 1.0
    harmonics = tuple(
        (
            float(2.0 * np.mean(relative * np.cos(k * theta))),
            float(2.0 * np.mean(relative * np.sin(k * theta))),
        )
        for k in range(1, N_HARMONICS + 1)
    )
    return Blob(0.0, 0.0, mean, mean, mean, harmonics=harmonics)


def _extents(blob: Blob) -> tuple[float, float, float, float]:
    """How far ``blob`` reaches to the right (-u), left (+u), anterior (-v), posterior (+v)."""
    pts = blob.boundary(180)
    return (
        -float(pts[:, 0].min()),
        float(pts[:, 0].max()),
        -float(pts[:, 1].min()),
        float(pts[:, 1].max()),
    )


def _inside(inner: Blob, outer: Blob, margin_mm: float) -> bool:
    pts = inner.boundary(120).astype(np.float32)
    return bool(np.all(outer.sd(pts[:, 0], pts[:, 1]) < -margin_mm))


def _shrink_into(blob: Blob, outer: Blob, margin_mm: float) -> Blob | None:
    """``blob`` scaled about its centre until it lies ``margin_mm`` inside ``outer``."""
    for _ in range(40):
        if _inside(blob, outer, margin_mm):
            return blob
        blob = Blob(blob.cx, blob.cy, blob.a * 0.95, blob.b_neg * 0.95, blob.b_pos * 0.95)
    return None


def fit_canal(
    hu: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    box: Box,
    spacing_mm: tuple[float, float],
    rng: np.random.Generator,
    *,
    parts: StructureNoise | None = None,
) -> FittedCanal | None:
    """Fit the canal of one real slice inside its canal ``box`` (display pixels).

    ``rng`` draws what CT does not show (the epidural gap where no fat is seen, the cord's
    size and place within anatomical ranges). Returns ``None`` when the canal cannot be
    fitted (too small, or not enclosed near the box), so the slice is left as it is.
    """
    image = np.asarray(hu, dtype=np.float32)
    parts = parts or structure_and_noise(image, spacing_mm)
    lumen = _lumen(image, box)
    area_mm2 = float(lumen.sum()) * spacing_mm[0] * spacing_mm[1]
    box_mm2 = box.width * box.height * spacing_mm[0] * spacing_mm[1] * math.pi / 4.0
    if area_mm2 < 35.0 or area_mm2 < 0.35 * box_mm2:
        # The region did not close (canal open between pedicles at this level) or the
        # threshold missed it: the ellipse inscribed in the box is the canal.
        grid_r, grid_c = np.indices(image.shape)
        cx, cy = box.centre
        lumen = np.asarray(
            (((grid_c + 0.5 - cx) / (box.width / 2.0)) ** 2)
            + (((grid_r + 0.5 - cy) / (box.height / 2.0)) ** 2)
            <= 1.0
        )
        area_mm2 = float(lumen.sum()) * spacing_mm[0] * spacing_mm[1]
        if area_mm2 < 35.0:
            return None
    rows_i, cols_i = np.nonzero(lumen)
    centre = (float(cols_i.mean()) + 0.5, float(rows_i.mean()) + 0.5)
    canal = _fourier_blob(_polar_radii(lumen, centre, spacing_mm))
    right, left, front, back = _extents(canal)
    if min(right, left, front, back) < 2.5:
        return None

    fat = lumen & (parts.structure < FAT_HU)
    fat_visible = bool(fat.sum() > 0.08 * lumen.sum())
    sac: Blob | None = None
    if fat_visible:
        ys, xs = np.nonzero(lumen & ~fat)
        if xs.size >= 12:
            u = (xs + 0.5 - centre[0]) * spacing_mm[1]
            v = (ys + 0.5 - centre[1]) * spacing_mm[0]
            a = 2.0 * math.sqrt(max(float(np.var(u)), 0.5))
            b = 2.0 * math.sqrt(max(float(np.var(v)), 0.5))
            sac = _shrink_into(ellipse(float(u.mean()), float(v.mean()), a, b), canal, 0.3)
    if sac is None:
        gap_front = float(rng.uniform(0.5, 1.3))
        gap_back = float(rng.uniform(1.0, 2.6))
        gap_side = float(rng.uniform(0.7, 1.8))
        a = (right + left) / 2.0 - gap_side
        b = (front + back - gap_front - gap_back) / 2.0
        cy_sac = (-front + gap_front + back - gap_back) / 2.0
        cx_sac = (left - right) / 2.0
        if a < 2.5 or b < 2.0:
            return None
        sac = _shrink_into(ellipse(cx_sac, cy_sac, a, b), canal, 0.3)
    if sac is None:
        return None
    cord = _cord(sac, rng)
    if cord is None:
        return None
    neural = NeuralKind.CAUDA if area_mm2 > 230.0 and not fat_visible else NeuralKind.CORD
    anatomy = CanalAnatomy(canal, sac, cord, neural)

    fitted_canal_hu = _median_in(parts.structure, _blob_mask(sac, centre, spacing_mm, image.shape))
    return FittedCanal(
        anatomy=anatomy,
        centre_px=centre,
        spacing_mm=spacing_mm,
        canal_hu=fitted_canal_hu if fitted_canal_hu is not None else 20.0,
        soft_tissue_hu=_paraspinal_hu(parts, centre, spacing_mm),
        noise_sd_hu=_robust_sd(parts.noise[lumen & parts.valid]),
        fat_visible=fat_visible,
    )


def _cord(sac: Blob, rng: np.random.Generator) -> Blob | None:
    """An anatomical cord inside ``sac``: about half its depth, a little anterior."""
    b_sac = (sac.b_neg + sac.b_pos) / 2.0
    b = min(max(b_sac * float(rng.uniform(0.42, 0.6)), 2.2), 4.6)
    a = min(max(sac.a * float(rng.uniform(0.5, 0.7)), 3.0), 6.8)
    b = min(b, b_sac - MIN_CSF_MM)
    a = min(a, sac.a - MIN_CSF_MM)
    if a < 1.5 or b < 1.2:
        return None
    shift = float(rng.uniform(0.0, 0.35)) * max(b_sac - MIN_CSF_MM - b, 0.0)
    cord = ellipse(sac.cx + float(rng.normal(0.0, 0.2)), sac.cy - shift, a, b)
    return _shrink_into(cord, sac, MIN_CSF_MM * 0.9)


def _blob_mask(
    blob: Blob, centre: tuple[float, float], spacing_mm: tuple[float, float], shape: tuple[int, ...]
) -> BoolArray:
    rows, cols = np.indices(shape[:2])
    u = ((cols + 0.5 - centre[0]) * spacing_mm[1]).astype(np.float32)
    v = ((rows + 0.5 - centre[1]) * spacing_mm[0]).astype(np.float32)
    result: BoolArray = blob.sd(u, v) < 0
    return result


def _median_in(image: F32, mask: BoolArray) -> float | None:
    return float(np.median(image[mask])) if mask.any() else None


def _robust_sd(values: F32) -> float:
    if values.size < 8:
        return 10.0
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def _paraspinal_hu(
    parts: StructureNoise, centre: tuple[float, float], spacing_mm: tuple[float, float]
) -> float:
    """Median structure HU of muscle 15-45 mm behind and beside the canal (0-100 HU)."""
    rows, cols = parts.structure.shape
    r0 = int(centre[1] + 10.0 / spacing_mm[0])
    r1 = min(int(centre[1] + 45.0 / spacing_mm[0]), rows)
    c0 = max(int(centre[0] - 45.0 / spacing_mm[1]), 0)
    c1 = min(int(centre[0] + 45.0 / spacing_mm[1]), cols)
    window = parts.structure[r0:r1, c0:c1]
    valid = parts.valid[r0:r1, c0:c1]
    muscle = window[valid & (window > 10.0) & (window < 100.0)]
    return float(np.median(muscle)) if muscle.size > 50 else 50.0
