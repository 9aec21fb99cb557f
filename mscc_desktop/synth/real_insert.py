"""Insert epidural disease of a chosen Bilsky grade into one real CT slice.

The lesion geometry is the phantom generator's (:func:`mscc_desktop.synth.canal.section`:
a tumour front from the canal wall in a chosen direction, the sac indented, the cord pushed
and flattened as the grade requires) applied to the real canal fitted by
:mod:`mscc_desktop.synth.real_fit`. What changes in the image, and why it should look like
soft tissue in a real canal rather than a pasted disc:

* **Structure, not pixels.** The slice is split into structure and noise
  (:func:`~mscc_desktop.synth.real_fit.structure_and_noise`); the tumour replaces the
  structure under it with a soft-tissue value (from the slice's own paraspinal muscle, plus
  the canal's apparent brightening, with a faint mottle), and the cord's structure is moved
  by a smooth warp that is the identity at the canal wall.
* **The slice's own noise.** Under the tumour the residual noise is a mix of the canal's own
  and noise taken from the same slice's paraspinal muscle (scaled to the canal's measured
  noise), weighted so that the variance is kept. Nothing is smoothed: the grain keeps the
  scanner's correlation.
* **Partial volume.** The tumour's weight is its area fraction in each pixel, averaged over
  three positions through the slice thickness (a thick slice through the end of a lesion shows
  a faint one), then blurred by the scanner's point spread.
* **Optional adjacent bone metastasis** (lytic, sclerotic or mixed) in the bone the tumour
  grows from: vertebral body, pedicle or lamina.

A slice with no lesion goes through the same steps with a zero-size lesion, which leave it
bit-for-bit unchanged: nothing but the lesion separates the classes. The grade written is the
one the masks show (:func:`mscc_desktop.synth.canal.derive_grade`), never the one asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from mscc_desktop.core.grades import BilskyGrade
from mscc_desktop.synth.canal import (
    CanalSection,
    EpiduralState,
    GradeEvidence,
    derive_grade,
    rasterise,
    section,
)
from mscc_desktop.synth.real_fit import F32, FittedCanal, StructureNoise
from mscc_desktop.synth.shapes import Blob

REACH_MM = 30.0
"""Half-size of the window around the canal that insertion may change (bone lesion included)."""


class BoneKind(StrEnum):
    LYTIC = "lytic"
    SCLEROTIC = "sclerotic"
    MIXED = "mixed"


@dataclass(frozen=True, slots=True)
class BoneMet:
    """A vertebral metastasis next to the canal at one z: where, how big, what kind.

    ``direction_deg`` is seen from the canal centre (0 anterior: the vertebral body, ±90
    the pedicles, 180 the lamina), as for the epidural tumour. ``weight`` (0..1) scales it
    along z (its ends fade through the slice).
    """

    direction_deg: float
    radius_mm: float
    kind: BoneKind
    weight: float = 1.0
    sclerotic_hu: float = 500.0


@dataclass(frozen=True, slots=True)
class Appearance:
    """How an inserted tumour looks (drawn once per lesion)."""

    tumour_hu: float  # apparent HU in the canal (already brightened with it)
    mottle_hu: float  # amplitude of its smooth texture
    psf_sigma_px: float  # the scanner's point spread
    seed: int  # its texture


@dataclass(frozen=True, slots=True)
class InsertedSlice:
    """One slice after insertion and what its geometry shows."""

    hu: F32
    grade: BilskyGrade | None  # None: no epidural tumour on this slice
    evidence: GradeEvidence | None
    changed: bool


def _window(fitted: FittedCanal, shape: tuple[int, int]) -> tuple[slice, slice]:
    cx, cy = fitted.centre_px
    half_r = REACH_MM / fitted.spacing_mm[0]
    half_c = REACH_MM / fitted.spacing_mm[1]
    r0, r1 = max(int(cy - half_r), 0), min(int(cy + half_r) + 1, shape[0])
    c0, c1 = max(int(cx - half_c), 0), min(int(cx + half_c) + 1, shape[1])
    return slice(r0, r1), slice(c0, c1)


def _alpha(sd: F32, pixel_mm: float) -> F32:
    """Area fraction of a pixel inside an SDF's negative side (one-pixel soft edge)."""
    result: F32 = np.clip(np.float32(0.5) - sd / np.float32(pixel_mm), 0.0, 1.0)
    return result


def _tumour_weight(fitted: FittedCanal, states: list[EpiduralState | None], u: F32, v: F32) -> F32:
    """Mean tumour area fraction over the through-slice positions ``states``."""
    pixel_mm = math.sqrt(fitted.spacing_mm[0] * fitted.spacing_mm[1])
    total = np.zeros(u.shape, np.float32)
    for state in states:
        if state is None:
            continue
        sd = section(fitted.anatomy, state).tumour_sd(u, v)
        if sd is not None:
            total += _alpha(sd, pixel_mm)
    result: F32 = total / np.float32(max(len(states), 1))
    return result


