"""Signed-distance shapes and an anti-aliasing canvas for the phantom renderer.

Every structure of the phantom is a signed distance function (SDF) in millimetres, negative
inside: evaluated at pixel centres it gives both the partial-volume weight of a pixel
(``alpha = clip(0.5 - sd / pixel, 0, 1)``, a one-pixel soft edge) and, with ``sd < 0``,
the binary mask the ground truth is derived from. Boolean operations on SDFs (``max`` for
intersection, ``max(a, -b)`` for difference) keep masks and pixels consistent by
construction.

Coordinates are in-plane patient millimetres: ``x`` towards the patient's left (column
direction) and ``y`` towards posterior (row direction), as in the display orientation of
:mod:`mscc_desktop.core.volume`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
Value = float | np.floating[Any] | npt.NDArray[np.float32]
"""A HU value to paint: one number, or one per pixel of the region."""
_EPS = np.float32(1e-6)
_DTHETA = 0.02  # radians, step of the numerical derivative of polar radii


@dataclass(frozen=True, slots=True)
class Blob:
    """A star-shaped closed curve: a (super)ellipse with optional Fourier wobble.

    The radius at polar angle θ (measured in the blob's rotated frame, 0 along +u) is
    ``r(θ) = superellipse(a, b(θ), n) * (1 + Σ_k c_k cos kθ + s_k sin kθ)`` where ``b`` is
    ``b_neg`` for the half with v < 0 (anterior, when unrotated) and ``b_pos`` for v > 0.
    """

    cx: float
    cy: float
    a: float  # semi-axis along u
    b_neg: float  # semi-axis towards -v (anterior when angle = 0)
    b_pos: float  # semi-axis towards +v (posterior when angle = 0)
    angle: float = 0.0  # radians, rotation of the (u, v) frame from (x, y)
    n: float = 2.0  # superellipse exponent (2 = ellipse, larger = squarer)
    harmonics: tuple[tuple[float, float], ...] = ()  # (c_k, s_k) for k = 1, 2, ...
    n_pos: float | None = None  # exponent of the +v half when it differs (heart shapes)

    def local(self, x: F32, y: F32) -> tuple[F32, F32]:
        """(u, v) of points in the blob's frame, relative to its centre."""
        dx = x - np.float32(self.cx)
        dy = y - np.float32(self.cy)
        if self.angle == 0.0:
            return dx, dy
        ca, sa = np.float32(np.cos(self.angle)), np.float32(np.sin(self.angle))
        return dx * ca + dy * sa, dy * ca - dx * sa

    def radius(self, c: F32, s: F32) -> F32:
        """r(θ) given cos θ and sin θ arrays."""
        if self.b_neg == self.b_pos:
            b: F32 | np.float32 = np.float32(self.b_pos)
        else:
            b = np.where(s < 0, np.float32(self.b_neg), np.float32(self.b_pos))
        if self.n_pos is None:
            inv = np.sqrt((c / np.float32(self.a)) ** 2 + (s / b) ** 2)
            r = np.float32(1.0) / np.maximum(inv, _EPS)
            if self.n != 2.0:
                # Squareness without powers: the ellipse widened towards the diagonals by
                # the superellipse's factor 2^(1/2 - 1/n) at 45 degrees (1 - cos 4θ = 8c²s²).
                k = np.float32(2.0 ** (0.5 - 1.0 / self.n) - 1.0)
                r = r * (np.float32(1.0) + np.float32(4.0) * k * (c * c) * (s * s))
        else:
            n: F32 | np.float32 = np.float32(self.n)
            if self.n_pos is not None:
                n = np.where(s < 0, np.float32(self.n), np.float32(self.n_pos))
            inv = np.abs(c / np.float32(self.a)) ** n + np.abs(s / b) ** n
            r = np.maximum(inv, _EPS) ** (np.float32(-1.0) / n)
        if self.harmonics:
            r = r * _fourier(c, s, self.harmonics)
        return r.astype(np.float32, copy=False)

    def sd(self, x: F32, y: F32, *, exact: bool = False) -> F32:
        """Approximate signed distance (mm), exact sign, first-order accurate near the edge.

        The sign is always exact (masks do not depend on ``exact``). ``exact=True`` adds the
        slope correction that makes the magnitude a true distance near the edge (needed
        for thin shells such as cortex); without it the edge is up to ~1.5x softer or
        sharper on elongated shapes, and evaluation is about 3x faster.
        """
        u, v = self.local(x, y)
        rho = np.sqrt(u * u + v * v) + _EPS
        c, s = u / rho, v / rho
        r = self.radius(c, s)
        if not exact:
            fast: F32 = rho - r
            return fast
        ce, se = np.float32(np.cos(_DTHETA)), np.float32(np.sin(_DTHETA))
        r_plus = self.radius(c * ce - s * se, s * ce + c * se)
        r_minus = self.radius(c * ce + s * se, s * ce - c * se)
        dr = (r_plus - r_minus) / np.float32(2 * _DTHETA)
        result: F32 = (rho - r) * r / np.sqrt(r * r + dr * dr)
        return result

    def boundary(self, n_points: int = 256) -> npt.NDArray[np.float64]:
        """``(n, 2)`` points (x, y) on the curve, for bounding boxes and contact tests."""
        theta = np.linspace(0, 2 * np.pi, n_points, endpoint=False).astype(np.float32)
        c, s = np.cos(theta), np.sin(theta)
        r = self.radius(c, s).astype(np.float64)
        u, v = r * c, r * s
        ca, sa = np.cos(self.angle), np.sin(self.angle)
        return np.stack([self.cx + u * ca - v * sa, self.cy + u * sa + v * ca], axis=1)

    def bbox(self, margin: float = 0.0) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) in mm enclosing the curve plus ``margin``."""
        pts = self.boundary(96)
        return (
            float(pts[:, 0].min()) - margin,
            float(pts[:, 1].min()) - margin,
            float(pts[:, 0].max()) + margin,
            float(pts[:, 1].max()) + margin,
        )


def _fourier(c: F32, s: F32, harmonics: tuple[tuple[float, float], ...]) -> F32:
    """1 + Σ c_k cos kθ + s_k sin kθ, by angle addition (no trigonometric calls)."""
    total = np.ones_like(c)
    ck, sk = c, s
    for index, (a_k, b_k) in enumerate(harmonics):
        if index > 0:
            ck, sk = ck * c - sk * s, sk * c + ck * s
        if a_k:
            total = total + np.float32(a_k) * ck
        if b_k:
            total = total + np.float32(b_k) * sk
    return total


def ellipse(cx: float, cy: float, a: float, b: float, angle: float = 0.0) -> Blob:
    """An ellipse as a :class:`Blob`."""
    return Blob(cx, cy, a, b, b, angle)


def segment_sd(
    x: F32, y: F32, p0: tuple[float, float], p1: tuple[float, float], radius: float
) -> F32:
    """Signed distance to a 2-D capsule (segment p0–p1 swept by a disc of ``radius``)."""
    ax, ay = np.float32(p0[0]), np.float32(p0[1])
    bx, by = np.float32(p1[0] - p0[0]), np.float32(p1[1] - p0[1])
    length2 = float(bx * bx + by * by)
    px, py = x - ax, y - ay
    if length2 < 1e-9:
        t = np.zeros_like(px)
    else:
        t = np.clip((px * bx + py * by) / np.float32(length2), 0.0, 1.0)
    dx, dy = px - t * bx, py - t * by
    result: F32 = np.sqrt(dx * dx + dy * dy) - np.float32(radius)
    return result


@dataclass(frozen=True, slots=True)
class Tube:
    """A 3-D tube: a polyline sampled densely (about 1 mm) with a radius per sample.

    Its cross-section with the axial plane at ``z`` is the union of the discs its sample
    spheres cut, which is exact for a sphere-swept tube sampled finely enough.
    """

    points: npt.NDArray[np.float32]  # (n, 3): x, y, z in mm
    radii: npt.NDArray[np.float32]  # (n,) in-plane radius
    z_radius_factor: float = 1.0  # half-height along z relative to the in-plane radius

    def section(self, z: float, half_thickness: float = 0.0) -> tuple[F32, F32, F32]:
        """(x, y, r_eff) of the samples (ellipsoids) that cut the slab around ``z``."""
        dz = np.maximum(np.abs(self.points[:, 2] - np.float32(z)) - half_thickness, 0.0)
        rz = self.radii * np.float32(self.z_radius_factor)
        keep = dz < rz
        # Samples closer than about a third of the radius add nothing visible to the union of
        # discs: thin them (the colon has hundreds of 1 mm samples of radius 20 mm).
        stride = max(1, round(0.35 * float(self.radii.min()) + 0.9))
        index = np.nonzero(keep)[0][::stride]
        k = dz[index] / rz[index]
        r_eff = self.radii[index] * np.sqrt(np.maximum(1.0 - k * k, 0.0))
        return self.points[index, 0], self.points[index, 1], r_eff.astype(np.float32)


def discs_sd(x: F32, y: F32, cx: F32, cy: F32, r: F32) -> F32:
    """Signed distance to a union of discs (min over discs), evaluated in chunks."""
    out = np.full(np.broadcast_shapes(x.shape, y.shape), np.float32(1e6), dtype=np.float32)
    for start in range(0, len(cx), 64):
        sl = slice(start, start + 64)
        dx = x[..., None] - cx[sl]
        dy = y[..., None] - cy[sl]
        d = np.sqrt(dx * dx + dy * dy) - r[sl]
        np.minimum(out, d.min(axis=-1), out=out)
    return out


@dataclass(slots=True)
class Region:
    """A rectangular window of the canvas with its pixel-centre coordinates (mm)."""

    rows: slice
    cols: slice
    x: F32  # (1, w) column coordinates
    y: F32  # (h, 1) row coordinates

    @property
    def empty(self) -> bool:
        return self.x.size == 0 or self.y.size == 0


@dataclass(slots=True)
class Canvas:
    """A float32 HU image on a regular grid with soft-edged painting.

    ``x_mm[c]`` and ``y_mm[r]`` are the patient coordinates of pixel centres.
    """

    image: F32
    x_mm: F32
    y_mm: F32
    pixel_mm: float
    _inv_px: np.float32 = field(init=False)

    def __post_init__(self) -> None:
        self._inv_px = np.float32(1.0 / self.pixel_mm)

    @classmethod
    def blank(
        cls, shape: tuple[int, int], origin_xy_mm: tuple[float, float], pixel_mm: float, hu: float
    ) -> Canvas:
        rows, cols = shape
        x = (origin_xy_mm[0] + np.arange(cols, dtype=np.float64) * pixel_mm).astype(np.float32)
        y = (origin_xy_mm[1] + np.arange(rows, dtype=np.float64) * pixel_mm).astype(np.float32)
        return cls(np.full(shape, np.float32(hu), dtype=np.float32), x, y, pixel_mm)

    def region(self, bbox_mm: tuple[float, float, float, float]) -> Region:
        """The pixels whose centres fall in ``(x0, y0, x1, y1)`` (clipped to the image)."""
        x0, y0, x1, y1 = bbox_mm
        ox, oy = float(self.x_mm[0]), float(self.y_mm[0])
        c0 = max(int(np.floor((x0 - ox) / self.pixel_mm)), 0)
        c1 = min(int(np.ceil((x1 - ox) / self.pixel_mm)) + 1, self.image.shape[1])
        r0 = max(int(np.floor((y0 - oy) / self.pixel_mm)), 0)
        r1 = min(int(np.ceil((y1 - oy) / self.pixel_mm)) + 1, self.image.shape[0])
        c1, r1 = max(c1, c0), max(r1, r0)
        return Region(
            slice(r0, r1),
            slice(c0, c1),
            self.x_mm[c0:c1][None, :],
            self.y_mm[r0:r1][:, None],
        )

    def full(self) -> Region:
        return Region(
            slice(0, self.image.shape[0]),
            slice(0, self.image.shape[1]),
            self.x_mm[None, :],
            self.y_mm[:, None],
        )

    def alpha(self, sd: F32) -> F32:
        """Partial-volume weight of each pixel for a shape with signed distance ``sd``."""
        result: F32 = np.clip(np.float32(0.5) - sd * self._inv_px, 0.0, 1.0)
        return result

    def paint(
        self,
        region: Region,
        sd: F32,
        value: Value,
        *,
        opacity: float | F32 = 1.0,
    ) -> None:
        """Blend ``value`` into the pixels inside ``sd`` (soft one-pixel edge)."""
        if region.empty:
            return
        a = self.alpha(sd)
        if not isinstance(opacity, float) or opacity != 1.0:
            a = a * opacity
        target = self.image[region.rows, region.cols]
        if isinstance(value, np.ndarray):
            target += a * (value - target)
        else:
            target += a * (np.float32(float(value)) - target)

    def add(self, region: Region, delta: F32) -> None:
        """Add ``delta`` HU to the region (artefacts, textures)."""
        if not region.empty:
            self.image[region.rows, region.cols] += delta
