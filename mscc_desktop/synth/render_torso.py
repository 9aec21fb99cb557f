"""Body outline, skin, subcutaneous fat, muscle wall, back muscles, arms, table.

Dimensions are given at level anchors (mm, average adult, before patient scaling) and
interpolated along the level coordinate ``p``; the torso frame's origin is the canal centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mscc_desktop.synth.anatomy import Anatomy, SliceFrame, anchors
from mscc_desktop.synth.context import SliceContext
from mscc_desktop.synth.shapes import F32, Blob, Region, ellipse


@dataclass(frozen=True, slots=True)
class TorsoDims:
    """Torso-frame dimensions at one slice (mm, patient-scaled)."""

    body_hw: float  # half width of the skin outline
    body_front: float  # canal centre to anterior skin
    body_back: float  # canal centre to posterior skin
    fat_lat: float
    fat_front: float
    fat_back: float
    cage_hw: float  # inner thoracic/abdominal cavity half width (0 in the neck)
    cage_front: float
    cage_back: float
    thorax: float  # 1 in the chest, 0 in the neck and abdomen (for ribs)
    abdomen: float  # 1 below the diaphragm region
    vb_front: float  # v of the vertebral body's anterior surface (negative)


def torso_dims(anatomy: Anatomy, frame: SliceFrame) -> TorsoDims:
    """Torso dimensions at ``frame`` for ``anatomy``'s patient."""
    p, pat = frame.p, anatomy.patient
    s = pat.size
    abdomen = min(max((p - 11.5) / 2.0, 0.0), 1.0)
    fat = pat.fat_mm
    fat_lat = fat * (0.75 + 0.45 * abdomen)
    fat_front = fat * (0.55 + 0.85 * abdomen)
    body_back = anatomy.back_depth(p)
    fat_back = 0.55 * fat
    hw = anchors(
        {
            "C6": 58,
            "C7": 78,
            "T1": 108,
            "T2": 124,
            "T3": 129,
            "T5": 131,
            "T10": 133,
            "L1": 129,
            "L3": 127,
        },
        p,
    )
    front = anchors(
        {
            "C6": 55,
            "C7": 70,
            "T1": 100,
            "T2": 122,
            "T3": 136,
            "T4": 146,
            "T6": 162,
            "T8": 175,
            "T10": 182,
            "T12": 184,
            "L1": 182,
            "L3": 174,
        },
        p,
    )
    cage_hw = anchors(
        {
            "C7.6": 0,
            "T1": 52,
            "T2": 84,
            "T3": 101,
            "T4": 111,
            "T5": 117,
            "T6": 121,
            "T8": 125,
            "T10": 126,
            "T12": 123,
            "L1": 120,
            "L3": 118,
        },
        p,
    )
    cage_front = anchors(
        {
            "C7.6": 30,
            "T1": 76,
            "T2": 98,
            "T3": 114,
            "T4": 125,
            "T5": 135,
            "T6": 146,
            "T8": 160,
            "T10": 167,
            "T12": 169,
            "L1": 167,
            "L3": 158,
        },
        p,
    )
    cage_back = anchors({"C7.6": -5, "T1": 12, "T11": 14, "L1": 8, "L3": 4}, p)
    thorax = min(max((p - 1.6) / 0.6, 0.0), 1.0) * (1.0 - min(max((p - 13.0) / 1.0, 0.0), 1.0))
    d = frame.dims
    return TorsoDims(
        body_hw=hw * s + fat_lat,
        body_front=front * s + fat_front,
        body_back=body_back,
        fat_lat=fat_lat,
        fat_front=fat_front,
        fat_back=fat_back,
        cage_hw=cage_hw * s,
        cage_front=cage_front * s,
        cage_back=cage_back * s,
        thorax=thorax,
        abdomen=abdomen,
        vb_front=-(d.canal_ap / 2.0 + d.body_depth),
    )


def body_blob(td: TorsoDims, p: float) -> Blob:
    """Skin outline in the torso frame: widest a little anterior of the spine."""
    shift = 0.28 * td.body_front
    neck = 1.0 - min(max((p - 1.0) / 1.5, 0.0), 1.0)
    return Blob(
        0.0,
        -shift,
        td.body_hw,
        td.body_front - shift,
        td.body_back + shift,
        n=2.35 - 0.25 * neck,
        harmonics=((0.0, 0.0), (0.02, 0.0)),
    )


def cage_blob(td: TorsoDims) -> Blob:
    """Inner surface of the rib cage / abdominal wall (torso frame)."""
    mid = (td.cage_back - td.cage_front) / 2.0
    half = (td.cage_back + td.cage_front) / 2.0
    return Blob(0.0, mid, td.cage_hw, half, half * 0.9, n=2.25)


