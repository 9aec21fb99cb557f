"""Adapting the model to this site from the Models page: export, then ``adapt`` in a child.

Two steps, both cancellable:

1. :func:`export_site_data` writes the reviewed studies as a training folder (labels, canal
   boxes and links to, or copies of, the DICOM files) inside the user data folder, on the I/O
   pool with its own read-only store connection (the GUI thread keeps the main one).
2. ``mscc-desktop adapt`` runs in a **child process** (:func:`adapt_command`): the training
   package may not be imported by the GUI, and a child can be stopped at once. Its progress
   arrives as JSON lines on stderr, its result as a JSON file.

Cancel terminates the child and removes the half-written model folder (one without a
``manifest.json``); the exported folder is removed whatever happens. Site data never leaves
the machine: the export lives beside the store and is deleted when the job ends.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from PySide6 import QtCore

from mscc_desktop.core.errors import MsccError
from mscc_desktop.core.tasks import CancelToken, ProgressFn
from mscc_desktop.gui.workers import TaskRunner
from mscc_desktop.workflow.site_data import DatasetExport, export_reviewed_from

logger = logging.getLogger(__name__)

EXPORT_SHARE = 0.1  # of the progress bar: the export is quick next to the model runs
EXIT_OFFERED, EXIT_WORSE = 0, 4
MANIFEST = "manifest.json"
WORK_PREFIX = "adapt-work-"


class AdaptFailedError(MsccError):
    """The adaptation child process failed; the message is its own explanation."""


@dataclass(frozen=True, slots=True)
class AdaptRequest:
    """What to adapt, from what, into where (all paths on this machine)."""

    base_folder: Path
    new_id: str
    out_folder: Path
    db_path: Path
    data_dir: Path
    models_dir: Path
    user: str = ""


@dataclass(frozen=True, slots=True)
class AdaptOutcome:
    """The child's result file (``adapt --json``): base and adapted figures side by side."""

    model_id: str
    folder: Path
    offered: bool
    reasons: tuple[str, ...]
    note: str
    temperature: float
    threshold_high: float
    patients: dict[str, int]
    slices_by_group: dict[str, int]
    base: dict[str, Any]
    adapted: dict[str, Any]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AdaptOutcome:
        return cls(
            model_id=str(data["model_id"]),
            folder=Path(str(data["folder"])),
            offered=bool(data["offered"]),
            reasons=tuple(str(r) for r in data.get("reasons", ())),
            note=str(data.get("note", "")),
            temperature=float(data["temperature"]),
            threshold_high=float(data["threshold_high"]),
            patients={str(k): int(v) for k, v in dict(data.get("patients", {})).items()},
            slices_by_group={
                str(k): int(v) for k, v in dict(data.get("adapt_slices_by_group", {})).items()
            },
            base=dict(data["base"]),
            adapted=dict(data["adapted"]),
        )


def new_model_id(base_id: str, taken: set[str], *, today: date | None = None) -> str:
    """``<base>-site-<yyyymmdd>``, with ``-2``, ``-3``… when that id is taken already."""
    stem = f"{base_id}-site-{(today or date.today()).strftime('%Y%m%d')}"
    candidate, number = stem, 1
    while candidate in taken:
        number += 1
        candidate = f"{stem}-{number}"
    return candidate


def export_site_data(
    db_path: Path, out: Path, *, progress: ProgressFn | None, cancel: CancelToken | None
) -> DatasetExport:
    """Export the reviewed studies into ``out`` with a read-only connection of this thread.

    The DICOM files are linked where the system allows it (no copy of patient images is
    made); on Windows, where links need rights a reader rarely has, they are copied.
    """
    return export_reviewed_from(
        db_path, out, link=os.name != "nt", progress=progress, cancel=cancel
    )


def adapt_unavailable() -> str:
    """Why this installation cannot adapt a model ("" when it can).

    Adapting runs the training package on torch; the installed workstation bundle carries
    neither (it runs ONNX Runtime only). Checked without importing them.
    """
    needed = ("torch", "torchvision", "mscc_desktop.training")
    try:
        missing = [name for name in needed if importlib.util.find_spec(name) is None]
    except (ImportError, ValueError):
        missing = list(needed)
    if not missing:
        return ""
    return (
        "Adapting needs the training tools (PyTorch), which this installation does not "
        "carry. On a computer with Python: pip install 'mscc-desktop[train]', then "
        "'mscc-desktop dataset export --reviewed' and 'mscc-desktop adapt'; the adapted "
        "model then appears here to compare, Use and Roll back."
    )


