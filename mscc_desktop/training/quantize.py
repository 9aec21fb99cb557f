"""An int8 copy of the exported canal detector for ONNX Runtime on the CPU.

On the CPU the detector's convolutions are most of a study's analysis time. ONNX Runtime's
static quantization (``onnxruntime.quantization``, QDQ format, per-channel int8 weights,
uint8 activations calibrated on real detector inputs) runs them on the integer dot-product
units of current CPUs (AVX-VNNI, AVX512-VNNI, ARM dot-product). Only ``Conv`` nodes are
quantized: the backbone, FPN and RPN head. The box head, box decoding, NMS and RoIAlign stay in
float, so the box coordinates themselves are not quantized.

Calibration images are windowed slices of the training studies through the app's own
:func:`~mscc_desktop.inference.preprocess.detector_input`, so the activation ranges are those
the detector meets at inference. The copy is checked against the float detector on those
images before a manifest lists it (:func:`compare_detectors`); the model's evaluation then runs
on the CPU backend, i.e. on the int8 copy.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.dicom import open_folder
from mscc_desktop.core.errors import MsccError, NothingToLoadError
from mscc_desktop.core.windows import window_stack
from mscc_desktop.inference.preprocess import detector_input

FloatArray = npt.NDArray[np.float32]

# Where the float detector finds a canal, the int8 copy's box may differ by this much (detector
# pixels; 1 px at D = 320 is 1.6 px of a 512 slice). Measured on E7's detector: 0.74 px at most
# on 52 calibration slices, median 0.07 px.
INT8_BOX_TOLERANCE_PX = 2.0
# Boxes are compared where both detectors score at least FOUND_SCORE; a canal the float
# detector finds clearly (FOUND_SCORE + SCORE_MARGIN) must still score FOUND_SCORE in int8.
# (Scores near the threshold may cross it either way; E7's moved by at most 0.11.)
FOUND_SCORE = 0.5
SCORE_MARGIN = 0.15


@dataclass(frozen=True, slots=True)
class Int8Check:
    """How the int8 detector compares with the float one on the calibration images."""

    images: int
    found_by_float: int
    found_by_both: int
    median_box_px: float
    max_box_px: float
    max_score_diff: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class QuantizationError(MsccError):
    """The int8 detector cannot be made or disagrees with the float detector."""


def calibration_images(
    data_dir: Path, *, size: int, max_images: int = 96, max_studies: int = 8
) -> FloatArray:
    """Detector inputs ``(N, 3, size, size)`` from up to ``max_studies`` study folders.

    Slices are spread evenly over each study so the whole scanned range (neck to pelvis) is
    represented. Any DICOM folder works; labels are not needed.
    """
    folders = sorted(p for p in Path(data_dir).iterdir() if p.is_dir())[:max_studies]
    if not folders:
        raise QuantizationError(f"No study folders in {data_dir} to calibrate the int8 detector.")
    per_study = max(1, max_images // len(folders))
    images: list[FloatArray] = []
    for folder in folders:
        try:
            hu = open_folder(folder).volume.hu
        except NothingToLoadError:
            continue
        for index in np.linspace(0, hu.shape[0] - 1, min(per_study, hu.shape[0])).astype(int):
            tensor, _ = detector_input(window_stack(hu[index])[None], size=size)
            images.append(tensor[0])
    if not images:
        raise QuantizationError(f"No readable CT series in {data_dir} to calibrate with.")
    return np.stack(images).astype(np.float32)


class _Feed:
    """``onnxruntime.quantization.CalibrationDataReader``: one image per step."""

    def __init__(self, name: str, images: FloatArray) -> None:
        self._items: Iterator[dict[str, FloatArray]] = iter(
            {name: images[i : i + 1]} for i in range(images.shape[0])
        )

    def get_next(self) -> dict[str, FloatArray] | None:
        return next(self._items, None)


def quantize_detector(float_path: Path, out_path: Path, images: FloatArray) -> None:
    """Write ``out_path``: ``float_path`` with int8 convolutions calibrated on ``images``."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="mscc-quantize-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # Constant folding and shape inference first, as ONNX Runtime recommends; the symbolic
        # pass is skipped because the torchvision ops (NMS, RoIAlign) defeat it.
        quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(out_path),
            _Feed("images", images),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv"],
        )


def compare_detectors(
    float_boxes: FloatArray,
    float_scores: FloatArray,
    int8_boxes: FloatArray,
    int8_scores: FloatArray,
) -> Int8Check:
    """Agreement of the two detectors' top boxes; raises :class:`QuantizationError` beyond
    :data:`INT8_BOX_TOLERANCE_PX` or when a canal the float detector finds is lost."""
    found = float_scores >= FOUND_SCORE
    both = found & (int8_scores >= FOUND_SCORE)
    lost = int(((float_scores >= FOUND_SCORE + SCORE_MARGIN) & (int8_scores < FOUND_SCORE)).sum())
    diffs: Sequence[float] = (
        np.abs(float_boxes[both] - int8_boxes[both]).max(axis=1).tolist() if both.any() else []
    )
    check = Int8Check(
        images=int(float_scores.shape[0]),
        found_by_float=int(found.sum()),
        found_by_both=int(both.sum()),
        median_box_px=round(float(statistics.median(diffs)) if diffs else 0.0, 4),
        max_box_px=round(float(max(diffs)) if diffs else 0.0, 4),
        max_score_diff=round(float(np.abs(float_scores - int8_scores).max()), 4),
    )
    if lost:
        raise QuantizationError(
            f"The int8 detector lost {lost} of {check.found_by_float} canals the float "
            "detector finds on the calibration images."
        )
    if check.max_box_px > INT8_BOX_TOLERANCE_PX:
        raise QuantizationError(
            f"The int8 detector's boxes differ from the float detector's by up to "
            f"{check.max_box_px:.2f} px (tolerance {INT8_BOX_TOLERANCE_PX} px)."
        )
    return check


__all__ = [
    "INT8_BOX_TOLERANCE_PX",
    "Int8Check",
    "QuantizationError",
    "calibration_images",
    "compare_detectors",
    "quantize_detector",
]
