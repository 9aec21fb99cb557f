"""The gathered-taps ``resample`` gives the dense interpolation-matrix product's numbers.

``resample`` (shared by training and inference) applies only the non-zero taps of
``interp_matrix``; this pins it to the plain matrix product it replaced, so the speed-up
can never change what the networks see.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from mscc_desktop.inference.preprocess import interp_matrix, resample


def dense(
    image: npt.NDArray[np.generic],
    out_shape: tuple[int, int],
    region: tuple[float, float, float, float] | None,
) -> npt.NDArray[np.float32]:
    rows, cols = image.shape[-2], image.shape[-1]
    x0, y0, x1, y1 = region if region is not None else (0.0, 0.0, float(cols), float(rows))
    row_m = interp_matrix(out_shape[0], float(y0), float(y1 - y0), rows)
    col_m = interp_matrix(out_shape[1], float(x0), float(x1 - x0), cols)
    return np.asarray(row_m @ np.asarray(image, np.float32) @ col_m.T, np.float32)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(2, 120),
    cols=st.integers(2, 120),
    out_rows=st.integers(1, 90),
    out_cols=st.integers(1, 90),
    crop=st.none()
    | st.tuples(st.floats(-40, 100), st.floats(-40, 100), st.floats(1, 150), st.floats(1, 150)),
    seed=st.integers(0, 2**16),
)
def test_resample_equals_the_dense_matrix_product(
    rows: int, cols: int, out_rows: int, out_cols: int,
    crop: tuple[float, float, float, float] | None, seed: int,
) -> None:  # fmt: skip
    image = np.random.default_rng(seed).integers(0, 256, (2, 3, rows, cols)).astype(np.uint8)
    region = None if crop is None else (crop[0], crop[1], crop[0] + crop[2], crop[1] + crop[3])
    got = resample(image, out_shape=(out_rows, out_cols), region=region)
    assert got.dtype == np.float32 and got.shape == (2, 3, out_rows, out_cols)
    np.testing.assert_allclose(got, dense(image, (out_rows, out_cols), region), atol=2e-4)
