"""Background work: plain ``f(*, progress, cancel)`` functions run on Qt thread pools.

One :class:`Worker` (a ``QRunnable`` with a companion signals object, as in superqt) runs one
call. A :class:`TaskRunner` owns one kind of request (loading a study, analysing a series): a
new request cancels the one it replaces, and results of a replaced request are dropped by
request id, so a slow old load can never overwrite the study the reader opened since.

Workers never touch widgets or the database: they hand results to the GUI thread through
queued signals, and the GUI thread decides what to do with them.
"""

from __future__ import annotations

import itertools
import logging
import traceback
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore

from mscc_desktop.core.errors import Cancelled
from mscc_desktop.core.tasks import CancelToken

logger = logging.getLogger(__name__)

Job = Callable[..., Any]
"""A callable taking keyword arguments ``progress`` and ``cancel``."""

_request_ids = itertools.count(1)


class WorkerSignals(QtCore.QObject):
    """Signals of one :class:`Worker`; every one carries the request id first.

    ``finished`` is always emitted last, after exactly one of ``succeeded``, ``failed`` or
    ``cancelled``.
    """

    succeeded = QtCore.Signal(int, object)
    failed = QtCore.Signal(int, object)  # the exception, with ``__traceback_text__`` set
    cancelled = QtCore.Signal(int)
    progress = QtCore.Signal(int, float, str)
    finished = QtCore.Signal(int)


class Worker(QtCore.QRunnable):
    """Runs ``job(progress=..., cancel=...)`` once, on whatever pool it is started on."""

    def __init__(
        self, job: Job, request_id: int, cancel: CancelToken, *, keep_result: bool = False
    ) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the TaskRunner keeps it until ``finished``
        self.job = job
        self.request_id = request_id
        self.cancel_token = cancel
        self.keep_result = keep_result
        self.signals = WorkerSignals()

    def _progress(self, fraction: float, text: str, /) -> None:
        self.signals.progress.emit(self.request_id, float(fraction), str(text))

    def run(self) -> None:
        rid = self.request_id
        try:
            self.cancel_token.raise_if_cancelled()
            result = self.job(progress=self._progress, cancel=self.cancel_token)
        except Cancelled:
            self.signals.cancelled.emit(rid)
        except Exception as error:  # noqa: BLE001 - the worker boundary: all failures go to the GUI
            error.__traceback_text__ = traceback.format_exc()  # type: ignore[attr-defined]
            logger.debug("request %d failed: %s", rid, type(error).__name__)
            self.signals.failed.emit(rid, error)
        else:
            if self.cancel_token.cancelled and not self.keep_result:
                self.signals.cancelled.emit(rid)
            else:
                self.signals.succeeded.emit(rid, result)
        finally:
            self.signals.finished.emit(rid)


class TaskRunner(QtCore.QObject):
    """One kind of background request on one pool; only the latest request reports.

    Signals mirror :class:`WorkerSignals` without the request id and are emitted only for the
    current request. ``busy_changed`` tells the UI when to show or hide progress and Cancel.
    """

    started = QtCore.Signal()
    progress = QtCore.Signal(float, str)
    succeeded = QtCore.Signal(object)
    failed = QtCore.Signal(object)
    cancelled = QtCore.Signal()
    finished = QtCore.Signal()
    busy_changed = QtCore.Signal(bool)

    def __init__(self, pool: QtCore.QThreadPool, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self._current: int | None = None
        self._workers: dict[int, Worker] = {}

    @property
    def busy(self) -> bool:
        """True while the current request has not finished."""
        return self._current is not None

    @property
    def current_request(self) -> int | None:
        return self._current

    def submit(self, job: Job, *, keep_result_on_cancel: bool = False) -> int:
        """Start ``job``; cancel the request it replaces. Returns the new request id.

        ``keep_result_on_cancel`` is for jobs that stop early when cancelled and *return* a
        report of what they already did (a send that sent some instances, a retrieve that
        wrote some): that report still arrives through ``succeeded`` so it can be recorded.
        """
        self.cancel()
        request_id = next(_request_ids)
        worker = Worker(job, request_id, CancelToken(), keep_result=keep_result_on_cancel)
        signals = worker.signals
        signals.succeeded.connect(self._on_succeeded)
        signals.failed.connect(self._on_failed)
        signals.cancelled.connect(self._on_cancelled)
        signals.progress.connect(self._on_progress)
        signals.finished.connect(self._on_finished)
        self._workers[request_id] = worker
        was_busy = self.busy
        self._current = request_id
        self.pool.start(worker)
        self.started.emit()
        if not was_busy:
            self.busy_changed.emit(True)
        return request_id

    def cancel(self) -> None:
        """Ask the current request to stop; it reports ``cancelled`` when it has."""
        if self._current is not None and self._current in self._workers:
            self._workers[self._current].cancel_token.cancel()

    def cancel_all(self) -> None:
        for worker in self._workers.values():
            worker.cancel_token.cancel()

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Cancel everything and wait for the pool (used when the window closes)."""
        self.cancel_all()
        return bool(self.pool.waitForDone(timeout_ms))

    # ---- worker → GUI thread (queued) ---------------------------------------------------
    def _is_current(self, request_id: int) -> bool:
        return request_id == self._current

    def _on_succeeded(self, request_id: int, result: object) -> None:
        if self._is_current(request_id):
            self.succeeded.emit(result)

    def _on_failed(self, request_id: int, error: object) -> None:
        if self._is_current(request_id):
            self.failed.emit(error)

    def _on_cancelled(self, request_id: int) -> None:
        if self._is_current(request_id):
            self.cancelled.emit()

    def _on_progress(self, request_id: int, fraction: float, text: str) -> None:
        if self._is_current(request_id):
            self.progress.emit(fraction, text)

    def _on_finished(self, request_id: int) -> None:
        self._workers.pop(request_id, None)
        if self._is_current(request_id):
            self._current = None
            self.finished.emit()
            self.busy_changed.emit(False)


def io_pool() -> QtCore.QThreadPool:
    """Pool for DICOM scanning/loading and exports: two threads (decoders release the GIL)."""
    pool = QtCore.QThreadPool()
    pool.setMaxThreadCount(2)
    pool.setObjectName("io")
    return pool


def inference_pool() -> QtCore.QThreadPool:
    """Single-thread pool for inference: one model session, one GPU, one analysis at a time."""
    pool = QtCore.QThreadPool()
    pool.setMaxThreadCount(1)
    pool.setObjectName("inference")
    return pool


def network_pool() -> QtCore.QThreadPool:
    """Pool for DICOM network calls (echo, search, send, retrieve).

    Apart from the I/O pool: a send or retrieve can wait on a slow PACS for minutes, and must
    never hold back opening a study.
    """
    pool = QtCore.QThreadPool()
    pool.setMaxThreadCount(3)
    pool.setObjectName("network")
    return pool