def adapt_command(request: AdaptRequest, dataset: Path, result_file: Path) -> list[str]:
    """The ``mscc-desktop adapt`` command line for this interpreter (or the frozen app)."""
    if getattr(sys, "frozen", False):
        head = [sys.executable]  # the bundled app runs CLI subcommands itself
    else:
        head = [sys.executable, "-m", "mscc_desktop"]
    return [
        *head,
        "adapt",
        "--base", str(request.base_folder),
        "--data", str(dataset),
        "--out", str(request.out_folder),
        "--id", request.new_id,
        "--user", request.user,
        "--json-progress",
        "--json", str(result_file),
    ]  # fmt: skip


def child_error(lines: list[str], exit_code: int) -> str:
    """The child's own explanation ("mscc-desktop: ..."), else its last lines."""
    for line in reversed(lines):
        if line.startswith("mscc-desktop: "):
            return line.removeprefix("mscc-desktop: ").strip()
    tail = " ".join(line.strip() for line in lines[-3:] if line.strip())
    return (
        f"The adaptation stopped with exit code {exit_code}"
        + (f": {tail}" if tail else ".")
        + " Details are in the log; 'mscc-desktop adapt --help' explains what it needs."
    )


def remove_unfinished_model(folder: Path) -> bool:
    """Delete ``folder`` when it holds no manifest (a model the child did not finish), and
    the child's staging folders beside it (``.<name>.partial-<pid>``, left by a killed child)."""
    removed = False
    for staged in folder.parent.glob(f".{folder.name}.partial-*"):
        shutil.rmtree(staged, ignore_errors=True)
        removed = True
    if folder.is_dir() and not (folder / MANIFEST).is_file():
        shutil.rmtree(folder, ignore_errors=True)
        return True
    return removed


