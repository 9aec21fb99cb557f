"""CI smoke of the coverage-guided fuzz targets, and the replay of every kept finding.

The long runs are in ``docs/RELIABILITY.md``; here each target runs a few hundred inputs from
its seed corpus with a fixed seed (seconds), and each minimised finding under
``tests/fuzz/regressions/<target>/`` goes through its target again, for ever.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.harnesses import HARNESSES
from tests.fuzz.run import TARGETS

ROOT = Path(__file__).resolve().parents[2]
REGRESSIONS = Path(__file__).parent / "regressions"
SMOKE_RUNS = 120


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target_smoke(target: str, tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    run = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run", target, "--runs", str(SMOKE_RUNS),
         "--seed", "1", "--work", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    tail = run.stderr[-3000:]
    assert run.returncode == 0, tail
    assert "Done" in tail and "number_of_executed_units" in tail
    assert not list((tmp_path / "artifacts" / target).iterdir()), tail  # no finding


def _findings() -> list[tuple[str, Path]]:
    if not REGRESSIONS.is_dir():
        return []
    return [
        (folder.name, path)
        for folder in sorted(REGRESSIONS.iterdir())
        for path in sorted(folder.iterdir())
    ]


@pytest.mark.parametrize(("target", "path"), _findings(), ids=lambda v: getattr(v, "name", v))
def test_kept_findings_pass_their_target(target: str, path: Path) -> None:
    HARNESSES[target.split("-")[0]](path.read_bytes())
