"""Temperature scaling, calibration error and reliability diagrams on synthetic predictions."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from mscc_desktop.evaluation.calibration import (
    ReliabilityKind,
    draw_reliability_diagram,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
)
from mscc_desktop.inference.probabilities import MAX_TEMPERATURE, MIN_TEMPERATURE, apply_temperature

F64 = npt.NDArray[np.float64]


def _calibrated_sample(n: int, seed: int) -> tuple[F64, npt.NDArray[np.int64]]:
    """Probabilities that are calibrated by construction (each truth drawn from its row)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.6, size=(n, 3)) + np.array([1.0, -0.3, -0.6])
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    truth = np.array([rng.choice(3, p=row) for row in p], dtype=np.int64)
    return p, truth


def _distorted(p: F64, power: float) -> F64:
    """softmax(power * log p): power > 1 over-confident, < 1 under-confident; the temperature
    that undoes it is ``power``."""
    q = p**power
    return q / q.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(("power", "kind"), [(2.5, "over-confident"), (0.5, "under-confident")])
def test_the_fit_recovers_a_known_temperature_and_the_error_falls(power: float, kind: str) -> None:
    truth_p, truth = _calibrated_sample(6000, seed=3)
    shown = _distorted(truth_p, power)
    fit = fit_temperature(shown, truth)
    assert fit.temperature == pytest.approx(power, rel=0.08), kind
    assert fit.nll_after < fit.nll_before and fit.improved and not fit.at_bound
    assert fit.n == 6000
    calibrated = apply_temperature(shown, fit.temperature)
    assert negative_log_likelihood(calibrated, truth) == pytest.approx(fit.nll_after)
    for which in ReliabilityKind:
        before = expected_calibration_error(shown, truth, kind=which)
        after = expected_calibration_error(calibrated, truth, kind=which)
        assert after < before / 2, (kind, which, before, after)
        assert after < 0.03
    # Calibration never changes which class is most probable.
    assert (calibrated.argmax(axis=1) == shown.argmax(axis=1)).all()


def test_calibrated_predictions_keep_a_temperature_near_one() -> None:
    p, truth = _calibrated_sample(6000, seed=11)
    assert fit_temperature(p, truth).temperature == pytest.approx(1.0, abs=0.08)


def test_a_fit_pinned_at_the_edge_of_the_range_says_so() -> None:
    # Always right at 0.6: sharper is always better, so the search ends at the lower bound.
    p = np.tile([0.2, 0.2, 0.6], (50, 1))
    truth = np.full(50, 2, dtype=np.int64)
    fit = fit_temperature(p, truth)
    assert fit.temperature == pytest.approx(MIN_TEMPERATURE, rel=1e-3) and fit.at_bound
    assert fit_temperature(p, truth, bounds=(0.5, 2.0)).temperature == pytest.approx(0.5, rel=1e-3)


def test_reliability_bins_are_counted_and_averaged_right() -> None:
    p_high = [0.05, 0.15, 0.18, 0.62, 0.95, 1.0]
    probabilities = np.array([[1.0 - h, 0.0, h] for h in p_high])
    truth = np.array([0, 2, 0, 2, 2, 2], dtype=np.int64)
    diagram = reliability_bins(probabilities, truth, n_bins=5)
    assert diagram.kind is ReliabilityKind.HIGH and diagram.n == 6
    assert [b.lower for b in diagram.bins] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    assert diagram.bins[-1].upper == 1.0
    assert [b.n for b in diagram.bins] == [3, 0, 0, 1, 2]  # 1.0 falls in the last bin
    first, empty, _, fourth, last = diagram.bins
    assert first.mean_predicted == pytest.approx((0.05 + 0.15 + 0.18) / 3)
    assert first.observed_rate == pytest.approx(1 / 3)
    assert math.isnan(empty.mean_predicted) and math.isnan(empty.observed_rate)
    assert fourth.observed_rate == 1.0 and last.mean_predicted == pytest.approx(0.975)
    expected = 3 / 6 * abs(0.38 / 3 - 1 / 3) + 1 / 6 * abs(0.62 - 1.0) + 2 / 6 * abs(0.975 - 1.0)
    assert diagram.ece == pytest.approx(expected)
    assert diagram.max_gap == pytest.approx(0.38)
    assert first.gap < 0  # under-calls: P(high) below the observed high-grade rate


