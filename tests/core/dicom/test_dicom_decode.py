"""Stored values → HU for one frame: rescale, padding, clipping, output types."""

from __future__ import annotations

import numpy as np
import pytest

from mscc_desktop.core.dicom.decode import AIR_HU, HuRule, convert_into


def _run(stored: np.ndarray, rule: HuRule, dtype: str = "int16") -> tuple[np.ndarray, int, int]:
    out = np.empty(stored.shape, dtype=dtype)
    padded, clipped = convert_into(stored, rule, out)
    return out, padded, clipped


def test_integer_rescale_in_int16_is_exact_even_for_high_stored_values() -> None:
    stored = np.array([[0, 24, 1024, 33000]], dtype=np.uint16)  # 33000 wraps as int16
    out, padded, clipped = _run(stored, HuRule(1.0, -1024.0, True))
    assert out.tolist() == [[-1024, -1000, 0, 31976]]
    assert (padded, clipped) == (0, 0)  # -1024 HU is the scanner floor, not fill


def test_values_below_the_fill_limit_become_air() -> None:
    stored = np.array([[-3024, -2048, -2000, -1400, 40]], dtype=np.int16)
    out, padded, _ = _run(stored, HuRule(1.0, 0.0, True))
    assert out.tolist() == [[AIR_HU, AIR_HU, AIR_HU, -1400, 40]]
    assert padded == 3
    kept, padded, _ = _run(stored, HuRule(1.0, 0.0, True, map_padding=False))
    assert kept.tolist() == stored.tolist() and padded == 0


def test_declared_padding_value_and_range() -> None:
    stored = np.array([[100, 101, 102, 103, 500]], dtype=np.uint16)
    single, padded, _ = _run(stored, HuRule(1.0, -1000.0, True, padding_value=101))
    assert single.tolist() == [[-900, AIR_HU, -898, -897, -500]] and padded == 1
    ranged, padded, _ = _run(
        stored, HuRule(1.0, -1000.0, True, padding_value=103, padding_limit=100)
    )
    assert ranged.tolist() == [[AIR_HU] * 4 + [-500]] and padded == 4


def test_out_of_range_values_are_clipped_and_counted() -> None:
    stored = np.array([[65535, 0]], dtype=np.uint16)
    out, _, clipped = _run(stored, HuRule(1.0, 1000.0, True))
    assert out.tolist() == [[32767, 1000]] and clipped == 1


def test_fractional_rescale_in_float32() -> None:
    stored = np.array([[0, 1, 2000]], dtype=np.uint16)
    out, _, _ = _run(stored, HuRule(2.0002442, -4047.0, True, map_padding=False), "float32")
    assert out == pytest.approx(np.array([[-4047.0, -4044.9997558, -46.5116]]), abs=1e-3)


def test_no_hu_keeps_stored_values() -> None:
    stored = np.array([[0, 255, 7]], dtype=np.uint8)
    out, padded, _ = _run(stored, HuRule(1.0, -1024.0, False))
    assert out.tolist() == [[0, 255, 7]] and padded == 0


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="2-D"):
        convert_into(np.zeros((2, 3, 3)), HuRule(1.0, 0.0, True), np.zeros((3, 3), np.int16))
