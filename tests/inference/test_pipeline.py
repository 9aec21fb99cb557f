"""Pipeline logic with the deterministic fake backend: what a reader would see change."""

from __future__ import annotations

import itertools
import tracemalloc
from dataclasses import replace

import numpy as np
import pytest

from mscc_desktop.core.errors import BackendUnavailableError, Cancelled
from mscc_desktop.core.findings import AnalysisStatus, Box, Thresholds, classify
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.notices import Notice, NoticeCode, Severity
from mscc_desktop.core.tasks import CancelToken
from mscc_desktop.core.windows import WINDOW_ORDER, WindowPreset
from mscc_desktop.inference.backends.base import FloatArray
from mscc_desktop.inference.pipeline import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_GPU_BATCH_SIZE,
    ModelSettings,
    analyse_batch,
    analyse_volume,
    default_batch_size,
    prep_threads_for,
)
from mscc_desktop.inference.probabilities import apply_temperature
from tests.factories.fake_backend import FakeBackend
from tests.inference.phantoms import CT_INFO, canal_box, long_volume, phantom_volume

NORMAL = (0.9, 0.05, 0.05)
LOW = (0.2, 0.7, 0.1)
HIGH = (0.05, 0.15, 0.8)


def fake_for(settings: ModelSettings, **kwargs: object) -> FakeBackend:
    return FakeBackend(
        grade_means=settings.grader_mean,
        grade_stds=settings.grader_std,
        **kwargs,  # type: ignore[arg-type]
    )


def test_canal_box_is_found_and_mapped_back_to_slice_pixels(settings: ModelSettings) -> None:
    # A 160 x 200 slice: padded to a square and shrunk to 96 for the detector.
    volume = phantom_volume([0.0, 0.0, 0.0], shape=(160, 200))
    result = analyse_volume(volume, fake_for(settings), settings)
    assert result.status is AnalysisStatus.COMPLETE and result.findings is not None
    truth = canal_box((160, 200))
    for slice_result in result.findings.slices:
        assert slice_result.box is not None
        assert slice_result.box.iou(truth) > 0.6, slice_result.box


def test_slice_without_canal_is_not_graded(settings: ModelSettings) -> None:
    volume = phantom_volume([0.0, None, 1.0, None])
    backend = fake_for(settings)
    result = analyse_volume(volume, backend, settings, batch_size=4)
    assert result.findings is not None
    missing = [s for s in result.findings.slices if not s.canal_found]
    assert [s.index for s in missing] == [1, 3]
    assert all(s.group is None and s.probabilities is None for s in missing)
    assert all(s.windows_used == () for s in missing)
    assert result.findings.n_canal_not_found == 2
    assert sum(backend.grade_batches) == 2  # only the two slices with a canal were graded


def test_heuristic_fake_grades_by_canal_filling(settings: ModelSettings) -> None:
    volume = phantom_volume([0.0, 0.5, 1.0])
    result = analyse_volume(volume, fake_for(settings), settings)
    assert result.findings is not None
    groups = [s.group for s in result.findings.slices]
    assert groups == [GradeGroup.NORMAL, GradeGroup.LOW, GradeGroup.HIGH]
    assert result.findings.high_grade


def test_table_probabilities_and_thresholds_decide_the_group(settings: ModelSettings) -> None:
    table = [NORMAL, (0.4, 0.05, 0.55), (0.45, 0.3, 0.25), HIGH]
    volume = long_volume(4)
    default = analyse_volume(volume, fake_for(settings, slice_probabilities=table), settings)
    assert default.findings is not None
    assert [s.group for s in default.findings.slices] == [
        GradeGroup.NORMAL,
        GradeGroup.HIGH,
        GradeGroup.LOW,  # P(low) + P(high) = 0.55 >= 0.5
        GradeGroup.HIGH,
    ]
    strict = Thresholds(high=0.6, any_mscc=0.6)
    stricter = analyse_volume(
        volume, fake_for(settings, slice_probabilities=table), settings, thresholds=strict
    )
    assert stricter.findings is not None and stricter.thresholds == strict
    assert [s.group for s in stricter.findings.slices] == [
        GradeGroup.NORMAL,
        GradeGroup.LOW,  # 0.6 >= any_mscc but P(high) 0.55 < 0.6
        GradeGroup.NORMAL,
        GradeGroup.HIGH,
    ]
    assert default.findings.slices[1].probabilities == pytest.approx((0.4, 0.05, 0.55))


