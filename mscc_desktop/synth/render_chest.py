"""Chest and neck: lungs with vessels, mediastinum, heart, tubes, sternum, scapulae, thyroid."""

from __future__ import annotations

import math

import numpy as np

from mscc_desktop.synth.anatomy import anchors
from mscc_desktop.synth.context import SliceContext
from mscc_desktop.synth.render_torso import TorsoDims, cage_blob
from mscc_desktop.synth.shapes import F32, Blob, Region, discs_sd, ellipse, segment_sd
from mscc_desktop.synth.structures import Structures, TubeKind, TubeSpec


def dome_sd(ctx: SliceContext, td: TorsoDims, u: F32, v: F32) -> F32:
    """Negative below the diaphragm (union of the right and left domes), torso frame."""
    s = ctx.params.patient.size
    result = None
    for side, p_top in ((-1.0, 10.0), (1.0, 10.6)):
        z_top = ctx.anatomy.z_of(p_top)
        depth = max(z_top - ctx.z, 0.0)
        radius = math.sqrt(2.0 * 75.0 * s * depth) if depth > 0 else 0.0
        # Domes sit anteriorly: the posterior costophrenic recesses stay aerated lowest.
        centre = Blob(
            side * 45.0 * s,
            -0.6 * td.cage_front,
            radius + 1e-3,
            radius * 0.9 + 1e-3,
            radius * 0.7 + 1e-3,
        )
        sd = centre.sd(u, v, exact=False) if radius > 0 else np.full_like(u * v, np.float32(500.0))
        result = sd if result is None else np.minimum(result, sd)
    assert result is not None
    return result


def paint_chest(ctx: SliceContext, td: TorsoDims, structures: Structures) -> None:
    """Cavity contents above the diaphragm (lungs, heart, mediastinum) and the neck."""
    canvas, t, frame = ctx.canvas, ctx.tissues, ctx.frame
    p = frame.p
    s = ctx.params.patient.size
    if p < 2.2:
        _paint_neck(ctx, td)
    if td.cage_hw < 5.0:
        return
    cage = cage_blob(td)
    x0, y0, x1, y1 = cage.bbox(margin=4.0)
    corners = [frame.to_world(a, b) for a in (x0, x1) for b in (y0, y1)]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    region = canvas.region((min(xs), min(ys), max(xs), max(ys)))
    u, v = frame.to_frame(region.x, region.y, spine=False)
    cage_sd = cage.sd(u, v, exact=False)
    below = dome_sd(ctx, td, u, v)
    fat = np.float32(t.fat + 15.0) + np.float32(10.0) * ctx.textures.fat.sample(
        region.x, region.y, 4
    )
    canvas.paint(region, np.maximum(cage_sd, -below), fat)
    d = frame.dims
    m_hw = anchors({"T1": 20, "T3": 26, "T4": 30, "T6": 34, "T9": 30, "T11": 22}, p) * s
    m_u = anchors({"T1": 0, "T5": 4, "T8": 10}, p) * s
    mediastinum = Blob(
        m_u,
        (td.vb_front - td.cage_front) / 2.0,
        m_hw,
        (td.cage_front + td.vb_front) / 2.0 + 4.0,
        -(td.cage_front + td.vb_front) / 2.0 + 6.0,
        n=2.6,
    )
    spine_block = Blob(
        0.0,
        -d.canal_ap / 2.0 - d.body_depth / 2.0,
        d.body_width / 2.0 + 1.0,
        d.body_depth / 2.0 + 1.0,
        d.body_depth / 2.0 + 22.0,
        n=2.4,
    )
    # Soft tissue of the costovertebral region: an arch behind the body reaching out to
    # the rib necks, so the paravertebral lung gutters curve around it. The body's sides
    # touch lung.
    gutter = Blob(0.0, 6.0, d.transverse_span + 4.0, 10.0 + 0.3 * d.body_depth, 30.0)
    behind = gutter.sd(u, v)
    canvas.paint(region, np.maximum(behind, cage_sd), np.float32(t.muscle - 8.0))
    block_sd = np.minimum(spine_block.sd(u, v), behind)
    heart = _heart_blob(ctx, td)
    lung_sd = np.maximum(cage_sd, -mediastinum.sd(u, v))
    lung_sd = np.maximum(lung_sd, -block_sd)
    lung_sd = np.maximum(lung_sd, -below)
    if heart is not None:
        lung_sd = np.maximum(lung_sd, -(heart.sd(u, v) - np.float32(4.0)))
    if np.any(lung_sd < 0):
        depth = np.clip(
            (v + np.float32(td.cage_front)) / np.float32(td.cage_front + 20.0), 0.0, 1.0
        )
        lung = (
            np.float32(t.lung)
            + np.float32(ctx.params.patient.lung_gradient_hu) * depth**2
            + np.float32(14.0) * ctx.textures.coarse.sample(region.x, region.y, 9)
        )
        canvas.paint(region, lung_sd, lung)
        _paint_lung_vessels(ctx, region, lung_sd, structures)
    if heart is not None:
        _paint_heart(ctx, heart)
    _paint_sternum(ctx, td)
    _paint_scapulae(ctx, td)


