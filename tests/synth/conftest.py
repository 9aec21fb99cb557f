"""Small generated studies shared by the synth tests (built once per session)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mscc_desktop.synth import SynthStudy, demo_study, generate_study
from mscc_desktop.synth.params import StudyParams


def lesion_slices(params: StudyParams) -> list[int]:
    """Indices of the slices nearest each epidural lesion's centre and each mimic."""
    z = np.array(params.scan.z_positions())
    centres = [les.z_centre_mm for les in params.epidural] + [
        d.z_centre_mm for d in params.degenerative
    ]
    return sorted({int(np.argmin(np.abs(z - c))) for c in centres})


@pytest.fixture(scope="session")
def demo_params() -> StudyParams:
    return demo_study(matrix=128)


@pytest.fixture(scope="session")
def demo_subset(demo_params: StudyParams) -> SynthStudy:
    """The demo's lesion slices plus a few normal ones, at 128², with noise."""
    chosen = sorted(set(lesion_slices(demo_params)) | {0, 40, 100, 119})
    return generate_study(demo_params, slices=chosen, keep_masks=True)


@pytest.fixture(scope="session")
def clean_subset() -> SynthStudy:
    """The demo's lesion slices at 256², without noise, blur or streaks (pixel checks)."""
    base = demo_study(matrix=256)
    scan = dataclasses.replace(
        base.scan, noise_sd_hu=0.0, sharpness=50.0, overshoot=0.0, streak_hu=0.0
    )
    params = dataclasses.replace(base, scan=scan)
    return generate_study(params, slices=lesion_slices(params), keep_masks=True)