def test_detection_score_below_canal_threshold_means_canal_not_found(
    settings: ModelSettings,
) -> None:
    volume = long_volume(3)
    weak = fake_for(settings, score=0.4, canal_score=0.3, slice_probabilities=[HIGH] * 3)
    result = analyse_volume(volume, weak, settings)
    assert result.findings is not None
    assert result.findings.n_canal_not_found == 3 and not result.findings.high_grade
    assert result.findings.slices[0].detection_score == pytest.approx(0.4)
    lenient = replace(settings, thresholds=Thresholds(canal_score=0.3))
    weak.reset()
    accepted = analyse_volume(volume, weak, lenient)
    assert accepted.findings is not None and accepted.findings.n_high_slices == 3


def test_given_boxes_are_used_and_lesions_bridge_one_slice_gaps(settings: ModelSettings) -> None:
    n = 12
    table = [NORMAL] * n
    for index in (3, 4, 6):
        table[index] = HIGH
    table[4] = (0.05, 0.05, 0.9)
    table[10] = LOW
    boxes: list[Box | None] = [Box(50, 70, 78, 90)] * n
    boxes[8] = None
    backend = fake_for(
        settings,
        slice_probabilities=table,
        slice_boxes=boxes,
        slice_shape=(128, 128),
        detector_size=settings.detector_size,
    )
    result = analyse_volume(long_volume(n), backend, settings, batch_size=5)
    findings = result.findings
    assert findings is not None
    assert findings.slices[0].box is not None
    assert findings.slices[0].box.as_tuple() == pytest.approx((50, 70, 78, 90), abs=1e-3)
    assert findings.slices[8].box is None
    high, low = findings.lesions
    assert (high.group, high.first_slice, high.last_slice, high.key_slice) == (
        GradeGroup.HIGH, 3, 6, 4,
    )  # fmt: skip
    assert high.peak_probability == pytest.approx(0.9)
    assert high.z_to_mm == pytest.approx(-12.0) and high.z_from_mm == pytest.approx(-24.0)
    assert (low.group, low.first_slice, low.last_slice) == (GradeGroup.LOW, 10, 10)
    assert findings.high_grade and findings.max_group is GradeGroup.HIGH


def test_progress_is_monotone_and_reaches_one(settings: ModelSettings) -> None:
    seen: list[float] = []
    analyse_volume(
        long_volume(10),
        fake_for(settings),
        settings,
        batch_size=3,
        progress=lambda fraction, _text: seen.append(fraction),
    )
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert all(b >= a for a, b in itertools.pairwise(seen))
    assert len(seen) == 1 + 4  # start, then once per batch of 3


@pytest.mark.parametrize("prefetch", [True, False])
def test_cancel_stops_within_one_batch(settings: ModelSettings, prefetch: bool) -> None:
    token = CancelToken()

    class CancelsDuringSecondBatch(FakeBackend):
        def detect(self, images: FloatArray) -> tuple[FloatArray, FloatArray]:
            if len(self.detect_batches) == 1:
                token.cancel()  # the user clicks Cancel while batch 2 is running
            return super().detect(images)

    backend = CancelsDuringSecondBatch(
        grade_means=settings.grader_mean, grade_stds=settings.grader_std
    )
    with pytest.raises(Cancelled):
        analyse_volume(
            long_volume(20), backend, settings, batch_size=4, cancel=token, prefetch=prefetch
        )
    assert backend.detect_batches == [4, 4]  # batch 2 finished, batch 3 never started


def test_cancel_before_start_runs_no_inference(settings: ModelSettings) -> None:
    token = CancelToken()
    token.cancel()
    backend = fake_for(settings)
    with pytest.raises(Cancelled):
        analyse_volume(long_volume(4), backend, settings, cancel=token)
    assert backend.detect_batches == []


@pytest.mark.parametrize("threads", [1, 3])
def test_prefetch_gives_the_same_results(settings: ModelSettings, threads: int) -> None:
    volume = phantom_volume([0.0, 0.5, 1.0, None, 0.6, 0.0, 1.0])
    backend = fake_for(settings)
    with_prefetch = analyse_volume(
        volume, backend, settings, batch_size=2, prefetch=True, prep_threads=threads
    )
    without = analyse_volume(volume, fake_for(settings), settings, batch_size=2, prefetch=False)
    assert with_prefetch.findings is not None and without.findings is not None
    assert with_prefetch.findings.slices == without.findings.slices
    assert with_prefetch.findings.lesions == without.findings.lesions
    assert backend.detect_batches == [2, 2, 2, 1]  # in slice order, each batch once


def test_cancel_with_several_prep_threads_drops_the_prepared_batches(
    settings: ModelSettings,
) -> None:
    token = CancelToken()

    class CancelsDuringFirstBatch(FakeBackend):
        def detect(self, images: FloatArray) -> tuple[FloatArray, FloatArray]:
            token.cancel()
            return super().detect(images)

    backend = CancelsDuringFirstBatch(
        grade_means=settings.grader_mean, grade_stds=settings.grader_std
    )
    with pytest.raises(Cancelled):
        analyse_volume(
            long_volume(20), backend, settings, batch_size=2, cancel=token, prep_threads=4
        )
    assert backend.detect_batches == [2]


