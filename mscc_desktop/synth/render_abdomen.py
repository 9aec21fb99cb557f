"""Upper abdomen: liver, spleen, stomach, kidneys, pancreas, bowel, psoas, crura.

Organs are blobs in the torso frame, each painted on its own bounding box and clipped to
the abdominal cavity (inside the abdominal wall, below the diaphragm) where they belong
to the peritoneal cavity.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from mscc_desktop.synth.anatomy import anchors
from mscc_desktop.synth.context import SliceContext
from mscc_desktop.synth.render_chest import dome_sd, paint_tubes
from mscc_desktop.synth.render_torso import TorsoDims, cage_blob
from mscc_desktop.synth.shapes import F32, Blob, Region, ellipse
from mscc_desktop.synth.structures import Structures, TubeKind

Inside = Callable[[F32, F32], F32]


def _profile(p: float, start: float, full: float, end_full: float, end: float) -> float:
    """Trapezoid 0 → 1 → 0 over level coordinates (start, full, end_full, end)."""
    if p <= start or p >= end:
        return 0.0
    if p < full:
        return (p - start) / (full - start)
    if p > end_full:
        return (end - p) / (end - end_full)
    return 1.0


class _Painter:
    """Paints torso-frame blobs on their own bounding boxes."""

    def __init__(self, ctx: SliceContext, inside: Inside, cavity: F32 | None = None) -> None:
        self.ctx = ctx
        self.inside = inside
        self.cavity = cavity

    def local(self, blob: Blob, margin: float = 3.0) -> tuple[Region, F32, F32]:
        frame = self.ctx.frame
        x0, y0, x1, y1 = blob.bbox(margin)
        corners = [frame.to_world(a, b) for a in (x0, x1) for b in (y0, y1)]
        region = self.ctx.canvas.region(
            (
                min(c[0] for c in corners),
                min(c[1] for c in corners),
                max(c[0] for c in corners),
                max(c[1] for c in corners),
            )
        )
        u, v = frame.to_frame(region.x, region.y, spine=False)
        return region, u, v

    def organ(
        self,
        blob: Blob,
        value: float,
        *,
        texture: float = 0.0,
        clip: bool = True,
        shrink: float = 0.0,
    ) -> tuple[Region, F32, F32, F32]:
        region, u, v = self.local(blob)
        sd = blob.sd(u, v) + np.float32(shrink)
        if clip:
            if self.cavity is not None:
                sd = np.maximum(sd, self.cavity[region.rows, region.cols])
            else:
                sd = np.maximum(sd, self.inside(u, v))
        hu: F32 | np.float32 = np.float32(value)
        if texture:
            hu = hu + np.float32(texture) * self.ctx.textures.organ.sample(u, v, 8)
        self.ctx.canvas.paint(region, sd, hu)
        return region, u, v, sd


def paint_abdomen(ctx: SliceContext, td: TorsoDims, structures: Structures) -> None:
    frame, t = ctx.frame, ctx.tissues
    p = frame.p
    if p < 9.5 or td.cage_hw < 5.0:
        return
    s = ctx.params.patient.size
    cage = cage_blob(td)

    def inside(u: F32, v: F32) -> F32:
        result: F32 = np.maximum(cage.sd(u, v, exact=False), dome_sd(ctx, td, u, v))
        return result

    region, u, v = _Painter(ctx, inside).local(cage, 4.0)
    cavity = inside(u, v)
    if not np.any(cavity < 0):
        return
    # The cavity is evaluated once; organs read their bounding box out of it.
    cavity_map = np.full(ctx.canvas.image.shape, np.float32(1e3), dtype=np.float32)
    cavity_map[region.rows, region.cols] = cavity
    painter = _Painter(ctx, inside, cavity_map)
    fat = np.float32(t.fat + 8.0) + np.float32(12.0) * ctx.textures.fat.sample(
        region.x, region.y, 6
    )
    ctx.canvas.paint(region, cavity, fat)
    _paint_mesenteric_vessels(ctx, region, cavity, structures)
    _paint_bowel(ctx, painter, cage, structures)
    paint_tubes(ctx, structures, {TubeKind.COLON})
    hw, front, vb = td.cage_hw, td.cage_front, td.vb_front
    # Kidneys (retroperitoneal, the right one lower) in perirenal fat.
    for side, shift in ((-1.0, 0.45), (1.0, 0.0)):
        k = _profile(p, 12.7 + shift, 13.6 + shift, 15.6 + shift, 16.6 + shift)
        if k <= 0:
            continue
        k = math.sqrt(k)
        cu, cv = side * (0.5 * hw + 4.0 * s), 0.45 * vb
        angle = -side * 0.6
        kidney = Blob(cu, cv, 30.0 * s * k, 22.0 * s * k, 21.0 * s * k, angle=angle)
        fat_blob = Blob(cu, cv, kidney.a + 8, kidney.b_neg + 7, kidney.b_pos + 7, angle=angle)
        painter.organ(fat_blob, t.fat, clip=False)
        painter.organ(kidney, t.kidney_cortex, texture=5.0, clip=False)
        inner = Blob(cu, cv, kidney.a - 6.5, kidney.b_neg - 6.5, kidney.b_pos - 6.5, angle=angle)
        if inner.a > 2 and inner.b_neg > 2:
            painter.organ(inner, t.kidney_medulla, clip=False)
            sinus = ellipse(cu - side * 13.0 * s * k, cv - 5.0 * s * k, 6.0 * s * k, 4.0 * s * k)
            painter.organ(sinus, t.fat, clip=False)
    liver_k = _profile(p, 9.5, 10.3, 13.4, 16.2)
    if liver_k > 0:
        right = Blob(
            -0.42 * hw,
            -0.45 * front,
            0.6 * hw * liver_k + 2,
            0.52 * front * liver_k + 6,
            0.45 * front * liver_k + 2,
            n=2.3,
            harmonics=((0.0, 0.0), (0.05, 0.03)),
        )
        _paint_liver(ctx, painter, right, structures)
        left_k = _profile(p, 9.6, 10.4, 12.6, 13.8)
        if left_k > 0:
            lobe = Blob(
                0.15 * hw,
                -0.76 * front,
                0.5 * hw * left_k,
                0.2 * front,
                0.14 * front * left_k,
                angle=0.15,
            )
            _paint_liver(ctx, painter, lobe, structures)
    spleen_k = _profile(p, 10.3, 11.0, 12.8, 14.0)
    if spleen_k > 0:
        spleen = Blob(
            0.72 * hw,
            -0.22 * front,
            22.0 * s * spleen_k,
            46.0 * s * spleen_k,
            40.0 * s * spleen_k,
            angle=-0.6,
            harmonics=((0.12, 0.0),),
        )
        painter.organ(spleen, t.spleen, texture=5.0)
    stomach_k = _profile(p, 10.2, 11.0, 13.0, 14.6)
    if stomach_k > 0:
        _paint_stomach(ctx, painter, hw, front, stomach_k)
    panc_k = _profile(p, 13.2, 13.8, 14.8, 15.5)
    if panc_k > 0:
        pancreas = Blob(
            0.12 * hw,
            vb - 40.0 * s,
            0.42 * hw * panc_k + 1,
            11.0 * s,
            11.0 * s,
            angle=-0.25,
            harmonics=((0.0, 0.0), (0.0, 0.0), (0.06, 0.04), (0.0, 0.05)),
        )
        painter.organ(pancreas, t.liver - 5.0, texture=9.0)
    gb_k = _profile(p, 13.0, 13.5, 14.3, 14.9)
    if gb_k > 0 and liver_k > 0:
        painter.organ(ellipse(-0.38 * hw, -0.82 * front, 14.0 * s * gb_k, 20.0 * s * gb_k), 12.0)
    _paint_psoas_and_crura(ctx, painter, vb)


def _paint_liver(ctx: SliceContext, painter: _Painter, blob: Blob, structures: Structures) -> None:
    region, _u, _v, sd = painter.organ(blob, ctx.tissues.liver, texture=6.0)
    w1, w2 = structures.liver_vessels
    n1 = np.abs(w1.value(region.x, region.y, ctx.z))
    n2 = np.abs(w2.value(region.x, region.y, ctx.z))
    vessel = (np.maximum(n1, n2) - np.float32(0.2)) / np.float32(0.2)
    ctx.canvas.paint(region, np.maximum(vessel, sd + np.float32(4.0)), np.float32(ctx.tissues.vein))


def _paint_stomach(ctx: SliceContext, painter: _Painter, hw: float, front: float, k: float) -> None:
    t = ctx.tissues
    stomach = Blob(
        0.4 * hw,
        -0.62 * front,
        0.36 * hw * k + 1,
        0.24 * front * k + 1,
        0.22 * front * k + 1,
        angle=0.4,
        harmonics=((0.0, 0.05), (0.04, 0.0)),
    )
    region, u, v, wall = painter.organ(stomach, t.bowel_wall)
    lumen = wall + np.float32(3.5)
    air_level = stomach.cy - 0.35 * stomach.b_neg
    mottle = ctx.textures.organ.sample(u, v, 8)
    content = np.where(
        v < np.float32(air_level), np.float32(-990.0), np.float32(18.0) + 10.0 * mottle
    )
    ctx.canvas.paint(region, lumen, content)


def _paint_bowel(ctx: SliceContext, painter: _Painter, cage: Blob, structures: Structures) -> None:
    t = ctx.tissues
    s = ctx.params.patient.size
    for loop in structures.bowel:
        dz = abs(ctx.z - ctx.anatomy.z_of(loop.p))
        if dz >= loop.half_length_mm:
            continue
        r = loop.radius * math.sqrt(1.0 - (dz / loop.half_length_mm) ** 2)
        if r < 3.0:
            continue
        cu, cv = loop.u * cage.a, cage.cy + loop.v * cage.b_neg
        blob = ellipse(cu, cv, r, r * 0.85)
        region, u, v, sd = painter.organ(blob, t.bowel_wall)
        lumen = sd + np.float32(2.3 * math.sqrt(s))
        if loop.content == "gas":
            content: F32 | np.float32 = np.float32(-980.0)
        elif loop.content == "contrast":
            content = np.float32(280.0) + 30.0 * ctx.textures.organ.sample(u, v, 21)
        elif loop.content == "stool":
            bubbles = ctx.textures.coarse.sample(u * 4.0, v * 4.0, 21)
            content = np.where(bubbles > 0.9, np.float32(-850.0), np.float32(20.0) + 15.0 * bubbles)
        else:
            content = np.float32(12.0) + 6.0 * ctx.textures.organ.sample(u, v, 21)
        ctx.canvas.paint(region, lumen, content)


def _paint_mesenteric_vessels(
    ctx: SliceContext, region: Region, cavity: F32, structures: Structures
) -> None:
    w1, w2 = structures.liver_vessels
    n1 = np.abs(w1.value(region.y, region.x, ctx.z * 1.3))
    n2 = np.abs(w2.value(region.y, region.x, ctx.z * 1.3))
    vessel = (np.maximum(n1, n2) - np.float32(0.08)) / np.float32(0.2)
    hu = np.float32(ctx.tissues.vein - 10.0)
    ctx.canvas.paint(region, np.maximum(vessel, cavity + np.float32(6.0)), hu)


def _paint_psoas_and_crura(ctx: SliceContext, painter: _Painter, vb: float) -> None:
    t, p = ctx.tissues, ctx.frame.p
    s = ctx.params.patient.size
    d = ctx.frame.dims
    psoas = (
        anchors({"T12": 0.0, "T12.6": 6.0, "L1": 9.0, "L2": 15.0, "L3": 21.0, "L5": 26.0}, p) * s
    )
    if psoas > 1.0:
        for side in (-1.0, 1.0):
            m = Blob(
                side * (d.body_width / 2.0 + 0.75 * psoas),
                -d.canal_ap / 2.0 - 0.55 * d.body_depth,
                psoas,
                psoas * 0.9,
                psoas * 0.9,
            )
            painter.organ(m, t.muscle, texture=4.0, clip=False)
    crus = _profile(p, 11.0, 11.8, 14.0, 14.8)
    if crus > 0:
        for side in (-1.0, 1.0):
            limb = Blob(
                side * 11.0 * s,
                vb - 14.0 * s,
                3.5 * crus + 0.5,
                16.0 * s,
                16.0 * s,
                angle=side * 0.25,
            )
            painter.organ(limb, t.muscle, clip=False)
