"""Which weight re-fit helps a site? Held-out AUC of P(high) per variant, every patient out once.

On a site dataset (``dataset export --reviewed`` layout) and a base model folder with trainable
grader weights, each site patient is held out in turn; the grader is re-fitted on the other
patients' crops by each variant and scored on the held-out patient's crops (the canal boxes of
the dataset, i.e. the detector's; windows fused by averaging as in the app). Pooled over the
rotations: AUC of P(high) (DeLong CI) and the mean P(high) of the normal and high slices.

Variants: ``base`` (nothing), ``bn`` (window-BN statistics only), ``prototypes`` (class-mean
prototypes only), ``bn+prototypes`` (what ``adapt --depth prototypes_bn`` does), ``fine_tune``
(BN + prototypes + the last stage, as ``--depth fine_tune``).

Usage: ``python scripts/adaptation_variants.py --data SITE/dataset --base MODEL [--variants ...]``
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

VARIANTS = ("base", "bn", "prototypes", "bn+prototypes", "fine_tune")


def main() -> int:
    import numpy as np
    import torch

    from mscc_desktop.core.labels import dataset_patients
    from mscc_desktop.evaluation.auc import delong_auc
    from mscc_desktop.inference.probabilities import fuse_windows
    from mscc_desktop.training import adapt_grader as ag
    from mscc_desktop.training.grader_weights import GRADER_WEIGHTS_FILE, load_grader_weights
    from mscc_desktop.training.study_reader import find_studies

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--base", required=True, type=Path)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    variants = args.variants.split(",")
    base = load_grader_weights(args.base / GRADER_WEIGHTS_FILE)
    folders = find_studies(args.data)
    patient_of = dataset_patients(args.data)
    patients = sorted({patient_of.get(f.name, f.name) for f in folders})
    samples = {
        p: ag.site_samples([f for f in folders if patient_of.get(f.name, f.name) == p], base.config)
        for p in patients
    }
    print(f"{len(folders)} studies, {len(patients)} patients, "
          f"{sum(len(s) for s in samples.values())} slices")  # fmt: skip
    scores: dict[str, list[np.ndarray]] = {v: [] for v in variants}
    truth: list[np.ndarray] = []
    high = 2
    for held in patients:
        fit = [p for p in patients if p != held]
        fit_samples = samples[fit[0]]
        for p in fit[1:]:
            other = samples[p]
            fit_samples = type(fit_samples)(
                fit_samples.patches + other.patches, fit_samples.boxes + other.boxes,
                np.concatenate([fit_samples.groups, other.groups]),
                fit_samples.study_names + other.study_names,
            )  # fmt: skip
        test = samples[held]
        truth.append(test.groups == high)
        for variant in variants:
            started = time.perf_counter()
            trainable = copy.deepcopy(base)
            if variant == "bn":
                ag.reestimate_batch_norm(trainable, fit_samples)
            elif variant == "prototypes":
                ag.reestimate_prototypes(trainable, *ag.features_of(trainable, fit_samples))
            elif variant in ("bn+prototypes", "fine_tune"):
                ag.refit_statistics(trainable, fit_samples)
            if variant == "fine_tune":
                ag.fine_tune_last_stage(trainable, fit_samples, seed=args.seed)
            feats, _ = ag.features_of(trainable, test)
            with torch.no_grad():
                n, k, f = feats.shape
                logits = trainable.grader.head(feats.reshape(n * k, f)).reshape(n, k, -1)
            fused = fuse_windows(torch.softmax(logits, -1).numpy().astype(np.float32))
            scores[variant].append(fused[:, high])
            print(f"  held out {held}: {variant:14s} {time.perf_counter() - started:5.0f} s",
                  flush=True)  # fmt: skip
    is_high = np.concatenate(truth)
    print(f"\npooled over {len(patients)} rotations: {is_high.size} slices, {is_high.sum()} high")
    print(f"{'variant':16s} {'AUC of P(high) [95% CI]':>26s} {'mean P(high) normal':>20s} "
          f"{'mean P(high) high':>18s}")  # fmt: skip
    for variant in variants:
        p = np.concatenate(scores[variant])
        auc = delong_auc(is_high, p)
        print(f"{variant:16s} {auc.value:8.3f} [{auc.ci_low:.3f}-{auc.ci_high:.3f}]     "
              f"{p[~is_high].mean():18.3f} {p[is_high].mean():18.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
