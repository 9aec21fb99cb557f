"""Study parameters: variation ranges and the class mix over many studies."""

from __future__ import annotations

import numpy as np
import pytest

from mscc_desktop.synth import GeneratorConfig, sample_study, study_seed
from mscc_desktop.synth.params import StudyParams


def _groups(params: StudyParams) -> np.ndarray:
    """Nominal per-slice group from the severity profiles (0 normal, 1 low, 2 high)."""
    z = params.scan.z_positions()
    out = np.zeros(len(z), dtype=int)
    for i, zi in enumerate(z):
        s = max((les.severity(zi) for les in params.epidural), default=0.0)
        out[i] = 2 if s >= 3.0 else 1 if s >= 1.0 else 0
    return out


@pytest.fixture(scope="module")
def many() -> list[StudyParams]:
    config = GeneratorConfig(matrix=512)
    return [sample_study(study_seed(99, i), config) for i in range(160)]


def test_class_mix_is_near_the_paper(many) -> None:
    groups = np.concatenate([_groups(p) for p in many])
    shares = np.bincount(groups, minlength=3) / groups.size
    assert shares[0] == pytest.approx(0.80, abs=0.05)
    assert shares[1] == pytest.approx(0.10, abs=0.04)
    assert shares[2] == pytest.approx(0.10, abs=0.04)


def test_about_a_quarter_of_studies_have_no_epidural_disease(many) -> None:
    none = sum(1 for p in many if not p.epidural) / len(many)
    assert 0.15 <= none <= 0.35


def test_configurable_mix_is_followed() -> None:
    config = GeneratorConfig(matrix=512, class_mix=(0.6, 0.3, 0.1), no_disease_fraction=0.1)
    groups = np.concatenate([_groups(sample_study(study_seed(5, i), config)) for i in range(80)])
    shares = np.bincount(groups, minlength=3) / groups.size
    # Disease cannot overlap along the spine, so very sick mixes fall a little short.
    assert 0.55 <= shares[0] <= 0.7
    assert shares[1] > 2 * shares[2]


def test_variation_covers_the_requested_ranges(many) -> None:
    pixel = [p.scan.pixel_spacing_mm for p in many]
    assert min(pixel) >= 0.6 and max(pixel) <= 0.98 and max(pixel) - min(pixel) > 0.2
    spacing = {p.scan.slice_spacing_mm for p in many}
    assert min(spacing) <= 1.25 and max(spacing) >= 5.0
    assert {p.scan.rescale_intercept for p in many} == {-1024.0, -1000.0}
    assert None in {p.scan.padding_hu for p in many} and -3024.0 in {
        p.scan.padding_hu for p in many
    }
    assert {p.patient.arms_up for p in many} == {True, False}
    assert {p.phase.value for p in many} == {"portal_venous", "arterial", "non_contrast"}
    assert any(p.degenerative for p in many)
    assert any(len(p.epidural) >= 2 for p in many)
    assert any(len(p.bone) >= 8 for p in many)  # diffuse bone disease
    offsets = [abs(p.patient.body_x_mm) for p in many]
    assert max(offsets) > 20  # the spine is not always centred


def test_lesions_span_one_to_three_levels_inside_the_scan(many) -> None:
    for p in many:
        z = p.scan.z_positions()
        for les in p.epidural:
            top, bottom = les.z_range_mm
            assert 10.0 < top - bottom < 110.0
            assert z[-1] - 6 <= les.z_centre_mm <= z[0] + 6


def test_same_seed_same_parameters() -> None:
    assert sample_study(42) == sample_study(42)
    assert sample_study(42) != sample_study(43)


@pytest.mark.parametrize("slices", [1, 3, 8])
def test_very_short_scans_still_sample(slices: int) -> None:
    config = GeneratorConfig(matrix=64, slice_spacing_mm=5.0, max_slices=slices)
    for seed in range(30):
        params = sample_study(seed, config)
        assert params.scan.n_slices == slices


def test_rendered_labels_follow_the_planned_mix() -> None:
    """The planner's nominal groups are what the masks then say, slice by slice."""
    from mscc_desktop.synth import generate_study

    config = GeneratorConfig(matrix=48, slice_spacing_mm=5.0)
    agree = total = 0
    for i in range(12):
        params = sample_study(study_seed(7, i), config)
        if not params.epidural:
            continue
        nominal = _groups(params)
        chosen = [k for k in range(len(nominal)) if nominal[k] > 0][::2]
        study = generate_study(params, slices=chosen, workers=1)
        derived = [t.group.position for t in study.truths]
        agree += sum(int(a == b) for a, b in zip(derived, nominal[chosen], strict=True))
        total += len(chosen)
        if total >= 40:
            break
    assert total >= 20
    assert agree / total >= 0.9


def test_the_canal_brightening_keeps_the_tumour_above_the_sac(many) -> None:
    """Canal contents look brighter than their true HU; the tumour inside brightens with them."""
    bias = np.asarray([p.tissues.canal_bias for p in many])
    assert bias.min() >= 0.0 and bias.max() > 30.0  # canals up to ~60 HU and more
    for p in many:
        t = p.tissues
        true_csf = t.csf - t.canal_bias
        assert 0.0 <= true_csf <= 12.0
        assert t.canal_tumour - t.csf >= 26.0  # the tumour's own contrast over CSF survives
        assert t.cord <= t.canal_tumour - 12.0 and t.epidural_fat <= t.canal_tumour - 12.0
    # Dense normal canals exist in every phase mix, not only where there is no tumour.
    assert max(p.tissues.csf for p in many if p.epidural) > 40.0


def test_canal_heterogeneity_changes_nothing_else_of_a_seed() -> None:
    """The option draws its two amplitudes from a stream of their own: every other parameter of
    a seed, and so every generator-1.2 study, stays as it was."""
    import dataclasses

    for index in range(6):
        seed = study_seed(5, index)
        plain = sample_study(seed, GeneratorConfig(matrix=512))
        varied = sample_study(seed, GeneratorConfig(matrix=512, canal_heterogeneity=True))
        assert plain.patient.canal_mottle_hu == plain.patient.canal_streak_hu == 0.0
        assert 5.0 <= varied.patient.canal_mottle_hu <= 28.0
        assert 0.0 <= varied.patient.canal_streak_hu <= 24.0
        reverted = dataclasses.replace(
            varied,
            patient=dataclasses.replace(varied.patient, canal_mottle_hu=0.0, canal_streak_hu=0.0),
        )
        assert reverted == plain
