"""Child processes for the SIGKILL tests: analysis (the analyze CLI), review saving, export.

Run from the repository root as ``python -m tests.hardening.kill_child MODE ...``:

* ``analyze ROOT --db STORE``   ``mscc-desktop analyze`` on ROOT with the fake backend; prints
  ``batch`` before every detector batch.
* ``reviews --db STORE``        saves reviews of the latest analysis' lesions, a key image and
  a study status, over and over; prints ``committed <n> <lesion>`` after each review saved.
* ``export FOLDER --db STORE --out DIR``  ``mscc-desktop report`` (PDF, PNG and DICOM) in a
  loop; prints each written path, then ``round <n>``.

``--die-after-calls N`` makes the process SIGKILL itself at its N-th Python or C function
call (a profile hook on every thread): a kill anywhere — inside SQLite calls, a PDF being
drawn, a DICOM file being written, an ``fsync`` or a ``rename`` — reproducible from N, no
timing involved. ``--count-calls`` prints ``calls <total>`` at the end instead (calibration).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from tests.factories.dicom_factory import series_info, write_series
from tests.factories.fake_backend import FakeBackend
from tests.factories.model_settings import FAKE_SETTINGS
from tests.inference.phantoms import phantom_slice

SETTINGS = FAKE_SETTINGS
N_SLICES = 12


def write_studies(root: Path) -> list[Path]:
    """Two patients' studies, each with one high-grade run, under ``root``."""
    folders = []
    for number, lesion in ((1, range(3, 6)), (2, range(7, 10))):
        hu = np.stack([phantom_slice(fill=1.0 if k in lesion else 0.0) for k in range(N_SLICES)])
        info = series_info(
            patient_id=f"KILL{number}",
            patient_name=f"Kill^Test{number}",
            contrast_agent="IOPAMIDOL",
            study_instance_uid=f"1.2.826.0.1.3680043.8.498.6100{number}",
        )
        made = write_series(root / f"study{number}", hu=hu, info=info, spacing_mm=4.0, seed=number)
        folders.append(made.folder)
    return folders


class _MarkedBackend(FakeBackend):
    def detect(self, images: Any) -> Any:
        print("batch", flush=True)
        return super().detect(images)


def install_fake_model() -> None:
    """The analyze CLI runs the fake backend (heuristic grader) with :data:`SETTINGS`."""
    from mscc_desktop.inference import backends

    backends.load_model_settings = lambda *_a, **_k: SETTINGS  # type: ignore[assignment]
    backends.create_backend = lambda *_a, **_k: _MarkedBackend(  # type: ignore[assignment]
        grade_means=(0.5,) * 3, grade_stds=(0.25,) * 3
    )


def _arm(limit: int, count_only: bool) -> list[int]:
    calls = [0]

    def hook(_frame: object, event: str, _arg: object) -> None:
        if event in ("call", "c_call"):
            calls[0] += 1
            if limit and calls[0] >= limit:
                os.kill(os.getpid(), signal.SIGKILL)

    if limit or count_only:
        threading.setprofile(hook)
        sys.setprofile(hook)
    return calls


def _analyze(args: argparse.Namespace) -> int:
    from mscc_desktop.cli import main

    install_fake_model()
    return main(["analyze", args.target, "--db", args.db, "-q", "--batch-size", "4"])


def _reviews(args: argparse.Namespace) -> int:
    from mscc_desktop import storage
    from mscc_desktop.core.grades import GradeGroup

    db = storage.open_store(args.db)
    analyses = [int(r["id"]) for r in db.query("SELECT id FROM analyses WHERE status='complete'")]
    iteration = 0
    while iteration < args.count:
        analysis_id = analyses[iteration % len(analyses)]
        stored = storage.load_analysis(db, analysis_id)
        assert stored.result.findings is not None
        lesions = stored.result.findings.lesions
        lesion = lesions[iteration % len(lesions)].number
        storage.save_review(
            db,
            analysis_id,
            lesion,
            decision=storage.ReviewDecision.REGRADE if iteration % 2 else "accept",
            regraded_group=GradeGroup.LOW if iteration % 2 else None,
            vertebral_level=f"T{1 + iteration % 12}",
            comment=f"run {args.tag} iteration {iteration}",
            user=f"reader{os.getpid()}",
        )
        print(f"committed {iteration} {analysis_id}:{lesion}", flush=True)
        if args.lockstep:  # wait for the parent to have read that line (see --lockstep)
            sys.stdin.readline()
        storage.set_key_image(db, stored.series_id, iteration % N_SLICES, marked=True)
        iteration += 1
    db.close()
    return 0


def _export(args: argparse.Namespace) -> int:
    from mscc_desktop.cli import main

    for number in range(args.count):
        code = main(
            ["report", args.target, "--out", args.out, "--db", args.db, "-q",
             "--pdf", "--png", "--dicom"]
        )  # fmt: skip
        if code != 0:
            return code
        print(f"round {number}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("analyze", "reviews", "export"))
    parser.add_argument("target", nargs="?", default="")
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", default="")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--tag", default="0", help="written into review comments")
    parser.add_argument("--die-after-calls", type=int, default=0)
    parser.add_argument("--count-calls", action="store_true")
    parser.add_argument(
        "--lockstep",
        action="store_true",
        help="reviews: after each 'committed' line wait for a line on stdin, so a parent that "
        "kills after reading N lines finds at most one more save under way, however loaded "
        "the machine is",
    )
    args = parser.parse_args(argv)
    # Everything a run imports lazily is imported now, so kills land in the work itself.
    import mscc_desktop.cli.analyze_cmd
    import mscc_desktop.cli.report_cmd
    import mscc_desktop.core.dicom
    import mscc_desktop.inference.pipeline
    import mscc_desktop.reporting
    import mscc_desktop.storage  # noqa: F401

    calls = _arm(args.die_after_calls, args.count_calls)
    code = {"analyze": _analyze, "reviews": _reviews, "export": _export}[args.mode](args)
    if args.count_calls:
        sys.setprofile(None)
        print(f"calls {calls[0]}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
