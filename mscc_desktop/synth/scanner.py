"""From an ideal attenuation map to a reconstructed CT slice.

* **Sharpness**: the image spectrum is multiplied by a Gaussian MTF with the kernel's 50 %
  frequency and optional edge enhancement (sharp kernels overshoot at bone edges).
* **Noise**: correlated, not white: complex Gaussian noise shaped by a filtered-back-
  projection-like noise power spectrum (zero at DC, peak at ``1/noise_grain_mm``), plus a
  laterally elongated component (photon starvation across the shoulders), scaled by the
  patient's width along each row (wider rows are noisier).
* **Streaks**: dark bands between dense objects and spokes around metal.
* **Field of view**: outside the reconstruction circle pixels get the padding value; a
  body cut by the circle shows a bright truncation rim.
* **Quantisation**: whole HU, clamped to what the stored 16-bit values can hold.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt
import scipy.fft
from scipy import ndimage

from mscc_desktop.synth.params import ScanParams
from mscc_desktop.synth.shapes import F32


def _frequencies(shape: tuple[int, int], pixel_mm: float) -> tuple[F32, F32]:
    fy = (scipy.fft.fftfreq(shape[0]) / pixel_mm).astype(np.float32)[:, None]
    fx = (scipy.fft.rfftfreq(shape[1]) / pixel_mm).astype(np.float32)[None, :]
    return fx, fy


def _noise_filter(scan: ScanParams, shape: tuple[int, int], streak_weight: float) -> F32:
    return _noise_filter_cached(shape, scan.pixel_spacing_mm, scan.noise_grain_mm, streak_weight)


@functools.lru_cache(maxsize=8)
def _noise_filter_cached(
    shape: tuple[int, int], pixel_mm: float, grain_mm: float, streak_weight: float
) -> F32:
    fx, fy = _frequencies(shape, pixel_mm)
    f = np.sqrt(fx * fx + fy * fy)
    fp = np.float32(1.0 / grain_mm)
    r = f / fp
    iso = (np.float32(0.08) + r) * np.exp(np.float32(0.5) * (1.0 - r * r))
    if streak_weight <= 0:
        return iso.astype(np.float32)
    # Streaks along x: energy at small |fx| over a wide band of fy.
    streak = np.exp(-((fx / (np.float32(0.12) * fp)) ** 2)) * np.exp(-((fy / (2.5 * fp)) ** 2))
    result: F32 = np.sqrt((1.0 - streak_weight) * iso * iso + streak_weight * 6.0 * streak * streak)
    return result


def _mtf(scan: ScanParams, shape: tuple[int, int]) -> F32:
    return _mtf_cached(shape, scan.pixel_spacing_mm, scan.sharpness, scan.overshoot)


@functools.lru_cache(maxsize=8)
def _mtf_cached(shape: tuple[int, int], pixel_mm: float, sharpness: float, overshoot: float) -> F32:
    fx, fy = _frequencies(shape, pixel_mm)
    r2 = (fx * fx + fy * fy) / np.float32(sharpness**2)
    gain = np.float32(1.0) + np.float32(overshoot) * r2
    result: F32 = (np.exp(-np.float32(math.log(2.0)) * r2) * gain).astype(np.float32)
    return result


def _streaks(clean: F32, scan: ScanParams, rng: np.random.Generator) -> F32 | None:
    """Beam-hardening bands from the densest object and spokes around metal.

    Computed on a 4x coarser grid (the artefacts are smooth); :func:`reconstruct` adds
    them to the low frequencies of the image spectrum, which interpolates them for free.
    """
    if scan.streak_hu <= 0:
        return None
    px = scan.pixel_spacing_mm * 4
    small = clean[::4, ::4]
    dense = small > 650.0
    labels, count = ndimage.label(dense)
    if count < 2:
        return None
    mass = ndimage.sum_labels(np.clip(small - 650.0, 0, None), labels, np.arange(1, count + 1))
    order = np.argsort(mass)[::-1][:4]
    centres = ndimage.center_of_mass(dense, labels, order + 1)
    out = np.zeros_like(small)
    yy = np.arange(small.shape[0], dtype=np.float32)[:, None]
    xx = np.arange(small.shape[1], dtype=np.float32)[None, :]
    scale = float(mass[order[0]])
    for j in range(1, len(order)):
        weight = math.sqrt(float(mass[order[j]]) / scale)
        if weight < 0.3:
            continue
        (y0, x0), (y1, x1) = centres[0], centres[j]
        d = _segment_distance(xx, yy, (x0, y0), (x1, y1))
        out -= np.float32(scan.streak_hu * weight) * np.exp(-((d * np.float32(px) / 3.0) ** 2))
    for y_m, x_m in np.argwhere(small > 2200.0)[:3]:
        dy, dx = yy - np.float32(y_m), xx - np.float32(x_m)
        rho = np.sqrt(dx * dx + dy * dy) + 1.0
        theta = np.arctan2(dy, dx)
        spokes = np.cos(np.float32(rng.integers(9, 16)) * theta + np.float32(rng.uniform(0, 6.3)))
        out += np.float32(2.5 * scan.streak_hu) * spokes * np.exp(-rho * np.float32(px / 45.0))
    return out


def _add_coarse(spectrum: npt.NDArray[np.complex64], coarse: F32, factor: float) -> None:
    """Add the spectrum of a 4x-decimated field to a full-size rfft2 spectrum (in place).

    ``factor`` is the ratio of pixel counts (16 for 4x in each direction): the DFT of the
    upsampled field equals the coarse DFT scaled by it, at the shared low frequencies.
    """
    small = scipy.fft.rfft2(coarse)
    rows, cols = small.shape[0], small.shape[1] - 1
    half = rows // 2
    spectrum[:half, :cols] += factor * small[:half, :cols]
    spectrum[-half:, :cols] += factor * small[-half:, :cols]


def _segment_distance(xx: F32, yy: F32, a: tuple[float, float], b: tuple[float, float]) -> F32:
    bx, by = b[0] - a[0], b[1] - a[1]
    length2 = max(bx * bx + by * by, 1e-6)
    t = np.clip(((xx - a[0]) * bx + (yy - a[1]) * by) / np.float32(length2), 0.0, 1.0)
    dx, dy = xx - a[0] - t * bx, yy - a[1] - t * by
    result: F32 = np.sqrt(dx * dx + dy * dy)
    return result


def reconstruct(
    clean: F32,
    scan: ScanParams,
    rng: np.random.Generator,
    *,
    streak_weight: float,
) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.bool_]]:
    """Blur, add noise and artefacts, apply the FOV; returns (HU int16, padding mask)."""
    shape = (int(clean.shape[0]), int(clean.shape[1]))
    px = scan.pixel_spacing_mm
    spectrum_clean = scipy.fft.rfft2(clean)
    streaks = _streaks(clean, scan, rng)
    if streaks is not None:
        _add_coarse(spectrum_clean, streaks, factor=16.0)
    image = scipy.fft.irfft2(spectrum_clean * _mtf(scan, shape), s=shape)
    white = rng.standard_normal((2, shape[0], shape[1] // 2 + 1), dtype=np.float32)
    spectrum = (white[0] + 1j * white[1]).astype(np.complex64) * _noise_filter(
        scan, shape, streak_weight
    )
    noise = scipy.fft.irfft2(spectrum, s=shape).astype(np.float32)
    noise /= max(float(noise.std()), 1e-6)
    body = clean > -400.0
    width_mm = body.sum(axis=1).astype(np.float32) * np.float32(px)
    row_gain = np.clip(width_mm / np.float32(320.0), 0.55, 2.0) ** np.float32(1.1)
    amp = (
        np.float32(scan.noise_sd_hu)
        * row_gain[:, None]
        * np.where(body, 1.0, 0.6).astype(np.float32)
    )
    image = image.astype(np.float32) + noise * amp
    # Reconstruction circle and truncation rim.
    centre = (shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0
    yy = (np.arange(shape[0], dtype=np.float32) - np.float32(centre[0]))[:, None]
    xx = (np.arange(shape[1], dtype=np.float32) - np.float32(centre[1]))[None, :]
    rho = np.sqrt(xx * xx + yy * yy) * np.float32(px)
    radius = np.float32(min(shape) * px / 2.0)
    outside = rho > radius
    if bool(np.any(body & outside)):
        rim = np.exp(-(radius - rho) / np.float32(6.0)) * np.float32(90.0)
        image += np.where(body & ~outside, rim, np.float32(0.0))
    lowest = max(scan.rescale_intercept, -1024.0)
    np.clip(image, lowest, 3071.0 + 1000.0, out=image)
    hu = np.rint(image).astype(np.int16)
    padding_hu = scan.padding_hu
    if padding_hu is None:
        hu[outside] = np.int16(lowest)
        return hu, np.zeros(shape, dtype=bool)
    hu[outside] = np.int16(padding_hu)
    return hu, outside
