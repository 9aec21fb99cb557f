"""Vertebral levels: typical adult dimensions and their layout along the patient z axis.

Dimensions are rounded adult means from CT/cadaver morphometry of the cervicothoracic,
thoracic and lumbar spine (Panjabi et al., Spine 1991 and 1992; Zindrick et al.; cord
sizes from MRI morphometry). What matters for the detector and the grader is that the
proportions change from level to level the way they do in patients: the thoracic canal is
round and narrow (about 14 mm AP, 15-17 mm between the pedicles), the lumbar canal wider
transversely and triangular, bodies grow from C7 to L3, and the cord has a cervical and a
lumbar enlargement and ends as the conus near L1-L2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.vertebral_levels import LEVEL_RANK, VERTEBRAL_LEVELS


@dataclass(frozen=True, slots=True)
class LevelAnatomy:
    """Typical dimensions (mm) of one vertebra and the disc below it."""

    name: str
    body_height: float
    disc_height: float  # disc below this vertebra
    body_width: float  # transverse
    body_depth: float  # antero-posterior
    canal_ap: float
    canal_tr: float  # interpedicular
    cord_ap: float
    cord_tr: float
    spinous_length: float  # from the canal centre to the spinous tip
    spinous_drop: float  # how far the tip lies below the lamina (thoracic shingling)
    transverse_span: float  # midline to transverse-process tip
    has_rib: bool


LEVEL_NAMES: tuple[str, ...] = VERTEBRAL_LEVELS[LEVEL_RANK["C6"] : LEVEL_RANK["L5"] + 1]
"""The levels a phantom can hold, head first: C6 to L5 of core's level names."""


def _level(name: str, *v: float) -> LevelAnatomy:
    if len(v) != 11:
        raise ValueError(f"level {name}: expected 11 dimensions, got {len(v)}")
    has_rib = name.startswith("T")  # the thoracic vertebrae are those that carry ribs
    return LevelAnatomy(
        name, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], has_rib=has_rib
    )


_DIMENSIONS: tuple[tuple[float, ...], ...] = (
    # body_h disc width depth canalAP canalTR cordAP cordTR spinous drop TP        level
    (13.5, 5.0, 22.0, 16.0, 14.0, 23.0, 7.5, 12.5, 36.0, 6.0, 27.0),  # C6
    (14.5, 5.0, 25.0, 16.5, 14.0, 22.0, 7.2, 11.0, 46.0, 9.0, 36.0),  # C7
    (16.0, 4.5, 29.0, 18.0, 14.0, 19.0, 6.6, 9.5, 44.0, 12.0, 40.0),  # T1
    (17.0, 4.0, 30.0, 20.0, 14.0, 17.0, 6.4, 8.6, 43.0, 17.0, 40.0),  # T2
    (17.5, 4.0, 31.0, 22.0, 14.0, 16.0, 6.3, 8.3, 43.0, 22.0, 39.0),  # T3
    (18.0, 4.0, 32.0, 24.5, 14.0, 15.5, 6.2, 8.0, 43.0, 25.0, 38.0),  # T4
    (18.5, 4.5, 33.0, 26.0, 14.0, 15.5, 6.2, 8.0, 43.0, 27.0, 38.0),  # T5
    (19.0, 4.5, 34.0, 27.5, 14.0, 15.5, 6.2, 8.0, 43.0, 28.0, 37.0),  # T6
    (19.5, 5.0, 35.0, 28.5, 14.0, 15.5, 6.2, 8.0, 42.0, 28.0, 37.0),  # T7
    (20.0, 5.0, 36.0, 29.5, 14.0, 16.0, 6.2, 8.0, 42.0, 26.0, 36.0),  # T8
    (20.5, 5.5, 38.0, 30.5, 14.2, 16.5, 6.3, 8.2, 40.0, 22.0, 35.0),  # T9
    (21.5, 6.0, 40.0, 31.5, 14.6, 17.5, 6.6, 8.6, 38.0, 15.0, 33.0),  # T10
    (22.5, 7.0, 43.0, 32.0, 15.2, 18.0, 7.3, 9.4, 37.0, 8.0, 28.0),  # T11
    (23.5, 8.0, 45.0, 32.5, 16.0, 19.5, 7.3, 9.2, 37.0, 5.0, 26.0),  # T12
    (24.5, 9.0, 47.0, 33.0, 17.0, 21.0, 6.5, 8.0, 39.0, 3.0, 40.0),  # L1
    (25.0, 10.0, 49.0, 34.0, 17.0, 23.0, 5.5, 7.0, 41.0, 3.0, 45.0),  # L2
    (25.0, 10.5, 51.0, 34.5, 16.5, 24.0, 5.5, 7.0, 42.0, 3.0, 50.0),  # L3
    (25.0, 10.0, 53.0, 35.0, 16.5, 25.0, 5.5, 7.0, 42.0, 3.0, 45.0),  # L4
    (24.0, 9.0, 54.0, 35.0, 17.0, 26.0, 5.5, 7.0, 40.0, 2.0, 45.0),  # L5
)
LEVELS: tuple[LevelAnatomy, ...] = tuple(
    _level(name, *dims) for name, dims in zip(LEVEL_NAMES, _DIMENSIONS, strict=True)
)
_INDEX = {name: index for index, name in enumerate(LEVEL_NAMES)}


