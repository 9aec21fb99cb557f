"""Training-time augmentation in the HU domain, before the shared windowing and pre-processing.

The shipped networks learn from synthetic phantoms only; to find the canal on real CT they must
not depend on what differs between a phantom and a scanner. Every augmentation here acts on
HU, *before* :func:`~mscc_desktop.core.windows.window_stack` and the inference pre-processing,
so clipping by the windows behaves exactly as it does on a real scan:

* **calibration**: ``hu * scale + offset`` (scanners and contrast phases differ by tens of HU);
* **reconstruction kernel**: Gaussian blur (soft kernels, thick slices) or unsharp masking
  (sharp kernels with edge overshoot);
* **noise**: additive correlated noise with a CT-like noise power spectrum (zero at DC, a peak
  at a random grain), louder on wide rows (photon starvation across the shoulders), and
  optionally streaky (elongated along the rows, as on real thoracic scans);
* **geometry** (detector): zoom (field of view, pixel spacing), rotation, translation and a
  left-right flip of the whole slice, with the canal box carried along;
* **shape** (grader only): a smooth elastic warp of the patch around the canal;
* **canal noise** (grader only): extra noise in and around the canal, noisier on real CT than
  in the phantoms;
* **canal flattening** (grader only, normal crops): the canal's soft tissue pulled towards
  its mean, as sac, cord and fat merge on contrast-enhanced CT;
* **canal density** (grader only): the soft tissue inside the canal box (thecal sac, cord,
  tumour, veins; not fat, not bone) raised or lowered together, so that the canal's absolute
  density, which scanners, beam hardening and partial volume move by tens of HU, is not a
  cue, while every contrast inside the canal is kept.

Nothing here runs at inference: :mod:`mscc_desktop.inference.preprocess` is unchanged, and a
sample drawn without a random generator is exactly the inference input.

Presets (``DetectorConfig.augmentation`` / ``GraderConfig.augmentation``): ``"ct"`` (all of the
above but the shape warp), ``"ct_shape"`` (with it), ``"ct_soft"`` / ``"ct_shape_soft"`` (softer
reconstruction kernels more often), ``"ct_shape_soft_dense"`` (with the canal density
shift too), ``"ct_shape_soft_bright_normal"`` (the shift upwards, on normal crops only),
``"ct_shape_soft_canal_noise"`` (extra noise in and around the canal),
``"ct_shape_soft_flat_normal"`` (uniform canal contents in normal crops),
``"ct_shape_soft_composite"`` (the last three together),
``"flip"`` (horizontal flip only: the behaviour before augmentation existed, and what the
tiny test configs use) and ``"none"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.fft
from scipy import ndimage

from mscc_desktop.core.findings import Box
from mscc_desktop.training.configs import named

F32 = npt.NDArray[np.float32]
AIR_HU = -1024.0


@dataclass(frozen=True, slots=True)
class PhotometricAugment:
    """HU-domain intensity augmentation; each part applies with its own probability."""

    calibration_probability: float = 0.8
    hu_scale: tuple[float, float] = (0.9, 1.1)
    hu_offset: tuple[float, float] = (-40.0, 40.0)
    noise_probability: float = 0.85
    noise_sd_hu: tuple[float, float] = (4.0, 55.0)  # drawn log-uniformly
    noise_grain_px: tuple[float, float] = (1.6, 5.0)  # wavelength of the noise peak
    streak_probability: float = 0.35
    blur_probability: float = 0.35
    blur_sigma_px: tuple[float, float] = (0.4, 1.3)
    sharpen_probability: float = 0.2
    sharpen_amount: tuple[float, float] = (0.3, 1.2)


@dataclass(frozen=True, slots=True)
class GeometricAugment:
    """Whole-slice geometry for the detector (the box is transformed with the image)."""

    probability: float = 0.85
    zoom: tuple[float, float] = (0.6, 1.35)  # > 1 magnifies (smaller field of view)
    rotation_deg: float = 15.0
    shift_fraction: float = 0.15  # of the slice side, each axis
    hflip_probability: float = 0.5
    # Small-field reconstructions of the spine (150-250 mm field of view, 0.3-0.5 mm pixels):
    # the canal is 2-3x larger in the image than on a body-width slice, and centred near the
    # spine, not the body. A zoom about the canal (it stays in view) stands in for them.
    small_fov_probability: float = 0.0
    small_fov_zoom: tuple[float, float] = (1.6, 3.2)


@dataclass(frozen=True, slots=True)
class ElasticAugment:
    """Smooth random warping of the grader patch, so that the exact outline of the canal and
    of its bony frame (which a phantom cannot get right for every vertebra) is not a cue.

    Displacements are drawn on a coarse grid of control points (``grid_fraction`` of the canal
    box's larger side apart), smoothly interpolated, with an RMS size of ``amplitude_fraction``
    of that side. Small enough to keep what the grade is about (soft tissue inside the canal
    and whether it deforms the thecal sac), large enough to make round canals oval, straight
    laminae bent, and pedicles thinner or thicker.
    """

    probability: float = 0.7
    amplitude_fraction: tuple[float, float] = (0.04, 0.14)
    grid_fraction: float = 0.6


@dataclass(frozen=True, slots=True)
class CanalDensityAugment:
    """Shift the soft tissue inside the canal box by one random offset.

    Real disease-free canals on staging CT measure 0 to ~90 HU in their centre (beam
    hardening inside the bony ring, partial volume in thick slices, enhancing epidural veins;
    the 28 hand-labelled real slices: -38 to 89, median 32), whereas the generator keeps the
    thecal sac at least 16 HU below the tumour. A dense normal canal then looks like
    a canal filled with tumour. Pixels inside an ellipse inscribed in the canal box whose HU
    lie in ``soft_tissue_hu`` move by the offset (with a 20 HU ramp at both ends and a soft
    edge), so tumour-to-sac contrast is unchanged while the canal's density relative to
    muscle, fat and bone varies.
    """

    probability: float = 0.6
    offset_hu: tuple[float, float] = (-15.0, 45.0)
    soft_tissue_hu: tuple[float, float] = (-30.0, 110.0)
    # Class indices (GROUP_ORDER) whose crops are shifted; every class when None. Shifting
    # normal crops only adds bright disease-free canals without brightening any tumour.
    classes: tuple[int, ...] | None = None

    def applies_to(self, group: int) -> bool:
        return self.classes is None or group in self.classes


@dataclass(frozen=True, slots=True)
class CanalNoiseAugment:
    """Extra correlated noise in and around the canal, for every class.

    The vertebra around the canal hardens and starves the beam, so on real CT the canal can
    be noisier than the soft tissue outside. A plain SD inside the canal first suggested that
    the real check slices were much noisier than the phantoms. A structure-robust estimate
    later showed they are not (``scripts/real_false_positives.py``), and E19, which trained
    with this preset, did not help (docs/TRAINING_EXPERIMENTS.md). The noise fills an ellipse
    1.3 times the canal box, with a soft edge.
    """

    probability: float = 0.6
    sd_hu: tuple[float, float] = (10.0, 50.0)  # drawn log-uniformly
    grain_px: tuple[float, float] = (1.6, 4.0)


@dataclass(frozen=True, slots=True)
class CanalFlattenAugment:
    """Make the canal's soft tissue uniform (sac, cord and epidural fat merge), in normal
    crops only by default.

    On contrast-enhanced staging CT, sac, cord and fat often merge into one mid-grey canal.
    The generator's normal canals mostly keep a visible cord or fat rim: cord and fat within
    5 and 8 HU of the sac in about 10 % of studies, and in about 3 % with a sac above 40 HU
    (20,000 draws of ``sample_tissues``, the three phases equally). Its grade 2-3 canals, by
    contrast, are filled edge to edge with tumour. So "uniform canal" could be learnt as
    "tumour". Soft tissue inside the canal box's inscribed ellipse (HU in ``soft_tissue_hu``,
    ramped as :class:`CanalDensityAugment`) moves towards its mean by a random ``strength``;
    the scanner noise is added afterwards.
    """

    probability: float = 0.5
    strength: tuple[float, float] = (0.6, 1.0)
    soft_tissue_hu: tuple[float, float] = (-30.0, 110.0)
    classes: tuple[int, ...] | None = (0,)

    def applies_to(self, group: int) -> bool:
        return self.classes is None or group in self.classes


@dataclass(frozen=True, slots=True)
class Augmentation:
    photometric: PhotometricAugment | None
    geometric: GeometricAugment | None
    flip_probability: float = 0.0  # left-right flip when there is no geometric augmentation
    elastic: ElasticAugment | None = None  # grader patches only
    canal_density: CanalDensityAugment | None = None  # grader patches only
    canal_noise: CanalNoiseAugment | None = None  # grader patches only
    canal_flatten: CanalFlattenAugment | None = None  # grader patches only


# Real staging CT is often reconstructed with soft kernels and 3-5 mm slices, whose partial
# volume softens thin laminae and the canal rim far more than the phantoms' default blur.
_SOFT = PhotometricAugment(blur_probability=0.65, blur_sigma_px=(0.5, 2.2), sharpen_probability=0.1)

AUGMENTATIONS: dict[str, Augmentation] = {
    "ct": Augmentation(PhotometricAugment(), GeometricAugment()),
    # "ct" with a quarter of the slices zoomed about the canal as small-field spine
    # reconstructions (issue 20): the detector must find the canal at 2-3x its usual size.
    "ct_small_fov": Augmentation(
        PhotometricAugment(), GeometricAugment(small_fov_probability=0.25)
    ),
    # Grader crops: the same, but the added noise stays below the phantoms' own range (the
    # grade lives in a few millimetres of 16-60 HU contrast; the generator already draws
    # scanner noise of 7-55 HU).
    "ct_light": Augmentation(PhotometricAugment(noise_sd_hu=(3.0, 25.0)), GeometricAugment()),
    # Grader sim-to-real variants (issue 4, E7): shape randomisation, soft kernels, both.
    "ct_shape": Augmentation(PhotometricAugment(), GeometricAugment(), elastic=ElasticAugment()),
    "ct_soft": Augmentation(_SOFT, GeometricAugment()),
    "ct_shape_soft": Augmentation(_SOFT, GeometricAugment(), elastic=ElasticAugment()),
    # E11: + the canal density shift (dense normal canals on real CT were called high).
    "ct_shape_soft_dense": Augmentation(
        _SOFT, GeometricAugment(), elastic=ElasticAugment(), canal_density=CanalDensityAugment()
    ),
    # E18: bright normal canals only (real disease-free canals at 40-70 HU were called high;
    # E17's shift of every canal brightened the tumours with them).
    "ct_shape_soft_bright_normal": Augmentation(
        _SOFT,
        GeometricAugment(),
        elastic=ElasticAugment(),
        canal_density=CanalDensityAugment(probability=0.5, offset_hu=(0.0, 45.0), classes=(0,)),
    ),
    # E19: noisy canals of every class (real canals are noisier than the phantoms').
    "ct_shape_soft_canal_noise": Augmentation(
        _SOFT, GeometricAugment(), elastic=ElasticAugment(), canal_noise=CanalNoiseAugment()
    ),
    # E20: uniform normal canals (real contrast-enhanced canals were called high).
    "ct_shape_soft_flat_normal": Augmentation(
        _SOFT, GeometricAugment(), elastic=ElasticAugment(), canal_flatten=CanalFlattenAugment()
    ),
    # E21: E18, E19 and E20 together. Each lowered P(high) of the real canals called most
    # confidently high, but not the count above the threshold (docs/TRAINING_EXPERIMENTS.md).
    "ct_shape_soft_composite": Augmentation(
        _SOFT,
        GeometricAugment(),
        elastic=ElasticAugment(),
        canal_density=CanalDensityAugment(probability=0.5, offset_hu=(0.0, 45.0), classes=(0,)),
        canal_noise=CanalNoiseAugment(),
        canal_flatten=CanalFlattenAugment(),
    ),
    "flip": Augmentation(None, None, flip_probability=0.5),
    "none": Augmentation(None, None),
}


def augmentation(name: str) -> Augmentation:
    """The augmentation preset ``name``; ``ValueError`` listing the choices otherwise."""
    return named(AUGMENTATIONS, name, "augmentation")


# ------------------------------------------------------------------------------ photometric
def correlated_noise(
    shape: tuple[int, int], rng: np.random.Generator, *, grain_px: float, streak: float
) -> F32:
    """Unit-variance noise with a CT-like spectrum: a ramp from zero at DC up to a peak at
    wavelength ``grain_px``, then a fall; ``streak`` (0..1) mixes in energy at low column
    frequencies over a wide band of row frequencies, i.e. noise elongated along the rows."""
    rows, cols = shape
    white = rng.standard_normal((rows, cols), dtype=np.float32)
    fy = scipy.fft.fftfreq(rows).astype(np.float32)[:, None]
    fx = scipy.fft.rfftfreq(cols).astype(np.float32)[None, :]
    f0 = np.float32(1.0 / grain_px)
    r = np.sqrt(fx * fx + fy * fy) / f0
    gain = (np.float32(0.08) + r) * np.exp(np.float32(0.5) * (1.0 - r * r))
    if streak > 0:
        elongated = np.exp(-((fx / (np.float32(0.12) * f0)) ** 2)) * np.exp(
            -((fy / (np.float32(2.5) * f0)) ** 2)
        )
        gain = np.sqrt((1.0 - streak) * gain * gain + streak * 6.0 * elongated * elongated)
    noise: npt.NDArray[np.float32] = scipy.fft.irfft2(
        scipy.fft.rfft2(white) * gain, s=shape
    ).astype(np.float32)
    noise /= np.float32(max(float(noise.std()), 1e-6))
    return noise


def _row_gain(hu: F32) -> F32:
    """Noise gain per row: wider rows of body are noisier (fewer photons get through)."""
    width = (hu > -400.0).sum(axis=1).astype(np.float32)
    inside = width[width > 0]
    if inside.size == 0:
        return np.ones((hu.shape[0], 1), np.float32)
    typical = np.float32(max(float(np.median(inside)), 1.0))
    gain: F32 = np.clip(width / typical, 0.6, 1.8)[:, None].astype(np.float32)
    return gain


def photometric(hu: F32, aug: PhotometricAugment, rng: np.random.Generator) -> F32:
    """Apply the photometric augmentation to a float32 HU image ``(row, col)`` (returns a new
    array; the input is not modified)."""
    out = np.array(hu, dtype=np.float32, copy=True)
    if rng.random() < aug.blur_probability:
        out = ndimage.gaussian_filter(out, float(rng.uniform(*aug.blur_sigma_px)), mode="nearest")
    elif rng.random() < aug.sharpen_probability:
        smooth = ndimage.gaussian_filter(out, float(rng.uniform(0.8, 1.6)), mode="nearest")
        out += np.float32(rng.uniform(*aug.sharpen_amount)) * (out - smooth)
    if rng.random() < aug.noise_probability:
        lo, hi = aug.noise_sd_hu
        sd = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        streak = float(rng.uniform(0.2, 0.7)) if rng.random() < aug.streak_probability else 0.0
        noise = correlated_noise(
            (out.shape[0], out.shape[1]),
            rng,
            grain_px=float(rng.uniform(*aug.noise_grain_px)),
            streak=streak,
        )
        out += noise * (np.float32(sd) * _row_gain(out))
    if rng.random() < aug.calibration_probability:
        out *= np.float32(rng.uniform(*aug.hu_scale))
        out += np.float32(rng.uniform(*aug.hu_offset))
    return out


def canal_ellipse_mask(shape: tuple[int, int], box: Box, half_axes: float) -> npt.NDArray[np.bool_]:
    """Pixels (centres) inside the ellipse centred on ``box`` with half-axes ``half_axes`` ×
    its sides (at least one pixel each)."""
    rows, cols = shape
    (cx, cy) = box.centre
    rx, ry = max(box.width * half_axes, 1.0), max(box.height * half_axes, 1.0)
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32) + np.float32(0.5)
    return np.asarray(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0)


def _canal_ellipse(shape: tuple[int, int], box: Box, half_axes: float, edge_px: float) -> F32:
    """0-1 mask of :func:`canal_ellipse_mask`, its edge softened by a Gaussian of ``edge_px``."""
    inside = canal_ellipse_mask(shape, box, half_axes).astype(np.float32)
    return np.asarray(ndimage.gaussian_filter(inside, edge_px, mode="constant"), np.float32)


def canal_soft_tissue_weight(hu: F32, box: Box, soft_tissue_hu: tuple[float, float]) -> F32:
    """Weight 0-1 per pixel: inside the ellipse inscribed in ``box`` (soft edge) and soft
    tissue (HU in ``soft_tissue_hu`` with a 20 HU ramp at both ends)."""
    inside = _canal_ellipse(hu.shape, box, 0.5, 1.0)
    lo, hi = soft_tissue_hu
    ramp = np.float32(20.0)
    tissue = np.clip(np.minimum(hu - (lo - ramp), (hi + ramp) - hu) / ramp, 0.0, 1.0)
    return np.asarray(inside * tissue, dtype=np.float32)


def canal_density(hu: F32, box: Box, aug: CanalDensityAugment, rng: np.random.Generator) -> F32:
    """Shift the canal's soft tissue (see :class:`CanalDensityAugment`); returns a new array."""
    weight = canal_soft_tissue_weight(hu, box, aug.soft_tissue_hu)
    offset = np.float32(rng.uniform(*aug.offset_hu))
    return np.asarray(hu + offset * weight, dtype=np.float32)


