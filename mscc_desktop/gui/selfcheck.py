"""Start-up check for a known PySide6 defect that crashes a long reading session.

Found while investigating issue 6 (an abort after ~1,500 repaints with PySide6 6.12.0 and
pyqtgraph 0.14 on CPython 3.11): PySide6 6.12.0 returns borrowed references to Python's
singletons from some wrappers. Measured with ``sys.getrefcount`` per call:

* ``SignalInstance.emit()`` and ``SignalInstance.disconnect()`` return ``True`` without
  taking a reference (−1 on ``True`` per call, with or without receivers, any signature);
* overloaded ``void`` methods such as ``QTimer.start()`` / ``QTimer.stop()`` return ``None``
  without taking a reference (−1 on ``None`` per call).

6.11.3 shows no drift in the same calls. On CPython 3.11 ``True`` and ``None`` are ordinary
refcounted objects, so after a few thousand such calls — pyqtgraph emits several signals per
frame — the count reaches zero and the interpreter aborts ("Fatal Python error: bool_dealloc"
or "none_dealloc"). CPython >= 3.12 makes them immortal, which hides the defect. The project
pins PySide6-Essentials < 6.12; this probe catches an environment that ignores the pin.
"""

from __future__ import annotations

import logging
import sys

from PySide6 import QtCore

logger = logging.getLogger(__name__)

PROBE_CALLS = 64


class _Probe(QtCore.QObject):
    pinged = QtCore.Signal()


def _lost_references(target: object, call: object, n_calls: int) -> int:
    call()  # type: ignore[operator]  # warm-up: lazily created machinery
    before = sys.getrefcount(target)
    for _ in range(n_calls):
        call()  # type: ignore[operator]
    return before - sys.getrefcount(target)


def signal_emit_leaks_true(n_calls: int = PROBE_CALLS) -> bool:
    """True when emitting a Qt signal from Python loses references to ``True``."""
    probe = _Probe()
    return _lost_references(True, probe.pinged.emit, n_calls) >= n_calls // 2


def void_call_leaks_none(n_calls: int = PROBE_CALLS) -> bool:
    """True when an overloaded void Qt method (``QTimer.start``) loses references to ``None``."""
    timer = QtCore.QTimer()

    def start_stop() -> None:
        timer.start(1000)
        timer.stop()

    return _lost_references(None, start_stop, n_calls) >= n_calls // 2


def leak_warning() -> str | None:
    """A message for the reader when this Qt build will crash in long sessions, else None.

    Each probe costs at most ``PROBE_CALLS`` references on an affected build (harmless: the
    singletons start with thousands).
    """
    if sys.version_info >= (3, 12) or not (signal_emit_leaks_true() or void_call_leaks_none()):
        return None
    import PySide6

    version = getattr(PySide6, "__version__", "?")
    logger.error("PySide6 %s loses references to True/None in its wrappers", version)
    return (
        f"This installation uses PySide6 {version}, which has a defect that makes the "
        "application crash after a few thousand slice changes. Reinstall mscc-desktop (it "
        "requires PySide6-Essentials < 6.12) before reading studies."
    )
