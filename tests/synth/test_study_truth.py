"""Labels match pixels: boxes contain the canal, graded tissue shows up where the masks say."""

from __future__ import annotations

import math

import numpy as np

from mscc_desktop.core.grades import BilskyGrade
from mscc_desktop.synth import SynthStudy
from mscc_desktop.synth.anatomy import Anatomy
from mscc_desktop.synth.canal import section
from mscc_desktop.synth.render import StudyRenderer
from mscc_desktop.synth.render_spine import CANAL_BEAM_HARDENING_HU, active_epidural


def _canal_pixels(study: SynthStudy, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of pixels whose centres lie inside the bony canal."""
    params = study.params
    anatomy = Anatomy(params.patient, params.scan)
    frame = anatomy.frame(study.z_positions_mm[k])
    canal = anatomy.canal_anatomy(frame).canal
    n = params.scan.matrix
    px = params.scan.pixel_spacing_mm
    x = (study.origin_xy_mm[0] + np.arange(n) * px).astype(np.float32)[None, :]
    y = (study.origin_xy_mm[1] + np.arange(n) * px).astype(np.float32)[:, None]
    u, v = frame.to_frame(x, y, spine=True)
    return np.nonzero(canal.sd(u, v) < 0)


def test_every_slice_has_a_box_that_contains_the_canal(demo_subset: SynthStudy) -> None:
    for k, truth in enumerate(demo_subset.truths):
        rows, cols = _canal_pixels(demo_subset, k)
        assert rows.size > 0
        box = truth.canal_box
        # Pixel c covers [c, c + 1): every canal pixel centre (c + 0.5) is inside the box,
        # and the box is tight (no more than one pixel of slack on any side).
        assert box.x0 <= cols.min() + 0.5 and cols.max() + 0.5 <= box.x1
        assert box.y0 <= rows.min() + 0.5 and rows.max() + 0.5 <= box.y1
        assert box.x0 >= cols.min() - 1.0 and box.x1 <= cols.max() + 2.0
        assert box.y0 >= rows.min() - 1.0 and box.y1 <= rows.max() + 2.0


def test_canal_box_holds_soft_tissue_not_bone(demo_subset: SynthStudy) -> None:
    for k, truth in enumerate(demo_subset.truths):
        box = truth.canal_box
        r0, r1 = math.floor(box.y0), math.ceil(box.y1)
        c0, c1 = math.floor(box.x0), math.ceil(box.x1)
        centre = demo_subset.hu[k, (r0 + r1) // 2, (c0 + c1) // 2]
        assert -250 < centre < 200, (k, centre)


def test_demo_slices_carry_every_grade_and_the_mimics(demo_subset: SynthStudy) -> None:
    grades = {t.grade for t in demo_subset.truths}
    assert set(BilskyGrade) <= grades
    assert any(t.degenerative for t in demo_subset.truths)
    assert all(t.grade == BilskyGrade.G0 for t in demo_subset.truths if t.degenerative)


def test_tumour_pixels_have_tumour_attenuation(clean_subset: SynthStudy) -> None:
    """Noise-free render: pixels deep inside each tissue mask show that tissue's HU."""
    params = clean_subset.params
    t = params.tissues
    renderer = StudyRenderer(params)
    n, px = params.scan.matrix, params.scan.pixel_spacing_mm
    x = (clean_subset.origin_xy_mm[0] + np.arange(n) * px).astype(np.float32)[None, :]
    y = (clean_subset.origin_xy_mm[1] + np.arange(n) * px).astype(np.float32)[:, None]
    checked = 0
    for k, truth in enumerate(clean_subset.truths):
        if not truth.epidural:
            continue
        frame = renderer.anatomy.frame(truth.z_mm)
        ctx_like = type("Ctx", (), {"params": params, "z": truth.z_mm})()
        _, state = active_epidural(ctx_like)  # type: ignore[arg-type]
        sec = section(renderer.anatomy.canal_anatomy(frame), state)
        u, v = frame.to_frame(x, y, spine=True)
        tumour_sd = sec.tumour_sd(u, v)
        assert tumour_sd is not None
        deep = tumour_sd < -0.75 * px
        if deep.sum() < 2:
            continue
        values = clean_subset.hu[k][deep].astype(float)
        lesion = params.epidural[truth.epidural_lesion or 0]
        expected = t.canal_tumour + lesion.hu_offset + CANAL_BEAM_HARDENING_HU
        assert abs(values.mean() - expected) < 25.0
        checked += 1
    assert checked >= 3


def test_grades_follow_the_severity_profile(demo_params) -> None:
    """Along z the grade rises to the lesion's peak and falls again (smooth, no jumps)."""
    from mscc_desktop.synth import generate_study

    lesion = demo_params.epidural[3]  # the grade-2 site at T8
    z = np.array(demo_params.scan.z_positions())
    near = [
        i
        for i in range(len(z))
        if abs(z[i] - lesion.z_centre_mm) <= lesion.plateau_mm + lesion.taper_mm + 3
    ]
    study = generate_study(demo_params, slices=near)
    order = ["0", "1a", "1b", "1c", "2", "3"]
    ranks = [order.index(t.grade.value) for t in study.truths]
    peak = int(np.argmax(ranks))
    assert order[max(ranks)] == "2"
    assert ranks[: peak + 1] == sorted(ranks[: peak + 1])
    assert ranks[peak:] == sorted(ranks[peak:], reverse=True)


def test_canal_heterogeneity_varies_the_canal_and_nothing_outside_it(
    clean_subset: SynthStudy,
) -> None:
    """Noise-free renders of the same slices with and without the canal field: it changes
    pixels inside the canal boxes (blotches and bands of several HU) and none far outside
    (beyond 1 HU of FFT round-off)."""
    import dataclasses

    from mscc_desktop.synth import generate_study

    params = clean_subset.params
    patient = dataclasses.replace(params.patient, canal_mottle_hu=20.0, canal_streak_hu=20.0)
    z = np.asarray(params.scan.z_positions())
    slices = [int(np.argmin(np.abs(z - truth.z_mm))) for truth in clean_subset.truths[:3]]
    varied = generate_study(dataclasses.replace(params, patient=patient), slices=slices)
    for k in range(len(slices)):
        box = clean_subset.truths[k].canal_box
        assert box is not None
        diff = varied.hu[k].astype(np.float32) - clean_subset.hu[k].astype(np.float32)
        rows, cols = np.mgrid[0 : diff.shape[0], 0 : diff.shape[1]] + 0.5
        (cx, cy), rx, ry = box.centre, box.width / 2, box.height / 2
        r2 = ((cols - cx) / rx) ** 2 + ((rows - cy) / ry) ** 2
        assert np.abs(diff[r2 < 0.3]).std() > 5.0
        assert np.abs(diff[r2 > 9.0]).max() <= 1
