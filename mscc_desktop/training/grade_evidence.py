"""Can the image show a synthetic slice's Bilsky grade? The grader's calls against the geometry.

The generator labels each slice from its canal masks on a fine grid
(``synth.canal.derive_grade``): 1a from 0.5 mm² of epidural tumour, 1b from 0.3 mm² of thecal
sac lost to it, 1c from 0.5 mm of tumour-cord contact. A CT pixel is 0.36-0.96 mm² and the
reconstruction kernel blurs further, so some labels rest on geometry below what the slice can
show. :func:`grade_evidence` re-renders the test studies' truth from their seeds (``dataset.json``;
the generator is deterministic), runs the model through the app's pipeline
(:func:`~mscc_desktop.training.acceptance.collect_predictions`, the manifest's thresholds) and
tables the calls at the two boundaries where the acceptance errors sit:

* 1a slices by epidural tumour area, in CT pixels: is a 1a called normal because there is
  almost nothing to see?
* 1b slices by the smallest tumour-to-cord gap (mm and CT pixels): is a 1b called high
  because the CSF left between tumour and cord is thinner than a pixel?
* both by the study's tumour contrast: tumour HU above both CSF and epidural fat, in units of
  the scanner noise SD (as ``scripts/grader_domain_check.py`` computes it).

It describes the test set and the model; nothing is tuned on it. Command line:

    python scripts/grade_evidence_check.py --model DIR --test WORK/test [--json out.json]
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from mscc_desktop.core.grades import GROUP_ORDER
from mscc_desktop.inference.backends import resolve_model
from mscc_desktop.synth.canal import CanalMasks
from mscc_desktop.synth.generate import generate_study
from mscc_desktop.synth.params import GeneratorConfig
from mscc_desktop.synth.sampling import sample_study, study_seed
from mscc_desktop.training.acceptance import called_groups, collect_predictions
from mscc_desktop.training.study_reader import find_studies

AREA_BINS_PX = (0.0, 2.0, 5.0, 10.0, 20.0, np.inf)
GAP_BINS_PX = (0.0, 1.0, 2.0, 3.0, 5.0, np.inf)
CONTRAST_BINS_SD = (-np.inf, 1.5, 3.0, 6.0, np.inf)
# The tables of :func:`grade_evidence`: grade, geometry key, bins, what is binned, its unit.
TABLES: tuple[tuple[str, str, tuple[float, ...], str, str], ...] = (
    ("1a", "tumour_px", AREA_BINS_PX, "epidural tumour area (CT pixels)", "area px"),
    ("1a", "contrast_sd", CONTRAST_BINS_SD, "tumour contrast (noise SDs)", "contrast SD"),
    ("1b", "gap_px", GAP_BINS_PX, "tumour-to-cord gap (CT pixels)", "gap px"),
    ("1b", "contrast_sd", CONTRAST_BINS_SD, "tumour contrast (noise SDs)", "contrast SD"),
)


def _tumour_cord_gap_mm(masks: CanalMasks) -> float:
    """Smallest distance from tumour to cord on the fine grid (0 when they touch)."""
    if not masks.tumour.any() or not masks.cord.any():
        return float("nan")
    distance = ndimage.distance_transform_edt(~masks.cord) * masks.pixel_mm
    return float(max(0.0, distance[masks.tumour].min() - masks.pixel_mm))


def _geometry(test_dir: Path, names: tuple[str, ...]) -> dict[tuple[str, int], dict[str, Any]]:
    """Per (study, slice index): tumour area and tumour-cord gap, in mm and CT pixels."""
    dataset = json.loads((test_dir / "dataset.json").read_text())
    seed = int(dataset["seeds"][0])
    config = GeneratorConfig(
        class_mix=tuple(dataset["config"]["class_mix"]),
        no_disease_fraction=float(dataset["config"]["no_disease_fraction"]),
        render_slices=dataset["config"]["render_slices"],
        max_slices=dataset["config"]["max_slices"],
    )
    prefix = names[0].rsplit("_", 1)[0] + "_"
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for name in names:
        index = int(name.removeprefix(prefix))
        params = sample_study(study_seed(seed, index), config, study_id=name)
        chosen = config.rendered_indices(params.scan.n_slices)
        study = generate_study(params, slices=list(chosen), keep_masks=True, workers=1)
        assert study.masks is not None
        pixel_mm2 = params.scan.pixel_spacing_mm**2
        tissues = params.tissues
        contrast = tissues.canal_tumour_contrast / (params.scan.noise_sd_hu)
        for truth, masks in zip(study.truths, study.masks, strict=True):
            gap = _tumour_cord_gap_mm(masks)
            out[(name, truth.index)] = {
                "grade": truth.grade.value,
                "tumour_px": truth.evidence.tumour_mm2 / pixel_mm2,
                "gap_mm": gap,
                "gap_px": gap / params.scan.pixel_spacing_mm,
                "slice_mm": params.scan.slice_thickness_mm,
                "contrast_sd": contrast,
            }
    return out


def _binned(values: list[float], calls: list[str], bins: tuple[float, ...]) -> list[dict[str, Any]]:
    rows = []
    for low, high in itertools.pairwise(bins):
        picked = [c for v, c in zip(values, calls, strict=True) if low <= v < high]
        counts = Counter(picked)
        rows.append({"from": low, "to": high, "n": len(picked), **{g: counts[g] for g in
                     ("normal", "low", "high", "not graded")}})  # fmt: skip
    return rows


def grade_evidence(model: Path, test: Path) -> dict[str, Any]:
    """The model's calls on the test set's 1a and 1b slices, binned by their geometry.

    Returns a JSON object: ``model``, ``test`` and one list of bins per :data:`TABLES` row,
    ``"<grade>_by_<key>"`` (each bin: ``from``, ``to``, ``n`` and the count of each call).
    """
    folders = find_studies(test)
    predictions = collect_predictions(model, folders)
    called = called_groups(predictions, resolve_model(model).thresholds)
    geometry = _geometry(test, predictions.study_names)
    by_grade: dict[str, tuple[list[dict[str, Any]], list[str]]] = {"1a": ([], []), "1b": ([], [])}
    for i, grade in enumerate(predictions.truth_grade):
        if grade not in by_grade or predictions.degenerative[i]:
            continue
        name = predictions.study_names[predictions.study[i]]
        geo = geometry[(name, predictions.slice_index[i])]
        assert geo["grade"] == grade, (name, predictions.slice_index[i])
        call = GROUP_ORDER[called[i]].value if called[i] >= 0 else "not graded"
        by_grade[grade][0].append(geo)
        by_grade[grade][1].append(call)
    result: dict[str, Any] = {"model": str(model), "test": str(test)}
    for grade, key, bins, _what, _unit in TABLES:
        geos, calls = by_grade[grade]
        result[f"{grade}_by_{key}"] = _binned([g[key] for g in geos], calls, bins)
    return result


__all__ = ["AREA_BINS_PX", "CONTRAST_BINS_SD", "GAP_BINS_PX", "TABLES", "grade_evidence"]