class AdaptJob(QtCore.QObject):
    """Runs one adaptation at a time: export on ``pool``, then the child process.

    Signals: ``progress(fraction, text)``; exactly one of ``succeeded(AdaptOutcome)``,
    ``failed(exception)`` or ``cancelled()``; ``busy_changed(bool)`` around the whole job.
    """

    progress = QtCore.Signal(float, str)
    succeeded = QtCore.Signal(object)
    failed = QtCore.Signal(object)
    cancelled = QtCore.Signal()
    busy_changed = QtCore.Signal(bool)

    def __init__(self, pool: QtCore.QThreadPool, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.exporter = TaskRunner(pool, self)
        self.exporter.progress.connect(lambda f, t: self.progress.emit(f * EXPORT_SHARE, t))
        self.exporter.succeeded.connect(self._on_exported)
        self.exporter.failed.connect(self._fail)
        self.exporter.cancelled.connect(self._on_cancelled)
        self.process: QtCore.QProcess | None = None
        self._request: AdaptRequest | None = None
        self._work: Path | None = None
        self._stderr = ""
        self._lines: list[str] = []
        self._cancelling = False

    @property
    def busy(self) -> bool:
        return self._request is not None

    # ---- start and stop -----------------------------------------------------------------
    def start(self, request: AdaptRequest) -> None:
        """Export, then adapt. Raises ``OSError`` (nothing started) when the data folder
        cannot take the export."""
        if self.busy:
            raise RuntimeError("an adaptation is running already")
        request.data_dir.mkdir(parents=True, exist_ok=True)
        # Beside the store, not in the system's temp folder: the export holds patient data.
        self._work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=request.data_dir))
        self._request = request
        self._cancelling = False
        self._lines = []
        self._stderr = ""
        self.busy_changed.emit(True)
        self.progress.emit(0.0, "Exporting the reviewed studies")
        db_path, dataset = request.db_path, self._work / "dataset"

        def export(*, progress: ProgressFn, cancel: CancelToken) -> DatasetExport:
            return export_site_data(db_path, dataset, progress=progress, cancel=cancel)

        self.exporter.submit(export)

    def cancel(self) -> None:
        """Stop the export or the child; ``cancelled`` follows once it has stopped."""
        if not self.busy:
            return
        self._cancelling = True
        if self.process is not None:
            # The child holds nothing worth a graceful stop: what it wrote is removed.
            self.process.kill()
        else:
            self.exporter.cancel()

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Stop whatever runs (the window is closing) and wait for the child to end."""
        self.cancel()
        if self.process is not None:
            self.process.waitForFinished(timeout_ms)

    # ---- steps --------------------------------------------------------------------------
    def _on_exported(self, export: DatasetExport) -> None:
        request = self._request
        assert request is not None and self._work is not None
        if self._cancelling:
            self._on_cancelled()
            return
        result_file = self._work / "result.json"
        command = adapt_command(request, export.folder, result_file)
        process = QtCore.QProcess(self)
        environment = QtCore.QProcessEnvironment.systemEnvironment()
        # The child must see the same store folder and models as this window.
        environment.insert("MSCC_DATA_DIR", str(request.data_dir))
        environment.insert("MSCC_MODELS_DIR", str(request.models_dir))
        process.setProcessEnvironment(environment)
        process.setProcessChannelMode(QtCore.QProcess.ProcessChannelMode.SeparateChannels)
        process.readyReadStandardError.connect(self._read_stderr)
        process.readyReadStandardOutput.connect(process.readAllStandardOutput)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_process_error)
        self.process = process
        self.progress.emit(EXPORT_SHARE, "Starting the adaptation")
        logger.info("adapting %s as %s", request.base_folder.name, request.new_id)
        process.start(command[0], command[1:])

    def _read_stderr(self) -> None:
        if self.process is None:
            return
        self._stderr += bytes(self.process.readAllStandardError().data()).decode("utf-8", "replace")
        *complete, self._stderr = self._stderr.split("\n")
        for line in complete:
            self._take_line(line)

    def _take_line(self, line: str) -> None:
        if line.startswith("{"):
            try:
                data = json.loads(line)
                fraction, text = float(data["progress"]), str(data["text"])
            except (ValueError, KeyError, TypeError):
                pass
            else:
                self.progress.emit(EXPORT_SHARE + (1 - EXPORT_SHARE) * fraction, text)
                return
        if line.strip():
            self._lines.append(line)
            del self._lines[:-40]

    def _on_process_error(self, error: QtCore.QProcess.ProcessError) -> None:
        if error is QtCore.QProcess.ProcessError.FailedToStart and self.busy:
            program = self.process.program() if self.process is not None else "?"
            self.process = None
            self._fail(
                AdaptFailedError(
                    f"Could not start the adaptation ({program}): reinstall mscc-desktop, "
                    "or run 'mscc-desktop adapt' from a terminal to see why."
                )
            )

    def _on_finished(self, exit_code: int, status: QtCore.QProcess.ExitStatus) -> None:
        request = self._request
        self._read_stderr()
        if self._stderr:
            self._take_line(self._stderr)
            self._stderr = ""
        self.process = None
        if request is None:
            return
        if self._cancelling:
            self._on_cancelled()
            return
        assert self._work is not None
        result_file = self._work / "result.json"
        crashed = status is QtCore.QProcess.ExitStatus.CrashExit
        if not crashed and exit_code in (EXIT_OFFERED, EXIT_WORSE) and result_file.is_file():
            try:
                outcome = AdaptOutcome.from_json(json.loads(result_file.read_text()))
            except (ValueError, KeyError, TypeError) as error:
                self._fail(AdaptFailedError(f"The adaptation's result could not be read: {error}."))
                return
            self._end()
            self.succeeded.emit(outcome)
            return
        remove_unfinished_model(request.out_folder)
        self._fail(AdaptFailedError(child_error(self._lines, exit_code)))

    def _fail(self, error: object) -> None:
        if self._request is not None:
            remove_unfinished_model(self._request.out_folder)
        self._end()
        self.failed.emit(error)

    def _on_cancelled(self) -> None:
        if self._request is not None:
            remove_unfinished_model(self._request.out_folder)
        self._end()
        self.cancelled.emit()

    def _end(self) -> None:
        if self._work is not None:
            # Links are removed, never followed: the source files stay where they are.
            shutil.rmtree(self._work, ignore_errors=True)
        self._work = None
        self._request = None
        self._cancelling = False
        self.busy_changed.emit(False)
