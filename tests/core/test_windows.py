from __future__ import annotations

import numpy as np
import pytest

from mscc_desktop.core.windows import (
    PAPER_WINDOWS,
    WINDOW_ORDER,
    Window,
    WindowPreset,
    dicom_window,
    window_stack,
    window_to_uint8,
)


def test_paper_presets_are_the_papers_numbers_in_model_order() -> None:
    assert WINDOW_ORDER == (WindowPreset.BONE, WindowPreset.ABDOMEN, WindowPreset.SPINE)
    assert [(w.width, w.level) for w in PAPER_WINDOWS.values()] == [
        (1500, 300),
        (400, 50),
        (200, 100),
    ]


def test_linear_voi_lut_matches_dicom_formula() -> None:
    window = Window(400, 50)
    hu = np.array([-1000, -150.5, -149, 50, 249, 250, 3000], dtype=np.float32)
    out = window_to_uint8(hu, window)
    c, w = 50 - 0.5, 400 - 1
    expected = np.clip(((hu - c) / w + 0.5) * 255, 0, 255)
    assert out[0] == 0 and out[-1] == 255
    assert np.all(np.abs(out.astype(float) - expected) <= 0.5 + 1e-6)


def test_integer_and_float_input_give_identical_output() -> None:
    rng = np.random.default_rng(0)
    hu = rng.integers(-1100, 2000, size=(3, 17, 19)).astype(np.int16)
    for window in PAPER_WINDOWS.values():
        assert np.array_equal(
            window_to_uint8(hu, window), window_to_uint8(hu.astype(np.float32), window)
        )


def test_window_stack_shape_and_channels() -> None:
    hu = np.full((2, 4, 5), 100, dtype=np.int16)
    stack = window_stack(hu)
    assert stack.shape == (3, 2, 4, 5) and stack.dtype == np.uint8
    # 100 HU is the spine window's centre, mid-grey; brighter than bone window's mid-grey.
    assert 127 <= stack[2, 0, 0, 0] <= 128
    assert stack[0, 0, 0, 0] < stack[2, 0, 0, 0]


@pytest.mark.parametrize(
    ("width", "centre", "expected"),
    [
        ("400", "40", Window(400, 40, "DICOM")),
        ([350, 1500], [40, 300], Window(350, 40, "DICOM")),
        (None, "40", None),
        ("nan", "40", None),
        ("0", "40", None),
        ("abc", "40", None),
        ([], [], None),
    ],
)
def test_dicom_window_accepts_only_usable_values(
    width: object, centre: object, expected: Window | None
) -> None:
    assert dicom_window(width, centre) == expected


def test_window_rejects_zero_width() -> None:
    with pytest.raises(ValueError):
        Window(0, 40)
