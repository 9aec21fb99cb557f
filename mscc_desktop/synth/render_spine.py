"""Paint the vertebra, the canal contents and the spinal metastases of one slice.

Drawn in the canal frame (see :mod:`mscc_desktop.synth.anatomy`). z-dependent parts (body
versus disc, pedicles, laminae, processes) use an *effective* z that follows the spine's
sagittal tilt (``z + slope * v``), so thick slices through a tilted disc show the partial
volume of endplate and disc that real CT shows. Returns the slice's ground truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mscc_desktop.core.findings import Box
from mscc_desktop.synth.canal import (
    CanalMasks,
    CanalSection,
    EpiduralState,
    GradeEvidence,
    NeuralKind,
    derive_grade,
    rasterise,
    section,
)
from mscc_desktop.synth.context import SliceContext
from mscc_desktop.synth.params import (
    BoneLesion,
    BoneLesionKind,
    BoneSite,
    DegenerativeKind,
    EpiduralLesion,
)
from mscc_desktop.synth.shapes import F32, Blob, Region, discs_sd, ellipse, segment_sd
from mscc_desktop.synth.vertebrae import LEVEL_NAMES, LEVELS


@dataclass(frozen=True, slots=True)
class SpineTruth:
    """Ground truth of one slice's canal."""

    section: CanalSection
    evidence: GradeEvidence
    masks: CanalMasks
    canal_box_px: Box  # bony canal, continuous pixel-edge coordinates (x = column)
    degenerative: bool
    level: str
    epidural_index: int | None  # which EpiduralLesion is present here
    bone_lesion: bool


def _overlap(z_eff: F32, lo: float, hi: float, half: float) -> F32:
    """Per-pixel share of the slab [z - half, z + half] inside [lo, hi]."""
    top = np.minimum(z_eff + np.float32(half), np.float32(hi))
    bottom = np.maximum(z_eff - np.float32(half), np.float32(lo))
    result: F32 = np.clip((top - bottom) / np.float32(2 * half), 0.0, 1.0)
    return result


def _window(x: F32, lo: float, hi: float, soft: float) -> F32:
    """Smooth 0..1 indicator of lo < x < hi."""
    a = np.clip((x - np.float32(lo)) / np.float32(soft), 0.0, 1.0)
    b = np.clip((np.float32(hi) - x) / np.float32(soft), 0.0, 1.0)
    result: F32 = a * b
    return result


def active_epidural(ctx: SliceContext) -> tuple[int | None, EpiduralState | None]:
    best: tuple[int | None, EpiduralState | None] = (None, None)
    best_s = 0.0
    for index, lesion in enumerate(ctx.params.epidural):
        s = lesion.severity(ctx.z)
        if s > best_s:
            best_s = s
            best = (
                index,
                EpiduralState(
                    s,
                    lesion.direction_deg,
                    lesion.front_curvature,
                    lesion.secondary_direction_deg,
                    lesion.secondary_depth_mm * min(s, 1.0),
                ),
            )
    return best


def paint_spine(ctx: SliceContext) -> SpineTruth:
    """Paint vertebra, canal and disease; return the canal's ground truth."""
    frame, canvas, _t = ctx.frame, ctx.canvas, ctx.tissues
    d = frame.dims
    reach = max(
        d.transverse_span + 14.0, d.spinous_length + 14.0, d.canal_ap / 2 + d.body_depth + 10.0
    )
    region = canvas.region(
        (frame.canal_x - reach, frame.canal_y - reach, frame.canal_x + reach, frame.canal_y + reach)
    )
    u, v = frame.to_frame(region.x, region.y, spine=True)
    z_eff = np.float32(frame.z) + np.float32(frame.slope) * v
    half = ctx.thickness / 2.0
    anatomy = ctx.anatomy.canal_anatomy(frame)
    canal_sd = anatomy.canal.sd(u, v, exact=True)
    lesion_index, state = active_epidural(ctx)
    lesion = ctx.params.epidural[lesion_index] if lesion_index is not None else None

    if lesion is not None and lesion.paravertebral_mm > 0 and state is not None:
        _paint_paravertebral(ctx, region, u, v, lesion, state.severity)
    body_sd = _paint_body(ctx, region, u, v, z_eff, half, canal_sd)
    arch_sd = _paint_arch(ctx, region, u, v, z_eff, half, canal_sd)
    bone_sd = np.minimum(body_sd, arch_sd)
    bone_hit = _paint_bone_lesions(ctx, region, u, v, z_eff, bone_sd, canal_sd, lesion)

    ridge = _active_ridge(ctx)
    sec = section(anatomy, state, ridge)
    offset = lesion.hu_offset if lesion is not None else 0.0
    _paint_canal(ctx, region, u, v, canal_sd, sec, offset)

    masks = rasterise(sec)
    evidence = derive_grade(masks)
    box = _canal_box(ctx, anatomy.canal)
    level = ctx.anatomy.layout.position(frame.z).label
    return SpineTruth(
        section=sec,
        evidence=evidence,
        masks=masks,
        canal_box_px=box,
        degenerative=evidence.ridge_mm2 >= 1.0,
        level=level,
        epidural_index=lesion_index if evidence.grade is not None else None,
        bone_lesion=bone_hit,
    )