def _heart_blob(ctx: SliceContext, td: TorsoDims) -> Blob | None:
    s = ctx.params.patient.size
    zc = ctx.anatomy.z_of(9.0)
    hz = 52.0 * s
    dz = ctx.z - zc
    if abs(dz) >= hz:
        return None
    k = math.sqrt(1.0 - (dz / hz) ** 2)
    return Blob(
        16.0 * s, td.vb_front - 62.0 * s, 54.0 * s * k, 44.0 * s * k, 38.0 * s * k, angle=0.55
    )


def _paint_heart(ctx: SliceContext, heart: Blob) -> None:
    t, canvas, frame = ctx.tissues, ctx.canvas, ctx.frame
    x0, y0, x1, y1 = heart.bbox(margin=5.0)
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
    sd = heart.sd(u, v)
    canvas.paint(region, sd - np.float32(3.5), np.float32(t.fat))
    canvas.paint(region, sd, np.float32(t.myocardium))
    dz = (ctx.z - ctx.anatomy.z_of(9.0)) / (52.0 * ctx.params.patient.size)
    a, b = heart.a, heart.b_neg
    ca, sa = math.cos(heart.angle), math.sin(heart.angle)

    def chamber(lu: float, lv: float, ra: float, rb: float, hu: float) -> None:
        cx = heart.cx + lu * a * ca - lv * b * sa
        cy = heart.cy + lu * a * sa + lv * b * ca
        blob = Blob(cx, cy, ra * a, rb * b, rb * b, angle=heart.angle)
        canvas.paint(region, np.maximum(blob.sd(u, v), sd + np.float32(2.0)), np.float32(hu))

    if dz < 0.45:
        chamber(0.28, 0.12, 0.34, 0.42, t.heart_left)  # left ventricle
        chamber(-0.33, -0.28, 0.38, 0.30, t.heart_right)  # right ventricle
    if dz > -0.35:
        chamber(0.05, 0.58, 0.38, 0.28, t.heart_left)  # left atrium
        chamber(-0.55, 0.22, 0.30, 0.36, t.heart_right)  # right atrium


def _paint_lung_vessels(
    ctx: SliceContext, region: Region, lung_sd: F32, structures: Structures
) -> None:
    t, frame = ctx.tissues, ctx.frame
    x, y = region.x, region.y
    w1, w2 = structures.lung_vessels
    n1 = np.abs(w1.value(x, y, ctx.z))
    n2 = np.abs(w2.value(x, y, ctx.z))
    hx, hy = frame.to_world(0.0, -55.0)
    dist = np.sqrt((x - np.float32(hx)) ** 2 + (y - np.float32(hy)) ** 2)
    tau = np.float32(0.13) + np.float32(0.35) * np.exp(-dist / np.float32(55.0))
    vessel = (np.maximum(n1, n2) - tau) / np.float32(0.25)
    hu = 0.5 * (t.heart_right + t.vein)
    ctx.canvas.paint(region, np.maximum(vessel, lung_sd + np.float32(1.0)), np.float32(hu))


def _paint_neck(ctx: SliceContext, td: TorsoDims) -> None:
    canvas, t, frame = ctx.canvas, ctx.tissues, ctx.frame
    s = ctx.params.patient.size
    p = frame.p
    fade = min(max((2.2 - p) / 0.6, 0.0), 1.0)
    visceral = Blob(0.0, td.vb_front - 24.0 * s, 38.0 * s * fade + 1, 26.0 * s, 20.0 * s)
    cx, cy = frame.to_world(0.0, 0.0)
    region = canvas.region((cx - 80 * s, cy - 120 * s, cx + 80 * s, cy + 10))
    u, v = frame.to_frame(region.x, region.y, spine=False)
    canvas.paint(region, visceral.sd(u, v), np.float32(t.fat + 20.0))
    if p < 1.9:
        thyroid_hu = 90.0 if ctx.params.phase == "non_contrast" else 150.0
        for side in (-1.0, 1.0):
            lobe = ellipse(
                side * 17.0 * s, td.vb_front - 22.0 * s, 8.5 * s, 13.0 * s, angle=side * 0.4
            )
            canvas.paint(region, lobe.sd(u, v), np.float32(thyroid_hu))


def _paint_sternum(ctx: SliceContext, td: TorsoDims) -> None:
    p, s = ctx.frame.p, ctx.params.patient.size
    if not 2.6 < p < 10.2:
        return
    width = (27.0 if p < 4.6 else 17.0) * s
    bone = Blob(0.0, -td.cage_front - 7.0 * s, width, 6.0 * s, 6.0 * s, n=2.4)
    _paint_flat_bone(ctx, bone, 1.4)


