"""What every painter of one slice needs: the canvas, the anatomy, the study's tissues."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mscc_desktop.synth.anatomy import Anatomy, SliceFrame
from mscc_desktop.synth.params import StudyParams, TissueHU
from mscc_desktop.synth.shapes import Canvas
from mscc_desktop.synth.textures import Textures


@dataclass(slots=True)
class SliceContext:
    canvas: Canvas
    anatomy: Anatomy
    frame: SliceFrame
    params: StudyParams
    textures: Textures
    rng: np.random.Generator  # this slice's own stream

    @property
    def tissues(self) -> TissueHU:
        return self.params.tissues

    @property
    def z(self) -> float:
        return self.frame.z

    @property
    def thickness(self) -> float:
        return max(self.params.scan.slice_thickness_mm, 0.5)

    def slab_fraction(self, lo: float, hi: float) -> float:
        """Share of this slice's slab that lies between z = ``lo`` and ``hi``."""
        half = self.thickness / 2.0
        overlap = min(self.z + half, hi) - max(self.z - half, lo)
        return float(min(max(overlap / self.thickness, 0.0), 1.0))