def _cord_map(old: Blob, new: Blob, u: F32, v: F32) -> tuple[F32, F32]:
    """Where each point's content comes from if the cord ``old`` became ``new`` (exact inside
    ``new``: its elliptic coordinates carried over to ``old``)."""
    lu, lv = new.local(u, v)
    nu = lu / np.float32(new.a)
    nv = lv / np.float32(new.b_pos)
    ou, ov = nu * np.float32(old.a), nv * np.float32(old.b_pos)
    ca, sa = np.float32(math.cos(old.angle)), np.float32(math.sin(old.angle))
    return (
        np.float32(old.cx) + ou * ca - ov * sa,
        np.float32(old.cy) + ou * sa + ov * ca,
    )


def _warp_structure(
    structure: F32,
    fitted: FittedCanal,
    sec: CanalSection,
    u: F32,
    v: F32,
    origin: tuple[int, int],
) -> F32:
    """The structure with the cord moved from where it was to where ``sec`` puts it.

    The backward map is exact inside the new cord and fades to the identity at the canal
    wall, so bone, fat outside the canal and the wall itself never move. ``structure`` is the
    window whose first pixel is ``origin`` (row, col) of the slice.
    """
    old, new = fitted.anatomy.cord, sec.cord
    if old == new:
        return structure
    su, sv = _cord_map(old, new, u, v)
    d_cord = np.maximum(new.sd(u, v), np.float32(0.0))
    d_wall = np.maximum(-fitted.anatomy.canal.sd(u, v), np.float32(0.0))
    weight = np.where(d_wall > 0, d_wall / (d_wall + d_cord + np.float32(1e-3)), 0.0)
    weight = weight.astype(np.float32) ** np.float32(0.7)
    src_u = u + weight * (su - u)
    src_v = v + weight * (sv - v)
    rows = src_v / np.float32(fitted.spacing_mm[0]) + np.float32(fitted.centre_px[1] - 0.5)
    cols = src_u / np.float32(fitted.spacing_mm[1]) + np.float32(fitted.centre_px[0] - 0.5)
    rows, cols = rows - np.float32(origin[0]), cols - np.float32(origin[1])
    warped: F32 = ndimage.map_coordinates(structure, [rows, cols], order=1, mode="nearest").astype(
        np.float32
    )
    return warped


def _texture(shape: tuple[int, int], sigma_px: float, seed: int) -> F32:
    """Smooth zero-mean unit-SD texture."""
    field = ndimage.gaussian_filter(
        np.random.default_rng(seed).standard_normal(shape).astype(np.float32), sigma_px
    )
    sd = float(field.std())
    result: F32 = (field / sd if sd > 0 else field).astype(np.float32)
    return result


