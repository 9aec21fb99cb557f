"""Continuous 3-D anatomy: where the spine and the body are at every z.

The renderer asks :meth:`Anatomy.frame` for a slice's geometry; everything is a smooth
function of z, so consecutive slices show the same patient. Two local frames are used:

* the **torso frame** ``(u, v)``: origin at the canal centre, rotated with the body;
  ``u`` towards the patient's left, ``v`` towards posterior;
* the **canal frame**: the same origin, rotated with the spine (body rotation plus the
  spine's own axial rotation). The canal section and the vertebra are drawn in it.

``p`` is a continuous level coordinate: 0 at the top of C6's body, 1 at the top of C7's,
and so on (``vertebrae.LEVEL_NAMES[int(p)]`` is the vertebra at that z).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mscc_desktop.synth.canal import CanalAnatomy, NeuralKind
from mscc_desktop.synth.params import PatientParams, ScanParams
from mscc_desktop.synth.shapes import F32, Blob
from mscc_desktop.synth.vertebrae import LEVELS, SpineLayout, level_table

# Level coordinate of each level's top (C6 = 0 ... L5 = 18), used for anchors.
P = {level.name: float(index) for index, level in enumerate(LEVELS)}


def anchors(points: dict[str, float], p: float) -> float:
    """Piecewise-linear interpolation of a quantity given at level tops ("T6": value)."""
    xs, ys = _anchor_arrays(tuple(points.items()))
    return float(np.interp(p, xs, ys))


@functools.lru_cache(maxsize=512)
def _anchor_arrays(
    items: tuple[tuple[str, float], ...],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    xs = np.array([_anchor_p(name) for name, _ in items])
    ys = np.array([float(value) for _, value in items])
    order = np.argsort(xs)
    return xs[order], ys[order]


def _anchor_p(name: str) -> float:
    """'T6' → 7.0; 'T6.5' → 7.5 (half-way down T6)."""
    base = name.rstrip("0123456789.")
    rest = name[len(base) :]
    if "." in rest:
        whole, frac = rest.split(".")
        return P[base + whole] + float("0." + frac)
    return P[name]


@dataclass(frozen=True, slots=True)
class LevelDims:
    """Interpolated dimensions (mm) at one z, already scaled for the patient."""

    body_width: float
    body_depth: float
    canal_ap: float
    canal_tr: float
    cord_ap: float
    cord_tr: float
    spinous_length: float
    spinous_drop: float
    transverse_span: float


@dataclass(frozen=True, slots=True)
class SliceFrame:
    """Geometry of one axial slice."""

    z: float
    p: float  # level coordinate
    canal_x: float
    canal_y: float
    body_angle: float  # radians
    spine_angle: float  # radians
    slope: float  # dy/dz of the spine axis (endplate obliquity)
    dims: LevelDims

    def to_frame(self, x: F32, y: F32, *, spine: bool) -> tuple[F32, F32]:
        """World (x, y) → local (u, v) in the canal (``spine=True``) or torso frame."""
        angle = self.spine_angle if spine else self.body_angle
        ca, sa = np.float32(math.cos(angle)), np.float32(math.sin(angle))
        dx, dy = x - np.float32(self.canal_x), y - np.float32(self.canal_y)
        return dx * ca + dy * sa, dy * ca - dx * sa

    def to_world(self, u: float, v: float, *, spine: bool = False) -> tuple[float, float]:
        angle = self.spine_angle if spine else self.body_angle
        ca, sa = math.cos(angle), math.sin(angle)
        return self.canal_x + u * ca - v * sa, self.canal_y + u * sa + v * ca


class Anatomy:
    """The patient's anatomy as smooth functions of z (built once per study)."""

    def __init__(self, patient: PatientParams, scan: ScanParams) -> None:
        self.patient = patient
        self.scan = scan
        self.layout = SpineLayout.build(patient.spine_top_z_mm, patient.height_scale)
        self._tables = {
            name: level_table(name)
            for name in (
                "body_width",
                "body_depth",
                "canal_ap",
                "canal_tr",
                "cord_ap",
                "cord_tr",
                "spinous_length",
                "spinous_drop",
                "transverse_span",
            )
        }
        self._tops = self.layout.body_top
        # Sagittal curve: y of the canal relative to the table, on a 1 mm grid.
        z_hi = float(self._tops[0]) + 40.0
        z_lo = float(self.layout.body_bottom[-1]) - 40.0
        self._z_grid = np.arange(z_hi, z_lo, -1.0)
        p_grid = np.array([self.level_coordinate(float(z)) for z in self._z_grid])
        q = np.clip((p_grid - 8.0) / 6.0, -1.2, 1.0)
        rel = -patient.kyphosis_mm * q * q
        rel -= patient.lordosis_mm * np.exp(-(((p_grid - 16.5) / 2.2) ** 2))
        back = rel + np.array([self.back_depth(float(p)) for p in p_grid])
        shift = scan.table_y_mm - patient.back_pad_mm - float(back.max())
        self._y_grid = rel + shift
        self._slope_grid = np.gradient(self._y_grid, self._z_grid)

    # -- level coordinate and dimensions ------------------------------------------------
    def level_coordinate(self, z: float) -> float:
        """Continuous level coordinate ``p`` of ``z`` (see module docstring)."""
        tops = self._tops
        if z >= tops[0]:
            return float(-(z - tops[0]) / (tops[0] - tops[1]))
        index = int(np.nonzero(tops >= z)[0][-1])
        if index + 1 >= len(tops):
            height = self.layout.body_top[index] - self.layout.body_bottom[index]
            return index + float((tops[index] - z) / (height * 1.35))
        return index + float((tops[index] - z) / (tops[index] - tops[index + 1]))

    def z_of(self, p: float) -> float:
        """Inverse of :meth:`level_coordinate` (linear within a level)."""
        tops = self._tops
        index = int(min(max(math.floor(p), 0), len(tops) - 2))
        return float(tops[index] - (p - index) * (tops[index] - tops[index + 1]))

    def dims(self, z: float) -> LevelDims:
        s = self.patient.height_scale
        c = self.patient.canal_scale
        cs = self.patient.cord_scale
        t = {name: self.layout.interpolate(table, z) for name, table in self._tables.items()}
        return LevelDims(
            body_width=t["body_width"] * s,
            body_depth=t["body_depth"] * s,
            canal_ap=t["canal_ap"] * c,
            canal_tr=t["canal_tr"] * c,
            cord_ap=t["cord_ap"] * cs,
            cord_tr=t["cord_tr"] * cs,
            spinous_length=t["spinous_length"] * s,
            spinous_drop=t["spinous_drop"] * s,
            transverse_span=t["transverse_span"] * s,
        )

    def back_depth(self, p: float) -> float:
        """Canal centre to back skin (mm): spinous process, muscle cover and fat."""
        spinous = anchors({"C6": 40, "C7": 48, "T1": 46, "T6": 44, "T12": 40, "L3": 44}, p)
        cover = anchors({"C6": 14, "T1": 10, "T8": 8, "T12": 12, "L3": 16}, p)
        return (spinous + cover) * self.patient.size + 0.55 * self.patient.fat_mm

    # -- slice frame ------------------------------------------------------------------
    def frame(self, z: float) -> SliceFrame:
        pat = self.patient
        zg = self._z_grid[::-1]
        y = float(np.interp(z, zg, self._y_grid[::-1]))
        slope = float(np.interp(z, zg, self._slope_grid[::-1]))
        phase = 2 * math.pi * z / max(pat.scoliosis_period_mm, 1.0) + pat.scoliosis_phase
        x = pat.body_x_mm + pat.scoliosis_mm * math.sin(phase)
        body_angle = math.radians(pat.rotation_deg)
        spine_angle = body_angle + math.radians(pat.spine_rotation_deg) * math.cos(phase)
        return SliceFrame(
            z, self.level_coordinate(z), x, y, body_angle, spine_angle, slope, self.dims(z)
        )

    # -- canal contents -----------------------------------------------------------------
    def canal_anatomy(self, frame: SliceFrame) -> CanalAnatomy:
        """Undiseased canal, sac and cord at this slice (canal frame)."""
        d, p = frame.dims, frame.p
        ap, tr = d.canal_ap, d.canal_tr
        lumbar = min(max((p - 12.5) / 3.0, 0.0), 1.0)
        canal = Blob(
            0.0,
            0.0,
            tr / 2.0,
            ap / 2.0,
            ap / 2.0,
            n=2.0 + 0.35 * (1.0 - lumbar),
            harmonics=((0.0, 0.0), (0.0, 0.0), (0.0, -0.14 * lumbar)),
        )
        ant_gap = anchors({"C6": 1.2, "T1": 0.9, "T10": 0.9, "L1": 1.6, "L3": 2.0}, p)
        post_gap = anchors({"C6": 2.0, "T1": 2.4, "T5": 2.8, "T12": 3.0, "L3": 3.0}, p)
        lat_gap = anchors({"C6": 2.4, "T1": 1.5, "T10": 1.6, "L1": 2.2, "L3": 2.8}, p)
        sac_b = max((ap - ant_gap - post_gap) / 2.0, 3.0)
        sac_a = max(tr / 2.0 - lat_gap, 3.5)
        sac_cy = -ap / 2.0 + ant_gap + sac_b
        sac = Blob(0.0, sac_cy, sac_a, sac_b, sac_b)
        tip = P["L1"] + 0.85 + self.patient.conus_tip_shift
        taper = min(max((tip - p) / 0.9, 0.0), 1.0)
        if p >= tip:
            # Cauda equina: the root bundle lies dependent (posterior) in the sac.
            bundle = Blob(0.0, sac_cy + 0.3 * sac_b, 0.62 * sac_a, 0.5 * sac_b, 0.5 * sac_b)
            return CanalAnatomy(canal, sac, bundle, NeuralKind.CAUDA)
        scale = math.sqrt(taper) if taper < 1.0 else 1.0
        cord_b = max(d.cord_ap / 2.0 * scale, 0.9)
        cord_a = max(d.cord_tr / 2.0 * scale, 1.1)
        ant_csf = anchors({"C6": 2.2, "T1": 1.7, "T10": 1.7, "T12": 2.2}, p)
        # The cord never leaves less than 1.6 mm of CSF behind it.
        cy = min(-sac_b + ant_csf + cord_b, sac_b - 1.6 - cord_b) + sac_cy
        kind = NeuralKind.CORD if taper >= 1.0 else NeuralKind.CONUS
        return CanalAnatomy(canal, sac, Blob(0.0, cy, cord_a, cord_b, cord_b), kind)

    # -- tubes in world coordinates -----------------------------------------------------
    def tube_points(
        self, path: list[tuple[float, float, float]], step_mm: float = 1.0
    ) -> npt.NDArray[np.float32]:
        """World points of a path given as (u, v, p) torso-frame knots, resampled."""
        knots = []
        for u, v, p in path:
            z = self.z_of(p)
            knots.append((*self.frame(z).to_world(u, v), z))
        pts = np.array(knots, dtype=np.float64)
        seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
        arc = np.concatenate([[0.0], np.cumsum(seg)])
        samples = np.arange(0.0, arc[-1] + 1e-6, step_mm)
        out = np.stack([np.interp(samples, arc, pts[:, k]) for k in range(3)], axis=1)
        return out.astype(np.float32)