def weighted_mean(hu: F32, weight: F32) -> float | None:
    """Mean HU under ``weight`` (:func:`canal_soft_tissue_weight`); ``None`` when the weights
    add up to less than one pixel."""
    total = float(weight.sum())
    return float((hu * weight).sum()) / total if total >= 1.0 else None


def canal_flatten(hu: F32, box: Box, aug: CanalFlattenAugment, rng: np.random.Generator) -> F32:
    """Pull the canal's soft tissue towards its mean (see :class:`CanalFlattenAugment`)."""
    weight = canal_soft_tissue_weight(hu, box, aug.soft_tissue_hu)
    average = weighted_mean(hu, weight)
    if average is None:
        return np.array(hu, dtype=np.float32, copy=True)
    mean = np.float32(average)
    strength = np.float32(rng.uniform(*aug.strength))
    return np.asarray(hu + (mean - hu) * strength * weight, dtype=np.float32)


def canal_noise(hu: F32, box: Box, aug: CanalNoiseAugment, rng: np.random.Generator) -> F32:
    """Add noise in and around the canal (see :class:`CanalNoiseAugment`); a new array."""
    rows, cols = hu.shape
    inside = _canal_ellipse((rows, cols), box, 0.65, 1.5)
    lo, hi = aug.sd_hu
    sd = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    noise = correlated_noise(
        (rows, cols), rng, grain_px=float(rng.uniform(*aug.grain_px)), streak=0.0
    )
    return np.asarray(hu + noise * np.float32(sd) * inside, dtype=np.float32)