def donor_noise(parts: StructureNoise, fitted: FittedCanal, window: tuple[slice, slice]) -> F32:
    """The slice's own noise from soft tissue beside or behind the spine, laid over the window
    and scaled to the canal's measured noise SD.

    Candidate offsets put the window's centre 25-45 mm behind or 30-45 mm beside the canal;
    the one whose noise is defined over most of the canal's neighbourhood is used.
    """
    rows, cols = parts.noise.shape
    h = window[0].stop - window[0].start
    w = window[1].stop - window[1].start
    best: tuple[float, F32] | None = None
    for du_mm, dv_mm in ((0, 32), (0, 42), (-38, 22), (38, 22), (-45, 0), (45, 0), (0, 25)):
        dr = round(dv_mm / fitted.spacing_mm[0])
        dc = round(du_mm / fitted.spacing_mm[1])
        r0, c0 = window[0].start + dr, window[1].start + dc
        if r0 < 0 or c0 < 0 or r0 + h > rows or c0 + w > cols:
            continue
        patch = parts.noise[r0 : r0 + h, c0 : c0 + w]
        valid = parts.valid[r0 : r0 + h, c0 : c0 + w]
        centre = valid[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
        score = float(centre.mean())
        if best is None or score > best[0]:
            best = (score, np.where(valid, patch, 0.0).astype(np.float32))
    if best is None:
        return np.zeros((h, w), np.float32)
    patch = best[1]
    inner = patch[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
    values = inner[inner != 0]
    sd = float(1.4826 * np.median(np.abs(values))) if values.size > 20 else 0.0
    scale = fitted.noise_sd_hu / sd if sd > 0.5 else 0.0
    result: F32 = (patch * np.float32(scale)).astype(np.float32)
    return result


def insert_slice(
    hu: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    parts: StructureNoise,
    fitted: FittedCanal,
    states: list[EpiduralState | None],
    appearance: Appearance,
    *,
    bone: BoneMet | None = None,
) -> InsertedSlice:
    """Insert the epidural tumour of ``states`` (and ``bone``) into one slice.

    ``states`` are the lesion's state at positions through the slice thickness, the middle
    one at the slice's centre (its geometry gives the grade and moves the cord); ``None``
    entries have no tumour there. With no tumour and no bone lesion the slice comes back
    unchanged.
    """
    image = np.asarray(hu, dtype=np.float32)
    centre_state = states[len(states) // 2] if states else None
    has_tumour = any(s is not None and s.severity >= 1.0 for s in states)
    if not has_tumour and bone is None:
        return InsertedSlice(image.copy(), None, None, False)
    window = _window(fitted, image.shape)  # type: ignore[arg-type]
    rows = np.arange(window[0].start, window[0].stop, dtype=np.float64)[:, None] + 0.5
    cols = np.arange(window[1].start, window[1].stop, dtype=np.float64)[None, :] + 0.5
    u, v = fitted.local(rows, cols)
    u, v = np.broadcast_arrays(u, v)
    u, v = np.ascontiguousarray(u), np.ascontiguousarray(v)
    structure = parts.structure[window]
    noise = parts.noise[window]
    valid = parts.valid[window]
    original = image[window]
    base = np.where(valid, structure, original)
    donor = donor_noise(parts, fitted, window)

    evidence: GradeEvidence | None = None
    new_structure = base
    alpha = np.zeros(u.shape, np.float32)
    if has_tumour:
        sec = section(fitted.anatomy, centre_state) if centre_state is not None else None
        if sec is not None:
            evidence = derive_grade(rasterise(sec))
            new_structure = _warp_structure(
                base, fitted, sec, u, v, (window[0].start, window[1].start)
            )
        alpha = _tumour_weight(fitted, states, u, v)
        alpha = ndimage.gaussian_filter(alpha, appearance.psf_sigma_px)
        texture = _texture(u.shape, 2.0 / fitted.spacing_mm[0], appearance.seed)
        tumour = np.float32(appearance.tumour_hu) + np.float32(appearance.mottle_hu) * texture
        new_structure = new_structure * (1.0 - alpha) + tumour * alpha

    if bone is not None and bone.weight > 0:
        beta = _bone_weight(fitted, bone, u, v, original)
        if bone.kind == BoneKind.LYTIC:
            target = np.float32(appearance.tumour_hu + 10.0)
            new_structure = new_structure * (1.0 - beta) + target * beta
        elif bone.kind == BoneKind.SCLEROTIC:
            new_structure = new_structure + np.float32(bone.sclerotic_hu) * beta
        else:
            mixed = _texture(u.shape, 1.5 / fitted.spacing_mm[0], appearance.seed + 1) > 0.3
            target = np.float32(appearance.tumour_hu + 10.0)
            lytic = new_structure * (1.0 - beta) + target * beta
            sclerotic = new_structure + np.float32(bone.sclerotic_hu) * beta
            new_structure = np.where(mixed, sclerotic, lytic)
        # Trabecular texture is lost where bone is replaced by tumour: its fine detail (the
        # bone's "noise" here is all structure) goes with it.
        alpha = np.maximum(alpha, beta if bone.kind != BoneKind.SCLEROTIC else 0.0)

    mix_alpha = np.clip(alpha, 0.0, 1.0)
    # The canal's own noise (defined only over soft tissue) and the donor's: variance kept.
    own = np.where(valid, noise, 0.0)
    bone_detail = np.where(valid, 0.0, original - base)
    new_noise = np.sqrt(1.0 - mix_alpha) * (own + bone_detail) + np.sqrt(mix_alpha) * donor
    edited = (new_structure + new_noise).astype(np.float32)
    out = image.copy()
    out[window] = edited
    grade = evidence.grade if evidence is not None else None
    return InsertedSlice(out, grade, evidence, True)


def _bone_weight(fitted: FittedCanal, bone: BoneMet, u: F32, v: F32, original: F32) -> F32:
    """Weight (0..1) of a metastasis in the bone next to the canal along ``direction``: a
    lobulated blob (radius modulated by low harmonics with random phases) inside bone only,
    with a soft margin."""
    a = math.radians(bone.direction_deg)
    wx, wy = math.sin(a), -math.cos(a)
    pts = fitted.anatomy.canal.boundary(180)
    reach = float(np.max(pts[:, 0] * wx + pts[:, 1] * wy))
    distance = reach + 0.8 * bone.radius_mm
    cx, cy = distance * wx, distance * wy
    du, dv = u - np.float32(cx), v - np.float32(cy)
    r = np.sqrt(du * du + dv * dv)
    theta = np.arctan2(dv, du)
    rng = np.random.default_rng(int(abs(bone.direction_deg) * 1000 + bone.radius_mm * 10))
    lobes = np.ones_like(r)
    for k in (2, 3, 5):
        lobes += np.float32(rng.uniform(0.05, 0.16)) * np.cos(k * theta + rng.uniform(0, 6.3))
    edge_mm = np.float32(2.5)
    inside = np.clip((np.float32(bone.radius_mm) * lobes - r) / edge_mm, 0.0, 1.0)
    is_bone = ndimage.gaussian_filter((original > 150.0).astype(np.float32), 1.0)
    result: F32 = (inside * is_bone * np.float32(bone.weight)).astype(np.float32)
    return result
