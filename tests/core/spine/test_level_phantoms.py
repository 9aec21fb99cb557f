"""Levels on generated phantoms, whose true level is known on every slice."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mscc_desktop.core.spine.centreline import centreline_from_centres
from mscc_desktop.core.spine.level_estimate import estimate_levels
from mscc_desktop.core.spine.levels import LevelEstimate, LevelStatus
from mscc_desktop.core.tasks import CancelToken
from mscc_desktop.core.vertebral_levels import LEVEL_RANK
from mscc_desktop.core.volume import Volume
from mscc_desktop.synth import SynthStudy, generate_study
from mscc_desktop.synth.params import GeneratorConfig
from mscc_desktop.synth.sampling import sample_study
from mscc_desktop.synth.study_volume import study_volume, truth_canal_centres, truth_levels


def render(seed: int) -> SynthStudy:
    return generate_study(sample_study(seed, GeneratorConfig(matrix=256)), workers=1)


@pytest.fixture(scope="module")
def phantom() -> SynthStudy:
    """C6/C7 to L3/L4 in 77 slices 5 mm apart (about 2 s to render)."""
    return render(2005)


def correct_share(estimate: LevelEstimate, truths: list[str]) -> float:
    """Share of slices whose estimate is the true level (either neighbour in a disc)."""
    good = 0
    for estimated, truth in zip(estimate.levels, truths, strict=True):
        if estimated is not None:
            ranks = [LEVEL_RANK[name] for name in truth.split("/")]
            good += LEVEL_RANK[estimated] in ranks
    return good / len(truths)


def estimate_on(volume: Volume, study: SynthStudy, keep: slice = slice(None)) -> LevelEstimate:
    centres = truth_canal_centres(study)[keep]
    return estimate_levels(volume, centreline_from_centres(volume, centres))


def cut(volume: Volume, keep: slice) -> Volume:
    return dataclasses.replace(
        volume,
        hu=volume.hu[keep],
        z_mm=volume.z_mm[keep],
        positions_mm=volume.positions_mm[keep],
        sop_instance_uids=volume.sop_instance_uids[keep],
        source_files=volume.source_files[keep],
        frame_indices=volume.frame_indices[keep],
    )


def test_phantom_levels_are_right_on_nearly_every_slice(phantom: SynthStudy) -> None:
    progress: list[float] = []
    volume = study_volume(phantom)
    line = centreline_from_centres(volume, truth_canal_centres(phantom))
    estimate = estimate_levels(volume, line, progress=lambda f, _t: progress.append(f))
    assert estimate.status is LevelStatus.PROPOSED
    assert estimate.landmarks  # counted from the first rib, the last, or both
    assert correct_share(estimate, truth_levels(phantom)) >= 0.95
    assert progress and progress[-1] == 1.0


def test_a_mid_thoracic_stretch_is_refused_not_guessed(phantom: SynthStudy) -> None:
    truths = truth_levels(phantom)
    first = truths.index("T4")
    last = len(truths) - 1 - truths[::-1].index("T9")
    keep = slice(first, last + 1)
    estimate = estimate_on(cut(study_volume(phantom), keep), phantom, keep)
    assert estimate.status is LevelStatus.UNSURE
    assert set(estimate.levels) == {None}


def test_cancelling_stops_the_estimate(phantom: SynthStudy) -> None:
    from mscc_desktop.core.tasks import Cancelled

    token = CancelToken()
    token.cancel()
    volume = study_volume(phantom)
    line = centreline_from_centres(volume, truth_canal_centres(phantom))
    with pytest.raises(Cancelled):
        estimate_levels(volume, line, cancel=token)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2001, 2007, 2010, 2016])  # 2, 1.25, 5 and 3 mm slices
def test_more_phantoms(seed: int) -> None:
    study = render(seed)
    estimate = estimate_on(study_volume(study), study)
    assert estimate.status is LevelStatus.PROPOSED
    assert correct_share(estimate, truth_levels(study)) >= 0.95
    assert np.isfinite(estimate.confidence)