def elastic(hu: F32, aug: ElasticAugment, scale_px: float, rng: np.random.Generator) -> F32:
    """Warp ``hu`` ``(row, col)`` smoothly (see :class:`ElasticAugment`); ``scale_px`` is the
    canal box's larger side in pixels. Returns a new array."""
    rows, cols = hu.shape
    spacing = max(aug.grid_fraction * scale_px, 4.0)
    grid = (max(2, round(rows / spacing) + 1), max(2, round(cols / spacing) + 1))
    amplitude = float(rng.uniform(*aug.amplitude_fraction)) * scale_px
    coarse = rng.standard_normal((2, *grid)).astype(np.float32) * np.float32(amplitude)
    r = np.linspace(0.0, grid[0] - 1, rows, dtype=np.float32)
    c = np.linspace(0.0, grid[1] - 1, cols, dtype=np.float32)
    rr, cc = np.meshgrid(r, c, indexing="ij")
    # Cubic interpolation of the control grid: smooth displacement fields in both axes.
    field_r = ndimage.map_coordinates(coarse[0], [rr, cc], order=3, mode="nearest")
    field_c = ndimage.map_coordinates(coarse[1], [rr, cc], order=3, mode="nearest")
    rows_idx, cols_idx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    out = ndimage.map_coordinates(
        hu, [rows_idx + field_r, cols_idx + field_c], order=1, mode="nearest", output=np.float32
    )
    return np.asarray(out, dtype=np.float32)


