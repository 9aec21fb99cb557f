"""Accuracy of the automatic vertebral levels on phantoms and on real CT with read levels.

Phantoms: studies drawn by the generator (``synth.sampling.sample_study``, C7 to L3 by
default, every slice spacing the generator draws) rendered at ``--matrix``; the canal
centreline comes from the phantom's true canal boxes, so the figure measures the level
estimator, not the detector. A slice in a disc (truth ``"T6/T7"``) counts as correct when the
estimate is either neighbour.

Real CT: every series in the folders of the reference files (``*.json`` in ``reference_dir``,
``tests/data/vertebral_levels`` in this repository: levels read by eye on some slices of
each, keyed by slice position z; see ``docs/VERTEBRAL_LEVELS.md``), with the hand-checked
canal boxes (``tests/data/real_canal_boxes``) as the centreline, scored on the labelled
slices.

For each set: slices correct, off by one level, off by more, not estimated (beyond the
levels the estimate extends to) and unsure (the study was refused), as shares of all slices;
and accuracy over the slices that were given a level. ``scripts/level_accuracy.py`` runs it.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mscc_desktop.core.errors import UnusableSeriesError
from mscc_desktop.core.findings import SliceResult
from mscc_desktop.core.spine.centreline import centreline_from_centres, centreline_from_results
from mscc_desktop.core.spine.level_estimate import estimate_levels
from mscc_desktop.core.spine.levels import LevelEstimate
from mscc_desktop.core.vertebral_levels import LEVEL_RANK
from mscc_desktop.core.volume import Volume
from mscc_desktop.synth import generate_study
from mscc_desktop.synth.params import GeneratorConfig
from mscc_desktop.synth.sampling import sample_study
from mscc_desktop.synth.study_volume import study_volume, truth_canal_centres, truth_levels

logger = logging.getLogger(__name__)

Say = Callable[[str], None]


@dataclass
class Tally:
    """Slice outcomes (:func:`outcome`) of one set of studies."""

    counts: Counter[str]

    def add(self, estimate: LevelEstimate, truths: Sequence[str | None]) -> None:
        for estimated, truth in zip(estimate.levels, truths, strict=True):
            if truth is None:
                continue
            self.counts[outcome(estimated, truth, estimate.proposed)] += 1

    def line(self, name: str) -> str:
        total = sum(self.counts.values())
        given = self.counts["correct"] + self.counts["off_by_one"] + self.counts["off_more"]

        def share(key: str) -> str:
            return f"{100.0 * self.counts[key] / max(total, 1):.1f} % ({self.counts[key]})"

        return (
            f"{name}: {total} slices | correct {share('correct')} | off by one "
            f"{share('off_by_one')} | off by more {share('off_more')} | not estimated "
            f"{share('not_estimated')} | unsure {share('unsure')} | correct of those given a "
            f"level {100.0 * self.counts['correct'] / max(given, 1):.1f} %"
        )


def outcome(estimated: str | None, truth: str, proposed: bool) -> str:
    """'correct', 'off_by_one', 'off_more', 'not_estimated' or 'unsure' for one slice."""
    if not proposed:
        return "unsure"
    if estimated is None:
        return "not_estimated"
    allowed = [LEVEL_RANK[name] for name in truth.split("/")]
    distance = min(abs(LEVEL_RANK[estimated] - rank) for rank in allowed)
    return "correct" if distance == 0 else "off_by_one" if distance == 1 else "off_more"


def phantom_case(seed: int, matrix: int) -> tuple[LevelEstimate, list[str], str]:
    params = sample_study(seed, GeneratorConfig(matrix=matrix))
    study = generate_study(params, workers=1)
    volume = study_volume(study)
    line = centreline_from_centres(volume, truth_canal_centres(study))
    estimate = estimate_levels(volume, line)
    truths = truth_levels(study)
    scan = params.scan
    about = f"{scan.n_slices} slices at {scan.slice_spacing_mm:g} mm, {truths[0]}..{truths[-1]}"
    return estimate, truths, about


def run_phantoms(count: int, first_seed: int, matrix: int, *, say: Say = logger.info) -> Tally:
    """Phantoms of ``count`` seeds from ``first_seed``; ``say`` gets a line per phantom."""
    tally = Tally(Counter())
    for seed in range(first_seed, first_seed + count):
        start = time.perf_counter()
        estimate, truths, about = phantom_case(seed, matrix)
        case = Tally(Counter())
        case.add(estimate, truths)
        tally.add(estimate, truths)
        took = time.perf_counter() - start
        say(f"  seed {seed} ({about}, {took:.1f} s): {estimate.status}; {estimate.reason}")
        say("    " + case.line("this phantom"))
    return tally


def run_real(
    data_root: Path,
    *,
    reference_dir: Path,
    canal_boxes: Path,
    detector: str | None = None,
    say: Say = logger.info,
) -> list[tuple[str, Tally]]:
    """Every series in each reference's folder, scored on the slices the reference labels.

    The centreline comes from the hand-checked canal boxes in ``canal_boxes``, or with
    ``detector`` (a model id or folder, "" for the default model) from that model's boxes, as
    in the app. ``say`` gets a line per series.
    """
    from mscc_desktop.core.dicom import load_series, scan_folder
    from mscc_desktop.evaluation.real_canal import labelled_real_slices

    analyse = None if detector is None else _detector(detector, say)

    boxes = {s.dicom_path.resolve(): s.box for s in labelled_real_slices(canal_boxes, data_root)}
    results = []
    for reference_file in sorted(reference_dir.glob("*.json")):
        reference = json.loads(reference_file.read_text(encoding="utf-8"))
        labelled = {float(z): level for z, level in reference["levels_by_z_mm"].items()}
        for entry in scan_folder(data_root / reference["folder"]).series:
            if len(entry.frames) < 10:
                continue
            volume = load_series(entry)
            if analyse is not None:
                try:
                    line = centreline_from_results(volume, analyse(volume))
                except UnusableSeriesError as error:
                    say(f"  {reference_file.stem}: no centreline: {error}")
                    continue
            else:
                centres: list[tuple[float, float] | None] = []
                for path in volume.source_files:
                    box = boxes.get(Path(path).resolve())
                    centres.append(None if box is None else (box.centre[1], box.centre[0]))
                line = centreline_from_centres(volume, centres)
            estimate = estimate_levels(volume, line)
            truths = [reference_level(labelled, float(z)) for z in volume.z_mm]
            tally = Tally(Counter())
            tally.add(estimate, truths)
            label = f"{reference_file.stem} {entry.info.convolution_kernel or ''}".strip()
            say(f"  {label}: {estimate.status}; {estimate.reason}")
            results.append((label, tally))
    return results


def _detector(model: str, say: Say) -> Callable[[Volume], Sequence[SliceResult]]:
    from mscc_desktop.inference.backends import create_backend, load_model_settings
    from mscc_desktop.inference.pipeline import analyse_volume

    settings = load_model_settings(model or None)
    backend = create_backend(settings)
    say(f"  canal boxes from {settings.model_id} {settings.model_version} ({backend.device})")

    def analyse(volume: Volume) -> Sequence[SliceResult]:
        findings = analyse_volume(volume, backend, settings).findings
        return findings.slices if findings is not None else ()

    return analyse


def reference_level(labelled: dict[float, str], z_mm: float) -> str | None:
    """The level read for the slice at ``z_mm`` (within 0.5 mm), or None if not labelled."""
    for z, level in labelled.items():
        if abs(z - z_mm) <= 0.5:
            return level
    return None


__all__ = ["Tally", "outcome", "phantom_case", "reference_level", "run_phantoms", "run_real"]