@pytest.mark.parametrize(
    ("cores", "threads"), [(None, 1), (2, 1), (4, 1), (8, 2), (16, 4), (64, 4)]
)
def test_prep_threads_grow_with_the_cores_but_stay_few(cores: int | None, threads: int) -> None:
    assert prep_threads_for(cores) == threads


class PerWindowBackend(FakeBackend):
    """Each window votes differently: bone says normal, abdomen low, spine high."""

    def grade(self, crops: FloatArray) -> FloatArray:
        super().grade(crops)
        votes = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]], np.float32)
        return np.repeat(votes[None], crops.shape[0], axis=0)


def test_average_fusion_over_the_windows_used(settings: ModelSettings) -> None:
    volume = long_volume(2)
    backend = PerWindowBackend(grade_means=settings.grader_mean, grade_stds=settings.grader_std)
    all_windows = analyse_volume(volume, backend, settings)
    assert all_windows.findings is not None
    first = all_windows.findings.slices[0]
    assert first.windows_used == WINDOW_ORDER
    assert first.probabilities == pytest.approx((1 / 3, 1 / 3, 1 / 3), abs=1e-6)
    spine_only = analyse_volume(volume, backend, settings, windows_used=[WindowPreset.SPINE])
    assert spine_only.findings is not None
    assert spine_only.findings.slices[0].windows_used == (WindowPreset.SPINE,)
    assert spine_only.findings.slices[0].group is GradeGroup.HIGH


def test_refused_series_runs_no_inference(settings: ModelSettings) -> None:
    volume = long_volume(3, info=replace(CT_INFO, modality="MR"))
    backend = fake_for(settings)
    result = analyse_volume(volume, backend, settings)
    assert result.status is AnalysisStatus.REFUSED and result.findings is None
    assert any(n.code is NoticeCode.NOT_CT and n.severity is Severity.ERROR for n in result.notices)
    assert backend.detect_batches == []


def test_single_slice_is_analysed_with_a_coverage_warning(settings: ModelSettings) -> None:
    result = analyse_volume(phantom_volume([1.0]), fake_for(settings), settings)
    assert result.status is AnalysisStatus.COMPLETE and result.findings is not None
    assert result.findings.high_grade
    assert any(n.code is NoticeCode.COVERAGE for n in result.notices)


def test_notices_provenance_and_identity(settings: ModelSettings) -> None:
    loader_notice = Notice(NoticeCode.UNEVEN_SPACING, "Slice spacing varies from 4 to 5 mm.")
    volume = long_volume(80, notices=(loader_notice,), info=replace(CT_INFO, contrast_agent=""))
    backend = fake_for(settings, fallback_warning="The GPU could not be used.")
    result = analyse_volume(volume, backend, settings)
    codes = [n.code for n in result.notices]
    assert codes == [NoticeCode.NO_CONTRAST, NoticeCode.UNEVEN_SPACING, NoticeCode.BACKEND_FALLBACK]
    assert result.series_instance_uid == CT_INFO.series_instance_uid
    prov = result.provenance
    assert (prov.model_id, prov.model_version, prov.model_sha256) == (
        "test-model", "0.0.1", "ab" * 32,
    )  # fmt: skip
    assert prov.backend_text == "Fake backend 1.0 · CPU · deterministic fake"
    assert result.thresholds == settings.thresholds
    assert result.finished_at >= result.started_at


def test_wrong_backend_output_shape_is_an_error(settings: ModelSettings) -> None:
    class Broken(FakeBackend):
        def grade(self, crops: FloatArray) -> FloatArray:
            return np.full((crops.shape[0], 2, 3), 1 / 3, dtype=np.float32)

    with pytest.raises(ValueError, match="grade"):
        analyse_volume(long_volume(2), Broken(), settings)


def test_memory_stays_per_batch(settings: ModelSettings) -> None:
    """A whole-volume float32 copy would show up as a peak above its size."""
    volume = long_volume(96, shape=(256, 256))
    float_volume_bytes = volume.hu.size * 4
    tracemalloc.start()
    try:
        analyse_volume(volume, fake_for(settings), settings, batch_size=4)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.5 * float_volume_bytes, (peak, float_volume_bytes)