# -------------------------------------------------------------------------------- geometric
@dataclass(frozen=True, slots=True)
class SliceTransform:
    """Zoom ``scale`` and rotation ``angle_rad`` about the slice centre, then ``shift_px``
    (x, y), then an optional left-right flip. Maps input pixel-edge coordinates to output."""

    rows: int
    cols: int
    scale: float
    angle_rad: float
    shift_px: tuple[float, float]
    flip: bool

    def _forward(self, x: float, y: float) -> tuple[float, float]:
        cx, cy = self.cols / 2.0, self.rows / 2.0
        ca, sa = math.cos(self.angle_rad), math.sin(self.angle_rad)
        dx, dy = x - cx, y - cy
        ox = cx + self.shift_px[0] + self.scale * (ca * dx - sa * dy)
        oy = cy + self.shift_px[1] + self.scale * (sa * dx + ca * dy)
        return (self.cols - ox if self.flip else ox), oy

    def box(self, box: Box) -> Box:
        """The axis-aligned box around the transformed canal.

        The canal is close to an ellipse inscribed in its box, so the new box is that
        rotated ellipse's bounding box (the rotated corners would inflate it).
        """
        cx, cy = self._forward(*box.centre)
        a, b = box.width / 2.0 * self.scale, box.height / 2.0 * self.scale
        ca, sa = math.cos(self.angle_rad), math.sin(self.angle_rad)
        hw = math.sqrt((a * ca) ** 2 + (b * sa) ** 2)
        hh = math.sqrt((a * sa) ** 2 + (b * ca) ** 2)
        return Box(cx - hw, cy - hh, cx + hw, cy + hh)

    def apply(self, hu: F32) -> F32:
        """Resample ``hu`` (bilinear, air outside)."""
        cx, cy = self.cols / 2.0, self.rows / 2.0
        ca, sa = math.cos(self.angle_rad), math.sin(self.angle_rad)
        # In (row, col) order the inverse map is input = c + R(-angle) (output - c - shift) / scale
        # in pixel-edge coordinates; ndimage works on indices (edge - 0.5).
        matrix = np.array([[ca, -sa], [sa, ca]]) / self.scale
        out_c = np.array([cy + self.shift_px[1], cx + self.shift_px[0]])
        in_c = np.array([cy, cx])
        offset = in_c - matrix @ out_c + matrix @ np.array([0.5, 0.5]) - 0.5
        result = ndimage.affine_transform(
            hu,
            matrix,
            offset=offset,
            output_shape=(self.rows, self.cols),
            order=1,
            mode="constant",
            cval=AIR_HU,
            output=np.float32,
        )
        if self.flip:
            result = np.ascontiguousarray(result[:, ::-1])
        return np.asarray(result, dtype=np.float32)


