"""Disease inserted into (stand-ins for) real CT: geometry, grades, what changes and what not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from mscc_desktop.core.findings import Box
from mscc_desktop.core.grades import BilskyGrade
from mscc_desktop.synth.canal import CanalAnatomy, EpiduralState, NeuralKind
from mscc_desktop.synth.params import severity_for
from mscc_desktop.synth.real_fit import FittedCanal, fit_canal, structure_and_noise
from mscc_desktop.synth.real_insert import (
    Appearance,
    BoneKind,
    BoneMet,
    insert_slice,
)
from mscc_desktop.synth.shapes import ellipse

SPACING = (0.8, 0.8)
CENTRE = (128.0, 150.0)  # (col, row)
GRADES = (BilskyGrade.G1A, BilskyGrade.G1B, BilskyGrade.G1C, BilskyGrade.G2, BilskyGrade.G3)


def stand_in_slice(noise_sd: float = 15.0, seed: int = 0) -> np.ndarray:
    """A vertebra in muscle: canal (CSF 10 HU) in a bony ring, body in front, scanner noise."""
    rows, cols = np.indices((256, 256))
    u = (cols + 0.5 - CENTRE[0]) * SPACING[1]
    v = (rows + 0.5 - CENTRE[1]) * SPACING[0]
    hu = np.full((256, 256), 50.0)
    body = (u / 18.0) ** 2 + ((v + 22.0) / 14.0) ** 2 <= 1.0
    hu[body] = 260.0
    ring = (u / 14.0) ** 2 + (v / 13.0) ** 2 <= 1.0
    hu[ring] = 700.0
    canal = (u / 8.0) ** 2 + (v / 7.0) ** 2 <= 1.0
    hu[canal] = 10.0
    noise = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal(hu.shape), 0.9)
    return (hu + noise / noise.std() * noise_sd).astype(np.float32)


def canal_box() -> Box:
    cx, cy = CENTRE
    return Box(cx - 8.0 / SPACING[1], cy - 7.0 / SPACING[0], cx + 8.0 / SPACING[1],
               cy + 7.0 / SPACING[0])  # fmt: skip


def hand_built_canal(hu: np.ndarray) -> FittedCanal:
    """The stand-in's canal as a person would describe it: sac 1 mm inside the wall, cord of
    3.5 x 2.6 mm a little anterior."""
    anatomy = CanalAnatomy(
        canal=ellipse(0.0, 0.0, 8.0, 7.0),
        sac=ellipse(0.0, 0.2, 6.8, 5.6),
        cord=ellipse(0.0, -0.4, 3.5, 2.6),
        neural=NeuralKind.CORD,
    )
    parts = structure_and_noise(hu, SPACING)
    return FittedCanal(anatomy, CENTRE, SPACING, 10.0, 50.0, 15.0, False), parts  # type: ignore[return-value]


def appearance() -> Appearance:
    return Appearance(tumour_hu=70.0, mottle_hu=5.0, psf_sigma_px=0.6, seed=3)


@pytest.mark.parametrize("direction", [0.0, 45.0, -120.0, 180.0])
@pytest.mark.parametrize("grade", GRADES)
def test_the_grade_written_is_the_one_the_hand_built_geometry_shows(
    grade: BilskyGrade, direction: float
) -> None:
    hu = stand_in_slice()
    fitted, parts = hand_built_canal(hu)
    state = EpiduralState(severity_for(grade, 0.5), direction, 0.04)
    result = insert_slice(hu, parts, fitted, [state, state, state], appearance())
    assert result.grade == grade
    assert result.evidence is not None and result.evidence.grade == grade


def test_grades_follow_the_hand_built_depths() -> None:
    # Depth decides the band: 1a stays outside the sac, 1b indents it short of the cord,
    # 1c reaches the cord, 2 and 3 compress it (3 with no CSF left around it).
    hu = stand_in_slice()
    fitted, parts = hand_built_canal(hu)
    got = []
    for grade in GRADES:
        state = EpiduralState(severity_for(grade, 0.5), 0.0, 0.02)
        got.append(insert_slice(hu, parts, fitted, [state] * 3, appearance()).evidence)
    assert [e.grade for e in got] == list(GRADES)  # type: ignore[union-attr]
    assert got[0].sac_loss_mm2 < 0.3 < got[1].sac_loss_mm2  # type: ignore[union-attr]
    assert got[1].contact_mm < 0.5 <= got[2].contact_mm  # type: ignore[union-attr]
    assert got[2].cord_change < 0.06 <= got[3].cord_change  # type: ignore[union-attr]
    assert got[3].csf_touches_cord and not got[4].csf_touches_cord  # type: ignore[union-attr]


def test_a_zero_size_lesion_leaves_the_slice_bit_for_bit() -> None:
    hu = stand_in_slice()
    fitted, parts = hand_built_canal(hu)
    result = insert_slice(hu, parts, fitted, [None, None, None], appearance())
    assert not result.changed and result.grade is None
    assert np.array_equal(result.hu, hu)


@pytest.mark.parametrize("grade", [BilskyGrade.G1B, BilskyGrade.G3])
def test_nothing_changes_outside_the_canals_neighbourhood(grade: BilskyGrade) -> None:
    hu = stand_in_slice()
    fitted, parts = hand_built_canal(hu)
    state = EpiduralState(severity_for(grade, 0.6), 30.0, 0.04)
    out = insert_slice(hu, parts, fitted, [state] * 3, appearance()).hu
    changed = np.abs(out - hu) > 0.5
    rows, cols = np.indices(hu.shape)
    u = (cols + 0.5 - CENTRE[0]) * SPACING[1]
    v = (rows + 0.5 - CENTRE[1]) * SPACING[0]
    canal = (u / 8.0) ** 2 + (v / 7.0) ** 2 <= 1.0
    neighbourhood = ndimage.binary_dilation(canal, iterations=3)  # the partial-volume edge
    assert changed.any()
    assert not (changed & ~neighbourhood).any()


def test_the_bone_metastasis_stays_in_bone_next_to_the_canal() -> None:
    hu = stand_in_slice()
    fitted, parts = hand_built_canal(hu)
    state = EpiduralState(severity_for(BilskyGrade.G2, 0.5), 0.0, 0.04)
    bone = BoneMet(0.0, 7.0, BoneKind.LYTIC)
    out = insert_slice(hu, parts, fitted, [state] * 3, appearance(), bone=bone).hu
    changed = np.abs(out - hu) > 0.5
    rows, cols = np.indices(hu.shape)
    v = (rows + 0.5 - CENTRE[1]) * SPACING[0]
    bone_px = ndimage.binary_dilation(hu > 150.0, iterations=3)
    canal = ndimage.binary_dilation(
        (((cols + 0.5 - CENTRE[0]) * 0.8 / 8.0) ** 2 + (v / 7.0) ** 2) <= 1.0, iterations=3
    )
    assert not (changed & ~(bone_px | canal)).any()
    lytic = changed & ~canal & (v < -7.0)  # in front of the canal: the vertebral body
    assert lytic.sum() > 40
    assert float(np.mean(out[lytic] - hu[lytic])) < -100.0  # bone replaced by soft tissue


def test_the_tumour_carries_the_slices_own_noise() -> None:
    hu = stand_in_slice(noise_sd=20.0)
    fitted, parts = hand_built_canal(hu)
    fitted = FittedCanal(
        fitted.anatomy, CENTRE, SPACING, 10.0, 50.0,
        float(1.4826 * np.median(np.abs(parts.noise[parts.valid]))), False,
    )  # fmt: skip
    state = EpiduralState(severity_for(BilskyGrade.G3, 0.8), 0.0, 0.02)
    flat = Appearance(tumour_hu=70.0, mottle_hu=0.0, psf_sigma_px=0.6, seed=3)
    out = insert_slice(hu, parts, fitted, [state] * 3, flat).hu
    # Where the tumour is (any change at all: choosing by size of change would pick noise).
    inside = ndimage.binary_erosion(np.abs(out - hu) > 1e-3, iterations=2)
    assert inside.sum() > 30
    # Underneath, CSF and tumour are both flat: what varies is the noise, before and after.
    rows, cols = np.indices(hu.shape)
    canal = ((cols + 0.5 - CENTRE[0]) * 0.8 / 8.0) ** 2 + (
        (rows + 0.5 - CENTRE[1]) * 0.8 / 7.0
    ) ** 2
    region = inside & (canal <= 0.5)
    assert region.sum() > 20
    ratio = float(np.std(out[region])) / float(np.std(hu[region]))
    assert 0.75 < ratio < 1.3
    assert abs(float(np.mean(out[region])) - 70.0) < 12.0


def test_the_canal_is_fitted_inside_its_box() -> None:
    hu = stand_in_slice()
    fitted = fit_canal(hu, canal_box(), SPACING, np.random.default_rng(0))
    assert fitted is not None
    assert abs(fitted.centre_px[0] - CENTRE[0]) < 1.5
    assert abs(fitted.centre_px[1] - CENTRE[1]) < 1.5
    x0, y0, x1, y1 = fitted.anatomy.canal.bbox()
    assert 6.5 < -x0 < 9.0 and 6.5 < x1 < 9.0 and 5.5 < -y0 < 8.0 and 5.5 < y1 < 8.0
    sac, cord = fitted.anatomy.sac, fitted.anatomy.cord
    pts = cord.boundary(64).astype(np.float32)
    assert np.all(sac.sd(pts[:, 0], pts[:, 1]) < -0.5)  # CSF all around the cord
    assert abs(fitted.canal_hu - 10.0) < 8.0
    assert abs(fitted.soft_tissue_hu - 50.0) < 8.0
