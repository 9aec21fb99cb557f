"""Benchmark: a simulated site adapts a model; base vs adapted on held-out patients.

Studies are analysed by the model into a fresh store, reviewed by a scripted reader who is
wrong on purpose 10 % of the time, exported as site data and used to adapt the model
(``mscc-desktop adapt``); the held-out patients' figures of both models are printed side by
side.

Two sites:

* phantoms (default): new synthetic studies, the shipped model, one seeded patient split;
  ``--shuffle`` shuffles the exported labels first (a harmful adaptation the guard rails
  must refuse).
* real CT (``--protocol W/protocol --fold K``): the test patients of fold K of the shipped
  recipe's patient protocol (real CT with disease inserted by software), which that fold's
  model never saw, are the site; that model (with its grader's weights and the operating
  point the protocol chose) is the base, or with ``--phantom-grader`` the fold's detector with
  a grader that learnt from phantoms only. Every site patient is held out once
  (``--depths``: each adaptation depth in turn) and the held-out figures are pooled, against
  the reader's reviews and against the truth.

Usage: ``python scripts/site_simulation.py [--studies 24] [--seed 7] [--shuffle] [--keep DIR]``
       ``python scripts/site_simulation.py --protocol W/protocol --fold 1 [--grader-seed 1]
       [--depths calibrate,prototypes_bn,fine_tune] --keep DIR``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _figure(values: list[float]) -> str:
    return f"{values[0]:.3f} [{values[1]:.3f}-{values[2]:.3f}]"


def real_site(args: argparse.Namespace, work: Path) -> int:
    from mscc_desktop.training.site_simulation import (
        leave_one_patient_out,
        phantom_grader_base,
        protocol_base_model,
        simulate_site,
    )

    protocol = Path(args.protocol)
    base = work / "base"
    if not (base / "manifest.json").exists():
        if args.phantom_grader:
            phantom_grader_base(protocol, args.fold, Path(args.phantom_grader), base)
        else:
            protocol_base_model(protocol, args.fold, args.grader_seed, base)
    started = time.perf_counter()
    site = simulate_site(
        work / "site", n_studies=0, seed=args.seed, error_rate=args.error_rate,
        model=str(base), studies_from=protocol / f"fold{args.fold}" / "test",
    )  # fmt: skip
    print(
        f"{site.n_studies} real-CT studies analysed and reviewed in "
        f"{time.perf_counter() - started:.0f} s; reader verdicts {site.verdicts}, "
        f"{site.reader_errors} deliberately wrong"
    )
    studies = protocol / f"fold{args.fold}" / "test"
    results = leave_one_patient_out(
        site.dataset, base, work / "adapted", depths=args.depths.split(","), seed=args.seed,
        truth_from=studies,
    )  # fmt: skip
    rows = []
    for r in results:
        rows.append({"depth": r.depth, "base": r.base.as_dict(), "adapted": r.adapted.as_dict(),
                     "base_vs_truth": r.base_vs_truth.as_dict(),
                     "adapted_vs_truth": r.adapted_vs_truth.as_dict(),
                     "offered": list(r.offered), "seconds": list(r.seconds)})  # fmt: skip
        print(f"\n{r.depth}: {len(r.held_out)} rotations, offered {sum(r.offered)} of "
              f"{len(r.offered)}, {min(r.seconds):.0f}-{max(r.seconds):.0f} s each")  # fmt: skip
        for title, base_f, adapted_f in (
            ("against the reader's reviews", r.base.as_dict(), r.adapted.as_dict()),
            ("against the truth", r.base_vs_truth.as_dict(), r.adapted_vs_truth.as_dict()),
        ):
            print(f"  {'pooled held-out, ' + title:44s} {'base':>22s} {'adapted':>22s}")
            for name, key in (
                ("high-grade sensitivity (image)", "high_grade_image_sensitivity"),
                ("high-grade specificity (image)", "high_grade_image_specificity"),
                ("high-grade AUC", "high_grade_auc"),
                ("three-class Gwet's AC1", "three_class_ac1"),
            ):
                print(f"  {name:44s} {_figure(base_f[key]):>22s} {_figure(adapted_f[key]):>22s}")
            print(f"  ({base_f['n_slices']} slices, {base_f['n_high_slices']} high grade)")
    (work / "site_simulation.json").write_text(json.dumps(rows, indent=2))
    return 0


def main() -> int:
    from mscc_desktop.cli import main as cli
    from mscc_desktop.training.site_simulation import shuffle_labels, simulate_site

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--error-rate", type=float, default=0.1)
    parser.add_argument("--shuffle", action="store_true", help="adapt on shuffled labels")
    parser.add_argument("--keep", metavar="DIR", help="work here and keep it")
    parser.add_argument("--protocol", metavar="DIR", help="the recipe's protocol folder")
    parser.add_argument("--fold", type=int, default=1)
    parser.add_argument("--grader-seed", type=int, default=1)
    parser.add_argument("--depths", default="calibrate,prototypes_bn,fine_tune")
    parser.add_argument(
        "--phantom-grader",
        metavar="CKPT",
        help="base = the fold's detector with this phantom-only grader checkpoint (e.g. "
        "W/runs/grader/best.pt), calibrated on the fold's calibration patients",
    )
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="site-sim-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.protocol:
        return real_site(args, work)
    started = time.perf_counter()
    site = simulate_site(work, n_studies=args.studies, seed=args.seed, error_rate=args.error_rate)
    print(
        f"{site.n_studies} studies analysed and reviewed in {time.perf_counter() - started:.0f} s; "
        f"reader verdicts {site.verdicts}, {site.reader_errors} deliberately wrong"
    )
    if args.shuffle:
        shuffle_labels(site.dataset, args.seed)
        print("labels shuffled (a harmful adaptation)")
    started = time.perf_counter()
    code = cli(
        ["adapt", "--data", str(site.dataset), "--out", str(work / "adapted"), "--id",
         "site-sim", "--seed", str(args.seed), "-q"]
    )  # fmt: skip
    print(f"adapt finished in {time.perf_counter() - started:.0f} s with exit code {code}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