def _canal_box(ctx: SliceContext, canal: Blob) -> Box:
    pts = canal.boundary(256)
    frame, canvas = ctx.frame, ctx.canvas
    ca, sa = math.cos(frame.spine_angle), math.sin(frame.spine_angle)
    x = frame.canal_x + pts[:, 0] * ca - pts[:, 1] * sa
    y = frame.canal_y + pts[:, 0] * sa + pts[:, 1] * ca
    # Pixel centre c sits at edge coordinate c + 0.5.
    cols = (x - float(canvas.x_mm[0])) / canvas.pixel_mm + 0.5
    rows = (y - float(canvas.y_mm[0])) / canvas.pixel_mm + 0.5
    return Box(float(cols.min()), float(rows.min()), float(cols.max()), float(rows.max()))


def _paint_body(
    ctx: SliceContext, region: Region, u: F32, v: F32, z_eff: F32, half: float, canal_sd: F32
) -> F32:
    """Vertebral body or disc (partial volume across endplates); returns the body's sd."""
    frame, t, layout = ctx.frame, ctx.tissues, ctx.anatomy.layout
    d = frame.dims
    lumbar = min(max((frame.p - 12.5) / 3.0, 0.0), 1.0)
    # The body reaches behind the canal's front wall; carving the canal out of it gives
    # the concave posterior wall and bone up to the pedicle bases.
    overlap = 0.14 * d.canal_ap
    body = Blob(
        0.0,
        -(d.canal_ap / 2.0 + d.body_depth / 2.0) + overlap / 2.0,
        d.body_width / 2.0,
        d.body_depth / 2.0 - overlap / 2.0,
        d.body_depth / 2.0 + overlap / 2.0,
        n=2.4 - 0.2 * lumbar,
        n_pos=1.75 + 0.6 * lumbar,  # thoracic bodies are heart-shaped, lumbar kidney-shaped
        harmonics=((0.0, 0.0), (-0.04 * lumbar, 0.0)),
    )
    sd = np.maximum(body.sd(u, v, exact=True), -canal_sd)
    index = ctx.anatomy.layout.position(frame.z).index
    f_body = np.zeros_like(z_eff)
    f_plate = np.zeros_like(z_eff)
    for i in range(max(index - 1, 0), min(index + 2, len(LEVELS))):
        top, bottom = float(layout.body_top[i]), float(layout.body_bottom[i])
        f_body += _overlap(z_eff, bottom, top, half)
        f_plate += _overlap(z_eff, top - 1.1, top, half) + _overlap(
            z_eff, bottom, bottom + 1.1, half
        )
    f_body = np.minimum(f_body, 1.0)
    cancellous = _cancellous(ctx, u, v, 0)
    plate = np.minimum(f_plate / np.maximum(f_body, 0.05), 1.0)
    inner = cancellous * (1 - plate) + np.float32(0.75 * t.cortical) * plate
    cortex_t = 0.75 + 0.25 * lumbar
    bone = np.where(sd > -cortex_t, np.float32(t.cortical) * 0.62, inner)
    nucleus = sd < -0.3 * d.body_depth * 0.5 - 2.5
    disc = np.where(nucleus, np.float32(t.disc - 15.0), np.float32(t.disc + 10.0))
    level_name = LEVEL_NAMES[index]
    if level_name in ctx.params.patient.vacuum_disc_levels:
        gas = nucleus & (ctx.textures.organ.sample(u, v, 5) > 0.6)
        disc = np.where(gas, np.float32(-700.0), disc)
    value = f_body * bone + (1.0 - f_body) * disc
    # Basivertebral vein: a soft-tissue channel entering the back of the body at mid-height.
    i_mid = min(max(index, 0), len(LEVELS) - 1)
    top, bottom = float(layout.body_top[i_mid]), float(layout.body_bottom[i_mid])
    mid = _overlap(z_eff, bottom + 0.3 * (top - bottom), top - 0.3 * (top - bottom), half)
    ap2 = d.canal_ap / 2.0
    channel = segment_sd(u, v, (0.0, -ap2 - 0.5), (0.0, -ap2 - 0.22 * d.body_depth), 0.8)
    vein = (channel < 0) & (mid > 0.5) & (sd < 0)
    value = np.where(vein, np.float32(t.muscle + 15.0), value)
    outline = sd - np.float32(0.8) * (1.0 - f_body)
    ctx.canvas.paint(region, outline, value)
    bone_sd: F32 = sd + np.float32(3.0) * (np.float32(1.0) - f_body)  # discs are not bone
    return bone_sd


