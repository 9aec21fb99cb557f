"""A native decoder that crashes on a file ends only its worker (issue 25, item 2).

The decoder workers of these tests run :mod:`tests.hardening.abort_decoder`, which aborts
(SIGABRT) on every JPEG-LS frame, as CharLS or libjpeg would on a file that crashes them. The
series, the app and the CLI must go on, with the slice left out and the reason given.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from mscc_desktop.core.dicom import load as load_module
from mscc_desktop.core.dicom.load import load_series
from mscc_desktop.core.dicom.scan import scan_folder
from mscc_desktop.core.dicom.write import TransferSyntax
from mscc_desktop.core.notices import NoticeCode
from tests.factories import dicom_factory as factory
from tests.hardening.abort_decoder import install


class AbortingPools:
    """Stands in for ``parallel.process_pool``/``discard_pool``: workers with the aborting
    JPEG-LS decoder; a broken pool is replaced, as the real ones are."""

    def __init__(self) -> None:
        self.pool: ProcessPoolExecutor | None = None
        self.started = 0

    def get(self, workers: int) -> ProcessPoolExecutor:
        if self.pool is None:
            context = multiprocessing.get_context("spawn")
            self.pool = ProcessPoolExecutor(workers, mp_context=context, initializer=install)
            self.started += 1
        return self.pool

    def discard(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = None


@pytest.fixture
def aborting_pools(monkeypatch: pytest.MonkeyPatch) -> Iterator[AbortingPools]:
    pools = AbortingPools()
    monkeypatch.setattr(load_module, "process_pool", pools.get)
    monkeypatch.setattr(load_module, "discard_pool", pools.discard)
    yield pools
    pools.discard()


def poisoned_series(folder: Path) -> Path:
    """Eight RLE slices and, in the middle of the same series, one JPEG-LS slice."""
    info = factory.series_info(
        series_instance_uid="1.2.826.0.1.3680043.10.999.1",
        frame_of_reference_uid="1.2.826.0.1.3680043.10.999.2",
    )
    factory.write_series(
        folder / "rle_top", n_slices=4, info=info, seed=1,
        transfer_syntax=TransferSyntax.RLE_LOSSLESS,
    )  # fmt: skip
    factory.write_series(
        folder / "jpegls", n_slices=1, z0_mm=-10.0, info=info, seed=2,
        transfer_syntax=TransferSyntax.JPEGLS_LOSSLESS,
    )  # fmt: skip
    factory.write_series(
        folder / "rle_bottom", n_slices=4, z0_mm=-12.5, info=info, seed=3,
        transfer_syntax=TransferSyntax.RLE_LOSSLESS,
    )  # fmt: skip
    return folder


def test_a_crashing_decoder_leaves_out_its_slice_and_the_series_loads(
    aborting_pools: AbortingPools, tmp_path: Path
) -> None:
    (entry,) = scan_folder(poisoned_series(tmp_path / "study")).series
    assert len(entry.frames) == 9
    volume = load_series(entry, workers=2)
    assert volume.n_slices == 8  # every RLE slice, decoded in the (replaced) workers
    left_out = [n for n in volume.notices if n.code is NoticeCode.UNDECODABLE_SLICE]
    assert len(left_out) == 1
    assert "the decoder crashed on it (JPEG-LS Lossless" in left_out[0].message
    assert aborting_pools.started >= 2  # the pool the crash broke was replaced
    assert np.isfinite(volume.hu).all()


def test_the_cli_survives_and_reports_the_crash(
    aborting_pools: AbortingPools, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mscc_desktop.cli import main

    study = poisoned_series(tmp_path / "study")
    assert main(["info", str(study)]) == 0
    main(["analyze", str(study), "--no-db"])  # its exit code is the model's business
    out = capsys.readouterr()
    lines = (out.out + out.err).splitlines()
    (summary,) = [line for line in lines if "the decoder crashed on it" in line]
    assert "1 slice(s) left out" in summary and "Traceback" not in out.err
