"""Tubular 3-D structures built once per study: vessels, airways, oesophagus, ribs, colon.

Paths are given as knots in the torso frame ``(u, v)`` at level coordinates ``p`` and
turned into world-space :class:`~mscc_desktop.synth.shapes.Tube` samples, so they follow
the patient's spine curve and rotation. Offsets near the spine are relative to the front
of the vertebral body (``vb``); organ positions scale with the patient's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from mscc_desktop.synth.anatomy import Anatomy
from mscc_desktop.synth.render_torso import cage_blob, torso_dims
from mscc_desktop.synth.shapes import Tube


class TubeKind(StrEnum):
    AORTA = "aorta"
    ARTERY = "artery"  # aortic branches
    PULMONARY = "pulmonary"  # pulmonary arteries: right-heart blood
    VEIN = "vein"
    AZYGOS = "azygos"
    AIRWAY = "airway"
    OESOPHAGUS = "oesophagus"
    RIB = "rib"
    CARTILAGE = "cartilage"
    CLAVICLE = "clavicle"
    COLON = "colon"


@dataclass(frozen=True, slots=True)
class TubeSpec:
    kind: TubeKind
    tube: Tube
    wall_mm: float = 0.0


@dataclass(frozen=True, slots=True)
class Waves:
    """A sum of random 3-D plane waves: smooth noise defined everywhere (vessel trees)."""

    k: npt.NDArray[np.float32]  # (n, 3) wave vectors (rad/mm)
    phase: npt.NDArray[np.float32]  # (n,)

    @classmethod
    def random(cls, rng: np.random.Generator, n: int, wavelength_mm: float) -> Waves:
        direction = rng.standard_normal((n, 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        lengths = wavelength_mm * rng.uniform(0.7, 1.4, n)
        k = direction * (2 * math.pi / lengths)[:, None]
        return cls(k.astype(np.float32), rng.uniform(0, 2 * math.pi, n).astype(np.float32))

    def value(
        self, x: npt.NDArray[np.float32], y: npt.NDArray[np.float32], z: float
    ) -> npt.NDArray[np.float32]:
        total = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=np.float32)
        for (kx, ky, kz), ph in zip(self.k, self.phase, strict=True):
            total += np.cos(x * kx + y * ky + np.float32(kz * z + ph))
        result: npt.NDArray[np.float32] = total * np.float32(math.sqrt(2.0 / len(self.phase)))
        return result


@dataclass(frozen=True, slots=True)
class BowelLoop:
    u: float
    v: float
    p: float
    radius: float
    half_length_mm: float
    content: str  # "gas", "fluid", "contrast", "stool"


@dataclass(frozen=True, slots=True)
class Structures:
    tubes: tuple[TubeSpec, ...]
    bowel: tuple[BowelLoop, ...]
    lung_vessels: tuple[Waves, Waves]
    liver_vessels: tuple[Waves, Waves]


def build_structures(anatomy: Anatomy, rng: np.random.Generator) -> Structures:
    s = anatomy.patient.size
    vs = math.sqrt(s)
    tubes: list[TubeSpec] = []

    def vb(p: float) -> float:
        d = anatomy.frame(anatomy.z_of(p)).dims
        return -(d.canal_ap / 2.0 + d.body_depth)

    def path(knots: list[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
        # v offsets written as (dv, p) relative to the vertebral body front.
        return [(u, vb(p) + dv, p) for u, dv, p in knots]

    def add(
        kind: TubeKind, knots: list[tuple[float, float, float]], radius: float, wall: float = 0.0
    ) -> None:
        pts = anatomy.tube_points(path(knots))
        radii = np.full(len(pts), radius, dtype=np.float32)
        tubes.append(TubeSpec(kind, Tube(pts, radii), wall))

    add(
        TubeKind.AORTA,
        [
            (-10 * s, -62 * s, 7.0),
            (-12 * s, -58 * s, 5.2),
            (-10 * s, -52 * s, 4.55),
            (0, -40 * s, 4.35),
            (14 * s, -24 * s, 4.4),
            (19 * s, -11, 4.75),
            (19 * s, -10, 6.0),
            (14, -11, 10.0),
            (8, -13, 13.5),
            (6, -14, 17.8),
        ],
        13.5 * vs,
    )
    add(
        TubeKind.PULMONARY,
        [
            (16 * s, -90 * s, 7.6),
            (18 * s, -68 * s, 6.3),
            (42 * s, -48 * s, 6.2),
            (58 * s, -42 * s, 6.5),
        ],
        11.0 * vs,
    )
    add(
        TubeKind.PULMONARY,
        [(12 * s, -66 * s, 6.35), (-20 * s, -52 * s, 6.5), (-52 * s, -46 * s, 6.8)],
        9.5 * vs,
    )
    add(TubeKind.VEIN, [(-27 * s, -64 * s, 2.6), (-25 * s, -62 * s, 6.8)], 9.0 * vs)
    add(TubeKind.VEIN, [(38 * s, -76 * s, 2.4), (-22 * s, -68 * s, 3.0)], 6.0 * vs)
    add(
        TubeKind.VEIN,
        [(-22 * s, -26 * s, 10.4), (-22 * s, -21 * s, 13.0), (-20 * s, -15, 17.8)],
        11.0 * vs,
    )
    add(
        TubeKind.AZYGOS,
        [(-6, -3, 17.0), (-7, -5, 6.0), (-12, -22 * s, 4.8), (-24 * s, -56 * s, 4.7)],
        3.8,
    )
    add(
        TubeKind.ARTERY,
        [(-6 * s, -52 * s, 4.3), (-16 * s, -42 * s, 2.0), (-15 * s, -30 * s, -0.5)],
        6.0 * vs,
    )
    add(
        TubeKind.ARTERY,
        [(5 * s, -44 * s, 4.3), (12 * s, -33 * s, 1.5), (13 * s, -30 * s, -0.5)],
        4.6 * vs,
    )
    add(
        TubeKind.ARTERY,
        [(15 * s, -28 * s, 4.4), (28 * s, -24 * s, 2.4), (62 * s, -30 * s, 1.6)],
        5.0 * vs,
    )
    for side in (-1.0, 1.0):
        add(
            TubeKind.VEIN, [(side * 26 * s, -36 * s, -0.5), (side * 24 * s, -48 * s, 2.4)], 7.0 * vs
        )
    add(TubeKind.AIRWAY, [(0, -16 * s, -1.0), (0, -20 * s, 4.9)], 9.0 * vs, 1.6)
    add(
        TubeKind.AIRWAY,
        [(0, -20 * s, 4.85), (-22 * s, -18 * s, 5.3), (-42 * s, -20 * s, 6.0)],
        7.0 * vs,
        1.5,
    )
    add(
        TubeKind.AIRWAY,
        [(0, -20 * s, 4.85), (25 * s, -18 * s, 5.5), (46 * s, -15 * s, 6.4)],
        6.2 * vs,
        1.5,
    )
    add(
        TubeKind.OESOPHAGUS,
        [(3, -5, -1.0), (6, -6, 6.0), (12, -10, 10.4), (32 * s, -36 * s, 11.4)],
        7.5 * vs,
    )
    for side in (-1.0, 1.0):
        add(
            TubeKind.CLAVICLE,
            [
                (side * 14 * s, -64 * s, 2.3),
                (side * 60 * s, -42 * s, 1.5),
                (side * 110 * s, -8 * s, 0.8),
            ],
            6.5 * vs,
        )
    colon_r = 21.0 * vs
    add(
        TubeKind.COLON,
        [
            (-92 * s, -30 * s, 19.0),
            (-90 * s, -42 * s, 15.5),
            (-78 * s, -82 * s, 14.5),
            (0, -128 * s, 15.6),
            (82 * s, -92 * s, 14.0),
            (96 * s, -40 * s, 14.3),
            (96 * s, -34 * s, 19.0),
        ],
        colon_r,
        2.5,
    )
    tubes.extend(_ribs(anatomy))
    # Loops in cage-normalised coordinates (u / half width, v / anterior depth from centre).
    bowel = tuple(
        BowelLoop(
            float(rng.uniform(-0.8, 0.8)),
            float(rng.uniform(-0.95, -0.1)),
            float(rng.uniform(13.6, 18.5)),
            float(rng.uniform(9, 16) * vs),
            float(rng.uniform(10, 28)),
            str(rng.choice(["fluid", "fluid", "fluid", "contrast", "gas", "stool"])),
        )
        for _ in range(80)
    )
    return Structures(
        tuple(tubes),
        bowel,
        (Waves.random(rng, 10, 34.0), Waves.random(rng, 10, 34.0)),
        (Waves.random(rng, 8, 45.0), Waves.random(rng, 8, 45.0)),
    )


_RIB_DROP = (1.4, 2.6, 3.6, 4.2, 4.6, 4.8, 4.8, 4.6, 4.2, 3.6, 2.4, 1.5)
_RIB_END = (2.95, 2.95, 2.9, 2.9, 2.85, 2.8, 2.75, 2.5, 2.3, 2.1, 1.8, 1.35)


def _ribs(anatomy: Anatomy) -> list[TubeSpec]:
    """Twelve pairs: head at the body, neck to the transverse process, then the cage wall."""
    specs: list[TubeSpec] = []
    s = anatomy.patient.size
    for n in range(12):
        p_head = float(n + 2) + 0.05  # T1 is level index 2
        frame = anatomy.frame(anatomy.z_of(p_head))
        d = frame.dims
        radius = (2.9 + 0.6 * min(n, 6) / 6.0) * math.sqrt(s)  # ribs: thin, tall in z
        theta_end = _RIB_END[n]
        td0 = torso_dims(anatomy, frame)
        cage0 = cage_blob(td0)
        # Start following the cage wall lateral to the rib angle, so the neck and the shaft
        # run smoothly outward (head → tubercle at the transverse process → angle → wall).
        theta0 = 0.35
        while theta0 < 1.4:
            r0 = float(
                cage0.radius(
                    np.array([math.sin(theta0)], np.float32),
                    np.array([math.cos(theta0)], np.float32),
                )[0]
            )
            if r0 * math.sin(theta0) > d.transverse_span + 28.0:
                break
            theta0 += 0.05
        tp_v = d.canal_ap / 2.0 + 8.0
        for side in (-1.0, 1.0):
            knots: list[tuple[float, float, float]] = [
                (
                    side * (d.body_width / 2.0 + 1.5),
                    -(d.canal_ap / 2.0 + 0.3 * d.body_depth),
                    p_head,
                ),
                (side * (d.transverse_span - 2.0), tp_v - 6.0, p_head + 0.15),
                (side * (d.transverse_span + 14.0), tp_v - 2.0, p_head + 0.22),
            ]
            cart_from = None
            for k, theta in enumerate(np.linspace(theta0, theta_end, 28)):
                frac = (theta - theta0) / (theta_end - theta0)
                p = p_head + 0.25 + _RIB_DROP[n] * frac**1.1
                td = torso_dims(anatomy, anatomy.frame(anatomy.z_of(p)))
                cage = cage_blob(td)
                du, dv = side * math.sin(theta), math.cos(theta)
                r = float(cage.radius(np.array([du], np.float32), np.array([dv], np.float32))[0])
                r_out = r + radius + 1.0
                knots.append((cage.cx + du * r_out, cage.cy + dv * r_out, p))
                if n < 10 and frac > 0.78 and cart_from is None:
                    cart_from = k + 2
            pts = anatomy.tube_points(knots)
            radii = np.full(len(pts), radius, dtype=np.float32)
            if cart_from is None:
                specs.append(TubeSpec(TubeKind.RIB, Tube(pts, radii, 1.8)))
                continue
            # Split bone from costal cartilage at the matching arc position.
            split = _nearest(pts, anatomy, knots[cart_from])
            specs.append(TubeSpec(TubeKind.RIB, Tube(pts[:split], radii[:split], 1.8)))
            specs.append(TubeSpec(TubeKind.CARTILAGE, Tube(pts[split:], radii[split:] * 1.1, 1.5)))
    return specs


def _nearest(
    pts: npt.NDArray[np.float32], anatomy: Anatomy, knot: tuple[float, float, float]
) -> int:
    u, v, p = knot
    z = anatomy.z_of(p)
    x, y = anatomy.frame(z).to_world(u, v)
    dist = (pts[:, 0] - x) ** 2 + (pts[:, 1] - y) ** 2 + (pts[:, 2] - z) ** 2
    return int(np.argmin(dist))