def _paint_arch(
    ctx: SliceContext, region: Region, u: F32, v: F32, z_eff: F32, half: float, canal_sd: F32
) -> F32:
    """Pedicles, laminae, facets, transverse and spinous processes; returns their sd.

    Each part is a capsule that thins out as it leaves the slab (partial volume in z).
    """
    frame, t, layout = ctx.frame, ctx.tissues, ctx.anatomy.layout
    d = frame.dims
    lumbar = min(max((frame.p - 12.5) / 3.0, 0.0), 1.0)
    index = layout.position(frame.z).index
    pedicle = np.zeros_like(z_eff)
    lamina = np.zeros_like(z_eff)
    facet = np.zeros_like(z_eff)
    process = np.zeros_like(z_eff)
    for i in range(max(index - 1, 0), min(index + 2, len(LEVELS))):
        top = float(layout.body_top[i])
        h = float(layout.body_top[i] - layout.body_bottom[i])
        pedicle += _overlap(z_eff, top - 0.62 * h, top - 0.05 * h, half)
        lamina += _overlap(z_eff, top - 1.3 * h, top - 0.25 * h, half)
        facet += _overlap(z_eff, top - 1.35 * h, top - 0.75 * h, half)
        process += _overlap(z_eff, top - 0.5 * h, top - 0.15 * h, half)
    pedicle, lamina = np.minimum(pedicle, 1.0), np.minimum(lamina, 1.0)
    facet, process = np.minimum(facet, 1.0), np.minimum(process, 1.0)
    tr2, ap2 = d.canal_tr / 2.0, d.canal_ap / 2.0
    ped_r = 3.3 + 1.8 * lumbar
    lam_r = 2.9 + 1.0 * lumbar
    roof = (0.0, ap2 + 4.5 + lumbar)
    sds = []
    for side in (-1.0, 1.0):
        junction = (side * (tr2 + 3.0 + lumbar), 0.2 * ap2)
        body_corner = (side * (tr2 + 2.2), -ap2 - 1.5)
        sds.append(_capsule(u, v, body_corner, junction, ped_r, pedicle))
        # Thoracic laminae are broad "bat wings" reaching the facets; lumbar ones steeper.
        wing = (side * (tr2 + 2.0 + 5.0 * (1.0 - lumbar)), 0.15 * ap2)
        sds.append(_capsule(u, v, wing, roof, lam_r, lamina))
        sds.append(_capsule(u, v, junction, wing, lam_r, np.minimum(lamina, pedicle + lamina)))
        # Transverse process: posterolateral in the thorax, lateral and thin in the lumbar spine.
        tip = (side * d.transverse_span, ap2 + 8.0 - 7.0 * lumbar)
        base = (side * (tr2 + 3.0), 0.5)
        sds.append(_capsule(u, v, base, tip, 3.0 - 0.6 * lumbar, process))
        # Articular pillars and facet joints at the disc level, with a thin joint space.
        centre = (side * (tr2 + 3.0), ap2 + 1.0)
        pillar = ellipse(centre[0], centre[1], 5.5, 6.5, angle=side * 0.5).sd(u, v, exact=True)
        pillar = pillar + np.float32(7.0) * (np.float32(1.0) - np.sqrt(facet))
        joint = np.abs(
            segment_sd(u, v, (side * (tr2 - 1.5), ap2 - 0.5), (side * (tr2 + 8.0), ap2 + 4.5), 0.0)
        )
        sds.append(np.maximum(pillar, np.float32(0.55) - joint))
    sds.append(_spinous_sd(ctx, u, v, z_eff, half))
    sd = sds[0]
    for other in sds[1:]:
        sd = np.minimum(sd, other)
    sd = np.maximum(sd, -canal_sd)
    # Posterior elements: a thin cortex around cancellous bone (only the thinnest parts look
    # solid once the kernel blurs them), with slightly irregular outlines.
    sd = sd + np.float32(0.45) * ctx.textures.organ.sample(u, v, 13)
    inner = _cancellous(ctx, u, v, 3) * np.float32(0.9) + np.float32(0.2 * t.cortical)
    value = np.where(sd > -0.9, np.float32(t.cortical * 0.7), inner)
    ctx.canvas.paint(region, sd, value)
    return sd


