"""Multi-process training with torchrun + DistributedDataParallel (gloo, two CPU processes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mscc_desktop.training.engine import load_checkpoint

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("network", ["grader", pytest.param("detector", marks=pytest.mark.slow)])
def test_two_processes_train_one_model(tmp_path: Path, network: str) -> None:
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    result = subprocess.run(
        [
            torchrun, "--standalone", "--nproc-per-node=2",
            str(REPO / "tests" / "training" / "ddp_worker.py"), str(tmp_path), network,
        ],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"{network}-rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert [r["ddp"] for r in ranks] == ["DistributedDataParallel"] * 2
    # Different data on each rank, same weights at the end: gradients were all-reduced.
    assert ranks[0]["params_sha256"] == ranks[1]["params_sha256"]
    checkpoint = load_checkpoint(tmp_path / network / "last.pt", kind=network)
    assert checkpoint["world_size"] == 2 and checkpoint["epoch"] == 1
    rows = (tmp_path / network / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 3  # header + one row per epoch, written by rank 0 only
