"""Compute peer reference values for the evaluation tests, in the separate irrCAC environment.

Run through ``build_fixtures.sh`` (which builds that environment); never imported by the
project. Every case stores its seeded random INPUT data beside the peers' answers, so the tests
need neither this environment nor numpy's random streams to agree across versions.

Peers:
- irrCAC 0.4.4 (Gwet's own algorithms, after Gwet's Handbook of Inter-Rater Reliability, 4th ed.,
  2014): ``raw.CAC(...).gwet()`` (AC1, variance from subject-level linearised terms),
  ``raw.CAC(...).conger()`` (Conger's kappa, which is Cohen's kappa for two raters),
  ``table.CAC(...).gwet()`` / ``.cohen()`` (Gwet 2008 closed-form variances for two raters).
- statsmodels: ``proportion_confint(method="beta")`` (Clopper-Pearson) and
  ``inter_rater.cohens_kappa`` (kappa with the Fleiss-Cohen-Everitt asymptotic SE).
- scikit-learn: ``roc_auc_score``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import platform
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy
import sklearn
import statsmodels
from irrCAC import raw as irrcac_raw
from irrCAC import table as irrcac_table
from sklearn.metrics import roc_auc_score
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.proportion import proportion_confint

CATEGORIES = [0.0, 1.0, 2.0]  # normal, low, high (core.grades.GROUP_ORDER positions)
DIGITS = 15  # irrCAC rounds its output; keep everything


def _clean(value: Any) -> Any:
    """JSON-safe floats (NaN/inf become None)."""
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    number = float(np.asarray(value, dtype=float).reshape(-1)[0])  # table.CAC gives 1-arrays
    return number if math.isfinite(number) else None


def _est(result: dict[str, Any]) -> dict[str, Any]:
    est = result["est"]
    return {
        "value": _clean(est["coefficient_value"]),
        "se": _clean(est["se"]),
        "ci": _clean(est["confidence_interval"]),
        "p_value": _clean(est["p_value"]),
        "pa": _clean(est["pa"]),
        "pe": _clean(est["pe"]),
    }


def _simulate(
    rng: np.random.Generator, n: int, mix: tuple[float, float, float], accuracy: float
) -> tuple[np.ndarray, np.ndarray]:
    """Reference groups drawn from ``mix``; the reader keeps each with ``accuracy``, else errs."""
    reference = rng.choice(3, size=n, p=list(mix))
    reader = reference.copy()
    wrong = rng.random(n) > accuracy
    # Errors go to a neighbouring grade more often than two grades away, as readers do.
    shift = rng.choice([-1, 1, 2], size=n, p=[0.45, 0.45, 0.10])
    reader[wrong] = np.clip(reference[wrong] + shift[wrong], 0, 2)
    return reference, reader


def _agreement_case(
    name: str, reference: np.ndarray, reader: np.ndarray, categories: list[float]
) -> dict[str, Any]:
    frame = pd.DataFrame({"reference": reference.astype(float), "reader": reader.astype(float)})
    raw = irrcac_raw.CAC(frame, categories=categories, digits=DIGITS)
    q = len(categories)
    table = np.zeros((q, q), dtype=int)
    for a, b in zip(reference, reader, strict=True):
        table[int(a), int(b)] += 1
    labels = [str(c) for c in categories]
    tab = irrcac_table.CAC(pd.DataFrame(table, index=labels, columns=labels), digits=DIGITS)
    sm = cohens_kappa(table)
    return {
        "name": name,
        "n_categories": q,
        "reference": [int(v) for v in reference],
        "reader": [int(v) for v in reader],
        "table": table.tolist(),
        "irrcac_raw_gwet": _est(raw.gwet()),
        "irrcac_raw_conger": _est(raw.conger()),
        "irrcac_table_gwet": _est(tab.gwet()),
        "irrcac_table_cohen": _est(tab.cohen()),
        "statsmodels_cohens_kappa": {
            "kappa": _clean(sm["kappa"]),
            "std_kappa": _clean(sm["std_kappa"]),
        },
    }


def agreement_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    paper_mix = (0.795, 0.113, 0.092)  # per-image class mix of the paper's training set
    specs = [
        ("small_n12", 12, (0.5, 0.3, 0.2), 0.75),
        ("n40_balanced", 40, (0.4, 0.3, 0.3), 0.7),
        ("n300_paper_mix_good_reader", 300, paper_mix, 0.92),
        ("n1000_paper_mix_weak_reader", 1000, paper_mix, 0.6),
        ("n150_chance_reader", 150, (0.34, 0.33, 0.33), 0.0),
    ]
    cases: list[dict[str, Any]] = []
    for name, n, mix, accuracy in specs:
        reference, reader = _simulate(rng, n, mix, accuracy)
        cases.append(_agreement_case(name, reference, reader, CATEGORIES))
        # The paper's two dichotomies, as two-category problems.
        any_ref, any_read = (reference > 0).astype(int), (reader > 0).astype(int)
        cases.append(_agreement_case(name + "_normal_vs_any", any_ref, any_read, [0.0, 1.0]))
        hi_ref, hi_read = (reference == 2).astype(int), (reader == 2).astype(int)
        cases.append(_agreement_case(name + "_high_grade", hi_ref, hi_read, [0.0, 1.0]))

    # A category the reader never uses (never says "low"), q stays 3.
    reference, reader = _simulate(rng, 200, (0.6, 0.2, 0.2), 0.8)
    reader = np.where(reader == 1, 0, reader)
    cases.append(_agreement_case("reader_never_low", reference, reader, CATEGORIES))
    # A category neither rater uses (no high grade at all), q stays 3.
    reference, reader = _simulate(rng, 120, (0.7, 0.3, 0.0), 0.85)
    reader = np.minimum(reader, 1)
    cases.append(_agreement_case("nobody_high", reference, reader, CATEGORIES))
    return cases


def proportion_cases() -> list[dict[str, Any]]:
    pairs = [(0, 10), (10, 10), (1, 1), (0, 1), (3, 7), (47, 50), (11, 16), (16, 16), (38, 50)]
    pairs += [(22, 50), (13, 16), (15, 16), (45, 50), (264, 283), (1867, 1956), (5, 1000)]
    cases = []
    for count, nobs in pairs:
        low, high = proportion_confint(count, nobs, alpha=0.05, method="beta")
        cases.append({"count": count, "nobs": nobs, "statsmodels_beta": _clean([low, high])})
    return cases


def auc_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    cases = []
    for name, n, prevalence, separation, decimals in [
        ("continuous_n200", 200, 0.2, 1.5, 6),
        ("ties_n120", 120, 0.3, 1.0, 1),  # scores rounded to 0.1: many ties
        ("rare_positive_n500", 500, 0.03, 2.0, 4),
        ("binary_scores_n80", 80, 0.4, 1.2, -1),  # decisions only (0/1)
    ]:
        truth = rng.random(n) < prevalence
        truth[0], truth[1] = True, False  # both classes present
        latent = rng.normal(size=n) + separation * truth
        if decimals < 0:
            scores = (latent > separation / 2).astype(float)
        else:
            scores = np.round(1.0 / (1.0 + np.exp(-latent)), decimals)
        cases.append(
            {
                "name": name,
                "truth": [bool(t) for t in truth],
                "scores": [float(s) for s in scores],
                "sklearn_auc": float(roc_auc_score(truth, scores)),
            }
        )
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=20230413)
    args = parser.parse_args()
    # irrCAC divides by a zero standard error under perfect agreement; its answer is still
    # recorded (and the tests know what to expect), so the warnings are noise here.
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    rng = np.random.default_rng(args.seed)
    provenance = {
        "script": "scripts/irrcac_reference/compute_reference.py",
        "seed": args.seed,
        "python": platform.python_version(),
        "irrCAC": importlib.metadata.version("irrCAC"),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "statsmodels": statsmodels.__version__,
        "scikit-learn": sklearn.__version__,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    outputs = {
        "agreement.json": {"provenance": provenance, "cases": agreement_cases(rng)},
        "proportions.json": {"provenance": provenance, "cases": proportion_cases()},
        "auc.json": {"provenance": provenance, "cases": auc_cases(rng)},
    }
    for name, content in outputs.items():
        path = args.out / name
        path.write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {path} ({len(content['cases'])} cases)")


if __name__ == "__main__":
    main()
