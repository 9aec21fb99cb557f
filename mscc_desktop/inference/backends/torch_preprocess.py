"""The pre-processing of :mod:`mscc_desktop.inference.preprocess`, computed by torch on the
device where the networks run.

Why: with the networks on a GPU, the CPU-side windowing and cropping bounded the pipeline
(on an H100 machine with slow cores, 0.43 s of numpy for 120 slices against 0.54 s for the
paper detector; README "Measured performance"). Here only the int16 HU of each batch cross
to the device (0.5 MB per 512² slice instead of 3 MB of float32 detector input), and the
windows, the detector input and the canal crops are computed there.

The rules are the reference's, step by step, so the inputs are the same to float rounding:

* windowing: the same float32 scale, offset, clip and round-half-up as
  :func:`~mscc_desktop.core.windows.window_to_uint8` (exact: the grey levels are identical);
* resampling: the same interpolation weights (:func:`~mscc_desktop.inference.preprocess.
  interp_matrix`, bilinear or area-averaging), applied as two matrix products per slice
  instead of gathered taps (sums in another order: differences of ~1e-5 grey levels);
* scaling and normalisation: the same float32 operations in the same order.

Like :mod:`mscc_desktop.inference.backends.torch`, it imports torch only when constructed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.findings import Box
from mscc_desktop.core.windows import Window, linear_voi
from mscc_desktop.inference.preprocess import PreparedBatch, SquareFit, crop_region, interp_matrix


class TorchPreprocessor:
    """:class:`~mscc_desktop.inference.preprocess.BatchPreprocessor` on a torch device.

    Its :class:`~mscc_desktop.inference.preprocess.PreparedBatch` holds device tensors: the
    windowed grey levels as float32 ``(batch, window, row, col)`` and the detector input.
    """

    def __init__(self, device: Any) -> None:
        import torch

        self._torch = torch
        self._device = torch.device(device)

    def _matrix(self, n_out: int, start: float, length: float, n_in: int) -> Any:
        return self._torch.from_numpy(interp_matrix(n_out, start, length, n_in))

    def window(self, hu: Any, windows: tuple[Window, ...]) -> Any:
        """Grey levels 0-255 (float32) ``(batch, window, row, col)`` of device HU ``hu``
        ``(batch, row, col)``: :func:`~mscc_desktop.core.windows.window_to_uint8`'s steps."""
        torch = self._torch
        values = hu.to(torch.float32)
        out = torch.empty(
            (values.shape[0], len(windows), *values.shape[1:]),
            dtype=torch.float32,
            device=values.device,
        )
        for index, window in enumerate(windows):
            # The reference's float32 constants; mul and add stay separate kernels (a fused
            # multiply-add would round differently).
            scale, offset = linear_voi(window)
            work = torch.mul(values, float(scale))
            work = torch.add(work, float(offset))
            work.clamp_(0.0, 255.0)
            work.add_(0.5).floor_()
            out[:, index] = work
        return out

    def detector_batch(
        self,
        hu: npt.NDArray[np.int16] | npt.NDArray[np.float32],
        *,
        windows: tuple[Window, ...],
        size: int,
    ) -> PreparedBatch:
        torch = self._torch
        with torch.inference_mode():
            # int16 stays int16 on the way (a quarter of float32's bytes).
            source = torch.from_numpy(np.ascontiguousarray(hu)).to(self._device)
            windowed = self.window(source, windows)
            batch, channels, rows, cols = windowed.shape
            fit = SquareFit(rows, cols, size)
            side = fit.side
            if rows != cols:
                # Padding on the right/bottom (as the reference): slice pixel (0, 0) stays
                # at detector pixel (0, 0); air is black in every window.
                padded = windowed.new_zeros((batch, channels, side, side))
                padded[:, :, :rows, :cols] = windowed
                image = padded
            else:
                image = windowed
            if side != size:
                matrix = self._matrix(size, 0.0, float(side), side).to(self._device)
                image = torch.matmul(torch.matmul(matrix, image), matrix.T)
            image = torch.mul(image, float(np.float32(1.0 / 255.0)))
        return PreparedBatch(windowed, image.contiguous(), fit)

    def grader_batch(
        self,
        batch: PreparedBatch,
        indices: Sequence[int],
        boxes: Sequence[Box],
        *,
        size: int,
        margin: float,
        mean: tuple[float, ...],
        std: tuple[float, ...],
    ) -> Any:
        torch = self._torch
        if len(indices) != len(boxes):
            raise ValueError(f"{len(boxes)} boxes for {len(indices)} slices")
        windowed = batch.windowed
        rows, cols = int(windowed.shape[-2]), int(windowed.shape[-1])
        row_mats, col_mats = [], []
        for box in boxes:
            x0, y0, x1, y1 = crop_region(box, margin=margin)
            row_mats.append(interp_matrix(size, float(y0), float(y1 - y0), rows))
            col_mats.append(interp_matrix(size, float(x0), float(x1 - x0), cols))
        with torch.inference_mode():
            picked = windowed[torch.as_tensor(list(indices), device=windowed.device)]
            row_w = torch.from_numpy(np.stack(row_mats)).to(self._device)  # (n, S, rows)
            col_w = torch.from_numpy(np.stack(col_mats)).to(self._device)  # (n, S, cols)
            # (n, 1, S, rows) @ (n, W, rows, cols) @ (n, 1, cols, S) -> (n, W, S, S)
            crops = torch.matmul(row_w[:, None], picked)
            crops = torch.matmul(crops, col_w[:, None].transpose(-1, -2))
            crops = torch.mul(crops, float(np.float32(1.0 / 255.0)))
            n_windows = crops.shape[1]
            mean_t = torch.tensor(mean, dtype=torch.float32, device=self._device)
            std_t = torch.tensor(std, dtype=torch.float32, device=self._device)
            crops = crops - mean_t.reshape(1, n_windows, 1, 1)
            crops = crops / std_t.reshape(1, n_windows, 1, 1)
        return crops.contiguous()


__all__ = ["TorchPreprocessor"]
