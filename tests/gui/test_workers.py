"""Background work: results, failures, cancellation, stale results, progress."""

from __future__ import annotations

import threading

import pytest
from PySide6 import QtCore

from mscc_desktop.core.errors import DicomReadError
from mscc_desktop.core.tasks import CancelToken, ProgressFn
from mscc_desktop.gui.workers import TaskRunner, Worker, inference_pool, io_pool


@pytest.fixture
def runner(qapp) -> TaskRunner:  # type: ignore[no-untyped-def]
    pool = io_pool()
    yield TaskRunner(pool)
    pool.waitForDone(5000)


def test_result_arrives_then_finished_last(qtbot, runner: TaskRunner) -> None:  # type: ignore[no-untyped-def]
    def job(*, progress: ProgressFn, cancel: CancelToken) -> int:
        progress(0.5, "half way")
        return 42

    seen: list[str] = []
    runner.succeeded.connect(lambda r: seen.append(f"ok {r}"))
    runner.progress.connect(lambda f, t: seen.append(f"{f} {t}"))
    runner.finished.connect(lambda: seen.append("finished"))
    with qtbot.waitSignal(runner.finished, timeout=5000):
        runner.submit(job)
    assert seen == ["0.5 half way", "ok 42", "finished"]
    assert not runner.busy


def test_failure_is_reported_with_the_exception(qtbot, runner: TaskRunner) -> None:  # type: ignore[no-untyped-def]
    def job(*, progress: ProgressFn, cancel: CancelToken) -> None:
        raise DicomReadError("IM1: cannot decode. Try another export.")

    with qtbot.waitSignal(runner.failed, timeout=5000) as blocker:
        runner.submit(job)
    error = blocker.args[0]
    assert isinstance(error, DicomReadError) and "IM1" in error.message
    assert "Traceback" in error.__traceback_text__


def test_cancel_stops_cooperative_work(qtbot, runner: TaskRunner) -> None:  # type: ignore[no-untyped-def]
    started = threading.Event()

    def job(*, progress: ProgressFn, cancel: CancelToken) -> str:
        started.set()
        for _ in range(10_000):
            if cancel.cancelled:
                break
            threading.Event().wait(0.001)
        cancel.raise_if_cancelled()
        return "not cancelled"

    outcome: list[str] = []
    runner.succeeded.connect(lambda r: outcome.append(r))
    with qtbot.waitSignal(runner.cancelled, timeout=10_000):
        runner.submit(job)
        assert started.wait(5)
        runner.cancel()
    assert outcome == []


def test_a_new_request_cancels_and_silences_the_one_it_replaces(qtbot, runner: TaskRunner) -> None:  # type: ignore[no-untyped-def]
    release = threading.Event()
    first_cancel: list[CancelToken] = []

    def slow(*, progress: ProgressFn, cancel: CancelToken) -> str:
        first_cancel.append(cancel)
        release.wait(5)
        return "old study"  # ignores the cancel on purpose: must still be dropped

    def fast(*, progress: ProgressFn, cancel: CancelToken) -> str:
        return "new study"

    results: list[str] = []
    runner.succeeded.connect(results.append)
    runner.submit(slow)
    qtbot.waitUntil(lambda: bool(first_cancel), timeout=5000)
    with qtbot.waitSignal(runner.finished, timeout=5000):
        runner.submit(fast)
        assert first_cancel[0].cancelled
        release.set()
    runner.pool.waitForDone(5000)
    QtCore.QCoreApplication.processEvents()
    assert results == ["new study"]


def test_inference_pool_runs_one_job_at_a_time(qapp) -> None:  # type: ignore[no-untyped-def]
    assert inference_pool().maxThreadCount() == 1
    worker = Worker(lambda **_: None, 1, CancelToken())
    assert not worker.autoDelete()


@pytest.mark.parametrize("keep", [False, True])
def test_a_report_returned_after_a_cancel_arrives_only_when_asked_for(
    qtbot, runner: TaskRunner, keep: bool
) -> None:  # type: ignore[no-untyped-def]
    started = threading.Event()

    def send(*, progress: ProgressFn, cancel: CancelToken) -> str:
        started.set()
        while not cancel.cancelled:  # like send_files: stops, then reports what it sent
            threading.Event().wait(0.001)
        return "3 of 5 sent"

    outcome: list[str] = []
    runner.succeeded.connect(outcome.append)
    runner.cancelled.connect(lambda: outcome.append("cancelled"))
    with qtbot.waitSignal(runner.finished, timeout=5000):
        runner.submit(send, keep_result_on_cancel=keep)
        assert started.wait(5)
        runner.cancel()
    assert outcome == (["3 of 5 sent"] if keep else ["cancelled"])