def level_index(name: str) -> int:
    """Index of a level name ("T6") in :data:`LEVELS`; ``ValueError`` lists valid names."""
    key = name.strip().upper()
    if key not in _INDEX:
        raise ValueError(f"unknown vertebral level {name!r}: use one of {', '.join(LEVEL_NAMES)}")
    return _INDEX[key]


@dataclass(frozen=True, slots=True)
class LevelPosition:
    """Where a z position falls: in a vertebral body or in the disc below it."""

    index: int  # index into LEVELS of the vertebra above (or containing) z
    in_disc: bool
    fraction: float  # 0 at the top of the body, 1 at its bottom; in the disc 1 + (0..1)

    @property
    def label(self) -> str:
        """ "T6" in a body, "T6/T7" in the disc below T6."""
        name = LEVEL_NAMES[self.index]
        if self.in_disc and self.index + 1 < len(LEVEL_NAMES):
            return f"{name}/{LEVEL_NAMES[self.index + 1]}"
        return name


@dataclass(frozen=True, slots=True)
class SpineLayout:
    """Body and disc z-ranges of every level (z in mm, superior positive).

    ``body_top[i] > body_bottom[i] > body_top[i + 1]``; the disc below level ``i`` spans
    ``(body_top[i + 1], body_bottom[i])``. ``scale`` is the patient's height factor.
    """

    body_top: npt.NDArray[np.float64]
    body_bottom: npt.NDArray[np.float64]
    scale: float

    @classmethod
    def build(cls, top_z_mm: float, scale: float) -> SpineLayout:
        """Stack the levels downward from the top of C6's body at ``top_z_mm``."""
        tops, bottoms = [], []
        z = top_z_mm
        for level in LEVELS:
            tops.append(z)
            z -= level.body_height * scale
            bottoms.append(z)
            z -= level.disc_height * scale
        return cls(np.array(tops), np.array(bottoms), scale)

    def position(self, z_mm: float) -> LevelPosition:
        """The level at ``z_mm`` (clamped to the first/last level)."""
        below = np.nonzero(self.body_top >= z_mm)[0]
        index = int(below[-1]) if below.size else 0
        top, bottom = self.body_top[index], self.body_bottom[index]
        if z_mm >= bottom or index + 1 >= len(LEVELS):
            fraction = (top - z_mm) / max(top - bottom, 1e-6)
            return LevelPosition(index, False, float(min(max(fraction, 0.0), 1.0)))
        disc = bottom - self.body_top[index + 1]
        return LevelPosition(index, True, float(1.0 + (bottom - z_mm) / max(disc, 1e-6)))

    def centre(self, index: int) -> float:
        """z of the middle of a vertebral body."""
        return float(0.5 * (self.body_top[index] + self.body_bottom[index]))

    def span(self, first: str, last: str) -> tuple[float, float]:
        """(top, bottom) z covering the bodies of ``first`` to ``last`` inclusive."""
        return (
            float(self.body_top[level_index(first)]),
            float(self.body_bottom[level_index(last)]),
        )

    def interpolate(self, values: npt.ArrayLike, z_mm: float) -> float:
        """A per-level quantity interpolated smoothly between body centres."""
        centres = 0.5 * (self.body_top + self.body_bottom)
        # np.interp needs increasing x: centres decrease with the index.
        return float(np.interp(z_mm, centres[::-1], np.asarray(values, dtype=float)[::-1]))


def level_table(attribute: str) -> npt.NDArray[np.float64]:
    """One :class:`LevelAnatomy` attribute for every level, as an array."""
    return np.array([float(getattr(level, attribute)) for level in LEVELS])