def random_transform(
    rows: int,
    cols: int,
    box: Box | None,
    aug: GeometricAugment,
    rng: np.random.Generator,
    *,
    margin_px: float = 4.0,
) -> SliceTransform:
    """A random :class:`SliceTransform` that keeps ``box`` inside the slice (retried, else
    only the flip)."""
    flip = bool(rng.random() < aug.hflip_probability)
    identity = SliceTransform(rows, cols, 1.0, 0.0, (0.0, 0.0), flip)
    if rng.random() >= aug.probability:
        return identity
    small_fov = box is not None and rng.random() < aug.small_fov_probability
    for _ in range(6):
        zoom = aug.small_fov_zoom if small_fov else aug.zoom
        scale = math.exp(rng.uniform(math.log(zoom[0]), math.log(zoom[1])))
        angle = math.radians(rng.uniform(-aug.rotation_deg, aug.rotation_deg))
        shift = (
            float(rng.uniform(-1, 1) * aug.shift_fraction * cols),
            float(rng.uniform(-1, 1) * aug.shift_fraction * rows),
        )
        if small_fov and box is not None:
            # Put the canal's centre at a random point of the middle of the image.
            unshifted = SliceTransform(rows, cols, scale, angle, (0.0, 0.0), False)
            cx, cy = unshifted._forward(*box.centre)
            shift = (
                cols / 2.0 + float(rng.uniform(-0.2, 0.2)) * cols - cx,
                rows / 2.0 + float(rng.uniform(-0.2, 0.3)) * rows - cy,
            )
        candidate = SliceTransform(rows, cols, scale, angle, shift, flip)
        if box is None:
            return candidate
        moved = candidate.box(box)
        if (
            moved.x0 >= margin_px
            and moved.y0 >= margin_px
            and moved.x1 <= cols - margin_px
            and moved.y1 <= rows - margin_px
        ):
            return candidate
    return identity
