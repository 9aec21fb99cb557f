"""The GUI's seam over the study workflow: what the main window needs, and the real thing.

The steps themselves are the workflow's (``workflow.study``, ``workflow.model``), shared with
the CLI; this only names the set the window uses, so tests can pass their own
:class:`Services` (e.g. with the fake backend). Everything heavy is imported lazily, so the
window appears before onnxruntime (or torch) is imported: :meth:`Analyser.prepare` runs on
the inference thread.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from mscc_desktop.core.config import AppConfig
from mscc_desktop.core.dicom.classify import SeriesEntry
from mscc_desktop.core.dicom.scan import ScanResult
from mscc_desktop.core.tasks import CancelToken, ProgressFn
from mscc_desktop.workflow.model import Analyser, PipelineAnalyser
from mscc_desktop.workflow.study import (
    LoadedSeries,
    demo_study_folder,
    load_with_fingerprint,
    scan_study_folder,
)

logger = logging.getLogger(__name__)


class Services(Protocol):
    """What the main window needs from the layers below."""

    def scan(
        self, path: Path, *, progress: ProgressFn | None, cancel: CancelToken | None
    ) -> ScanResult: ...

    def load(
        self, entry: SeriesEntry, *, progress: ProgressFn | None, cancel: CancelToken | None
    ) -> LoadedSeries: ...

    def demo_study(self, *, progress: ProgressFn | None, cancel: CancelToken | None) -> Path: ...

    def analyser(self, backend_choice: str) -> Analyser: ...

    def use_model(self, model_id: str) -> None:
        """Analyse from now on with ``model_id`` (analysers of the earlier model are dropped;
        one already running finishes with the model it started with)."""
        ...


class DefaultServices:
    """The real importer, demo generator and pipeline."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self._analysers: dict[str, Analyser] = {}

    def scan(
        self, path: Path, *, progress: ProgressFn | None, cancel: CancelToken | None
    ) -> ScanResult:
        return scan_study_folder(path, progress=progress, cancel=cancel)

    def load(
        self, entry: SeriesEntry, *, progress: ProgressFn | None, cancel: CancelToken | None
    ) -> LoadedSeries:
        return load_with_fingerprint(entry, progress=progress, cancel=cancel)

    def demo_study(self, *, progress: ProgressFn | None, cancel: CancelToken | None) -> Path:
        return demo_study_folder(self.config.data_dir, progress=progress, cancel=cancel)

    def analyser(self, backend_choice: str) -> Analyser:
        if backend_choice not in self._analysers:
            self._analysers[backend_choice] = PipelineAnalyser(self.config, backend_choice)
        return self._analysers[backend_choice]

    def use_model(self, model_id: str) -> None:
        self.config = self.config.with_changes(model_id=model_id)
        self._analysers.clear()
