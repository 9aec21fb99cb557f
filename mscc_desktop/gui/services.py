"""The GUI's thin adapters over the layers below: DICOM import, demo study, model + pipeline.

Everything heavy is imported lazily inside the methods, so the window appears before
onnxruntime (or torch) is imported: :meth:`Analyser.prepare` runs on the inference thread.
Tests pass their own :class:`Services` (e.g. with the fake backend) to the main window.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mscc_desktop.core.config import AppConfig
from mscc_desktop.core.dicom.classify import SeriesEntry
from mscc_desktop.core.dicom.scan import ScanResult
from mscc_desktop.core.findings import AnalysisResult, Thresholds
from mscc_desktop.core.tasks import CancelToken, ProgressFn, report
from mscc_desktop.core.volume import Volume

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """The model and backend that will analyse, as shown in the status bar and About box."""

    model_id: str
    model_version: str
    model_sha256: str
    runtime: str
    device: str
    fallback_warning: str | None
    thresholds: Thresholds
    synthetic_only: bool = True
    card_summary: str = ""
    probability_temperature: float = 1.0
    limitations: tuple[str, ...] = ()

    def thresholds_for(self, high_threshold: float | None) -> Thresholds:
        """The model's thresholds, with a reader's P(high) threshold when one is set."""
        if high_threshold is None:
            return self.thresholds
        return dataclasses.replace(self.thresholds, high=high_threshold)

    @property
    def status_text(self) -> str:
        return f"Model {self.model_id} {self.model_version} · {self.runtime} · {self.device}"


@dataclass(frozen=True, slots=True, eq=False)
class LoadedSeries:
    """A volume plus what the store needs to recognise its files later."""

    volume: Volume
    source_path: Path
    fingerprint: str
    n_files: int
    part: str = ""


class Analyser(Protocol):
    """Model + backend, used only on the inference thread (one session, one device)."""

    @property
    def info(self) -> ModelInfo | None:
        """Known after :meth:`prepare` succeeded; ``None`` before."""
        ...

    def prepare(self, *, progress: ProgressFn | None, cancel: CancelToken | None) -> ModelInfo:
        """Load and verify the model, create and warm up the backend (idempotent)."""
        ...

    def analyse(
        self,
        volume: Volume,
        *,
        high_threshold: float | None,
        progress: ProgressFn | None,
        cancel: CancelToken | None,
    ) -> AnalysisResult: ...


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


def model_location(config: AppConfig) -> str | Path:
    """Where ``config.model_id`` is: the installed folder first, then the site's models.

    Looked up in *this* configuration's folders (the site's models beside its store), so a
    store opened with ``--db`` elsewhere still finds the models adapted beside it.
    """
    from mscc_desktop.core.config import site_models_dir

    for root in (config.models_dir, site_models_dir(config.data_dir)):
        folder = root / config.model_id
        if (folder / "manifest.json").is_file():
            return folder
    return config.model_id  # resolve_model explains what is missing


def load_with_fingerprint(
    entry: SeriesEntry, *, progress: ProgressFn | None, cancel: CancelToken | None
) -> LoadedSeries:
    """Decode a series and fingerprint its files (both off the GUI thread)."""
    from mscc_desktop.core.dicom.load import load_series
    from mscc_desktop.core.tasks import sub_progress
    from mscc_desktop.storage.fingerprint import fingerprint_files, source_folder

    volume = load_series(entry, progress=sub_progress(progress, 0.0, 0.95), cancel=cancel)
    files = sorted(set(volume.source_files))
    report(progress, 0.96, "Checking the files")
    return LoadedSeries(
        volume=volume,
        source_path=source_folder(files),
        fingerprint=fingerprint_files(files),
        n_files=len(files),
        part=entry.split_note,
    )


class PipelineAnalyser:
    """The shipped model on the backend the settings ask for (``auto`` by default)."""

    def __init__(self, config: AppConfig, backend_choice: str) -> None:
        self._config = config
        self._choice = backend_choice
        self._model: Any = None
        self._backend: Any = None
        self._info: ModelInfo | None = None

    @property
    def info(self) -> ModelInfo | None:
        return self._info

    def prepare(self, *, progress: ProgressFn | None, cancel: CancelToken | None) -> ModelInfo:
        if self._info is not None:
            return self._info
        from mscc_desktop.inference.backends import create_backend, resolve_model
        from mscc_desktop.inference.pipeline import ModelSettings

        report(progress, 0.0, "Loading the model")
        manifest = resolve_model(model_location(self._config), models_root=self._config.models_dir)
        self._model = ModelSettings.from_manifest(manifest)
        report(progress, 0.3, "Starting the inference backend")
        self._backend = create_backend(self._model, self._choice)
        self._info = ModelInfo(
            model_id=self._model.model_id,
            model_version=self._model.model_version,
            model_sha256=self._model.model_sha256,
            runtime=self._backend.runtime,
            device=self._backend.device,
            fallback_warning=self._backend.fallback_warning,
            thresholds=self._model.thresholds,
            synthetic_only=self._model.synthetic_only,
            card_summary=card_summary(manifest),
            probability_temperature=self._model.probability_temperature,
            limitations=self._model.limitations,
        )
        report(progress, 1.0, "Model ready")
        return self._info

    def analyse(
        self,
        volume: Volume,
        *,
        high_threshold: float | None,
        progress: ProgressFn | None,
        cancel: CancelToken | None,
    ) -> AnalysisResult:
        from mscc_desktop.inference.pipeline import analyse_volume

        info = self.prepare(progress=None, cancel=cancel)
        return analyse_volume(
            volume,
            self._backend,
            self._model,
            thresholds=info.thresholds_for(high_threshold),
            progress=progress,
            cancel=cancel,
        )


def card_summary(manifest: Any) -> str:
    """A few sentences of the model card: what it is, what it learnt from, intended use."""
    data = manifest.training_data
    parts = [str(manifest.description).strip()]
    if data.n_studies:
        source = f" by {data.generator} {data.generator_version}".rstrip() if data.generator else ""
        parts.append(
            f"Trained on {data.n_studies} synthetic studies ({data.n_slices} slices){source}."
        )
    parts.append(str(manifest.intended_use).strip())
    return " ".join(p for p in parts if p)


class DefaultServices:
    """The real importer, demo generator and pipeline."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self._analysers: dict[str, Analyser] = {}

    def scan(
        self, path: Path, *, progress: ProgressFn | None, cancel: CancelToken | None
    ) -> ScanResult:
        from mscc_desktop.core.dicom.scan import scan_folder

        return scan_folder(path, progress=progress, cancel=cancel)

    def load(
        self, entry: SeriesEntry, *, progress: ProgressFn | None, cancel: CancelToken | None
    ) -> LoadedSeries:
        return load_with_fingerprint(entry, progress=progress, cancel=cancel)

    def demo_study(self, *, progress: ProgressFn | None, cancel: CancelToken | None) -> Path:
        from mscc_desktop.synth.demo import ensure_demo_study

        return ensure_demo_study(self.config.data_dir, progress=progress, cancel=cancel)

    def analyser(self, backend_choice: str) -> Analyser:
        if backend_choice not in self._analysers:
            self._analysers[backend_choice] = PipelineAnalyser(self.config, backend_choice)
        return self._analysers[backend_choice]

    def use_model(self, model_id: str) -> None:
        self.config = self.config.with_changes(model_id=model_id)
        self._analysers.clear()