def _paint_scapulae(ctx: SliceContext, td: TorsoDims) -> None:
    """Scapular blades on the posterolateral chest wall, outside the ribs."""
    p, s = ctx.frame.p, ctx.params.patient.size
    if not 1.8 < p < 8.6:
        return
    canvas, frame, t = ctx.canvas, ctx.frame, ctx.tissues
    up = ctx.params.patient.arms_up
    cage = cage_blob(td)
    # Angular extent (from posterior, about the cage centre) shrinks to the inferior angle.
    width = 1.0 - max(p - 4.5, 0.0) / 4.1
    medial, lateral = 0.62, 0.62 + (0.95 + (0.25 if up else 0.0)) * width
    angles = np.linspace(medial, lateral, 9)
    for side in (-1.0, 1.0):
        du = side * np.sin(angles).astype(np.float32)
        dv = np.cos(angles).astype(np.float32)
        r = cage.radius(du, dv) + np.float32(13.0 * s)
        us, vs = cage.cx + du * r, cage.cy + dv * r
        cx, cy = frame.to_world(float(us.mean()), float(vs.mean()))
        region = canvas.region((cx - 110, cy - 110, cx + 110, cy + 110))
        u, v = frame.to_frame(region.x, region.y, spine=False)
        sd = np.full_like(u * v, np.float32(100.0))
        for k in range(len(angles) - 1):
            seg = segment_sd(
                u, v, (float(us[k]), float(vs[k])), (float(us[k + 1]), float(vs[k + 1])), 2.4 * s
            )
            sd = np.minimum(sd, seg)
        if p < 3.2:
            glen = ellipse(float(us[-1]), float(vs[-1]), 11.0 * s, 14.0 * s)
            sd = np.minimum(sd, glen.sd(u, v))
        if 2.4 < p < 3.9:
            base = (float(us[2]), float(vs[2]))
            tip = (base[0] + side * 6.0 * s, base[1] + 20.0 * s)
            sd = np.minimum(sd, segment_sd(u, v, base, tip, 3.0 * s))
        value = np.where(sd > -1.6, np.float32(t.cortical * 0.75), np.float32(t.marrow))
        canvas.paint(region, sd, value)


def _paint_flat_bone(ctx: SliceContext, bone: Blob, cortex: float) -> None:
    frame, canvas, t = ctx.frame, ctx.canvas, ctx.tissues
    cx, cy = frame.to_world(bone.cx, bone.cy)
    r = max(bone.a, bone.b_neg, bone.b_pos) + 3.0
    region = canvas.region((cx - r, cy - r, cx + r, cy + r))
    u, v = frame.to_frame(region.x, region.y, spine=False)
    sd = bone.sd(u, v, exact=True)
    value = np.where(sd > -cortex, np.float32(t.cortical * 0.8), np.float32(t.marrow))
    canvas.paint(region, sd, value)


_TUBE_HU = {
    TubeKind.AORTA: "aorta",
    TubeKind.ARTERY: "aorta",
    TubeKind.PULMONARY: "heart_right",
    TubeKind.VEIN: "vein",
    TubeKind.AZYGOS: "vein",
}


def paint_tubes(ctx: SliceContext, structures: Structures, kinds: set[TubeKind]) -> None:
    """Paint the cross-sections of the chosen tube kinds at this slice."""
    half = 0.35 * ctx.thickness
    for spec in structures.tubes:
        if spec.kind in kinds:
            _paint_tube(ctx, spec, half)


def _paint_tube(ctx: SliceContext, spec: TubeSpec, half: float) -> None:
    x, y, r = spec.tube.section(ctx.z, half)
    if x.size == 0:
        return
    canvas, t = ctx.canvas, ctx.tissues
    pad = float(r.max()) + 2.0
    region = canvas.region(
        (float(x.min()) - pad, float(y.min()) - pad, float(x.max()) + pad, float(y.max()) + pad)
    )
    if region.empty:
        return
    sd = discs_sd(region.x, region.y, x, y, r)
    kind = spec.kind
    if kind in _TUBE_HU:
        canvas.paint(region, sd, np.float32(getattr(t, _TUBE_HU[kind])))
    elif kind == TubeKind.AIRWAY:
        canvas.paint(region, sd, np.float32(35.0))
        lumen = discs_sd(region.x, region.y, x, y, np.maximum(r - spec.wall_mm, 0.5))
        canvas.paint(region, lumen, np.float32(-985.0))
    elif kind == TubeKind.OESOPHAGUS:
        canvas.paint(region, sd, np.float32(t.muscle - 5.0))
    elif kind in (TubeKind.RIB, TubeKind.CLAVICLE):
        value = np.where(sd > -1.4, np.float32(t.cortical * 0.85), np.float32(t.marrow))
        canvas.paint(region, sd, value)
    elif kind == TubeKind.CARTILAGE:
        value = np.where(sd > -0.8, np.float32(230.0), np.float32(t.cartilage))
        canvas.paint(region, sd, value)
    elif kind == TubeKind.COLON:
        canvas.paint(region, sd, np.float32(t.bowel_wall))
        lumen = discs_sd(region.x, region.y, x, y, np.maximum(r - spec.wall_mm, 1.0))
        # Faeces: soft tissue with gas bubbles a few millimetres across.
        bubbles = ctx.textures.coarse.sample(region.x * 4.0, region.y * 4.0, 23)
        stool = np.where(bubbles > 0.85, np.float32(-900.0), np.float32(25.0) + 15.0 * bubbles)
        canvas.paint(region, lumen, stool)
