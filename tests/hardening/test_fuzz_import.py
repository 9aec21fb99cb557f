"""The importer survives mutated DICOM files: loaded or reported, never crashed, hung or bloated.

The CI-sized run (``FUZZ_CASES`` cases, seeded, in two worker processes) is part of the default
suite; ``scripts/fuzz_import.py`` runs the long one. Inputs that once failed are kept under
``regressions/`` and replayed here in a subprocess with a time limit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mscc_desktop.core.errors import DicomReadError
from tests.hardening.fuzz_mutations import make_case
from tests.hardening.fuzz_runner import (
    CASE_TIMEOUT_S,
    FAILURES,
    SELF_TEST_DIE,
    SELF_TEST_HANG,
    SELF_TEST_MEMORY,
    Verdict,
    check_import,
    run_cases,
    save_failure,
    volume_problem,
    write_case_files,
)
from tests.hardening.fuzz_seeds import (
    MARKER_ID,
    MARKER_NAME,
    load_seeds,
    real_seeds,
    save_seeds,
    synthetic_seeds,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
REGRESSIONS = Path(__file__).parent / "regressions"
FUZZ_CASES = int(os.environ.get("MSCC_FUZZ_CASES", "4000"))
MASTER_SEED = 20240601


@pytest.fixture(scope="module")
def seeds_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic seeds, plus the shared real files when MSCC_REAL_DATA is set."""
    folder = tmp_path_factory.mktemp("fuzz-seeds")
    save_seeds(synthetic_seeds() + real_seeds(), folder)
    return folder


def test_ci_fuzz_run_finds_no_failure(seeds_dir: Path, tmp_path: Path) -> None:
    outcomes = run_cases(range(FUZZ_CASES), seeds_dir=seeds_dir, master_seed=MASTER_SEED, workers=2)
    assert len(outcomes) == FUZZ_CASES
    verdicts = {v: sum(o.verdict is v for o in outcomes) for v in Verdict}
    # The mutations must both break files and leave many loadable, or the run proves little.
    assert verdicts[Verdict.LOADED] > FUZZ_CASES // 10, verdicts
    assert verdicts[Verdict.REPORTED] > FUZZ_CASES // 10, verdicts
    failures = [o for o in outcomes if o.failed]
    if failures:
        seeds = load_seeds(seeds_dir)
        for outcome in failures:
            save_failure(make_case(seeds, outcome.case_id, MASTER_SEED), outcome, tmp_path)
        lines = [f"case {o.case_id} [{o.verdict}] {o.seed_name} {o.mutations}: "
                 f"{o.detail.strip().splitlines()[-1]}" for o in failures[:10]]  # fmt: skip
        pytest.fail(f"{len(failures)} failing case(s), written to {tmp_path}:\n" + "\n".join(lines))


def test_runner_catches_hangs_deaths_and_memory_growth(seeds_dir: Path) -> None:
    """The checks above can fail: a worker that hangs, dies or bloats is reported as such."""
    outcomes = run_cases(
        [SELF_TEST_HANG, SELF_TEST_DIE, SELF_TEST_MEMORY, 0],
        seeds_dir=seeds_dir,
        master_seed=MASTER_SEED,
        workers=2,
        timeout_s=4.0,
        memory_growth_limit=32 << 20,  # ordinary cases grow by <= 3 MiB
    )
    verdicts = {o.case_id: o.verdict for o in outcomes}
    assert verdicts[SELF_TEST_HANG] is Verdict.HANG
    assert verdicts[SELF_TEST_DIE] is Verdict.DIED
    assert verdicts[SELF_TEST_MEMORY] is Verdict.MEMORY
    assert verdicts[0] not in FAILURES  # a replaced worker goes on with the next case


def test_check_import_classifies_crashes_leaks_and_bad_volumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = synthetic_seeds()[0]
    folder = write_case_files([(f"f{i}", d) for i, d in enumerate(seed.files)], tmp_path / "s")
    assert check_import(folder)[0] is Verdict.LOADED

    from mscc_desktop.core import dicom

    def crash(*_a: object, **_k: object) -> None:
        raise RuntimeError("boom")

    def leak(*_a: object, **_k: object) -> None:
        raise DicomReadError(f"cannot read the file of {MARKER_NAME}")

    monkeypatch.setattr(dicom, "load_series", crash)
    assert check_import(folder)[0] is Verdict.CRASH
    monkeypatch.setattr(dicom, "load_series", leak)
    assert check_import(folder, forbidden=(MARKER_NAME.split("^")[0], MARKER_ID))[0] is (
        Verdict.LEAK
    )
    monkeypatch.undo()

    class Bad:
        hu = np.zeros((2, 4, 4), dtype=np.float32)
        z_mm = np.array([0.0, np.nan])
        positions_mm = np.zeros((2, 3))
        sop_instance_uids = ("1", "2")
        source_files = (folder, folder)
        slice_spacing_mm = 1.0
        pixel_spacing_mm = (1.0, 1.0)

    assert volume_problem(Bad()) == "non-finite slice positions"


def test_cases_are_reproducible_from_their_id() -> None:
    seeds = synthetic_seeds()
    first = make_case(seeds, 123, MASTER_SEED)
    again = make_case(synthetic_seeds(), 123, MASTER_SEED)
    assert first.files == again.files and first.mutations == again.mutations
    assert first.files != make_case(seeds, 124, MASTER_SEED).files


def _regression_cases() -> list[Path]:
    return sorted(p for p in REGRESSIONS.iterdir() if (p / "case.json").is_file())


@pytest.mark.parametrize("case", _regression_cases(), ids=lambda p: p.name)
def test_inputs_that_once_failed_now_load_or_are_reported(case: Path) -> None:
    """Each was found by the fuzzer (case.json says what failed and what fixed it)."""
    info = json.loads((case / "case.json").read_text())
    assert info["verdict"] in {v.value for v in FAILURES}
    done = subprocess.run(
        [sys.executable, "-m", "tests.hardening.check_folder", str(case / "files")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,  # interpreter start-up included; the import itself is timed below
        env={**os.environ, "RUST_BACKTRACE": "0"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["verdict"] in (Verdict.LOADED.value, Verdict.REPORTED.value), result
    assert result["seconds"] < CASE_TIMEOUT_S, result
