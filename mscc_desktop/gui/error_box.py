"""The one place errors reach the reader: a message box with details for the curious."""

from __future__ import annotations

import logging

from PySide6 import QtWidgets

from mscc_desktop.core.errors import MsccError

logger = logging.getLogger(__name__)


def error_texts(error: object) -> tuple[str, str]:
    """(message for the reader, technical details) of any exception a worker reported."""
    if isinstance(error, MsccError):
        return error.message, error.details or ""
    details = str(getattr(error, "__traceback_text__", "")) or repr(error)
    return (
        f"An unexpected problem occurred ({type(error).__name__}). Nothing was saved from the "
        "step that failed; the rest of the work is unaffected.",
        details,
    )


def show_error(parent: QtWidgets.QWidget | None, title: str, error: object) -> None:
    """Show ``error`` in a message box. Unexpected errors are logged (no patient data)."""
    message, details = error_texts(error)
    if not isinstance(error, MsccError):
        logger.error("%s: %s", title, type(error).__name__)
    box = QtWidgets.QMessageBox(parent)
    box.setIcon(QtWidgets.QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(message)
    if details:
        box.setDetailedText(details)
    box.open()  # window-modal, does not block the event loop (background work continues)
