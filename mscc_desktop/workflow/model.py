"""The model an analysis runs on: found, verified and started once, then passed on.

:func:`open_model` (the CLI) and :class:`PipelineAnalyser` (the GUI, on its inference thread)
resolve the model folder and start its backend once; every analysis after that uses the same
:class:`OpenModel`. The model's identity is one type, core's
:class:`~mscc_desktop.core.findings.ModelProvenance` (stored with each analysis, printed on each
report); :class:`ModelInfo` is that identity plus only what the reader sees beside it.

onnxruntime (or torch) is imported on first use, so a window can show before it loads.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mscc_desktop.core.config import AppConfig, site_models_dir
from mscc_desktop.core.findings import AnalysisResult, ModelProvenance, Thresholds
from mscc_desktop.core.tasks import CancelToken, ProgressFn, report
from mscc_desktop.core.volume import Volume

if TYPE_CHECKING:
    from mscc_desktop.inference.backend import InferenceBackend
    from mscc_desktop.inference.manifest import ModelManifest
    from mscc_desktop.inference.model_settings import ModelSettings


@dataclass(frozen=True, slots=True)
class ModelInfo(ModelProvenance):
    """A started model as the reader sees it (status bar, About box): its identity and
    backend (a :class:`ModelProvenance`), its decision thresholds, and what starting it found.
    """

    thresholds: Thresholds = field(default_factory=Thresholds)
    fallback_warning: str | None = None
    card_summary: str = ""

    @property
    def provenance(self) -> ModelProvenance:
        """The identity alone, as stored with each analysis."""
        return ModelProvenance(**{f.name: getattr(self, f.name) for f in fields(ModelProvenance)})

    @property
    def runtime(self) -> str:
        return self.backend

    def thresholds_for(self, high_threshold: float | None) -> Thresholds:
        """The model's thresholds, with a reader's P(high) threshold when one is set."""
        if high_threshold is None:
            return self.thresholds
        return dataclasses.replace(self.thresholds, high=high_threshold)

    @property
    def status_text(self) -> str:
        return f"Model {self.model_id} {self.model_version} · {self.backend} · {self.device}"


@dataclass(frozen=True, slots=True, eq=False)
class OpenModel:
    """A verified model on a started backend: what the analyses of one session run on."""

    settings: ModelSettings
    backend: InferenceBackend
    info: ModelInfo

    @property
    def provenance(self) -> ModelProvenance:
        return self.info.provenance


def start_model(
    settings: ModelSettings,
    backend_choice: str,
    *,
    threads: int | None = None,
    card_summary: str = "",
) -> OpenModel:
    """Start the backend ``backend_choice`` for verified ``settings`` (warmed up)."""
    from mscc_desktop.inference import backends
    from mscc_desktop.inference.pipeline import provenance

    backend = backends.create_backend(settings, backend_choice, threads=threads)
    made_by = provenance(backend, settings)
    info = ModelInfo(
        **{f.name: getattr(made_by, f.name) for f in fields(ModelProvenance)},
        thresholds=settings.thresholds,
        fallback_warning=backend.fallback_warning,
        card_summary=card_summary,
    )
    return OpenModel(settings, backend, info)


def open_model(
    id_or_dir: str | os.PathLike[str] | None,
    backend_choice: str,
    *,
    threads: int | None = None,
    models_root: str | os.PathLike[str] | None = None,
) -> OpenModel:
    """Find and verify a model (an id, a folder, or the default) and start its backend.

    Raises
    ------
    ModelIntegrityError
        The model is missing, incomplete or fails its checksums.
    BackendUnavailableError
        No backend of ``backend_choice`` works here.
    """
    from mscc_desktop.inference import backends

    settings = backends.load_model_settings(id_or_dir, models_root=models_root)
    return start_model(settings, backend_choice, threads=threads)


def model_location(config: AppConfig) -> str | Path:
    """Where ``config.model_id`` is: the installed folder first, then the site's models.

    Looked up in *this* configuration's folders (the site's models beside its store), so a
    store opened with ``--db`` elsewhere still finds the models adapted beside it.
    """
    for root in (config.models_dir, site_models_dir(config.data_dir)):
        folder = root / config.model_id
        if (folder / "manifest.json").is_file():
            return folder
    return config.model_id  # resolve_model explains what is missing


def card_summary(manifest: ModelManifest) -> str:
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


class PipelineAnalyser:
    """The configured model on the backend the settings ask for (``auto`` by default),
    opened once on first use."""

    def __init__(self, config: AppConfig, backend_choice: str) -> None:
        self._config = config
        self._choice = backend_choice
        self._model: OpenModel | None = None

    @property
    def info(self) -> ModelInfo | None:
        return None if self._model is None else self._model.info

    def prepare(self, *, progress: ProgressFn | None, cancel: CancelToken | None) -> ModelInfo:
        return self._open(progress).info

    def _open(self, progress: ProgressFn | None) -> OpenModel:
        if self._model is not None:
            return self._model
        from mscc_desktop.inference import backends
        from mscc_desktop.inference.model_settings import ModelSettings

        report(progress, 0.0, "Loading the model")
        manifest = backends.resolve_model(
            model_location(self._config), models_root=self._config.models_dir
        )
        settings = ModelSettings.from_manifest(manifest)
        report(progress, 0.3, "Starting the inference backend")
        self._model = start_model(settings, self._choice, card_summary=card_summary(manifest))
        report(progress, 1.0, "Model ready")
        return self._model

    def analyse(
        self,
        volume: Volume,
        *,
        high_threshold: float | None,
        progress: ProgressFn | None,
        cancel: CancelToken | None,
    ) -> AnalysisResult:
        from mscc_desktop.inference.pipeline import analyse_volume

        model = self._open(None)
        return analyse_volume(
            volume,
            model.backend,
            model.settings,
            thresholds=model.info.thresholds_for(high_threshold),
            progress=progress,
            cancel=cancel,
        )


__all__ = [
    "Analyser",
    "ModelInfo",
    "OpenModel",
    "PipelineAnalyser",
    "card_summary",
    "model_location",
    "open_model",
    "start_model",
]
