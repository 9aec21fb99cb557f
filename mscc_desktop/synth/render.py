"""Render one axial slice of a study: anatomy → disease → scanner, plus its ground truth."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.findings import Box
from mscc_desktop.core.grades import BilskyGrade, GradeGroup
from mscc_desktop.synth.anatomy import Anatomy
from mscc_desktop.synth.canal import CanalMasks, GradeEvidence
from mscc_desktop.synth.context import SliceContext
from mscc_desktop.synth.params import StudyParams
from mscc_desktop.synth.render_abdomen import paint_abdomen
from mscc_desktop.synth.render_chest import paint_chest, paint_tubes
from mscc_desktop.synth.render_spine import paint_spine
from mscc_desktop.synth.render_torso import (
    TorsoDims,
    body_blob,
    paint_arms,
    paint_body,
    paint_table,
    torso_dims,
)
from mscc_desktop.synth.scanner import reconstruct
from mscc_desktop.synth.shapes import Canvas, ellipse
from mscc_desktop.synth.structures import Structures, TubeKind, build_structures
from mscc_desktop.synth.textures import Textures

_VESSELS = {
    TubeKind.AORTA,
    TubeKind.ARTERY,
    TubeKind.PULMONARY,
    TubeKind.VEIN,
    TubeKind.AZYGOS,
    TubeKind.AIRWAY,
    TubeKind.OESOPHAGUS,
}
_BONES = {TubeKind.RIB, TubeKind.CARTILAGE, TubeKind.CLAVICLE}


@dataclass(frozen=True, slots=True)
class SliceTruth:
    """Ground truth of one slice (what ``labels.csv`` and the VOC file record)."""

    index: int
    z_mm: float
    level: str  # "T6" in a body, "T6/T7" in a disc
    grade: BilskyGrade  # fine Bilsky grade; G0 where there is no epidural disease
    epidural: bool  # epidural tumour present (grade >= 1a)
    degenerative: bool
    canal_box: Box  # bony canal in continuous pixel-edge coordinates (x = column)
    evidence: GradeEvidence
    bone_lesion: bool
    epidural_lesion: int | None = None  # index into StudyParams.epidural

    @property
    def group(self) -> GradeGroup:
        return self.grade.group


@dataclass(frozen=True, slots=True)
class RenderedSlice:
    hu: npt.NDArray[np.int16]  # (row, col) display orientation
    padding: npt.NDArray[np.bool_]
    truth: SliceTruth
    masks: CanalMasks


class StudyRenderer:
    """Holds a study's anatomy and structures; renders any slice independently."""

    def __init__(self, params: StudyParams) -> None:
        self.params = params
        scan = params.scan
        self.anatomy = Anatomy(params.patient, scan)
        self.structures: Structures = build_structures(
            self.anatomy, np.random.default_rng([params.seed, 11])
        )
        self.textures = Textures.create(np.random.default_rng([params.seed, 12]))
        half = (scan.matrix - 1) / 2.0 * scan.pixel_spacing_mm
        self.origin_xy_mm = (scan.fov_centre_mm[0] - half, scan.fov_centre_mm[1] - half)
        self.z_positions = scan.z_positions()

    def render(self, index: int) -> RenderedSlice:
        """Slice ``index`` (0 = most superior)."""
        params, scan = self.params, self.params.scan
        z = self.z_positions[index]
        canvas = Canvas.blank(
            (scan.matrix, scan.matrix), self.origin_xy_mm, scan.pixel_spacing_mm, -1000.0
        )
        frame = self.anatomy.frame(z)
        ctx = SliceContext(
            canvas,
            self.anatomy,
            frame,
            params,
            self.textures,
            np.random.default_rng([params.seed, 1000 + index]),
        )
        td = torso_dims(self.anatomy, frame)
        paint_table(ctx)
        paint_body(ctx, td)
        paint_arms(ctx, td)
        paint_chest(ctx, td, self.structures)
        paint_abdomen(ctx, td, self.structures)
        paint_tubes(ctx, self.structures, _VESSELS | _BONES)
        spine = paint_spine(ctx)
        self._paint_markers(ctx, td)
        streak = scan.noise_streakiness
        if frame.p < 3.2 and not params.patient.arms_up:
            streak = min(streak + 0.35, 0.8)
        hu, padding = reconstruct(canvas.image, scan, ctx.rng, streak_weight=streak)
        grade = spine.evidence.grade
        truth = SliceTruth(
            index=index,
            z_mm=float(z),
            level=spine.level,
            grade=grade if grade is not None else BilskyGrade.G0,
            epidural=grade is not None,
            degenerative=spine.degenerative and grade is None,
            canal_box=spine.canal_box_px,
            evidence=spine.evidence,
            bone_lesion=spine.bone_lesion,
            epidural_lesion=spine.epidural_index,
        )
        return RenderedSlice(hu, padding, truth, spine.masks)

    def _paint_markers(self, ctx: SliceContext, td: TorsoDims) -> None:
        """ECG electrodes / skin markers: small metal dots on the anterior skin."""
        count = self.params.patient.skin_markers
        if count <= 0:
            return
        outline = body_blob(td, ctx.frame.p)
        for k in range(count):
            p_marker = 4.0 + 2.2 * k
            dz = abs(ctx.z - self.anatomy.z_of(p_marker))
            if dz > 4.0:
                continue
            theta = -math.pi / 2 + (k - (count - 1) / 2.0) * 0.45
            c, s = np.float32(math.cos(theta)), np.float32(math.sin(theta))
            r = float(outline.radius(np.array([c]), np.array([s]))[0])
            u, v = outline.cx + (r + 2.0) * float(c), outline.cy + (r + 2.0) * float(s)
            x, y = ctx.frame.to_world(u, v)
            region = ctx.canvas.region((x - 6, y - 6, x + 6, y + 6))
            ctx.canvas.paint(
                region, ellipse(x, y, 4.0, 1.6).sd(region.x, region.y), np.float32(-200.0)
            )
            ctx.canvas.paint(
                region, ellipse(x, y, 1.3, 1.3).sd(region.x, region.y), np.float32(3000.0)
            )
