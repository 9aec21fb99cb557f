"""Tileable band-pass noise textures (trabecular bone, organ mottling, fat strands).

Generated once per study from its seed and sampled at millimetre coordinates, so a texture
keeps its physical grain whatever the pixel spacing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

from mscc_desktop.synth.shapes import F32

TILE = 256


def band_pass_tile(rng: np.random.Generator, grain_texels: float, width: float = 0.5) -> F32:
    """A ``TILE``² unit-variance texture whose spectrum peaks at ``grain_texels`` wavelength."""
    white = rng.standard_normal((TILE, TILE)).astype(np.float32)
    fy = scipy.fft.fftfreq(TILE)[:, None]
    fx = scipy.fft.rfftfreq(TILE)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f0 = 1.0 / grain_texels
    gain = np.exp(-0.5 * ((np.log(f + 1e-9) - np.log(f0)) / width) ** 2)
    tile: F32 = scipy.fft.irfft2(scipy.fft.rfft2(white) * gain, s=(TILE, TILE)).astype(np.float32)
    tile /= max(float(tile.std()), 1e-6)
    return tile


@dataclass(frozen=True, slots=True)
class Texture:
    tile: F32
    texel_mm: float

    def sample(self, u: F32, v: F32, offset: int = 0) -> F32:
        """Nearest-texel lookup at (u, v) mm; ``offset`` shifts to an unrelated patch."""
        inv = np.float32(1.0 / self.texel_mm)
        iu = (np.floor(u * inv).astype(np.int32) + offset * 61) % TILE
        iv = (np.floor(v * inv).astype(np.int32) + offset * 37) % TILE
        result: F32 = self.tile[iv, iu]
        return result


@dataclass(frozen=True, slots=True)
class Textures:
    trabecular: Texture  # cancellous bone: coarse 2-5 mm mottling (broad spectrum)
    organ: Texture  # parenchyma: soft 4-6 mm mottling
    fat: Texture  # fat strands / fine heterogeneity
    coarse: Texture  # slow variations (lung density, muscle marbling)
    patch: Texture  # 8-12 mm patches: where trabeculae are dense or sparse

    @classmethod
    def create(cls, rng: np.random.Generator) -> Textures:
        return cls(
            trabecular=Texture(band_pass_tile(rng, 7.0, 0.7), 0.5),
            organ=Texture(band_pass_tile(rng, 10.0), 0.5),
            fat=Texture(band_pass_tile(rng, 6.0, 0.6), 0.5),
            coarse=Texture(band_pass_tile(rng, 40.0, 0.6), 1.0),
            patch=Texture(band_pass_tile(rng, 20.0, 0.6), 0.5),
        )