def _cancellous(ctx: SliceContext, u: F32, v: F32, offset: int) -> F32:
    """Cancellous bone: coarse trabecular mottling whose strength and mean vary in patches."""
    t = ctx.tissues
    key = int(ctx.frame.z // 2.0) + offset
    trab = ctx.textures.trabecular.sample(u, v, key)
    patch = ctx.textures.patch.sample(u, v, key // 3)
    strength = np.clip(np.float32(1.0) + np.float32(0.6) * patch, 0.3, 1.9)
    base = np.float32(t.cancellous) * (np.float32(1.0) + np.float32(0.12) * patch)
    result: F32 = base + np.float32(0.25 * t.cancellous + 25.0) * strength * trab
    return result


def _capsule(
    u: F32, v: F32, a: tuple[float, float], b: tuple[float, float], radius: float, presence: F32
) -> F32:
    """A capsule that thins out with its share of the slab and vanishes below 15 %."""
    r = np.float32(radius) * np.sqrt(presence)
    sd = segment_sd(u, v, a, b, 0.0) - r
    result: F32 = np.where(presence < 0.15, np.float32(50.0), sd)
    return result


def _spinous_sd(ctx: SliceContext, u: F32, v: F32, z_eff: F32, half: float) -> F32:
    """Spinous processes of this and the levels above (thoracic ones slope steeply down).

    Each process is a sloping rod; the part inside the slab is drawn as one capsule.
    """
    frame, layout, anat = ctx.frame, ctx.anatomy.layout, ctx.anatomy
    index = layout.position(frame.z).index
    sd = np.full(np.broadcast_shapes(u.shape, v.shape), np.float32(50.0), dtype=np.float32)
    for i in range(max(index - 3, 0), min(index + 2, len(LEVELS))):
        top = float(layout.body_top[i])
        h = float(layout.body_top[i] - layout.body_bottom[i])
        level = LEVELS[i]
        lumbar = 1.0 if level.name.startswith("L") else 0.0
        base_z = top - 0.55 * h
        drop = level.spinous_drop * anat.patient.height_scale
        length = level.spinous_length * anat.patient.height_scale
        start = frame.dims.canal_ap / 2.0 + 4.0
        rz = 4.5 + 5.0 * lumbar + half
        inside: list[tuple[float, float]] = []
        for k in np.linspace(0.0, 1.0, 14):
            vk = start + (length - start) * k
            dz = base_z - drop * k - (frame.z + frame.slope * vk)
            if abs(dz) < rz:
                r = (2.8 + 1.6 * (k > 0.85) + 0.8 * lumbar) * math.sqrt(1.0 - (dz / rz) ** 2)
                inside.append((vk, r))
        if inside:
            radius = max(r for _, r in inside)
            rod = segment_sd(u, v, (0.0, inside[0][0]), (0.0, inside[-1][0]), radius)
            sd = np.minimum(sd, rod)
    return sd


def _lesion_centre(
    ctx: SliceContext, lesion: BoneLesion, direction_deg: float | None
) -> tuple[float, float, float, float]:
    """(u, v, a, b) of a bone lesion's cross-section centre and radii."""
    d = ctx.frame.dims
    r = lesion.radius_mm
    body_v = -(d.canal_ap / 2.0 + d.body_depth / 2.0)
    if lesion.site == BoneSite.BODY_POSTERIOR:
        a = math.radians(direction_deg if direction_deg is not None else 0.0)
        return (0.6 * d.canal_tr / 2.0 * math.sin(a), -d.canal_ap / 2.0 - 0.55 * r, r, r * 0.8)
    if lesion.site == BoneSite.PEDICLE_LEFT:
        return (d.canal_tr / 2.0 + 3.0, -1.0, r * 0.7, r)
    if lesion.site == BoneSite.PEDICLE_RIGHT:
        return (-(d.canal_tr / 2.0 + 3.0), -1.0, r * 0.7, r)
    if lesion.site == BoneSite.LAMINA:
        return (0.0, d.canal_ap / 2.0 + 4.5, r, r * 0.7)
    if lesion.site == BoneSite.WHOLE_BODY:
        return (0.0, body_v, d.body_width / 2.0 - 1.5, d.body_depth / 2.0 - 1.5)
    return (0.25 * d.body_width / 2.0 * math.sin(lesion.z_centre_mm), body_v, r, r * 0.85)


def _paint_bone_lesions(
    ctx: SliceContext,
    region: Region,
    u: F32,
    v: F32,
    z_eff: F32,
    bone_sd: F32,
    canal_sd: F32,
    epidural: EpiduralLesion | None,
) -> bool:
    lesions: list[tuple[BoneLesion, float | None]] = [(b, None) for b in ctx.params.bone]
    lesions += [(e.bone, e.direction_deg) for e in ctx.params.epidural]
    hit = False
    t = ctx.tissues
    for lesion, direction in lesions:
        dz = abs(ctx.z - lesion.z_centre_mm)
        reach = lesion.half_height_mm + ctx.thickness / 2.0
        if dz >= reach:
            continue
        scale = math.sqrt(max(1.0 - (dz / reach) ** 2, 0.0))
        cu, cv, a, b = _lesion_centre(ctx, lesion, direction)
        shape = Blob(cu, cv, a * scale, b * scale, b * scale, harmonics=lesion.lobulation)
        sd = shape.sd(u, v, exact=True)
        confine = bone_sd if direction is None else np.minimum(bone_sd, canal_sd)
        sd = np.maximum(sd, confine)
        if not np.any(sd < 0):
            continue
        hit = True
        mottle = ctx.textures.organ.sample(u, v, 11)
        lytic = np.float32(t.tumour - 20.0) + np.float32(10.0) * mottle
        sclerotic = np.float32(lesion.hu) + np.float32(0.2 * lesion.hu) * mottle
        if lesion.kind == BoneLesionKind.LYTIC:
            value = lytic
        elif lesion.kind == BoneLesionKind.SCLEROTIC:
            value = sclerotic
        else:
            value = np.where(sd > -1.8, sclerotic, lytic)
        ctx.canvas.paint(region, sd, value)
    return hit


def _paint_paravertebral(
    ctx: SliceContext, region: Region, u: F32, v: F32, lesion: EpiduralLesion, severity: float
) -> None:
    d = ctx.frame.dims
    size = lesion.paravertebral_mm * min(severity / 2.0, 1.0)
    if size < 2.0:
        return
    a = math.radians(lesion.direction_deg)
    side = 1.0 if math.sin(a) >= 0 else -1.0
    cu = side * (d.body_width / 2.0 + 0.3 * size)
    cv = -(d.canal_ap / 2.0 + 0.45 * d.body_depth)
    mass = Blob(cu, cv, size * 0.8, size, size, harmonics=((0.05, 0.04), (0.06, 0.0)))
    hu = ctx.tissues.tumour + lesion.hu_offset
    value = np.float32(hu) + np.float32(8.0) * ctx.textures.organ.sample(u, v, 3)
    ctx.canvas.paint(region, mass.sd(u, v), value)


def _active_ridge(ctx: SliceContext) -> tuple[DegenerativeKind, float, float, float] | None:
    for change in ctx.params.degenerative:
        dz = abs(ctx.z - change.z_centre_mm)
        if dz < change.half_height_mm:
            profile = 0.5 * (1.0 + math.cos(math.pi * dz / change.half_height_mm))
            depth = change.depth_mm * (0.35 + 0.65 * profile)
            return (change.kind, depth, change.width_deg, change.side_deg)
    return None


# CT overestimates the HU of everything inside a ring of dense bone (beam hardening).
CANAL_BEAM_HARDENING_HU = 6.0

_RIDGE_HU = {
    DegenerativeKind.DISC_OSTEOPHYTE: "bone",
    DegenerativeKind.OSSIFIED_LIGAMENTUM_FLAVUM: "bone",
    DegenerativeKind.DISC_BULGE: "disc",
    DegenerativeKind.LIGAMENTUM_FLAVUM: "ligament",
}


def _paint_canal(
    ctx: SliceContext,
    region: Region,
    u: F32,
    v: F32,
    canal_sd: F32,
    sec: CanalSection,
    tumour_offset: float,
) -> None:
    """Epidural fat, ligamentum flavum, epidural veins, sac, cord, tumour, narrowing."""
    t, canvas, frame = ctx.tissues, ctx.canvas, ctx.frame
    d = frame.dims
    lumbar = min(max((frame.p - 12.5) / 3.0, 0.0), 1.0)
    canal_boost = np.float32(CANAL_BEAM_HARDENING_HU)
    fat = np.float32(t.epidural_fat) + np.float32(12.0) * ctx.textures.fat.sample(u, v, 7)
    canvas.paint(region, canal_sd, fat)
    rho = np.sqrt(u * u + v * v) + np.float32(1e-3)
    c_post = v / rho
    lf_t = np.float32(1.6 + 1.6 * lumbar)
    lf = np.maximum(np.maximum(canal_sd, -canal_sd - lf_t), np.float32(0.25) - c_post)
    canvas.paint(region, lf, np.float32(t.muscle + 5.0))
    for side in (-1.0, 1.0):
        vein = ellipse(side * (d.canal_tr / 2.0 - 2.2), -d.canal_ap / 2.0 + 1.2, 1.6, 1.0)
        canvas.paint(region, np.maximum(vein.sd(u, v), canal_sd), np.float32(t.epidural_vein))
    tumour = sec.tumour_sd(u, v)
    ridge = sec.ridge_sd(u, v)
    sac = sec.sac_sd(u, v, tumour, ridge)
    canvas.paint(region, sac, np.float32(t.csf) + canal_boost)
    cord_sd = sec.cord.sd(u, v)
    if sec.anatomy.neural == NeuralKind.CAUDA:
        roots = _roots_sd(sec, u, v)
        canvas.paint(region, np.maximum(roots, sac), np.float32(t.cord) + canal_boost)
    else:
        canvas.paint(region, cord_sd, np.float32(t.cord) + canal_boost)
    if tumour is not None:
        mottle = ctx.textures.organ.sample(u, v, 17)
        # The canal's brightening (and the renderer's beam hardening) acts on the tumour too.
        value = np.float32(t.canal_tumour + tumour_offset) + canal_boost + np.float32(7.0) * mottle
        canvas.paint(region, tumour, value)
    patient = ctx.params.patient
    if patient.canal_mottle_hu > 0 or patient.canal_streak_hu > 0:
        # One field over all the canal's soft tissue, so it tells no grade from another:
        # ~5 mm blotches, and bands ~3 mm thick running across the canal (u stretched).
        blotches = ctx.textures.organ.sample(u, v, 29)
        bands = ctx.textures.fat.sample(u * np.float32(0.1), v, 31)
        field = (
            np.float32(patient.canal_mottle_hu) * blotches
            + np.float32(patient.canal_streak_hu) * bands
        )
        canvas.add(region, field * canvas.alpha(canal_sd))
    if ridge is not None and sec.ridge is not None:
        kind = _RIDGE_HU[sec.ridge.kind]
        hu = {"bone": t.cortical * 0.7, "disc": t.disc + 5.0, "ligament": t.muscle + 12.0}[kind]
        canvas.paint(region, ridge, np.float32(hu))
    if patient.canal_rim > 0:
        # The wall of the canal is not vertical through a thick slab: its bone shows as a
        # bright rim that fades toward the centre of the canal.
        depth = np.maximum(-canal_sd, np.float32(0.0))
        rim = np.float32(patient.canal_rim) * np.exp(-depth / np.float32(patient.canal_rim_mm))
        canvas.paint(region, canal_sd, np.float32(t.cortical * 0.6), opacity=rim)


def _roots_sd(sec: CanalSection, u: F32, v: F32) -> F32:
    """Cauda equina: a dozen 1 mm roots spread through the (possibly squeezed) bundle."""
    cord = sec.cord
    angles = np.linspace(0.0, 2.0 * np.pi, 11, endpoint=False)
    ca, sa = math.cos(cord.angle), math.sin(cord.angle)
    xs, ys = [], []
    for k, theta in enumerate(angles):
        rr = 0.35 + 0.45 * ((k * 7) % 5) / 4.0
        lu, lv = rr * cord.a * math.cos(theta), rr * cord.b_pos * math.sin(theta)
        xs.append(cord.cx + lu * ca - lv * sa)
        ys.append(cord.cy + lu * sa + lv * ca)
    r = np.full(len(xs), 0.75, np.float32)
    return discs_sd(u, v, np.array(xs, np.float32), np.array(ys, np.float32), r)