def test_analyse_batch_gives_the_same_slice_results(settings: ModelSettings) -> None:
    volume = phantom_volume([0.0, 1.0, 0.5])
    whole = analyse_volume(volume, fake_for(settings), settings)
    assert whole.findings is not None
    part = analyse_batch(
        volume.hu[1:3],
        fake_for(settings),
        settings,
        first_index=1,
        z_mm=volume.z_mm[1:3].tolist(),
        sop_instance_uids=volume.sop_instance_uids[1:3],
        thresholds=settings.thresholds,
    )
    assert part == list(whole.findings.slices[1:3])


def test_nan_probabilities_stop_the_analysis_instead_of_reading_normal(
    settings: ModelSettings,
) -> None:
    class NanGrader(FakeBackend):
        def grade(self, crops: FloatArray) -> FloatArray:
            return np.full((crops.shape[0], 3, 3), np.nan, dtype=np.float32)

    with pytest.raises(BackendUnavailableError, match="invalid probabilities"):
        analyse_volume(long_volume(2), NanGrader(), settings)


def test_the_default_batch_follows_the_backend_device(settings: ModelSettings) -> None:
    cpu = fake_for(settings)
    assert default_batch_size(cpu) == DEFAULT_BATCH_SIZE
    gpu = FakeBackend(
        name="torch-cuda", grade_means=settings.grader_mean, grade_stds=settings.grader_std
    )
    assert default_batch_size(gpu) == DEFAULT_GPU_BATCH_SIZE
    analyse_volume(long_volume(20), gpu, settings)
    assert gpu.detect_batches == [DEFAULT_GPU_BATCH_SIZE, 20 - DEFAULT_GPU_BATCH_SIZE]


def test_temperature_one_changes_nothing_bit_for_bit(settings: ModelSettings) -> None:
    table = [NORMAL, (0.4, 0.05, 0.55), (0.45, 0.3, 0.25), HIGH, (0.61, 0.3, 0.09)]
    volume = long_volume(len(table))
    plain = analyse_volume(volume, fake_for(settings, slice_probabilities=table), settings)
    one = replace(settings, probability_temperature=1.0)
    again = analyse_volume(volume, fake_for(one, slice_probabilities=table), one)
    assert plain.findings is not None and again.findings is not None
    assert [s.probabilities for s in again.findings.slices] == [
        s.probabilities for s in plain.findings.slices
    ]
    assert again.findings == plain.findings
    assert again.provenance.probability_temperature == 1.0 and not again.provenance.calibrated


def test_a_temperature_changes_the_probabilities_and_the_calls_with_them(
    settings: ModelSettings,
) -> None:
    # Slice 1 is called high at P(high) 0.35 >= 0.34 before calibration. Sharpening (T = 0.5)
    # takes its P(high) to 0.31 and P(low or high) to 0.37: below both cut-offs, so normal.
    table = [NORMAL, (0.5, 0.15, 0.35), HIGH]
    volume = long_volume(len(table))
    thresholds = Thresholds(high=0.34, any_mscc=0.5)
    raw = analyse_volume(
        volume, fake_for(settings, slice_probabilities=table), settings, thresholds=thresholds
    )
    sharp = replace(settings, probability_temperature=0.5, limitations=("Real CT: see card.",))
    calibrated = analyse_volume(
        volume, fake_for(sharp, slice_probabilities=table), sharp, thresholds=thresholds
    )
    assert raw.findings is not None and calibrated.findings is not None
    before = np.array([s.probabilities for s in raw.findings.slices], dtype=np.float32)
    after = np.array([s.probabilities for s in calibrated.findings.slices], dtype=np.float32)
    assert after == pytest.approx(apply_temperature(before, 0.5), abs=1e-6)
    assert after[1] == pytest.approx((0.6329, 0.0570, 0.3101), abs=1e-3)
    assert (after.argmax(axis=1) == before.argmax(axis=1)).all()  # never changes the top class
    assert [s.group for s in raw.findings.slices] == [
        GradeGroup.NORMAL,
        GradeGroup.HIGH,
        GradeGroup.HIGH,
    ]
    # Every call is the thresholds applied to the calibrated probabilities, as stored.
    assert [s.group for s in calibrated.findings.slices] == [
        classify(p, thresholds) for p in (s.probabilities for s in calibrated.findings.slices)
    ]
    assert calibrated.findings.slices[1].group is GradeGroup.NORMAL
    assert calibrated.findings.slices[2].group is GradeGroup.HIGH
    assert calibrated.provenance.probability_temperature == 0.5
    assert calibrated.provenance.limitations == ("Real CT: see card.",)


def test_an_out_of_range_temperature_is_refused(settings: ModelSettings) -> None:
    with pytest.raises(ValueError, match="probability temperature"):
        replace(settings, probability_temperature=0.0)
    with pytest.raises(ValueError, match="probability temperature"):
        replace(settings, probability_temperature=50.0)
