"""The fake backend is deterministic and finds the phantom canal like a reader would."""

from __future__ import annotations

import numpy as np
import pytest

from mscc_desktop.core.windows import window_stack
from mscc_desktop.inference.pipeline import ModelSettings, analyse_volume
from mscc_desktop.inference.preprocess import detector_input
from tests.factories.fake_backend import FakeBackend, ring_canal
from tests.inference.phantoms import canal_box, long_volume, phantom_slice


def detector_image(hu: np.ndarray, size: int = 128) -> np.ndarray:
    tensor, _ = detector_input(window_stack(hu)[None], size=size)
    return tensor[0]


def test_ring_canal_finds_the_hole_inside_the_bony_ring() -> None:
    box = ring_canal(detector_image(phantom_slice(fill=0.0)))
    assert box is not None and box.iou(canal_box()) > 0.6


def test_ring_canal_finds_nothing_without_a_ring() -> None:
    assert ring_canal(detector_image(phantom_slice(canal=False))) is None
    assert ring_canal(np.zeros((3, 64, 64), np.float32)) is None


def test_repeated_analyses_with_a_table_give_the_same_result(settings: ModelSettings) -> None:
    table = [(0.9, 0.05, 0.05), (0.1, 0.1, 0.8), (0.2, 0.7, 0.1)]
    fake = FakeBackend(slice_probabilities=table, grade_means=(0.5,) * 3, grade_stds=(0.25,) * 3)
    first = analyse_volume(long_volume(3), fake, settings, batch_size=2)
    second = analyse_volume(long_volume(3), fake, settings, batch_size=2)
    assert first.findings is not None and second.findings is not None
    assert first.findings.slices == second.findings.slices
    assert [s.p_high for s in first.findings.slices] == pytest.approx([0.05, 0.8, 0.1])


def test_given_boxes_need_the_slice_geometry() -> None:
    with pytest.raises(ValueError, match="slice_shape"):
        FakeBackend(slice_boxes=[None])
