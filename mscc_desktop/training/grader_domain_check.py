"""Where does a trained grader see disease that is not there? A sim-to-real diagnostic.

:func:`domain_check` reports (``scripts/grader_domain_check.py`` prints) the mean fused
probabilities (normal, low, high) and the share argmax-normal for

* synthetic *normal* slices of the test studies, split by whether a bone-only metastasis
  (no epidural disease) crosses the slice: the generator pairs every epidural lesion with a
  bone lesion, so a grader that learnt "abnormal bone means MSCC" shows it here;
* the hand-labelled real CT slices (``tests/data/real_canal_boxes`` in this repository, no
  epidural disease),
  graded inside their hand-drawn boxes, so detector error plays no part.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mscc_desktop.synth.params import TissueHU

logger = logging.getLogger(__name__)


def _bone_only_flags(folders: list[Path]) -> np.ndarray:
    """Per labelled slice (labels.csv order): a bone-only metastasis crosses its z."""
    flags: list[bool] = []
    for folder in folders:
        bones = json.loads((folder / "study.json").read_text())["parameters"]["bone"]
        with (folder / "labels.csv").open(newline="") as handle:
            for row in csv.DictReader(handle):
                z = float(row["z_mm"])
                flags.append(any(abs(z - b["z_centre_mm"]) <= b["half_height_mm"] for b in bones))
    return np.asarray(flags)


def _lesion_contrast(folders: list[Path]) -> np.ndarray:
    """Per labelled slice (labels.csv order): how far the study's tumour HU stands above both
    CSF and epidural fat, in units of its scanner noise SD (a contrast-to-noise ratio)."""
    values: list[float] = []
    for folder in folders:
        parameters = json.loads((folder / "study.json").read_text())["parameters"]
        tissues, noise = parameters["tissues"], parameters["scan"]["noise_sd_hu"]
        contrast = TissueHU(**tissues).canal_tumour_contrast
        with (folder / "labels.csv").open(newline="") as handle:
            values.extend(contrast / noise for _ in csv.DictReader(handle))
    return np.asarray(values)


def _real_canal_hu(real_data: Path, real_boxes: Path) -> np.ndarray:
    """Mean HU in a disc at the centre of each hand-drawn canal box (radius 0.22 × the box's
    smaller side: the thecal sac and the cord, clear of the bony rim)."""
    from mscc_desktop.evaluation.real_canal import labelled_real_slices, load_labelled_slice

    means = []
    for labelled in labelled_real_slices(real_boxes, real_data):
        hu = load_labelled_slice(labelled).hu[0].astype(np.float64)
        box = labelled.box
        (cx, cy), radius = box.centre, 0.22 * min(box.width, box.height)
        rows, cols = np.mgrid[0 : hu.shape[0], 0 : hu.shape[1]] + 0.5
        means.append(float(hu[(cols - cx) ** 2 + (rows - cy) ** 2 <= radius**2].mean()))
    return np.asarray(means)


def _real_probabilities(
    model_dir: Path, real_data: Path, real_boxes: Path, say: Callable[[str], None]
) -> np.ndarray:
    """Fused probabilities of the hand-labelled real slices, graded in the drawn boxes with
    the pipeline's own windowing and crop."""
    from mscc_desktop.evaluation.real_canal import drawn_box_crops, labelled_real_slices
    from mscc_desktop.inference.backends import create_backend, resolve_model
    from mscc_desktop.inference.model_settings import model_settings
    from mscc_desktop.inference.probabilities import fuse_windows

    manifest = resolve_model(model_dir)
    backend = create_backend(manifest, "onnx-cpu")
    model = model_settings(manifest)
    slices = labelled_real_slices(real_boxes, real_data)
    crops = drawn_box_crops(
        slices,
        size=model.grader_size,
        margin=model.crop_margin,
        mean=model.grader_mean,
        std=model.grader_std,
    )
    windows = [backend.grade(crop)[0] for crop in crops]
    for index, preset in enumerate(model.presets):
        say(_line(f"real CT, {preset.value} window alone", np.asarray([w[index] for w in windows])))
    return np.asarray([fuse_windows(w[None])[0] for w in windows])


def _line(name: str, probs: np.ndarray) -> str:
    if not len(probs):
        return f"{name:<38} n 0"
    mean = " / ".join(f"{v:.2f}" for v in probs.mean(axis=0))
    normal = float((probs.argmax(axis=1) == 0).mean())
    return f"{name:<38} n {len(probs):>4}  mean P {mean}  argmax normal {normal:.0%}"


def domain_check(
    model: Path,
    test: Path,
    *,
    real_data: Path | None = None,
    real_boxes: Path | None = None,
    say: Callable[[str], None] = logger.info,
) -> None:
    """The diagnostic of the module docstring, a line at a time to ``say``.

    The real CT part runs when both ``real_data`` and ``real_boxes`` (the hand-drawn canal
    boxes) are given.
    """
    from mscc_desktop.training.acceptance import collect_predictions
    from mscc_desktop.training.study_reader import find_studies

    folders = list(find_studies(test))
    pred = collect_predictions(model, folders)
    flags = _bone_only_flags(folders)
    if len(flags) != len(pred):
        raise SystemExit("labels.csv rows and predictions disagree")
    normal = (pred.truth_group == 0) & ~pred.degenerative
    normal &= np.isfinite(pred.probabilities).all(axis=1)
    say("mean P is normal / low / high (average fusion of the three windows)")
    say(_line("synthetic normal, bone-only metastasis", pred.probabilities[normal & flags]))
    say(_line("synthetic normal, no bone metastasis", pred.probabilities[normal & ~flags]))
    contrast = _lesion_contrast(folders)
    high = (pred.truth_group == 2) & ~pred.degenerative
    high &= np.isfinite(pred.probabilities).all(axis=1)
    say("synthetic high grade by tumour contrast over CSF and epidural fat, in noise SDs:")
    for low, top in ((0.0, 0.75), (0.75, 1.5), (1.5, 3.0), (3.0, np.inf)):
        subset = pred.probabilities[high & (contrast >= low) & (contrast < top)]
        called = float((subset.argmax(axis=1) == 2).mean()) if len(subset) else float("nan")
        say(f"  {low:.2f}-{top:<4} {_line('', subset).strip()}  argmax high {called:.0%}")
    if real_data is not None and real_boxes is not None:
        hu = _real_canal_hu(real_data, real_boxes)
        say(
            f"real CT canal centre HU: min {hu.min():.0f}, median {np.median(hu):.0f}, "
            f"mean {hu.mean():.0f}, max {hu.max():.0f} (n {len(hu)})"
        )
        say(
            _line(
                "real CT, hand-drawn canal boxes",
                _real_probabilities(model, real_data, real_boxes, say),
            )
        )


__all__ = ["domain_check"]
