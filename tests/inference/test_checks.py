"""Input checks, one by one: each exclusion becomes a notice; only unusable input refuses."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from mscc_desktop.core.notices import Notice, NoticeCode, Severity
from mscc_desktop.core.volume import Volume
from mscc_desktop.inference.checks import check_volume, is_analysable, refusal_notices
from tests.inference.phantoms import CT_INFO, long_volume, make_volume


def codes(notices: tuple[Notice, ...]) -> list[NoticeCode]:
    return [n.code for n in notices]


def only(notices: tuple[Notice, ...], code: NoticeCode) -> Notice:
    matching = [n for n in notices if n.code is code]
    assert len(matching) == 1, notices
    return matching[0]


@pytest.fixture(scope="module")
def good() -> Volume:
    """A contrast chest-abdomen CT of 80 slices of 4 mm (320 mm): nothing to say."""
    return long_volume(80, shape=(32, 32))


def test_a_good_staging_ct_has_no_notices(good: Volume) -> None:
    assert check_volume(good) == ()
    assert is_analysable(good)


def test_other_modality_is_refused(good: Volume) -> None:
    notices = check_volume(replace(good, info=replace(CT_INFO, modality="MR")))
    notice = only(notices, NoticeCode.NOT_CT)
    assert notice.severity is Severity.ERROR and "MR" in notice.message
    assert refusal_notices(notices) == (notice,)


def test_missing_modality_is_only_a_warning(good: Volume) -> None:
    notices = check_volume(replace(good, info=replace(CT_INFO, modality="")))
    assert only(notices, NoticeCode.NOT_CT).severity is Severity.WARNING
    assert refusal_notices(notices) == ()


def test_localizer_is_refused(good: Volume) -> None:
    info = replace(CT_INFO, image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"))
    notices = check_volume(replace(good, info=info))
    assert only(notices, NoticeCode.LOCALIZER).severity is Severity.ERROR
    assert not is_analysable(replace(good, info=info))


def test_sagittal_series_is_refused(good: Volume) -> None:
    notices = check_volume(replace(good, normal=(1.0, 0.0, 0.0)))
    notice = only(notices, NoticeCode.ORIENTATION)
    assert notice.severity is Severity.ERROR and "sagittal" in notice.message


def test_oblique_slices_are_a_warning(good: Volume) -> None:
    angle = math.radians(12)
    normal = (0.0, math.sin(angle), math.cos(angle))
    notice = only(check_volume(replace(good, normal=normal)), NoticeCode.ORIENTATION)
    assert notice.severity is Severity.WARNING and "12.0°" in notice.message


def test_gantry_tilt_is_a_warning_not_a_second_orientation_notice(good: Volume) -> None:
    angle = math.radians(15)
    tilted = replace(good, gantry_tilt_deg=15.0, normal=(0.0, math.sin(angle), math.cos(angle)))
    notices = check_volume(tilted)
    assert codes(notices) == [NoticeCode.GANTRY_TILT]
    assert "15.0°" in notices[0].message and is_analysable(tilted)


def test_gaps_are_reported_with_their_position(good: Volume) -> None:
    z = [-4.0 * i for i in range(80)]
    z[40:] = [value - 8.0 for value in z[40:]]  # two slices missing after slice 40
    notice = only(check_volume(replace(good, z_mm=np.asarray(z))), NoticeCode.GAP)
    assert notice.message.startswith("2 slices missing between z = -156.0 and -168.0 mm")


def test_thick_slices_are_a_warning() -> None:
    thick = long_volume(60, shape=(32, 32), spacing_mm=7.0, thickness_mm=7.0)
    notice = only(check_volume(thick), NoticeCode.THICK_SLICES)
    assert "7.0 mm" in notice.message and is_analysable(thick)
    five = long_volume(70, shape=(32, 32), spacing_mm=5.0, thickness_mm=5.0)
    assert NoticeCode.THICK_SLICES not in codes(check_volume(five))


def test_thickness_falls_back_to_spacing_when_not_recorded() -> None:
    volume = long_volume(60, shape=(32, 32), spacing_mm=6.0, thickness_mm=None)
    assert "slice spacing" in only(check_volume(volume), NoticeCode.THICK_SLICES).message


def test_no_contrast_recorded_is_a_warning_that_says_scanners_omit_it(good: Volume) -> None:
    notice = only(
        check_volume(replace(good, info=replace(CT_INFO, contrast_agent=" "))),
        NoticeCode.NO_CONTRAST,
    )
    assert notice.severity is Severity.WARNING
    assert "(0018,0010)" in notice.message and "leave it empty" in notice.message


def test_short_coverage_is_a_warning_that_admits_levels_are_unknown() -> None:
    short = long_volume(30, shape=(32, 32))  # 120 mm
    notice = only(check_volume(short), NoticeCode.COVERAGE)
    assert "120 mm" in notice.message and "cannot be identified" in notice.message
    assert is_analysable(short)


def test_single_slice_is_analysable_with_a_coverage_warning() -> None:
    one = long_volume(1, shape=(32, 32))
    notice = only(check_volume(one), NoticeCode.COVERAGE)
    assert "single slice" in notice.message and is_analysable(one)


@pytest.mark.parametrize("body_part", ["HEAD", "PELVIS", "LSPINE", "KNEE"])
def test_body_part_outside_the_thoracic_spine_is_a_coverage_warning(
    good: Volume, body_part: str
) -> None:
    notices = check_volume(replace(good, info=replace(CT_INFO, body_part=body_part)))
    assert body_part in only(notices, NoticeCode.COVERAGE).message


def test_description_is_used_when_body_part_is_missing(good: Volume) -> None:
    brain = replace(CT_INFO, body_part="", series_description="BRAIN W/O", study_description="")
    assert NoticeCode.COVERAGE in codes(check_volume(replace(good, info=brain)))
    chest = replace(brain, series_description="CHEST ABDOMEN PELVIS C+")
    assert NoticeCode.COVERAGE not in codes(check_volume(replace(good, info=chest)))


def test_no_hu_is_refused(good: Volume) -> None:
    notices = check_volume(replace(good, hu_available=False))
    assert only(notices, NoticeCode.NO_HU).severity is Severity.ERROR
    assert refusal_notices(notices)


def test_projection_is_a_warning(good: Volume) -> None:
    info = replace(CT_INFO, image_type=("DERIVED", "SECONDARY", "MIP"))
    assert NoticeCode.DERIVED in codes(check_volume(replace(good, info=info)))


def test_refusals_come_first() -> None:
    volume = make_volume(
        np.zeros((1, 8, 8), np.int16),
        info=replace(CT_INFO, modality="PT", contrast_agent=""),
    )
    notices = check_volume(volume)
    assert notices[0].code is NoticeCode.NOT_CT
    assert {NoticeCode.NO_CONTRAST, NoticeCode.COVERAGE} <= set(codes(notices))
