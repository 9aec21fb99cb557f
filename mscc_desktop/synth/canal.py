"""The spinal canal of one slice: bony canal, thecal sac, cord, epidural tumour, narrowing.

Geometry lives in the canal's local frame in millimetres: origin at the canal centre, ``u``
towards the patient's left and ``v`` towards posterior (rotated with the spine). A tumour
comes from direction ``w`` (0° anterior, 90° left, 180° posterior) and occupies the part of
the canal beyond a front ``t - κ s² > h`` (``t`` along ``w``, ``s`` across it), so its depth
``d = h_wall - h`` grows with severity. Each Bilsky band is a range of depths chosen from
the anatomy of this very slice (epidural gap, CSF gap, cord size), and the grade written to
the labels is re-derived from rasterised masks by :func:`derive_grade` — never taken from
the parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.grades import BilskyGrade
from mscc_desktop.synth.params import DegenerativeKind
from mscc_desktop.synth.shapes import F32, Blob

BoolArray = npt.NDArray[np.bool_]


class NeuralKind(StrEnum):
    CORD = "cord"
    CONUS = "conus"
    CAUDA = "cauda"  # below the conus: nerve roots; the bundle acts as the "cord"


@dataclass(frozen=True, slots=True)
class CanalAnatomy:
    """Undiseased canal contents at one z (local frame, mm)."""

    canal: Blob
    sac: Blob
    cord: Blob
    neural: NeuralKind


@dataclass(frozen=True, slots=True)
class EpiduralState:
    """Epidural disease at one z: severity in grade units and its shape."""

    severity: float
    direction_deg: float
    curvature: float
    secondary_direction_deg: float | None = None
    secondary_depth_mm: float = 0.0


@dataclass(frozen=True, slots=True)
class Front:
    """Half-plane-like region ``t - κ s² > h`` in direction ``direction_deg``."""

    direction_deg: float
    curvature: float
    h: float

    def axes(self) -> tuple[tuple[float, float], tuple[float, float]]:
        a = math.radians(self.direction_deg)
        return (math.sin(a), -math.cos(a)), (math.cos(a), math.sin(a))

    def sd(self, u: F32, v: F32) -> F32:
        """Signed distance (approximate, exact sign): negative in the tumour side."""
        (wx, wy), (px, py) = self.axes()
        t = u * np.float32(wx) + v * np.float32(wy)
        s = u * np.float32(px) + v * np.float32(py)
        k = np.float32(self.curvature)
        result: F32 = (np.float32(self.h) + k * s * s - t) / np.sqrt(1.0 + 4.0 * k * k * s * s)
        return result


def _tval(points: npt.NDArray[np.float64], direction_deg: float, curvature: float) -> float:
    """max over points of t - κ s²: the front level at which it first touches them."""
    a = math.radians(direction_deg)
    t = points[:, 0] * math.sin(a) - points[:, 1] * math.cos(a)
    s = points[:, 0] * math.cos(a) + points[:, 1] * math.sin(a)
    return float(np.max(t - curvature * s * s))


def _extent(blob: Blob, direction_deg: float) -> float:
    """How far ``blob`` reaches along ``direction_deg`` from the canal centre."""
    return _tval(blob.boundary(180), direction_deg, 0.0)


def _support(blob: Blob, direction_deg: float) -> float:
    """How far ``blob`` reaches along ``direction_deg`` from its own centre (half-width)."""
    a = math.radians(direction_deg)
    return _extent(blob, direction_deg) - (blob.cx * math.sin(a) - blob.cy * math.cos(a))


@dataclass(frozen=True, slots=True)
class Ridge:
    """Degenerative narrowing: a front from the canal wall, filled with one tissue."""

    kind: DegenerativeKind
    fronts: tuple[Front, ...]


@dataclass(frozen=True, slots=True)
class CanalSection:
    """Everything inside the bony canal at one z, ready to rasterise."""

    anatomy: CanalAnatomy
    cord: Blob  # possibly displaced / flattened
    fronts: tuple[Front, ...]  # epidural tumour = union of fronts, inside the canal
    fill_sac: bool  # grade 3: tumour takes the whole residual sac (no CSF)
    ridge: Ridge | None = None

    def tumour_sd(self, u: F32, v: F32) -> F32 | None:
        if not self.fronts:
            return None
        sd = self.fronts[0].sd(u, v)
        for front in self.fronts[1:]:
            sd = np.minimum(sd, front.sd(u, v))
        if self.fill_sac:
            sd = np.minimum(sd, self.anatomy.sac.sd(u, v))
        sd = np.maximum(sd, self.anatomy.canal.sd(u, v))
        result: F32 = np.maximum(sd, -self.cord.sd(u, v))
        return result

    def ridge_sd(self, u: F32, v: F32) -> F32 | None:
        if self.ridge is None:
            return None
        sd = self.ridge.fronts[0].sd(u, v)
        for front in self.ridge.fronts[1:]:
            sd = np.minimum(sd, front.sd(u, v))
        result: F32 = np.maximum(np.maximum(sd, self.anatomy.canal.sd(u, v)), -self.cord.sd(u, v))
        return result

    def sac_sd(self, u: F32, v: F32, tumour: F32 | None, ridge: F32 | None) -> F32:
        """The thecal sac after indentation (cord included)."""
        sd = self.anatomy.sac.sd(u, v)
        if tumour is not None:
            sd = np.maximum(sd, -tumour)
        if ridge is not None:
            sd = np.maximum(sd, -ridge)
        return np.minimum(sd, self.cord.sd(u, v))


# Safety margins (mm) that keep each band's geometry unambiguous on the masks.
_MIN_DEPTH = 0.6  # thinnest epidural tumour worth calling one
_SAC_MARGIN = 0.45  # 1a stays this far from the sac; 1b indents at least this much
_CSF_MARGIN = 1.1  # 1b keeps this much CSF between tumour and cord


def section(
    anatomy: CanalAnatomy,
    state: EpiduralState | None,
    ridge: tuple[DegenerativeKind, float, float, float] | None = None,
) -> CanalSection:
    """Build the canal section for ``state`` (``None`` = no epidural tumour).

    ``ridge`` is ``(kind, depth_mm, width_deg, side_deg)`` of a degenerative narrowing.
    """
    ridge_obj = _ridge(anatomy, ridge) if ridge is not None else None
    if state is None or state.severity < 1.0:
        return CanalSection(anatomy, anatomy.cord, (), False, ridge_obj)
    band = min(int(state.severity), 5)
    frac = state.severity - band
    alpha, kappa = state.direction_deg, state.curvature
    canal_pts = anatomy.canal.boundary(256)
    h_wall = _tval(canal_pts, alpha, kappa)
    h_sac = _tval(anatomy.sac.boundary(256), alpha, kappa)
    h_cord0 = _tval(anatomy.cord.boundary(256), alpha, kappa)
    d_sac = h_wall - h_sac
    # CSF gap on the far side of the cord (how far the sac lets the cord be pushed).
    far = alpha + 180.0
    far_gap = max(_extent(anatomy.sac, far) - _extent(anatomy.cord, far), 0.0)
    delta_max = max(far_gap - _CSF_MARGIN, 0.0)
    cord = anatomy.cord
    fill = False
    if band == 1:
        hi = d_sac - _SAC_MARGIN
        lo = min(_MIN_DEPTH, 0.6 * hi)
        depth = lo + (hi - lo) * (0.25 + 0.75 * frac) if hi > 0.2 else max(hi, 0.15)
        h = h_wall - depth
    elif band == 2:
        near_gap = h_sac - h_cord0
        lo = d_sac + _SAC_MARGIN
        hi = d_sac + near_gap - _CSF_MARGIN + delta_max
        depth = lo + max(hi - lo, 0.0) * (0.15 + 0.85 * frac)
        delta = min(max(depth - (d_sac + near_gap - _CSF_MARGIN), 0.0), delta_max)
        cord = _moved(anatomy.cord, alpha, delta, 0.0, anatomy.sac)
        h = h_wall - depth
    elif band == 3:
        cord = _moved(anatomy.cord, alpha, delta_max, 0.0, anatomy.sac)
        reach = _tval(cord.boundary(256), alpha, kappa)
        size = 2.0 * _support(anatomy.cord, alpha)
        h = reach - (0.35 + 0.3 * size * (0.1 + 0.6 * frac))
    else:
        phi = (0.22 + 0.23 * frac) if band == 4 else (0.45 + 0.2 * frac)
        push = delta_max if band == 4 else far_gap
        cord = _moved(anatomy.cord, alpha, push, phi, anatomy.sac)
        h = _tval(cord.boundary(256), alpha, kappa) - 0.6
        fill = band == 5
    fronts = [Front(alpha, kappa, h)]
    if state.secondary_direction_deg is not None and state.secondary_depth_mm > 0:
        beta = state.secondary_direction_deg
        wall2 = _tval(canal_pts, beta, 0.05)
        room = wall2 - _tval(anatomy.sac.boundary(256), beta, 0.05) - _SAC_MARGIN
        depth2 = min(state.secondary_depth_mm, room)
        if depth2 > 0.3:
            fronts.append(Front(beta, 0.05, wall2 - depth2))
    return CanalSection(anatomy, cord, tuple(fronts), fill, ridge_obj)


def _moved(cord: Blob, alpha: float, push: float, flatten: float, sac: Blob) -> Blob:
    """The cord pushed away from ``alpha`` by ``push`` mm and flattened along it.

    The far edge moves by ``push``; flattening shortens the cord along the push and widens
    it across (a compressed cord spreads), without leaving the sac.
    """
    a = math.radians(alpha)
    wx, wy = math.sin(a), -math.cos(a)
    r_w = _support(cord, alpha)
    r_perp = _support(cord, alpha + 90.0)
    new_w = r_w * (1.0 - flatten)
    room_perp = min(_support(sac, alpha + 90.0), _support(sac, alpha - 90.0)) - 0.6
    new_perp = min(r_perp * (1.0 + 0.45 * flatten), max(room_perp, r_perp))
    shift = push + (r_w - new_w)
    cx, cy = cord.cx - wx * shift, cord.cy - wy * shift
    if flatten == 0.0:
        return replace(cord, cx=cx, cy=cy)
    return Blob(cx, cy, new_perp, new_w, new_w, angle=a + math.pi)


def _ridge(anatomy: CanalAnatomy, spec: tuple[DegenerativeKind, float, float, float]) -> Ridge:
    kind, depth, width_deg, side_deg = spec
    pts = anatomy.canal.boundary(256)
    # Keep at least 1.2 mm between the narrowing and the cord: not a compression mimic
    # of a grade the labels would call high.
    cord_pts = anatomy.cord.boundary(128)
    sides = (
        (side_deg - width_deg / 2.0, side_deg + width_deg / 2.0)
        if kind in (DegenerativeKind.LIGAMENTUM_FLAVUM, DegenerativeKind.OSSIFIED_LIGAMENTUM_FLAVUM)
        else (side_deg,)
    )
    kappa = 0.06 if len(sides) == 2 else max(0.01, 2.0 / max(width_deg, 10.0))
    fronts = []
    for direction in sides:
        wall = _tval(pts, direction, kappa)
        limit = wall - _tval(cord_pts, direction, kappa) - 1.2
        fronts.append(Front(direction, kappa, wall - min(depth, max(limit, 0.3))))
    return Ridge(kind, tuple(fronts))


@dataclass(frozen=True, slots=True)
class CanalMasks:
    """Binary masks of a canal section on a fine local grid (``pixel_mm`` spacing)."""

    pixel_mm: float
    canal: BoolArray
    sac0: BoolArray
    cord0: BoolArray
    sac: BoolArray  # deformed, cord included
    cord: BoolArray
    tumour: BoolArray
    ridge: BoolArray

    @property
    def csf(self) -> BoolArray:
        result: BoolArray = self.sac & ~self.cord & ~self.tumour & ~self.ridge
        return result


def rasterise(sec: CanalSection, pixel_mm: float = 0.15) -> CanalMasks:
    """Masks of ``sec`` on a grid covering the canal (local frame)."""
    x0, y0, x1, y1 = sec.anatomy.canal.bbox(margin=1.0)
    u = np.arange(x0, x1, pixel_mm, dtype=np.float32)[None, :]
    v = np.arange(y0, y1, pixel_mm, dtype=np.float32)[:, None]
    tumour = sec.tumour_sd(u, v)
    ridge = sec.ridge_sd(u, v)
    shape = (v.shape[0], u.shape[1])
    empty = np.zeros(shape, dtype=bool)
    return CanalMasks(
        pixel_mm=pixel_mm,
        canal=sec.anatomy.canal.sd(u, v) < 0,
        sac0=sec.anatomy.sac.sd(u, v) < 0,
        cord0=sec.anatomy.cord.sd(u, v) < 0,
        sac=sec.sac_sd(u, v, tumour, ridge) < 0,
        cord=sec.cord.sd(u, v) < 0,
        tumour=(tumour < 0) if tumour is not None else empty,
        ridge=(ridge < 0) if ridge is not None else empty,
    )


@dataclass(frozen=True, slots=True)
class GradeEvidence:
    """The measurements behind a derived grade (all from the masks)."""

    grade: BilskyGrade | None  # None: no epidural tumour in this slice
    tumour_mm2: float
    sac_loss_mm2: float  # area of the original sac taken by tumour
    contact_mm: float  # length of tumour-cord contact
    cord_change: float  # relative change of cord area or axes (translation invariant)
    csf_touches_cord: bool
    ridge_mm2: float


_MIN_TUMOUR_MM2 = 0.5
_MIN_SAC_LOSS_MM2 = 0.3
_MIN_CONTACT_MM = 0.5
_MIN_CORD_CHANGE = 0.06


def _touching(a: BoolArray, b: BoolArray) -> BoolArray:
    """Pixels of ``a`` 4-adjacent to a pixel of ``b``."""
    grown = b.copy()
    grown[1:, :] |= b[:-1, :]
    grown[:-1, :] |= b[1:, :]
    grown[:, 1:] |= b[:, :-1]
    grown[:, :-1] |= b[:, 1:]
    result: BoolArray = a & grown & ~b
    return result


def _shape_change(mask: BoolArray, reference: BoolArray) -> float:
    """Largest relative change of area or principal axis length (translation invariant)."""

    def moments(m: BoolArray) -> tuple[float, npt.NDArray[np.float64]]:
        ys, xs = np.nonzero(m)
        if xs.size < 3:
            return float(xs.size), np.zeros(2)
        cov = np.cov(np.stack([xs, ys]).astype(np.float64))
        return float(xs.size), np.sqrt(np.maximum(np.linalg.eigvalsh(cov), 0.0))

    area, axes = moments(mask)
    area0, axes0 = moments(reference)
    if area0 == 0:
        return 0.0
    changes = [abs(area / area0 - 1.0)]
    changes += [abs(a / a0 - 1.0) for a, a0 in zip(axes, axes0, strict=True) if a0 > 0]
    return float(max(changes))


def derive_grade(masks: CanalMasks) -> GradeEvidence:
    """The Bilsky grade the masks show (Spine Oncology Study Group definitions)."""
    px2 = masks.pixel_mm**2
    tumour_mm2 = float(masks.tumour.sum()) * px2
    ridge_mm2 = float(masks.ridge.sum()) * px2
    if tumour_mm2 < _MIN_TUMOUR_MM2:
        return GradeEvidence(None, tumour_mm2, 0.0, 0.0, 0.0, True, ridge_mm2)
    sac_loss = float((masks.sac0 & masks.tumour).sum()) * px2
    contact = float(_touching(masks.tumour, masks.cord).sum()) * masks.pixel_mm
    change = _shape_change(masks.cord, masks.cord0)
    csf_touch = bool(_touching(masks.csf, masks.cord).any())
    if sac_loss < _MIN_SAC_LOSS_MM2:
        grade = BilskyGrade.G1A
    elif contact < _MIN_CONTACT_MM:
        grade = BilskyGrade.G1B
    elif change < _MIN_CORD_CHANGE:
        grade = BilskyGrade.G1C
    elif csf_touch:
        grade = BilskyGrade.G2
    else:
        grade = BilskyGrade.G3
    return GradeEvidence(grade, tumour_mm2, sac_loss, contact, change, csf_touch, ridge_mm2)
