"""The worker-process pool for decoding compressed pixel data.

JPEG 2000 and JPEG decoders hold the GIL, so threads do not speed them up (PERF_NOTES: two
processes gave 1.4×). The pool is created on first use and kept for the life of the program
(starting workers costs more than decoding a short series); it is shut down at exit.

Workers start with ``forkserver`` on Linux (never plain ``fork``: forking a process that runs
Qt or other threads can deadlock) and ``spawn`` elsewhere. A frozen application must call
``multiprocessing.freeze_support()`` at start-up.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor

_DECODER_PLUGINS = ("pylibjpeg", "openjpeg", "libjpeg", "rle", "jpeg_ls")
_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_size = 0


def default_workers() -> int:
    """Worker count when the caller does not say: one per CPU, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def _context() -> multiprocessing.context.BaseContext:
    if sys.platform.startswith("linux"):
        context = multiprocessing.get_context("forkserver")
        # Workers fork from a server that has already imported the decoders (missing
        # optional plugins are skipped by the forkserver).
        context.set_forkserver_preload(["mscc_desktop.core.dicom.decode", *_DECODER_PLUGINS])
        return context
    return multiprocessing.get_context("spawn")


def process_pool(workers: int) -> ProcessPoolExecutor:
    """The shared pool, created with ``workers`` processes on first use.

    Later calls get the same pool whatever they ask for: replacing a pool would cancel the
    work of a load running in another thread. Callers limit their own chunks in flight.
    """
    global _pool, _pool_size
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context())
            _pool_size = workers
        return _pool


def discard_pool() -> None:
    """Drop the pool (after a worker died); the next call to :func:`process_pool` makes one."""
    global _pool, _pool_size
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None
        _pool_size = 0


def warm_up(workers: int | None = None) -> None:
    """Start the worker processes now (e.g. while the user browses), not on first load."""
    pool = process_pool(workers or default_workers())
    for future in [pool.submit(os.getpid) for _ in range(workers or default_workers())]:
        future.result()


atexit.register(discard_pool)