def paint_table(ctx: SliceContext) -> None:
    """Curved carbon-fibre table top and base, with the foam core between them."""
    canvas, scan = ctx.canvas, ctx.params.scan
    x_centre = float(scan.fov_centre_mm[0])
    top = scan.table_y_mm
    region = canvas.region((x_centre - 260.0, top - 40.0, x_centre + 260.0, top + 70.0))
    if region.empty:
        return
    dx = region.x - np.float32(x_centre)
    curve = np.float32(top) - dx * dx / np.float32(2.0 * 700.0)
    inside = np.abs(dx) - np.float32(235.0)
    core = np.maximum(np.maximum(curve - region.y, region.y - curve - np.float32(48.0)), inside)
    canvas.paint(region, core, np.float32(-930.0))
    for offset, thick in ((1.5, 1.6), (47.0, 1.3)):
        shell = np.maximum(
            np.abs(region.y - curve - np.float32(offset)) - np.float32(thick), inside
        )
        canvas.paint(region, shell, np.float32(330.0))


def paint_body(ctx: SliceContext, td: TorsoDims) -> tuple[Region, F32, F32]:
    """Skin, fat, muscle wall and back muscles; returns the region and torso (u, v)."""
    canvas, t, frame = ctx.canvas, ctx.tissues, ctx.frame
    p = frame.p
    outline = body_blob(td, p)
    # Only the body's bounding box (plus room for shoulders and breasts) is touched.
    x0, y0, x1, y1 = outline.bbox(margin=70.0 if p < 3.0 else 45.0)
    corners = [frame.to_world(a, b) for a in (x0, x1) for b in (y0, y1)]
    region = canvas.region(
        (
            min(c[0] for c in corners),
            min(c[1] for c in corners),
            max(c[0] for c in corners),
            max(c[1] for c in corners),
        )
    )
    u, v = frame.to_frame(region.x, region.y, spine=False)
    raw = outline.sd(u, v, exact=False)
    sd = raw
    # The back rests on the mattress: flatten what would go below the table pad.
    contact = ctx.params.scan.table_y_mm - ctx.params.patient.back_pad_mm
    sd = np.maximum(sd, region.y - np.float32(contact))
    sd = _with_breasts(ctx, td, u, v, sd)
    sd = _with_shoulders(ctx, td, u, v, sd)
    fat = np.float32(t.fat) + np.float32(9.0) * ctx.textures.fat.sample(region.x, region.y, 1)
    canvas.paint(region, sd, fat)
    canvas.paint(region, np.maximum(sd, -sd - np.float32(2.2)), np.float32(t.skin))
    # Under the fat: its thickness blends from flank to front/back with the angle.
    du, dv = u - np.float32(outline.cx), v - np.float32(outline.cy)
    rho2 = du * du + dv * dv + np.float32(1e-6)
    front_back = np.where(dv < 0, np.float32(td.fat_front), np.float32(td.fat_back))
    fat_local = (np.float32(td.fat_lat) * du * du + front_back * dv * dv) / rho2
    muscle = _marbled(ctx, region.x, region.y, t.muscle)
    inner_sd = np.maximum(raw + fat_local, sd + np.float32(td.fat_back))
    canvas.paint(region, inner_sd, muscle)
    _paint_back_muscles(ctx, td, region, u, v, muscle)
    return region, u, v


def _marbled(ctx: SliceContext, u: F32, v: F32, hu: float) -> F32:
    """Muscle with fibre texture and thin intramuscular fat streaks (more with age/obesity)."""
    texture = ctx.textures.organ.sample(u, v, 2)
    streaks = np.clip(ctx.textures.fat.sample(u * 0.6, v * 2.2, 5) - 1.6, 0.0, 1.0)
    amount = min(0.4 + ctx.params.patient.fat_mm / 30.0, 1.5)
    result: F32 = np.float32(hu) + np.float32(6.0) * texture - np.float32(90.0 * amount) * streaks
    return result


def _with_breasts(ctx: SliceContext, td: TorsoDims, u: F32, v: F32, sd: F32) -> F32:
    size = ctx.params.patient.breast_mm
    p = ctx.frame.p
    if size <= 0 or not 4.0 < p < 10.5:
        return sd
    profile = math.sin(math.pi * (p - 4.0) / 6.5)
    for side in (-1.0, 1.0):
        # A broad mound on the chest wall, its base wider than its height.
        breast = Blob(
            side * 0.42 * td.body_hw,
            -td.body_front + 0.6 * size + td.fat_front,
            0.45 * td.body_hw * (0.7 + 0.3 * profile),
            1.6 * size * profile + 1.0,
            1.2 * size,
            angle=side * 0.25,
        )
        sd = np.minimum(sd, breast.sd(u, v))
    return sd


