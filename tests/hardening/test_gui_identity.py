"""Findings on screen always belong to the series on screen, however fast the reader switches.

Loads and analyses are held at gates the test opens, so every interleaving below is a fact of
the test, not luck of timing: an analysis finishing after the reader moved to another series,
a slow load overtaken by a fast one, and a seeded random walk of opens, analyses, cancels and
gate releases. After every step the invariant is checked: the SOP Instance UIDs of the shown
findings' slices are the shown volume's, and the shown stored analysis is of the shown series.
Also: a series whose files changed after its analysis shows a stale warning, not old findings.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6 import QtCore, QtWidgets

from mscc_desktop import storage
from mscc_desktop.core.config import AppConfig
from mscc_desktop.core.dicom.classify import SeriesEntry
from mscc_desktop.core.errors import Cancelled
from mscc_desktop.core.notices import NoticeCode
from mscc_desktop.core.review import StudyStatus
from mscc_desktop.core.tasks import CancelToken, ProgressFn
from mscc_desktop.gui.app import create_main_window
from mscc_desktop.gui.main_window import MainWindow
from mscc_desktop.workflow.study import LoadedSeries
from tests.factories.dicom_factory import rewrite
from tests.gui.fakes import INFO, FakeAnalyser, FakeServices, write_phantom_study


class GatedServices(FakeServices):
    """Real import, but a load of a gated folder waits until the test opens its gate."""

    def __init__(self, data_dir: Path, analyser: FakeAnalyser) -> None:
        super().__init__(data_dir, analyser)
        self.gates: dict[Path, threading.Event] = {}

    def load(
        self, entry: SeriesEntry, *, progress: ProgressFn | None, cancel: CancelToken | None
    ) -> LoadedSeries:
        gate = self.gates.get(entry.files[0].parent)
        while gate is not None and not gate.wait(0.02):
            if cancel is not None and cancel.cancelled:
                raise Cancelled("load replaced")
        return super().load(entry, progress=progress, cancel=cancel)


@pytest.fixture
def studies(tmp_path: Path) -> dict[str, Path]:
    """Three one-series studies of three patients (distinct UIDs and SOP instances)."""
    folders = {}
    for name in ("A", "B", "C"):
        info = replace(INFO, patient_id=f"PAT-{name}", patient_name=f"PHANTOM^{name}")
        folder = write_phantom_study(tmp_path / name, n_slices=12, size=64, seed=f"race-{name}")
        for path in folder.iterdir():  # the writer used INFO: give each its own patient

            def own(ds: object, info: object = info) -> None:
                ds.PatientID, ds.PatientName = info.patient_id, info.patient_name  # type: ignore[attr-defined]

            rewrite(path, own)
        folders[name] = folder
    return folders


@pytest.fixture
def window(qtbot, tmp_path: Path) -> Iterator[tuple[MainWindow, GatedServices]]:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    data.mkdir()
    config = AppConfig(data_dir=data, db_path=data / "store.sqlite", models_dir=tmp_path)
    services = GatedServices(data, FakeAnalyser(gated=True))
    qsettings = QtCore.QSettings(str(data / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    main = create_main_window(config, services=services, qsettings=qsettings)
    main.show()
    qtbot.waitExposed(main)
    qtbot.waitUntil(lambda: main.controller.model_info is not None, timeout=5000)
    yield main, services
    for gate in services.gates.values():
        gate.set()
    backend = services.fake_analyser.backend
    if backend is not None:
        backend.gate.set()  # type: ignore[attr-defined]
    main.close()


def assert_shown_results_belong_to_the_shown_series(main: MainWindow) -> None:
    state, controller = main.state, main.controller
    if state.findings is not None:
        assert state.volume is not None
        shown = tuple(result.sop_instance_uid for result in state.findings.slices)
        assert shown == state.volume.sop_instance_uids, "findings of another series on screen"
        assert main.findings.table.topLevelItemCount() == len(state.findings.lesions)
    if controller.analysis_id is not None and controller.db is not None:
        assert controller.series is not None and state.volume is not None
        stored = storage.load_analysis(controller.db, controller.analysis_id)
        assert stored.series_id == controller.series.id
        assert stored.result.series_instance_uid == state.volume.info.series_instance_uid


def shown_patient(main: MainWindow) -> str | None:
    volume = main.state.volume
    return None if volume is None else volume.info.patient_id


def settle(main: MainWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    controller = main.controller
    qtbot.waitUntil(
        lambda: not controller.loader.busy and not controller.analysis.busy, timeout=20_000
    )
    QtWidgets.QApplication.processEvents()


def test_analysis_finishing_after_a_switch_never_lands_on_the_new_series(
    window: tuple[MainWindow, GatedServices], qtbot, studies: dict[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    main, services = window
    analyser = services.fake_analyser
    controller = main.controller
    with qtbot.waitSignal(controller.series_opened, timeout=20_000):
        controller.open_path(studies["A"])
    controller.analyse()
    qtbot.waitUntil(lambda: analyser.backend is not None and analyser.backend.entered.is_set())
    with qtbot.waitSignal(controller.series_opened, timeout=20_000):
        controller.open_path(studies["B"])  # A's analysis is still held in its first batch
    assert shown_patient(main) == "PAT-B"
    analyser.backend.gate.set()  # type: ignore[union-attr]
    settle(main, qtbot)
    assert shown_patient(main) == "PAT-B" and main.state.findings is None
    assert_shown_results_belong_to_the_shown_series(main)
    # Whatever became of A's analysis, it is filed under A's series, never B's.
    rows = list(controller.db.query("SELECT series_ref, status FROM analyses"))  # type: ignore[union-attr]
    assert len(rows) == 1 and rows[0]["series_ref"] != controller.series.id  # type: ignore[union-attr]


def test_a_slow_load_overtaken_by_a_fast_one_is_dropped(
    window: tuple[MainWindow, GatedServices], qtbot, studies: dict[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    main, services = window
    controller = main.controller
    services.gates[studies["A"]] = threading.Event()
    controller.open_path(studies["A"])
    qtbot.waitUntil(lambda: controller.loader.busy)
    with qtbot.waitSignal(controller.series_opened, timeout=20_000):
        controller.open_path(studies["B"])
    services.gates[studies["A"]].set()
    settle(main, qtbot)
    assert shown_patient(main) == "PAT-B"
    assert_shown_results_belong_to_the_shown_series(main)


def test_random_series_switching_never_mixes_results(
    window: tuple[MainWindow, GatedServices], qtbot, studies: dict[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    main, services = window
    controller = main.controller
    analyser = services.fake_analyser
    rng = random.Random(20240117)
    shown_findings = 0
    for _step in range(80):
        action = rng.choice(("open", "open", "open_gated", "analyse", "analyse", "analyse",
                             "release", "cancel", "events", "wait_load", "wait_load",
                             "wait_analysis", "wait_analysis"))  # fmt: skip
        if action in ("open", "open_gated"):
            folder = studies[rng.choice("ABC")]
            if action == "open_gated":
                services.gates[folder] = threading.Event()
            else:
                services.gates.pop(folder, None)
            controller.open_path(folder)
        elif action == "analyse":
            controller.analyse()  # refused while an analysis runs or nothing is open
        elif action == "release":
            for gate in services.gates.values():
                gate.set()
            if analyser.backend is not None:
                analyser.backend.gate.set()  # type: ignore[attr-defined]
        elif action == "cancel":
            controller.cancel_analysis()
        elif action == "wait_load":  # the reader waits for the series to appear
            for gate in services.gates.values():
                gate.set()
            qtbot.waitUntil(lambda: not controller.loader.busy, timeout=20_000)
        elif action == "wait_analysis":  # ... or for the analysis to finish
            if analyser.backend is not None:
                analyser.backend.gate.set()  # type: ignore[attr-defined]
            qtbot.waitUntil(lambda: not controller.analysis.busy, timeout=20_000)
        for _ in range(rng.randint(1, 5)):
            QtWidgets.QApplication.processEvents()
            assert_shown_results_belong_to_the_shown_series(main)
        shown_findings += main.state.findings is not None
    for gate in services.gates.values():
        gate.set()
    if analyser.backend is not None:
        analyser.backend.gate.set()  # type: ignore[attr-defined]
    settle(main, qtbot)
    assert_shown_results_belong_to_the_shown_series(main)
    # The walk must really have shown results now and then, or it proved nothing.
    assert shown_findings > 0 and analyser.calls >= 3


def test_changed_files_show_a_stale_warning_not_old_findings(
    qtbot, tmp_path: Path, studies: dict[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data2"
    data.mkdir()
    config = AppConfig(data_dir=data, db_path=data / "store.sqlite", models_dir=tmp_path)
    services = FakeServices(data, FakeAnalyser())
    qsettings = QtCore.QSettings(str(data / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    main = create_main_window(config, services=services, qsettings=qsettings)
    main.show()
    qtbot.waitUntil(lambda: main.controller.model_info is not None, timeout=5000)
    controller = main.controller
    try:
        with qtbot.waitSignal(controller.series_opened, timeout=20_000):
            controller.open_path(studies["A"])
        with qtbot.waitSignal(controller.analysis.finished, timeout=30_000):
            controller.analyse()
        assert main.state.findings is not None
        with qtbot.waitSignal(controller.series_opened, timeout=20_000):
            controller.open_path(studies["A"])  # unchanged: stored results come back at once
        assert main.state.findings is not None

        changed = sorted(studies["A"].iterdir())[5]
        stat = changed.stat()
        rewrite(changed, lambda ds: setattr(ds, "InstitutionName", "Changed"))
        os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        statuses = []
        controller.status.connect(statuses.append)
        with qtbot.waitSignal(controller.series_opened, timeout=20_000):
            controller.open_path(studies["A"])
        assert main.state.findings is None  # the old findings are not shown as current
        codes = [notice.code for notice in main.state.notices]
        assert NoticeCode.STALE in codes
        assert any("changed after its last analysis" in s for s in statuses)
        (entry,) = controller.studies()
        assert entry.status is StudyStatus.STALE  # the study browser says "files changed"
    finally:
        main.close()