def test_top_label_bins_and_custom_edges() -> None:
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.34, 0.33, 0.33]])
    truth = np.array([0, 1, 0], dtype=np.int64)
    top = reliability_bins(probabilities, truth, kind="top", edges=[0.0, 0.5, 1.0])
    assert [b.n for b in top.bins] == [1, 2]
    assert top.bins[0].observed_rate == 1.0  # 0.34 on class 0, which is right
    assert top.bins[1].mean_predicted == pytest.approx(0.65)
    assert top.bins[1].observed_rate == 0.5  # 0.7 right, 0.6 wrong
    fine = reliability_bins(probabilities, truth, edges=[0.0, 0.05, 0.2, 1.0])
    assert [b.n for b in fine.bins] == [0, 1, 2]


@pytest.mark.parametrize(
    ("probabilities", "truth", "message"),
    [
        ([[0.2, 0.3, 0.5], [np.nan, np.nan, np.nan]], [0, 1], "drop the slices without a grade"),
        ([[0.2, 0.3, 0.5], [0.2, 0.3, 0.5]], [0, -1], "drop ungraded slices"),
        ([[0.2, 0.3, 0.6]], [0], "sum to 1"),
        ([[0.5, 0.5]], [0], r"\(N, 3\)"),
        ([[0.2, 0.3, 0.5]], [0, 1], "one class per row"),
        (np.zeros((0, 3)), np.zeros(0, dtype=np.int64), "at least one slice"),
    ],
)
def test_bad_inputs_are_refused_with_the_remedy(
    probabilities: object, truth: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fit_temperature(probabilities, truth)  # type: ignore[arg-type]


def test_apply_temperature_one_is_the_identity_and_zero_stays_zero() -> None:
    p = np.array([[0.7, 0.2, 0.1], [0.0, 0.4, 0.6]], dtype=np.float32)
    assert apply_temperature(p, 1.0) is p
    hot = apply_temperature(p, 3.0)
    assert hot.dtype == np.float32 and hot[1, 0] == 0.0
    assert hot.sum(axis=1) == pytest.approx(1.0, abs=1e-6)
    assert hot[0, 0] < 0.7 and hot[0, 2] > 0.1  # softened
    assert apply_temperature(p.astype(np.float64), 0.5).dtype == np.float64
    with pytest.raises(ValueError, match="must be positive"):
        apply_temperature(p, 0.0)
    assert MIN_TEMPERATURE < 1.0 < MAX_TEMPERATURE


def test_the_reliability_diagram_is_drawn_before_and_after(tmp_path: Path) -> None:
    truth_p, truth = _calibrated_sample(800, seed=5)
    shown = _distorted(truth_p, 2.0)
    fit = fit_temperature(shown, truth)
    path = draw_reliability_diagram(
        tmp_path / "reliability.png",
        reliability_bins(shown, truth),
        reliability_bins(apply_temperature(shown, fit.temperature), truth),
        temperature=fit.temperature,
        title="synthetic check",
        panel_px=400,
    )
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (800, 420 + 34)
        pixels = np.asarray(image.convert("RGB"))
    vermillion = (pixels == (213, 94, 0)).all(axis=2)
    left, right = vermillion[:, :400], vermillion[:, 400:]
    assert left.sum() > 100 and right.sum() > 100  # bars and dots in both panels
    alone = draw_reliability_diagram(tmp_path / "one.png", reliability_bins(shown, truth))
    with Image.open(alone) as image:
        assert image.size == (460, int(460 * 1.05))