def _with_shoulders(ctx: SliceContext, td: TorsoDims, u: F32, v: F32, sd: F32) -> F32:
    p = ctx.frame.p
    up = ctx.params.patient.arms_up
    if p > 2.8:
        return sd
    fade = min(max((2.8 - p) / 1.0, 0.0), 1.0) * (0.7 if up else 1.0)
    s = ctx.params.patient.size
    for side in (-1.0, 1.0):
        lobe = Blob(
            side * (td.body_hw + 8.0 * fade),
            -0.2 * td.body_front,
            58.0 * s * fade + 1.0,
            46.0 * s + 0.4 * ctx.params.patient.fat_mm,
            40.0 * s,
        )
        sd = np.minimum(sd, lobe.sd(u, v))
    return sd


def _paint_back_muscles(
    ctx: SliceContext, td: TorsoDims, region: Region, u: F32, v: F32, muscle: F32
) -> None:
    """Erector spinae pair (faint fat plane around it) and, lower down, quadratus lumborum."""
    t, p, frame = ctx.tissues, ctx.frame.p, ctx.frame
    s = ctx.params.patient.size
    lumbar = min(max((p - 12.5) / 3.0, 0.0), 1.0)
    depth = td.body_back - td.fat_back
    cx, cy = frame.to_world(0.0, depth / 2.0)
    reach = max(depth, 90.0 * s)
    sub = ctx.canvas.region((cx - reach, cy - reach, cx + reach, cy + reach))
    su, sv = frame.to_frame(sub.x, sub.y, spine=False)
    value = _marbled(ctx, sub.x, sub.y, t.muscle + 3.0)
    for side in (-1.0, 1.0):
        a = (27.0 + 9.0 * lumbar) * s
        es = Blob(
            side * (a + 2.0), 0.5 * depth, a, 0.36 * depth, 0.4 * depth, n=2.9, angle=-side * 0.12
        )
        es_sd = es.sd(su, sv, exact=False)
        ctx.canvas.paint(sub, es_sd - np.float32(1.0), np.float32(t.fat), opacity=0.3)
        ctx.canvas.paint(sub, es_sd, value)
        if lumbar > 0:
            ql = ellipse(side * (a * 2.0 + 16.0), 0.05 * depth, 16.0 * s * lumbar + 1, 12.0 * s)
            ctx.canvas.paint(sub, ql.sd(su, sv, exact=False), value)


def paint_arms(ctx: SliceContext, td: TorsoDims) -> None:
    """Arms beside the body (arms down) and humeral heads at the shoulders."""
    t, p, canvas = ctx.tissues, ctx.frame.p, ctx.canvas
    pat = ctx.params.patient
    s = pat.size
    frame = ctx.frame
    # Humeral heads (both positions; higher when the arms are raised).
    head_p = (0.4, 2.0) if pat.arms_up else (0.9, 2.7)
    if head_p[0] < p < head_p[1]:
        k = (p - head_p[0]) / (head_p[1] - head_p[0])
        radius = 23.0 * s * math.sqrt(max(1.0 - (2 * k - 1) ** 2, 0.0)) + 0.5
        for side in (-1.0, 1.0):
            cx, cy = frame.to_world(side * (td.body_hw - 18.0 * s), -0.18 * td.body_front)
            _paint_bone_disc(ctx, cx, cy, radius, t.marrow + 60.0)
    if pat.arms_up or p < 2.2:
        return
    arm_r = 40.0 * s + 0.45 * pat.fat_mm
    for side in (-1.0, 1.0):
        cu = side * (td.body_hw + 6.0 + arm_r)
        cx, cy = frame.to_world(cu, -0.3 * td.body_front)
        region = canvas.region((cx - arm_r - 3, cy - arm_r - 3, cx + arm_r + 3, cy + arm_r + 3))
        arm = ellipse(cx, cy, arm_r * 0.92, arm_r)
        sd = arm.sd(region.x, region.y)
        canvas.paint(region, sd, np.float32(t.fat))
        canvas.paint(region, np.maximum(sd, -sd - 2.0), np.float32(t.skin))
        inner = ellipse(cx, cy, arm_r * 0.92 - 0.4 * pat.fat_mm - 3, arm_r - 0.4 * pat.fat_mm - 3)
        canvas.paint(region, inner.sd(region.x, region.y), np.float32(t.muscle))
        if p < 13.0:
            _paint_bone_disc(ctx, cx + side * 4.0, cy + 6.0, 11.0 * s, t.marrow)
        else:
            _paint_bone_disc(ctx, cx - side * 8.0, cy, 7.0 * s, t.marrow)
            _paint_bone_disc(ctx, cx + side * 9.0, cy + 10.0, 6.5 * s, t.marrow)


def _paint_bone_disc(ctx: SliceContext, cx: float, cy: float, radius: float, marrow: float) -> None:
    canvas, t = ctx.canvas, ctx.tissues
    region = canvas.region((cx - radius - 2, cy - radius - 2, cx + radius + 2, cy + radius + 2))
    sd = ellipse(cx, cy, radius, radius).sd(region.x, region.y)
    value = np.where(sd > -2.2, np.float32(t.cortical * 0.9), np.float32(marrow))
    canvas.paint(region, sd, value)
