"""Where log records go: one line per problem on the console, the full detail in a log file.

Libraries log through the standard ``logging`` module; pydicom, for one, logs a full traceback
every time a decoder plugin refuses a frame, in the middle of the CLI's progress output. The
app reports each such failure itself (the slice left out, with the cause and the remedy), so
on the console a library's record is one line at most, and its traceback goes only to the
log file in the user data folder (``logs/mscc-desktop.log``, rotated at 1 MB, 3 kept), where
a support engineer finds it. ``--verbose`` shows everything on the console as well.

Only the app's entry points call :func:`configure_logging` (house style: modules only get a
logger). Nothing here adds patient data: records carry what the code logged, and the code
logs no names or IDs.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from mscc_desktop.core.config import user_data_dir

LOG_FILE_NAME = "mscc-desktop.log"
_OWN = "_mscc_handler"  # marks the handlers this module installed (so a re-run replaces them)

# Kept out of the console unless verbose: pydicom's records and warnings (damaged files, plugin
# failures) are problems the app reports itself, in its own words, with the file's name and a
# remedy; Python warnings ("py.warnings") are for developers.
_REPORTED_BY_THE_APP = ("pydicom", "py.warnings")


class OneLineFormatter(logging.Formatter):
    """``LEVEL logger: first line of the message``, never a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage().strip().splitlines()
        first = message[0] if message else ""
        return f"{record.levelname} {record.name}: {first}"


class _NotReportedByTheApp(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(_REPORTED_BY_THE_APP)


def log_file_path() -> Path:
    """The log file (its folder is created when logging is configured)."""
    return user_data_dir() / "logs" / LOG_FILE_NAME


def configure_logging(verbose: bool = False, *, log_file: bool = True) -> Path | None:
    """Set up the root logger for the app's process; returns the log file used, if any.

    The console (stderr) gets WARNING and up, one line each (everything, with tracebacks, when
    ``verbose``); the log file gets INFO and up (DEBUG when verbose) with tracebacks. Python
    warnings are logged (``py.warnings``) rather than printed. A log file that cannot be
    opened (read-only profile) is skipped: logging must never stop the app.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _OWN, False)]:
        root.removeHandler(handler)
        handler.close()
    console = logging.StreamHandler()
    if verbose:
        console.setLevel(logging.DEBUG)
        console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    else:
        console.setLevel(logging.WARNING)
        console.setFormatter(OneLineFormatter())
        console.addFilter(_NotReportedByTheApp())
    setattr(console, _OWN, True)
    root.addHandler(console)
    path: Path | None = None
    if log_file:
        try:
            path = log_file_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            to_file = logging.handlers.RotatingFileHandler(
                path, maxBytes=1_000_000, backupCount=3, encoding="utf-8", delay=True
            )
        except OSError:
            path = None
        else:
            to_file.setLevel(logging.DEBUG if verbose else logging.INFO)
            to_file.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
            setattr(to_file, _OWN, True)
            root.addHandler(to_file)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.captureWarnings(True)  # warnings become records, so they follow the rules above
    # pydicom sets its own logger to WARNING; its decoder errors are wanted in the file.
    logging.getLogger("pydicom").setLevel(logging.DEBUG if verbose else logging.WARNING)
    return path


__all__ = ["LOG_FILE_NAME", "OneLineFormatter", "configure_logging", "log_file_path"]
