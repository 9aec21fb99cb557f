"""The spine of the shown analysis: canal centreline, proposed levels, the reader's numbering.

:class:`SpineLevels` follows :class:`~.state.ViewerState`: when findings are shown it takes
the canal centreline from the detector's boxes (a few ms, on the GUI thread), estimates the
vertebral levels on the I/O pool (:func:`~mscc_desktop.core.spine.level_estimate.
estimate_levels`, about 0.7 ms a slice) and reads the numbering the reader confirmed from the
store. The reader confirms the proposal, or shifts the whole numbering one level up or down,
each in one action that is saved at once with the analysis (and audited): see
``workflow.reading.save_level_numbering`` (the store keeps the numbering).

What the views show (:class:`ShownLevels`): the confirmed numbering once there is one, else
the proposal (marked as such), else nothing, with the estimate's reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6 import QtCore

from mscc_desktop.core.errors import StoreError, UnusableSeriesError
from mscc_desktop.core.findings import Lesion
from mscc_desktop.core.spine.centreline import Centreline, centreline_from_results
from mscc_desktop.core.spine.level_estimate import estimate_levels
from mscc_desktop.core.spine.levels import LevelEstimate, levels_range
from mscc_desktop.core.tasks import CancelToken, ProgressFn
from mscc_desktop.core.volume import Volume
from mscc_desktop.gui.workers import TaskRunner
from mscc_desktop.workflow.reading import load_level_numbering, save_level_numbering

if TYPE_CHECKING:
    from mscc_desktop.core.spine.levels import LevelNumbering
    from mscc_desktop.gui.controller import ReadingController

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ShownLevels:
    """The level of every slice as the views show it, and where it comes from.

    ``confirmed`` False: the program's proposal, which the reader has not confirmed (shown
    apart from the reader's own levels, never reported). ``note`` is one line for tooltips.
    """

    levels: tuple[str | None, ...]
    confirmed: bool
    shift: int
    note: str

    def level_range(self, first_slice: int, last_slice: int) -> str:
        """``"T7"`` or ``"T7-T8"`` for a run of slices; ``""`` where none is numbered."""
        return levels_range(self.levels, first_slice, last_slice)

    def of_lesion(self, lesion: Lesion) -> str:
        return self.level_range(lesion.first_slice, lesion.last_slice)


def _estimate(
    volume: Volume,
    centreline: Centreline,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> tuple[Volume, LevelEstimate]:
    return volume, estimate_levels(volume, centreline, progress=progress, cancel=cancel)


class SpineLevels(QtCore.QObject):
    """Centreline, level estimate and confirmed numbering of the analysis on screen.

    Signals
    -------
    centreline_changed()
        A new centreline (or none: no analysis, or the canal was not found).
    levels_changed()
        The estimate arrived, or the reader confirmed or shifted the numbering.
    """

    centreline_changed = QtCore.Signal()
    levels_changed = QtCore.Signal()

    def __init__(self, controller: ReadingController, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.state = controller.state
        self.runner = TaskRunner(controller.io_pool, self)
        self.runner.succeeded.connect(self._on_estimated)
        self.runner.failed.connect(self._on_estimate_failed)
        self._centreline: Centreline | None = None
        self._estimate: LevelEstimate | None = None
        self._numbering: LevelNumbering | None = None
        self._analysis_id: int | None = None
        self._problem = ""
        self.state.volume_changed.connect(self._clear)
        self.state.findings_changed.connect(self._on_findings_changed)

    # ---- what is known ------------------------------------------------------------------
    @property
    def centreline(self) -> Centreline | None:
        return self._centreline

    @property
    def estimate(self) -> LevelEstimate | None:
        return self._estimate

    @property
    def numbering(self) -> LevelNumbering | None:
        return self._numbering

    @property
    def busy(self) -> bool:
        return self.runner.busy

    @property
    def status_text(self) -> str:
        """One sentence on the levels: confirmed by whom, proposed and why, or why not."""
        if self._numbering is not None:
            n = self._numbering
            when = n.confirmed_at.astimezone().strftime("%Y-%m-%d %H:%M")
            return f"Levels confirmed by {n.user}, {when} ({n.shift_text})."
        if self._problem:
            return self._problem
        if self._estimate is None:
            return "Estimating vertebral levels…" if self.busy else ""
        if self._estimate.proposed:
            if self.controller.db is None or self._analysis_id is None:
                return (
                    f"Levels proposed, not confirmed: {self._estimate.reason} They cannot be "
                    "confirmed without a stored analysis: check the results store in the "
                    "data folder and analyse again."
                )
            return (
                f"Levels proposed, not confirmed: {self._estimate.reason} Confirm them "
                "(Ctrl+L) or shift them by one level (Ctrl+Shift+↓ / ↑)."
            )
        return f"No levels proposed: {self._estimate.reason}"

    def shown(self) -> ShownLevels | None:
        """The levels to show: the confirmed numbering, else the proposal, else ``None``."""
        if self._numbering is not None:
            return ShownLevels(
                self._numbering.levels, True, self._numbering.shift, self.status_text
            )
        if self._estimate is not None and self._estimate.proposed:
            return ShownLevels(self._estimate.levels, False, 0, self.status_text)
        return None

    @property
    def can_confirm(self) -> bool:
        """A numbering is there to confirm (a proposal, or an earlier confirmation) and saved."""
        proposal = self._proposal()
        return (
            proposal is not None
            and self._analysis_id is not None
            and self.controller.db is not None
        )

    # ---- the reader's actions -----------------------------------------------------------
    def confirm(self) -> bool:
        """Confirm the numbering as shown (the proposal, or the earlier shift)."""
        shift = 0 if self._numbering is None else self._numbering.shift
        return self._save(shift)

    def shift(self, by: int) -> bool:
        """Move the whole numbering ``by`` levels (+1: towards the feet) and confirm it."""
        shift = (0 if self._numbering is None else self._numbering.shift) + by
        return self._save(shift)

    def _proposal(self) -> tuple[str | None, ...] | None:
        if self._numbering is not None:
            return self._numbering.proposed_levels
        if self._estimate is not None and self._estimate.proposed:
            return self._estimate.levels
        return None

    def _save(self, shift: int) -> bool:
        c = self.controller
        proposal = self._proposal()
        if proposal is None or self._analysis_id is None or c.db is None:
            c.status.emit(
                "No levels to confirm: "
                + (self.status_text or "analyse the series first (Ctrl+R).")
            )
            return False
        estimate = self._estimate
        try:
            self._numbering = save_level_numbering(
                c.db,
                self._analysis_id,
                proposal,
                shift=shift,
                reason=estimate.reason if estimate is not None else self._numbering_reason(),
                confidence=estimate.confidence if estimate is not None else 0.0,
                user=c.user,
            )
        except ValueError as error:
            c.status.emit(f"Levels not changed: {error}.")
            return False
        except StoreError as error:
            c.error.emit("Could not save the levels", error)
            return False
        self.levels_changed.emit()
        c.studies_changed.emit()
        moved = "" if shift == 0 else f", {self._numbering.shift_text}"
        c.status.emit(
            f"Vertebral levels confirmed{moved}: {self._numbering.extent}, saved with the "
            "analysis; reports name findings by these levels"
        )
        return True

    def _numbering_reason(self) -> str:
        return "" if self._numbering is None else self._numbering.reason

    # ---- following the state ------------------------------------------------------------
    def _clear(self) -> None:
        self.runner.cancel()
        changed = self._centreline is not None or self._estimate is not None
        self._centreline = self._estimate = self._numbering = None
        self._analysis_id = None
        self._problem = ""
        if changed:
            self.centreline_changed.emit()
            self.levels_changed.emit()

    def _on_findings_changed(self) -> None:
        self.runner.cancel()
        volume, findings = self.state.volume, self.state.findings
        self._centreline = self._estimate = self._numbering = None
        self._problem = ""
        self._analysis_id = self.controller.analysis_id if findings is not None else None
        if volume is not None and findings is not None:
            try:
                self._centreline = centreline_from_results(volume, findings.slices)
            except UnusableSeriesError as error:
                self._problem = f"No levels proposed: {error.message}"
            if self._analysis_id is not None and self.controller.db is not None:
                try:
                    self._numbering = load_level_numbering(self.controller.db, self._analysis_id)
                except StoreError as error:
                    self.controller.error.emit("Could not read the confirmed levels", error)
            if self._centreline is not None:
                self.runner.submit(_bind(volume, self._centreline))
        self.centreline_changed.emit()
        self.levels_changed.emit()

    def _on_estimated(self, result: tuple[Volume, LevelEstimate]) -> None:
        volume, estimate = result
        if volume is not self.state.volume:
            return  # estimated for a series no longer shown
        self._estimate = estimate
        self.levels_changed.emit()

    def _on_estimate_failed(self, error: object) -> None:
        logger.warning("level estimate failed: %r", error)
        message = error.message if isinstance(error, StoreError | UnusableSeriesError) else ""
        self._problem = "No levels proposed: " + (
            message or "the level estimate failed (details in the log)."
        )
        self.levels_changed.emit()


def _bind(volume: Volume, centreline: Centreline) -> Callable[..., tuple[Volume, LevelEstimate]]:
    def job(*, progress: ProgressFn, cancel: CancelToken) -> tuple[Volume, LevelEstimate]:
        return _estimate(volume, centreline, progress=progress, cancel=cancel)

    return job
