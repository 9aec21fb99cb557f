"""What the pipeline and the backends need to know about a model, from its manifest.

:class:`ModelSettings` is the flat view of a verified
:class:`~mscc_desktop.inference.manifest.ModelManifest` (sizes, normalisation, windows,
thresholds, identity, file paths); tests and fakes build one directly, without a model folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mscc_desktop.core.findings import Thresholds
from mscc_desktop.core.windows import PAPER_WINDOWS, WINDOW_ORDER, Window, WindowPreset
from mscc_desktop.inference.manifest import ModelManifest
from mscc_desktop.inference.probabilities import MAX_TEMPERATURE, MIN_TEMPERATURE


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """What the pipeline needs to know about a model (filled from its manifest).

    Parameters
    ----------
    model_id, model_version, model_sha256
        Identity recorded in every analysis (:class:`ModelProvenance`).
    detector_size
        Square detector input side (pixels).
    grader_size, crop_margin
        Grader crop side (pixels) and margin around the canal box (fraction of its larger side).
    grader_mean, grader_std
        Per-window normalisation of the [0, 1] crops, in ``presets`` order.
    presets, windows
        The model's windows, in channel order: names (recorded as ``windows_used``) and W/L.
    thresholds
        The model's decision thresholds (an analysis may override them), on the scale of the
        probabilities after ``probability_temperature``.
    probability_temperature
        Temperature scaling applied to the fused probabilities before the thresholds, in
        exactly one place (``pipeline._infer``); 1.0 changes nothing.
    limitations
        The model card's plain-language limitation statements (recorded with every analysis).
    synthetic_only
        Trained on synthetic phantoms only (shown on every result and report).
    folder, detector_onnx, grader_onnx, detector_torch, grader_torch, detector_onnx_int8
        Where the model's files are (verified by the manifest loader); ``None`` when absent.
        ``detector_onnx_int8`` is what the ONNX Runtime CPU backend runs when present.
    """

    model_id: str
    model_version: str
    model_sha256: str
    detector_size: int
    grader_size: int
    crop_margin: float
    grader_mean: tuple[float, ...]
    grader_std: tuple[float, ...]
    presets: tuple[WindowPreset, ...] = WINDOW_ORDER
    windows: tuple[Window, ...] = tuple(PAPER_WINDOWS.values())
    thresholds: Thresholds = field(default_factory=Thresholds)
    probability_temperature: float = 1.0
    limitations: tuple[str, ...] = ()
    synthetic_only: bool = True
    folder: Path | None = None
    detector_onnx: Path | None = None
    grader_onnx: Path | None = None
    detector_torch: Path | None = None
    grader_torch: Path | None = None
    detector_onnx_int8: Path | None = None

    def __post_init__(self) -> None:
        n = len(self.presets)
        if not (len(self.windows) == len(self.grader_mean) == len(self.grader_std) == n) or n < 1:
            raise ValueError("model windows, means and stds must have one entry per window")
        if self.detector_size < 16 or self.grader_size < 8 or self.crop_margin < 0:
            raise ValueError("model input sizes or crop margin out of range")
        if not MIN_TEMPERATURE <= self.probability_temperature <= MAX_TEMPERATURE:
            raise ValueError(
                f"probability temperature {self.probability_temperature} is outside "
                f"[{MIN_TEMPERATURE:g}, {MAX_TEMPERATURE:g}]"
            )

    @classmethod
    def from_manifest(cls, manifest: ModelManifest) -> ModelSettings:
        """The settings of a verified model folder (:func:`~.model_folder.load_model_folder`)."""
        return cls(
            model_id=manifest.model_id,
            model_version=manifest.version,
            model_sha256=manifest.model_sha256,
            detector_size=manifest.detector.input_size,
            grader_size=manifest.grader.input_size,
            crop_margin=manifest.grader.crop_margin,
            grader_mean=manifest.grader.mean,
            grader_std=manifest.grader.std,
            presets=manifest.presets,
            windows=manifest.window_objects,
            thresholds=manifest.thresholds,
            probability_temperature=manifest.probability_temperature,
            limitations=manifest.limitations,
            synthetic_only=manifest.synthetic_only,
            folder=manifest.folder,
            detector_onnx=manifest.detector_path,
            grader_onnx=manifest.grader_path,
            detector_torch=manifest.detector_torch_path,
            grader_torch=manifest.grader_torch_path,
            detector_onnx_int8=manifest.detector_int8_path,
        )


def model_settings(model: ModelManifest | ModelSettings) -> ModelSettings:
    """Accept either a loaded manifest or ready settings."""
    return model if isinstance(model, ModelSettings) else ModelSettings.from_manifest(model)


__all__ = ["ModelSettings", "model_settings"]
