"""Progress and cancellation for long work written as plain functions.

Long work has the shape ``f(inputs, *, progress=None, cancel=None) -> Result``: it calls
``progress(fraction, text)`` and ``cancel.raise_if_cancelled()`` between units of work, so it
can be driven from a test, the CLI, or a GUI worker alike.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from mscc_desktop.core.errors import Cancelled


class ProgressFn(Protocol):
    """Receives a fraction in [0, 1] and a short status text (no patient data)."""

    def __call__(self, fraction: float, text: str, /) -> None: ...


class CancelToken:
    """A thread-safe flag the user sets and the work polls.

    >>> token = CancelToken()
    >>> token.cancel()
    >>> token.cancelled
    True
    """

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the work to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`Cancelled` if :meth:`cancel` was called."""
        if self._event.is_set():
            raise Cancelled("cancelled by the user")


def check_cancel(cancel: CancelToken | None) -> None:
    """Raise :class:`Cancelled` when ``cancel`` is set; do nothing for ``None``."""
    if cancel is not None:
        cancel.raise_if_cancelled()


def report(progress: ProgressFn | None, fraction: float, text: str) -> None:
    """Call ``progress`` if given, clamping the fraction into [0, 1]."""
    if progress is not None:
        progress(min(1.0, max(0.0, fraction)), text)


def sub_progress(progress: ProgressFn | None, start: float, stop: float) -> ProgressFn | None:
    """Map a sub-task's [0, 1] progress onto [start, stop] of the parent's.

    Used when one long function calls another, e.g. analysis = load (0-0.3) + infer (0.3-1).
    """
    if progress is None:
        return None
    parent: ProgressFn = progress
    span = stop - start

    def _sub(fraction: float, text: str, /) -> None:
        report(parent, start + span * fraction, text)

    return _sub


Callback = Callable[[], None]
