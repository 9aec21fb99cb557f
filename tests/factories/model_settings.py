"""Model settings for tests that run the pipeline on the fake backend (no model files)."""

from __future__ import annotations

from typing import Any

from mscc_desktop.inference.pipeline import ModelSettings


def fake_model_settings(**changes: Any) -> ModelSettings:
    """A small fake model's settings (96-px detector, 32-px grader, flat normalisation);
    ``changes`` override any field, e.g. the id a report should show."""
    values: dict[str, Any] = {
        "model_id": "fake-model",
        "model_version": "1.0",
        "model_sha256": "ef" * 32,
        "detector_size": 96,
        "grader_size": 32,
        "crop_margin": 0.25,
        "grader_mean": (0.5, 0.5, 0.5),
        "grader_std": (0.25, 0.25, 0.25),
    }
    values.update(changes)
    return ModelSettings(**values)


# The settings most pipeline tests share.
FAKE_SETTINGS = fake_model_settings()
