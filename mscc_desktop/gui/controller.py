"""What happens when the reader opens, analyses and reviews a study (no widgets here).

The controller owns the store connection (GUI thread only), the two task runners and the
current study; it drives :class:`ViewerState` and tells the window what to show through
signals. Flow: open → scan and pick (I/O pool) → choose series → load + fingerprint (I/O pool) →
register in the store → show stored results of this model at once, or Analyze (inference
pool) → save → show. Each step is the study workflow's (``workflow.study``, ``.analysis``,
``.reading``), shared with the CLI; reviews and key images are written through it at once.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore
from sqlite_utils import Database

from mscc_desktop.core.dicom.classify import SeriesEntry, SeriesPick
from mscc_desktop.core.dicom.scan import ScanResult, skipped_notices
from mscc_desktop.core.errors import MsccError, NothingToLoadError, StoreError
from mscc_desktop.core.findings import AnalysisResult, AnalysisStatus, ModelProvenance
from mscc_desktop.core.tasks import CancelToken, ProgressFn
from mscc_desktop.gui.review_editor import ReviewDraft
from mscc_desktop.gui.services import Services
from mscc_desktop.gui.settings import UiSettings
from mscc_desktop.gui.state import ViewerState
from mscc_desktop.gui.workers import TaskRunner, inference_pool, io_pool
from mscc_desktop.workflow import analysis as study_analysis
from mscc_desktop.workflow import reading
from mscc_desktop.workflow.model import ModelInfo
from mscc_desktop.workflow.study import LoadedSeries, ScannedFolder, register_loaded, with_pick

if TYPE_CHECKING:
    from mscc_desktop.core.review import Review
    from mscc_desktop.workflow.model_choice import ModelSwitch
    from mscc_desktop.workflow.records import SeriesRecord, StudyListEntry
    from mscc_desktop.workflow.site_data import SiteDataSummary

logger = logging.getLogger(__name__)

SeriesChooserFn = Callable[[ScanResult, SeriesPick], SeriesEntry | None]


class ReadingController(QtCore.QObject):
    """Opens studies, runs analyses and saves reviews for one main window."""

    status = QtCore.Signal(str)  # short status-bar message (no patient data)
    error = QtCore.Signal(str, object)  # title, exception
    model_ready = QtCore.Signal(object)  # ModelInfo
    model_failed = QtCore.Signal(str)
    studies_changed = QtCore.Signal()
    reviews_changed = QtCore.Signal(object, bool)  # {lesion number: Review}, editable
    provenance_changed = QtCore.Signal(object, str)  # ModelProvenance | None, when
    can_analyse_changed = QtCore.Signal(bool)
    series_opened = QtCore.Signal()
    model_switched = QtCore.Signal(object)  # ModelSwitch
    study_verdict_changed = QtCore.Signal()  # the open study's "no MSCC" verdict

    def __init__(
        self,
        state: ViewerState,
        services: Services,
        db: Database | None,
        settings: UiSettings,
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.services = services
        self.db = db
        self.settings = settings
        self.io_pool = io_pool()
        self.inference_pool = inference_pool()
        self.loader = TaskRunner(self.io_pool, self)
        self.analysis = TaskRunner(self.inference_pool, self)
        self.model_loader = TaskRunner(self.inference_pool, self)
        self.choose_series: SeriesChooserFn = lambda scan, pick: pick.chosen
        self.loaded: LoadedSeries | None = None
        self.series: SeriesRecord | None = None
        self.analysis_id: int | None = None  # the stored analysis whose findings are shown
        self._pending_analysis_id: int | None = None
        self._pending_series: SeriesRecord | None = None  # what the running analysis is of
        self._pending_volume: object = None
        self.model_info: ModelInfo | None = None
        self._shown_provenance: ModelProvenance | None = None  # the model of the shown analysis
        # The demo is there to show what the app does: it is analysed as soon as it is open
        # and a model is ready (a reader's own studies wait for Ctrl+R), as is a received
        # series when the network settings ask for it.
        self._analyse_when_open = False

        self.loader.succeeded.connect(self._on_loader_result)
        self.loader.failed.connect(lambda e: self.error.emit("Could not open the study", e))
        self.loader.cancelled.connect(lambda: self.status.emit("Opening cancelled"))
        self.analysis.succeeded.connect(self._on_analysis_succeeded)
        self.analysis.failed.connect(self._on_analysis_failed)
        self.analysis.cancelled.connect(self._on_analysis_cancelled)
        self.analysis.busy_changed.connect(lambda _busy: self._emit_can_analyse())
        self.model_loader.succeeded.connect(self._on_model_ready)
        self.model_loader.failed.connect(self._on_model_failed)

    # ---- user name --------------------------------------------------------------------
    @property
    def user(self) -> str:
        return self.settings.user_name

    def apply_settings(self, settings: UiSettings) -> None:
        backend_changed = settings.backend != self.settings.backend
        self.settings = settings
        if backend_changed:
            self.model_info = None
            self.prepare_model()

    # ---- model --------------------------------------------------------------------------
    def prepare_model(self) -> None:
        """Load the model and start its backend on the inference thread (heavy imports there)."""
        analyser = self.services.analyser(self.settings.backend)
        self.model_loader.submit(analyser.prepare)

    def switch_model(
        self, model_id: str | None, *, data_dir: Path, models_root: Path
    ) -> ModelSwitch | None:
        """Use ``model_id`` for new analyses (``None``: roll back to the one before); audited.

        Analyses already made, and one running now, keep the model that made them.
        """
        from mscc_desktop.workflow.model_choice import roll_back, use_model

        if self.db is None:
            self.error.emit(
                "Could not change the model",
                StoreError(
                    "The results store is not available, and every model change is recorded "
                    "in its audit trail: restart the app, or check its data folder."
                ),
            )
            return None
        try:
            if model_id is None:
                change = roll_back(
                    self.db, data_dir=data_dir, models_root=models_root, user=self.user
                )
            else:
                change = use_model(
                    self.db, model_id, data_dir=data_dir, models_root=models_root, user=self.user
                )
        except MsccError as error:
            self.error.emit("Could not change the model", error)
            return None
        self.services.use_model(change.current)
        self.model_info = None
        self.prepare_model()
        self.model_switched.emit(change)
        self.status.emit(
            f"New analyses use {change.current} {change.version}; earlier analyses keep theirs"
        )
        return change

    def site_data(self) -> SiteDataSummary | None:
        """The reviewed studies available for adaptation (read on the GUI thread)."""
        from mscc_desktop.workflow.site_data import reviewed_series

        found = self._store(reviewed_series)
        return None if found is None else found[1]

    def _on_model_ready(self, info: ModelInfo) -> None:
        self.model_info = info
        self.model_ready.emit(info)
        self._emit_can_analyse()
        if self.loaded is not None and self.state.findings is None:
            self._show_stored()
        self._maybe_analyse_on_open()

    def _on_model_failed(self, error: object) -> None:
        message = error.message if isinstance(error, MsccError) else str(error)
        self.model_failed.emit(message)
        self._emit_can_analyse()

    # ---- opening ------------------------------------------------------------------------
    def open_path(self, path: str | Path, *, analyse: bool = False) -> None:
        """Scan ``path`` and open its series; ``analyse`` analyses it once open."""
        self._analyse_when_open = analyse
        folder = Path(path)
        self.status.emit("Scanning the folder…")
        if self.db is not None and folder.exists():
            self._store(reading.add_recent_folder, folder)
        services = self.services

        def scan_then_pick(*, progress: ProgressFn, cancel: CancelToken) -> ScannedFolder:
            return with_pick(services.scan(folder, progress=progress, cancel=cancel))

        self.loader.submit(scan_then_pick)

    def open_demo(self) -> None:
        self._analyse_when_open = True
        self.status.emit("Preparing the demo study…")
        services = self.services

        def demo_then_scan(*, progress: ProgressFn, cancel: CancelToken) -> ScannedFolder:
            folder = services.demo_study(progress=progress, cancel=cancel)
            return with_pick(services.scan(folder, progress=progress, cancel=cancel))

        self.loader.submit(demo_then_scan)

    def load_entry(self, entry: SeriesEntry) -> None:
        self.status.emit("Loading the series…")
        self.loader.submit(functools.partial(self.services.load, entry))

    def _on_loader_result(self, result: object) -> None:
        if isinstance(result, ScannedFolder):
            self._on_scanned(result.scan, result.pick)
        elif isinstance(result, LoadedSeries):
            self._on_loaded(result)

    def _on_scanned(self, scan: ScanResult, pick: SeriesPick) -> None:
        self.studies_changed.emit()  # recent folders changed
        series = scan.series
        skipped = skipped_notices(scan.skipped)
        self.state.set_folder_notices(skipped)
        if not series:
            why = "".join(f"\n{n.message}" for n in skipped)
            self.error.emit(
                "Nothing to open",
                NothingToLoadError(f"{scan.root}: no DICOM image series found.{why}"),
            )
            return
        entry = series[0] if len(series) == 1 else self.choose_series(scan, pick)
        if entry is not None:
            self.load_entry(entry)
        else:
            self.status.emit("No series chosen")

    def _on_loaded(self, loaded: LoadedSeries) -> None:
        self.analysis.cancel()  # results of the previous series must not land on this one
        self.loaded = loaded
        self.analysis_id = None
        self.state.set_volume(loaded.volume)
        self.series = None
        if self.db is not None:
            self.series = self._store(register_loaded, loaded, user=self.user)
        if self.series is not None:
            marks = self._store(reading.key_image_slices, self.series.id) or []
            self.state.set_key_images(marks)
        self._shown_provenance = None
        self.provenance_changed.emit(None, "")
        self.reviews_changed.emit({}, False)
        self._show_stored()
        self.studies_changed.emit()
        self._emit_can_analyse()
        self.series_opened.emit()
        self.study_verdict_changed.emit()
        self.status.emit(f"Opened {loaded.volume.n_slices} slices")
        self._maybe_analyse_on_open()

    def _maybe_analyse_on_open(self) -> None:
        """Analyse the just-opened demo (or received series) once a model is ready, unless
        this model's stored analysis of it is already shown."""
        if (
            self._analyse_when_open
            and self.loaded is not None
            and self.model_info is not None
            and not self._shown_by_current_model()
            and self.can_analyse
        ):
            self._analyse_when_open = False
            self.analyse()

    def _show_stored(self) -> None:
        """Show the newest stored analysis of this series by the current model, if any; else
        the newest by an earlier model, labelled with that model (never re-run silently); else
        say so when this series was analysed but its files changed since (the old findings
        describe files that are no longer there as analysed, so they are not shown)."""
        if self.db is None or self.series is None or self.model_info is None:
            return
        choice: reading.StoredChoice | None = self._store(
            reading.stored_analysis_to_show, self.series.id, self.model_info.provenance
        )
        if choice is None:
            return
        stored = choice.analysis
        if stored is not None and choice.by_current_model:
            self._show_result(stored.result, stored.id, stored.notices)
            self.status.emit("Showing the stored analysis of this series (same model)")
        elif stored is not None:
            self._show_result(stored.result, stored.id, stored.notices)
            made_by = stored.result.provenance
            self.status.emit(
                f"Showing the analysis made by the earlier model {made_by.model_id} "
                f"{made_by.model_version}: Analyze (Ctrl+R) to analyse it with "
                f"{self.model_info.model_id}"
            )
        elif choice.files_changed:
            self.state.set_findings(None, notices=list(choice.stale_notices))
            self.status.emit(
                "The files of this series changed after its last analysis: analyse it again"
            )

    def _shown_by_current_model(self) -> bool:
        """Findings are shown, and the model in use made them."""
        if self.state.findings is None:
            return False
        made_by, current = self._shown_provenance, self.model_info
        return (
            made_by is None
            or current is None
            or (
                made_by.model_id == current.model_id
                and made_by.model_sha256 == current.model_sha256
            )
        )

    # ---- analysis -----------------------------------------------------------------------
    @property
    def can_analyse(self) -> bool:
        return self.loaded is not None and not self.analysis.busy

    def _emit_can_analyse(self) -> None:
        self.can_analyse_changed.emit(self.can_analyse)

    def analyse(self) -> None:
        if not self.can_analyse or self.loaded is None:
            return
        analyser = self.services.analyser(self.settings.backend)
        info = analyser.info
        self._pending_analysis_id = None
        self._pending_series, self._pending_volume = self.series, self.loaded.volume
        if info is not None and self.series is not None and self.db is not None:
            self._pending_analysis_id = self._store(
                study_analysis.begin_analysis,
                self.series,
                info,
                high_threshold=self.settings.high_grade_threshold,
                user=self.user,
            )
        self.status.emit("Analysing…")
        self.analysis.submit(
            functools.partial(
                analyser.analyse,
                self.loaded.volume,
                high_threshold=self.settings.high_grade_threshold,
            )
        )

    def cancel_analysis(self) -> None:
        self.analysis.cancel()

    def _on_analysis_succeeded(self, result: AnalysisResult) -> None:
        analysis_id = None
        if self.db is not None and self._pending_series is not None:
            # Stored for the series it analysed, even if the reader has opened another since.
            analysis_id = self._store(
                study_analysis.save_analysis,
                self._pending_series,
                result,
                analysis_id=self._pending_analysis_id,
                user=self.user,
            )
        self._pending_analysis_id = None
        self.studies_changed.emit()
        if self.loaded is None or self.loaded.volume is not self._pending_volume:
            return  # the reader moved on: do not show it over another series
        self._show_result(result, analysis_id, result.notices)
        if result.status is AnalysisStatus.REFUSED:
            reasons = "; ".join(n.message for n in result.notices if n.severity.value == "error")
            self.error.emit(
                "Analysis refused", MsccError(reasons or "The series cannot be analysed.")
            )
        else:
            self.status.emit(f"Analysis done in {result.duration_s:.1f} s")

    def _end_pending(self, status: AnalysisStatus, error: str = "") -> None:
        if self._pending_analysis_id is not None and self.db is not None:
            self._store(
                study_analysis.end_analysis,
                self._pending_analysis_id,
                status,
                error=error,
                user=self.user,
            )
        self._pending_analysis_id = None
        self.studies_changed.emit()

    def _on_analysis_failed(self, error: object) -> None:
        self._end_pending(AnalysisStatus.FAILED, type(error).__name__)
        self.error.emit("Analysis failed", error)

    def _on_analysis_cancelled(self) -> None:
        self._end_pending(AnalysisStatus.CANCELLED)
        self.status.emit("Analysis cancelled")

    def _show_result(self, result: AnalysisResult, analysis_id: int | None, notices: Any) -> None:
        self.analysis_id = analysis_id
        self.state.set_findings(result.findings, thresholds=result.thresholds, notices=notices)
        when = result.finished_at.astimezone().strftime("%Y-%m-%d %H:%M")
        self._shown_provenance = result.provenance
        self.provenance_changed.emit(result.provenance, when)
        reviews: dict[int, Review] = {}
        if self.db is not None and analysis_id is not None:
            reviews = self._store(reading.load_reviews, analysis_id) or {}
        self.reviews_changed.emit(reviews, analysis_id is not None)

    # ---- review -------------------------------------------------------------------------
    def save_review(self, draft: ReviewDraft) -> str | None:
        """Store a review; returns an error text for the editor, or None when saved."""
        if self.db is None or self.analysis_id is None:
            return "Reviews need a stored analysis (the results store is not available)."
        try:
            reading.save_review(
                self.db,
                self.analysis_id,
                draft.lesion_number,
                decision=draft.decision,
                regraded_group=draft.regraded_group,
                vertebral_level=draft.vertebral_level,
                comment=draft.comment,
                user=self.user,
            )
        except ValueError as error:
            return str(error)
        except StoreError as error:
            self.error.emit("Could not save the review", error)
            return error.message
        self.reviews_changed.emit(self._store(reading.load_reviews, self.analysis_id) or {}, True)
        self.studies_changed.emit()
        self.status.emit(f"Review of finding {draft.lesion_number} saved")
        return None

    def sign_off(self) -> None:
        """Record that the reader finished this study (the study browser shows it reviewed)."""
        if self.db is None or self.series is None:
            return
        self._store(reading.sign_off_study, self.series.study_id, user=self.user)
        self.studies_changed.emit()
        self.status.emit("Study marked as reviewed")

    @property
    def study_no_mscc(self) -> bool | None:
        """The open study's "no MSCC" verdict; ``None`` when no stored study is open."""
        if self.db is None or self.series is None:
            return None
        found = self._store(reading.study_no_mscc, self.series.study_id)
        return None if found is None else bool(found)

    def set_no_mscc(self, no_mscc: bool) -> None:
        """The one-action verdict on the whole open study (it also signs the study off);
        ``False`` withdraws it. Every slice of a "no MSCC" study trains as normal."""
        if self.db is None or self.series is None:
            return
        self._store(reading.set_study_no_mscc, self.series.study_id, no_mscc, user=self.user)
        self.study_verdict_changed.emit()
        self.studies_changed.emit()
        self.status.emit(
            "Study marked: no MSCC (every slice normal) and reviewed"
            if no_mscc
            else "“No MSCC” withdrawn: the findings' own reviews count again"
        )

    def no_mscc_studies(self, entries: list[StudyListEntry]) -> set[int]:
        """Which of ``entries`` carry the "no MSCC" verdict (for the study browser)."""
        return {e.study_id for e in entries if self._store(reading.study_no_mscc, e.study_id)}

    def toggle_key_image(self) -> None:
        volume = self.state.volume
        if volume is None:
            return
        index = self.state.slice_index
        marked = self.state.toggle_key_image(index)
        if self.db is not None and self.series is not None:
            self._store(
                reading.mark_key_image,
                self.series.id,
                index,
                sop_instance_uid=volume.sop_instance_uids[index],
                marked=marked,
                user=self.user,
            )
            self.studies_changed.emit()
        self.status.emit(f"Slice {index + 1} {'marked as' if marked else 'no longer'} a key image")

    # ---- store helpers ------------------------------------------------------------------
    def _store(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a store function on the GUI thread; a store failure is shown, not raised."""
        if self.db is None:
            return None
        try:
            return function(self.db, *args, **kwargs)
        except StoreError as error:
            self.error.emit("Results store problem", error)
            return None

    def studies(self) -> list[StudyListEntry]:
        return self._store(reading.list_studies) or []

    def recent_folders(self) -> list[Path]:
        return self._store(reading.recent_folders, limit=10) or []

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Cancel background work, wait for it, close the store."""
        for runner in (self.loader, self.analysis, self.model_loader):
            runner.cancel_all()
        self.io_pool.waitForDone(timeout_ms)
        self.inference_pool.waitForDone(timeout_ms)
        if self._pending_analysis_id is not None:
            self._end_pending(AnalysisStatus.CANCELLED)
        if self.db is not None:
            self.db.close()
            self.db = None
