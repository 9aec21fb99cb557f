"""The geometry behind each Bilsky grade, checked on the ground-truth masks themselves."""

from __future__ import annotations

import numpy as np
import pytest

from mscc_desktop.core.grades import BilskyGrade
from mscc_desktop.synth.anatomy import Anatomy
from mscc_desktop.synth.canal import (
    CanalAnatomy,
    CanalMasks,
    EpiduralState,
    derive_grade,
    rasterise,
    section,
)
from mscc_desktop.synth.params import DegenerativeKind, severity_for
from mscc_desktop.synth.sampling import sample_study

LEVELS_P = {"T1": 2.5, "T6": 7.5, "T11": 12.5}  # level coordinate of mid-body
DIRECTIONS = (0.0, 40.0, -70.0, 120.0, 180.0)


@pytest.fixture(scope="module")
def anatomies() -> dict[str, CanalAnatomy]:
    params = sample_study(1234)
    anatomy = Anatomy(params.patient, params.scan)
    return {
        name: anatomy.canal_anatomy(anatomy.frame(anatomy.z_of(p))) for name, p in LEVELS_P.items()
    }


def _masks(
    anatomy: CanalAnatomy, grade: BilskyGrade, direction: float, frac: float = 0.5
) -> CanalMasks:
    state = EpiduralState(severity_for(grade, frac), direction, 0.04)
    return rasterise(section(anatomy, state))


def _touching(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    grown = b.copy()
    grown[1:] |= b[:-1]
    grown[:-1] |= b[1:]
    grown[:, 1:] |= b[:, :-1]
    grown[:, :-1] |= b[:, 1:]
    return a & grown & ~b


def _area(mask: np.ndarray, masks: CanalMasks) -> float:
    return float(mask.sum()) * masks.pixel_mm**2


@pytest.mark.parametrize("level", list(LEVELS_P))
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("frac", [0.2, 0.8])
def test_each_band_produces_its_grade(anatomies, level, direction, frac) -> None:
    for grade in (
        BilskyGrade.G1A,
        BilskyGrade.G1B,
        BilskyGrade.G1C,
        BilskyGrade.G2,
        BilskyGrade.G3,
    ):
        masks = _masks(anatomies[level], grade, direction, frac)
        assert derive_grade(masks).grade == grade, (level, direction, frac, grade)


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_grade_1a_leaves_the_sac_untouched(anatomies, direction) -> None:
    for anatomy in anatomies.values():
        masks = _masks(anatomy, BilskyGrade.G1A, direction)
        assert masks.tumour.any()
        assert np.array_equal(masks.sac, masks.sac0)  # sac area and shape unchanged
        assert not (masks.tumour & masks.sac0).any()


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_grade_1b_deforms_the_sac_without_reaching_the_cord(anatomies, direction) -> None:
    for anatomy in anatomies.values():
        masks = _masks(anatomy, BilskyGrade.G1B, direction)
        assert _area(masks.sac0, masks) - _area(masks.sac, masks) >= 0.3
        assert not _touching(masks.tumour, masks.cord).any()
        # CSF separates tumour from cord.
        assert _touching(masks.csf, masks.cord).any()


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_grade_1c_abuts_the_cord_without_deforming_it(anatomies, direction) -> None:
    for anatomy in anatomies.values():
        masks = _masks(anatomy, BilskyGrade.G1C, direction)
        assert _touching(masks.tumour, masks.cord).sum() * masks.pixel_mm >= 0.5
        assert abs(_area(masks.cord, masks) / _area(masks.cord0, masks) - 1.0) < 0.03
        assert not (masks.tumour & masks.cord).any()


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_grade_2_compresses_the_cord_with_csf_left(anatomies, direction) -> None:
    for anatomy in anatomies.values():
        masks = _masks(anatomy, BilskyGrade.G2, direction)
        evidence = derive_grade(masks)
        assert evidence.cord_change >= 0.06
        assert _touching(masks.csf, masks.cord).any()


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_grade_3_leaves_no_csf_touching_the_cord(anatomies, direction) -> None:
    for anatomy in anatomies.values():
        masks = _masks(anatomy, BilskyGrade.G3, direction)
        assert not _touching(masks.csf, masks.cord).any()
        assert derive_grade(masks).cord_change >= 0.06
        assert masks.cord.any()


def test_grade_never_decreases_as_the_tumour_grows(anatomies) -> None:
    order = [None, *BilskyGrade]
    for anatomy in anatomies.values():
        for direction in DIRECTIONS:
            ranks = []
            for severity in np.arange(1.05, 5.95, 0.2):
                grade = derive_grade(
                    rasterise(section(anatomy, EpiduralState(float(severity), direction, 0.04)))
                ).grade
                ranks.append(order.index(grade))
            assert ranks == sorted(ranks), direction


def test_tumour_stays_inside_the_bony_canal(anatomies) -> None:
    masks = _masks(anatomies["T6"], BilskyGrade.G3, 30.0)
    assert not (masks.tumour & ~masks.canal).any()
    assert not (masks.cord & ~masks.canal).any()


def test_no_tumour_means_no_grade(anatomies) -> None:
    masks = rasterise(section(anatomies["T6"], None))
    assert derive_grade(masks).grade is None


@pytest.mark.parametrize("kind", list(DegenerativeKind))
def test_degenerative_narrowing_is_not_graded(anatomies, kind) -> None:
    side = 180.0 if "flavum" in kind.value else 0.0
    sec = section(anatomies["T11"], None, (kind, 3.0, 80.0, side))
    masks = rasterise(sec)
    evidence = derive_grade(masks)
    assert evidence.grade is None
    assert evidence.ridge_mm2 >= 1.0
    assert not _touching(masks.ridge, masks.cord).any()  # a mimic, never cord contact
