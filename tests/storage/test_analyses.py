"""Saving and loading analyses: exact round trips, one transaction, identity checks."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from mscc_desktop.core.errors import StoreError
from mscc_desktop.core.findings import AnalysisStatus, Box, SliceResult, summarise
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.notices import NoticeCode
from mscc_desktop.core.windows import WindowPreset
from mscc_desktop.storage import (
    AuditAction,
    SeriesRecord,
    analysis_history,
    audit_entries,
    begin_analysis,
    end_analysis,
    find_latest_analysis,
    load_analysis,
    load_latest_analysis,
    mark_interrupted_analyses,
    open_memory_store,
    save_analysis,
    upsert_series,
)
from tests.storage import builders

PROV = builders.PROVENANCE


def test_complete_analysis_round_trips_exactly(db: Database, series: SeriesRecord) -> None:
    analysis = builders.result(n_slices=80, seed=3)
    assert analysis.findings is not None and analysis.findings.lesions  # the test needs lesions

    analysis_id = save_analysis(db, series, analysis, user="dr.reader")
    stored = load_analysis(db, analysis_id)

    assert stored.result == analysis  # slices, lesions, flag, provenance, notices, times
    assert stored.result.findings is not None
    assert stored.result.findings.slices[5].box is None  # canal not found survives
    assert stored.series_id == series.id and stored.study_id == series.study_id
    assert stored.user == "dr.reader"
    assert not stored.stale


def test_numpy_scalars_from_the_pipeline_are_stored_as_numbers(
    db: Database, series: SeriesRecord
) -> None:
    analysis = builders.result(n_slices=20)
    assert analysis.findings is not None
    first = analysis.findings.slices[0]
    assert first.probabilities is not None
    numpy_slice = replace(
        first,
        z_mm=np.float64(first.z_mm),
        detection_score=np.float32(0.75),
        probabilities=tuple(np.float32(p) for p in first.probabilities),  # type: ignore[arg-type]
    )
    findings = replace(analysis.findings, slices=(numpy_slice, *analysis.findings.slices[1:]))
    analysis_id = save_analysis(db, series, replace(analysis, findings=findings))

    loaded = load_analysis(db, analysis_id).result.findings
    assert loaded is not None
    assert loaded.slices[0].detection_score == 0.75
    assert isinstance(loaded.slices[0].z_mm, float)
    assert loaded.slices[0].probabilities == tuple(
        float(np.float32(p)) for p in first.probabilities
    )


def test_begin_then_save_completes_the_same_row(db: Database, series: SeriesRecord) -> None:
    analysis_id = begin_analysis(db, series, provenance=PROV, thresholds=builders.THRESHOLDS)
    assert load_analysis(db, analysis_id).status is AnalysisStatus.RUNNING
    assert (
        find_latest_analysis(db, series.id, model_id=PROV.model_id, model_sha256=PROV.model_sha256)
        is None
    )

    saved = save_analysis(db, series, builders.result(), analysis_id=analysis_id)

    assert saved == analysis_id
    assert load_analysis(db, analysis_id).status is AnalysisStatus.COMPLETE
    actions = [e.action for e in audit_entries(db, analysis_id=analysis_id)]
    assert actions == [AuditAction.ANALYSIS_STARTED, AuditAction.ANALYSIS_SAVED]


def test_finished_analysis_cannot_be_saved_again(db: Database, series: SeriesRecord) -> None:
    analysis_id = save_analysis(db, series, builders.result())
    with pytest.raises(StoreError, match="already complete"):
        save_analysis(db, series, builders.result(seed=1), analysis_id=analysis_id)
    # The refused second save left the first intact.
    assert load_analysis(db, analysis_id).result == builders.result()


def test_result_of_another_series_is_refused(
    db: Database, series: SeriesRecord, tmp_path: Path
) -> None:
    other_info = builders.series_info(series_uid="1.2.3.999")
    wrong = builders.result(other_info)
    with pytest.raises(StoreError, match="different series"):
        save_analysis(db, series, wrong)
    other = upsert_series(db, other_info, source_path=tmp_path, fingerprint="fp1:b", n_files=1)
    started = begin_analysis(db, other, provenance=PROV, thresholds=builders.THRESHOLDS)
    with pytest.raises(StoreError, match="another series"):
        save_analysis(db, series, builders.result(), analysis_id=started)
    assert db.execute("SELECT count(*) FROM analysis_slices").fetchone()[0] == 0


def test_refused_analysis_is_stored_with_its_reasons_and_no_findings(
    db: Database, series: SeriesRecord
) -> None:
    refused = builders.result(status=AnalysisStatus.REFUSED)
    stored = load_analysis(db, save_analysis(db, series, refused))
    assert stored.result == refused
    assert stored.result.findings is None
    assert [n.code for n in stored.notices] == [NoticeCode.THICK_SLICES, NoticeCode.NO_CONTRAST]


def test_unfinished_or_empty_results_are_rejected(db: Database, series: SeriesRecord) -> None:
    with pytest.raises(ValueError, match="finished"):
        save_analysis(db, series, builders.result(status=AnalysisStatus.RUNNING))
    with pytest.raises(ValueError, match="findings"):
        save_analysis(db, series, replace(builders.result(), findings=None))


def test_failed_and_cancelled_analyses_are_recorded(db: Database, series: SeriesRecord) -> None:
    failed = begin_analysis(db, series, provenance=PROV, thresholds=builders.THRESHOLDS)
    end_analysis(db, failed, AnalysisStatus.FAILED, error="CUDA out of memory")
    cancelled = begin_analysis(db, series, provenance=PROV, thresholds=builders.THRESHOLDS)
    end_analysis(db, cancelled, AnalysisStatus.CANCELLED)

    history = analysis_history(db, series.id)
    assert [(h.id, h.status) for h in history] == [
        (cancelled, AnalysisStatus.CANCELLED),
        (failed, AnalysisStatus.FAILED),
    ]
    assert history[1].error == "CUDA out of memory"
    assert history[1].duration_s is not None and history[1].duration_s >= 0
    with pytest.raises(StoreError, match="already failed"):
        end_analysis(db, failed, AnalysisStatus.CANCELLED)


def test_latest_analysis_is_per_model_and_checksum(db: Database, series: SeriesRecord) -> None:
    first = save_analysis(db, series, builders.result(seed=1))
    second = save_analysis(db, series, builders.result(seed=2))
    other_model = save_analysis(
        db, series, builders.with_model(builders.result(), sha256="00" * 32)
    )

    assert (
        find_latest_analysis(db, series.id, model_id=PROV.model_id, model_sha256=PROV.model_sha256)
        == second
    )
    assert (
        find_latest_analysis(db, series.id, model_id=PROV.model_id, model_sha256="00" * 32)
        == other_model
    )
    assert (
        find_latest_analysis(
            db, series.id, model_id="another-model", model_sha256=PROV.model_sha256
        )
        is None
    )
    stored = load_latest_analysis(
        db, series.id, model_id=PROV.model_id, model_sha256=PROV.model_sha256
    )
    assert stored is not None and stored.result == builders.result(seed=2)
    assert first < second


def test_running_analysis_of_a_dead_process_becomes_interrupted(
    db: Database, series: SeriesRecord
) -> None:
    mine = begin_analysis(db, series, provenance=PROV, thresholds=builders.THRESHOLDS)
    orphan = begin_analysis(db, series, provenance=PROV, thresholds=builders.THRESHOLDS)
    # Pretend another process on this host, now dead, started the second one.
    dead_pid = _dead_pid()
    db.execute(
        "UPDATE analyses SET owner_pid = ?, owner_token = 'gone' WHERE id = ?", [dead_pid, orphan]
    )

    assert mark_interrupted_analyses(db) == 1
    assert load_analysis(db, orphan).status is AnalysisStatus.INTERRUPTED
    assert load_analysis(db, mine).status is AnalysisStatus.RUNNING  # this process still runs it
    assert AuditAction.ANALYSIS_INTERRUPTED in [
        e.action for e in audit_entries(db, analysis_id=orphan)
    ]
    # A result that arrives late for an interrupted analysis still completes it.
    save_analysis(db, series, builders.result(), analysis_id=orphan)
    assert load_analysis(db, orphan).status is AnalysisStatus.COMPLETE


def test_running_analysis_of_a_live_other_process_is_left_alone(
    db: Database, series: SeriesRecord
) -> None:
    other = begin_analysis(db, series, provenance=PROV, thresholds=builders.THRESHOLDS)
    db.execute(
        "UPDATE analyses SET owner_pid = ?, owner_token = 'other-instance' WHERE id = ?",
        [os.getppid(), other],
    )
    assert mark_interrupted_analyses(db) == 0
    assert load_analysis(db, other).status is AnalysisStatus.RUNNING


def test_slice_rows_in_any_order_come_back_in_volume_order(
    db: Database, series: SeriesRecord
) -> None:
    analysis = builders.result(n_slices=30)
    assert analysis.findings is not None
    shuffled = tuple(reversed(analysis.findings.slices))
    analysis_id = save_analysis(
        db, series, replace(analysis, findings=replace(analysis.findings, slices=shuffled))
    )
    loaded = load_analysis(db, analysis_id).result.findings
    assert loaded is not None
    assert [s.index for s in loaded.slices] == list(range(30))
    assert all(isinstance(s, SliceResult) for s in loaded.slices)


def _dead_pid() -> int:
    """A pid that belongs to no process: one that ran and was reaped."""
    import subprocess
    import sys

    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)


def test_nan_probabilities_are_refused_and_nothing_is_stored(
    db: Database, series: SeriesRecord
) -> None:
    analysis = builders.result(n_slices=20)
    assert analysis.findings is not None
    broken = replace(analysis.findings.slices[3], probabilities=(float("nan"), 0.5, 0.5))
    slices = (*analysis.findings.slices[:3], broken, *analysis.findings.slices[4:])
    started = begin_analysis(db, series, provenance=PROV, thresholds=builders.THRESHOLDS)
    with pytest.raises(StoreError, match=r"\(NaN or infinite\) value on slice 4"):
        save_analysis(
            db,
            series,
            replace(analysis, findings=replace(analysis.findings, slices=slices)),
            analysis_id=started,
        )
    assert load_analysis(db, started).status is AnalysisStatus.RUNNING
    assert db.execute("SELECT count(*) FROM analysis_slices").fetchone() == (0,)


_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
_probability = st.floats(min_value=0.0, max_value=1.0)


@st.composite
def _slice_results(draw: st.DrawFn) -> list[SliceResult]:
    n = draw(st.integers(min_value=0, max_value=25))
    results = []
    for index in range(n):
        found = draw(st.booleans())
        box = None
        probabilities = None
        if found:
            x0, y0 = draw(_finite), draw(_finite)
            box = Box(x0, y0, draw(_finite), draw(_finite))
            probabilities = (draw(_probability), draw(_probability), draw(_probability))
        results.append(
            SliceResult(
                index=index,
                z_mm=draw(_finite),
                sop_instance_uid=draw(st.text(max_size=64)),
                box=box,
                detection_score=draw(_probability),
                probabilities=probabilities,
                group=draw(st.sampled_from(GradeGroup)) if found else None,
                windows_used=tuple(
                    draw(st.lists(st.sampled_from(WindowPreset), unique=True, max_size=3))
                ),
            )
        )
    return results


@settings(max_examples=60, deadline=None)
@given(slices=_slice_results())
def test_any_findings_round_trip_exactly(slices: list[SliceResult]) -> None:
    db = open_memory_store()
    try:
        series = upsert_series(
            db, builders.series_info(), source_path=Path("/x"), fingerprint="f", n_files=1
        )
        analysis = replace(builders.result(), findings=summarise(slices))
        assert load_analysis(db, save_analysis(db, series, analysis)).result == analysis
    finally:
        db.close()


def test_calibration_and_limitations_are_stored_with_the_analysis(
    db: Database, series: SeriesRecord
) -> None:
    # A report made later from the store must state the same limitations and calibration as
    # the model that made the analysis, whatever model is installed by then.
    provenance = replace(
        PROV,
        probability_temperature=1.63,
        limitations=("Calls 12 of 28 disease-free real slices high grade.", "Ünïcode ok"),
    )
    analysis = replace(builders.result(n_slices=20, seed=5), provenance=provenance)
    stored = load_analysis(db, save_analysis(db, series, analysis))
    assert stored.result.provenance == provenance
    assert stored.result.provenance.calibrated
    plain = load_analysis(db, save_analysis(db, series, builders.result(n_slices=20, seed=6)))
    assert plain.result.provenance.probability_temperature == 1.0
    assert plain.result.provenance.limitations == ()
