"""The Models page on a simulated site: listing, Adapt in a child process, compare, Use, Roll
back, Cancel; and the one-action "No MSCC" verdict in the review UI."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from PySide6 import QtCore

from mscc_desktop import storage
from mscc_desktop.core.config import (
    DEFAULT_MODEL_ID,
    AppConfig,
    active_model_id,
    models_dir,
    site_models_dir,
)
from mscc_desktop.gui.adapt_job import (
    AdaptOutcome,
    child_error,
    new_model_id,
)
from mscc_desktop.gui.app import create_main_window
from mscc_desktop.gui.main_window import MainWindow
from mscc_desktop.gui.model_figures import FIGURE_ROWS, figure_text
from mscc_desktop.gui.models_page import ModelsDialog
from mscc_desktop.storage.records import AuditAction
from mscc_desktop.training.site_simulation import SimulatedSite, simulate_site
from mscc_desktop.workflow.model import PipelineAnalyser
from mscc_desktop.workflow.site_data import reviewed_series
from tests.gui.conftest import WindowFactory
from tests.gui.fakes import FakeServices, write_phantom_study

Button = QtCore.Qt.MouseButton
ADAPT_TIMEOUT_MS = 240_000


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedSite]:
    """Six studies analysed by the shipped model and reviewed by a scripted reader (~40 s)."""
    if not (models_dir() / DEFAULT_MODEL_ID / "manifest.json").is_file():
        pytest.skip(f"the shipped model {DEFAULT_MODEL_ID} is not installed")
    root = tmp_path_factory.mktemp("site")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MSCC_DATA_DIR", str(root / "simulation-data"))
        yield simulate_site(root, n_studies=6, seed=3)


def open_site_window(qtbot, tmp_path: Path, site: SimulatedSite, monkeypatch) -> MainWindow:  # type: ignore[no-untyped-def]
    """A window on a copy of the site's store, with the shipped models and this data folder."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # use_model and the child process look the site's models up in $MSCC_DATA_DIR.
    monkeypatch.setenv("MSCC_DATA_DIR", str(data_dir))
    store = data_dir / "store.sqlite"
    shutil.copy2(site.store, store)
    config = AppConfig(data_dir=data_dir, db_path=store, models_dir=models_dir())
    qsettings = QtCore.QSettings(str(data_dir / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    window = create_main_window(config, services=FakeServices(data_dir), qsettings=qsettings)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.controller.model_info is not None, timeout=5000)
    return window


@pytest.fixture
def site_window(qtbot, tmp_path: Path, site: SimulatedSite, monkeypatch) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    window = open_site_window(qtbot, tmp_path, site, monkeypatch)
    yield window
    window.close()


def open_page(window: MainWindow, qtbot) -> ModelsDialog:  # type: ignore[no-untyped-def]
    page = window.show_models()
    qtbot.waitExposed(page)
    qtbot.waitUntil(lambda: page.table.topLevelItemCount() > 0, timeout=10_000)
    return page


def rows(page: ModelsDialog) -> dict[str, list[str]]:
    table = page.table
    return {
        table.topLevelItem(r).text(1): [
            table.topLevelItem(r).text(c) for c in range(table.columnCount())
        ]
        for r in range(table.topLevelItemCount())
    }


def model_switches(window: MainWindow) -> list[dict[str, object]]:
    db = window.controller.db
    assert db is not None
    return [e.details for e in storage.audit_entries(db) if e.action is AuditAction.MODEL_SWITCHED]


def adapt(page: ModelsDialog, qtbot) -> AdaptOutcome:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(page.job.succeeded, timeout=ADAPT_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.adapt_button, Button.LeftButton)
    outcome = blocker.args[0]
    assert isinstance(outcome, AdaptOutcome)
    qtbot.waitUntil(lambda: page._selected_id() == outcome.model_id, timeout=10_000)
    return outcome


# ---- listing ------------------------------------------------------------------------------
def test_the_page_lists_the_models_and_the_site_data(site_window: MainWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    page = open_page(site_window, qtbot)
    shipped = rows(page)[DEFAULT_MODEL_ID]
    assert shipped[0] == "● in use" and shipped[3] == "shipped"
    assert len(shipped[4]) >= 8  # the checksum, shortened
    assert float(shipped[6]) > 0  # its P(high) cut-off
    assert "Limitations" in page.details.text()  # the shipped model's are shown
    db = site_window.controller.db
    assert db is not None
    _series, summary = reviewed_series(db)
    text = page.site_label.text()
    assert f"{summary.n_studies} reviewed studies" in text
    assert f"{summary.slices_by_group['high']} high grade" in text
    assert page.adapt_button.isEnabled()
    assert not page.rollback_button.isEnabled()  # the model was never changed
    assert not page.use_button.isEnabled()  # the selected model is in use already


def test_adapt_is_refused_with_the_remedy_when_nothing_is_reviewed(
    windows: WindowFactory, qtbot
) -> None:  # type: ignore[no-untyped-def]
    window = windows.open()
    page = window.show_models()
    qtbot.waitExposed(page)
    assert "No reviewed study yet" in page.site_label.text()
    assert not page.adapt_button.isEnabled()
    assert "at least 2 patients" in page.adapt_button.toolTip()
    assert "Review and sign off more studies" in page.progress_text.text()


def test_an_installation_without_the_training_tools_says_how_to_adapt(
    site_window: MainWindow, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(  # what the installed bundle sees: no torch, no training package
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    page = site_window.show_models()
    qtbot.waitExposed(page)
    assert not page.adapt_button.isEnabled()
    assert "mscc-desktop[train]" in page.adapt_button.toolTip()
    assert "mscc-desktop adapt" in page.progress_text.text()


# ---- adapt, compare, use, roll back -------------------------------------------------------
def test_adapt_compare_use_and_roll_back(site_window: MainWindow, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window = site_window
    page = open_page(window, qtbot)
    progress: list[str] = []
    page.job.progress.connect(lambda _f, text: progress.append(text))
    outcome = adapt(page, qtbot)
    assert any("held-out" in text for text in progress)  # the child's own progress arrived
    data_dir = window.config.data_dir
    assert outcome.folder == site_models_dir(data_dir) / outcome.model_id
    assert (outcome.folder / "manifest.json").is_file()
    assert not list(data_dir.glob("adapt-work-*"))  # the exported site data is gone

    # Side by side, from the new model's manifest: the same figures the child reported.
    for row, (key, _label, _guarded) in enumerate(FIGURE_ROWS):
        assert page.comparison.text(row, 0) == figure_text(outcome.base[key])
        assert page.comparison.text(row, 1) == figure_text(outcome.adapted[key])
    listed = rows(page)[outcome.model_id]
    assert listed[3].startswith("adapted here")
    assert listed[5] == f"{outcome.temperature:.3f}"
    assert DEFAULT_MODEL_ID in page.details.text()  # its base model, in its provenance
    assert ("Offered" if outcome.offered else "Not offered") in page.verdict.text()
    assert page.use_button.isEnabled() == outcome.offered
    if not outcome.offered:
        pytest.skip("this simulated site's adaptation was not offered: Use is not possible")

    qtbot.mouseClick(page.use_button, Button.LeftButton)
    assert active_model_id(data_dir) == outcome.model_id
    qtbot.waitUntil(
        lambda: (
            window.controller.model_info is not None
            and window.controller.model_info.model_id == outcome.model_id
        ),
        timeout=10_000,
    )
    assert outcome.model_id in window.model_label.text()
    qtbot.waitUntil(lambda: rows(page)[outcome.model_id][0] == "● in use", timeout=10_000)
    assert page.rollback_button.isEnabled() and not page.use_button.isEnabled()
    # The real analyser of the app finds the adapted model beside the store.
    real = PipelineAnalyser(_config(window), "onnx-cpu")
    assert real.prepare(progress=None, cancel=None).model_id == outcome.model_id

    qtbot.mouseClick(page.rollback_button, Button.LeftButton)
    assert active_model_id(data_dir) == DEFAULT_MODEL_ID
    qtbot.waitUntil(
        lambda: (
            window.controller.model_info is not None
            and window.controller.model_info.model_id == DEFAULT_MODEL_ID
        ),
        timeout=10_000,
    )
    switches = model_switches(window)
    assert [(s["from"], s["to"]) for s in switches] == [
        (DEFAULT_MODEL_ID, outcome.model_id),
        (outcome.model_id, DEFAULT_MODEL_ID),
    ]
    assert switches[1].get("rollback") is True
    qtbot.waitUntil(lambda: rows(page)[DEFAULT_MODEL_ID][0] == "● in use", timeout=10_000)
    assert not page.rollback_button.isEnabled()


def _config(window: MainWindow) -> AppConfig:
    places = window.config
    return AppConfig(
        data_dir=places.data_dir,
        db_path=places.db_path,
        models_dir=places.models_dir,
        model_id=active_model_id(places.data_dir) or DEFAULT_MODEL_ID,
    )


def test_cancel_stops_the_child_and_leaves_no_half_model(site_window: MainWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    page = open_page(site_window, qtbot)
    child_progress: list[float] = []
    page.job.progress.connect(lambda fraction, _text: child_progress.append(fraction))
    qtbot.mouseClick(page.adapt_button, Button.LeftButton)
    assert page.cancel_button.isEnabled() and not page.adapt_button.isEnabled()
    # Wait until the child reports from inside the adaptation (past the export's share).
    qtbot.waitUntil(lambda: any(f > 0.1 for f in child_progress), timeout=60_000)
    process = page.job.process
    assert process is not None and process.state() is QtCore.QProcess.ProcessState.Running
    pid = process.processId()
    with qtbot.waitSignal(page.job.cancelled, timeout=20_000):
        qtbot.mouseClick(page.cancel_button, Button.LeftButton)
    assert page.job.process is None and not page.job.busy
    assert not Path(f"/proc/{pid}").exists() or _zombie(pid)
    data_dir = site_window.config.data_dir
    site_dir = site_models_dir(data_dir)
    assert not site_dir.exists() or not any(site_dir.iterdir())
    assert not list(data_dir.glob("adapt-work-*"))
    assert "cancelled" in page.progress_text.text()
    assert page.adapt_button.isEnabled() and not page.cancel_button.isEnabled()
    assert active_model_id(data_dir) is None  # nothing was installed or switched


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


# ---- the one-action "No MSCC" -------------------------------------------------------------
def test_no_mscc_marks_the_whole_study_and_can_be_withdrawn(
    windows: WindowFactory, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    window = windows.open()
    assert not window.no_mscc_action.isEnabled()  # no study open
    study = write_phantom_study(tmp_path / "study", n_slices=12, size=64)
    with qtbot.waitSignal(window.controller.series_opened, timeout=20_000):
        window.controller.open_path(study)
    action = window.no_mscc_action
    assert action.isEnabled() and not action.isChecked()
    button = next(b for b in window.findings.study_buttons if b.defaultAction() is action)
    qtbot.mouseClick(button, Button.LeftButton)
    db = window.controller.db
    assert db is not None
    study_id = window.browser.entries[0].study_id
    assert storage.study_no_mscc(db, study_id)
    assert storage.study_review_status(db, study_id) is storage.ReviewStatus.REVIEWED
    assert action.isChecked()
    assert window.browser.table.topLevelItem(0).text(6) == "yes · no MSCC"
    action.trigger()  # withdrawn with the same action
    assert not storage.study_no_mscc(db, study_id)
    assert not action.isChecked()
    assert window.browser.table.topLevelItem(0).text(6) == "yes"
    audit = [e for e in storage.audit_entries(db) if e.action is AuditAction.STUDY_NO_MSCC]
    assert [e.details["no_mscc"] for e in audit] == [True, False]


# ---- Qt-free pieces ------------------------------------------------------------------------
def test_new_ids_never_reuse_a_taken_one() -> None:
    day = date(2026, 12, 6)
    first = new_model_id("m", set(), today=day)
    assert first == "m-site-20261206"
    assert new_model_id("m", {first}, today=day) == "m-site-20261206-2"
    assert new_model_id("m", {first, first + "-2"}, today=day) == "m-site-20261206-3"


def test_the_childs_own_message_is_shown() -> None:
    lines = ['{"progress": 0.1, "text": "x"}', "mscc-desktop: The data hold 1 patient."]
    assert child_error(lines, 1) == "The data hold 1 patient."
    assert "exit code 1" in child_error(["Traceback", "KeyError: 'x'"], 1)


def test_the_result_file_is_read_with_missing_intervals() -> None:
    figures = {key: [1.0, float("nan"), float("nan")] for key, _l, _g in FIGURE_ROWS}
    data = {
        "model_id": "m-site", "folder": "/x", "offered": False, "reasons": ["worse"],
        "temperature": 0.9, "threshold_high": 0.05, "patients": {"adapt": 3, "held_out": 1},
        "adapt_slices_by_group": {"normal": 9}, "base": figures, "adapted": figures,
    }  # fmt: skip
    outcome = AdaptOutcome.from_json(json.loads(json.dumps(data)))
    assert outcome.reasons == ("worse",) and not outcome.offered
    assert figure_text(outcome.base["high_grade_auc"]) == "1.000 (no interval)"


def test_after_a_switch_earlier_analyses_show_the_model_that_made_them(
    windows: WindowFactory, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    window = windows.open()
    controller = window.controller
    study = write_phantom_study(tmp_path / "study", n_slices=12, size=64)
    with qtbot.waitSignal(controller.series_opened, timeout=20_000):
        controller.open_path(study)
    with qtbot.waitSignal(controller.analysis.finished, timeout=30_000):
        window.analyse_action.trigger()
    made_by = controller.model_info
    assert made_by is not None
    # What Use does below the audit: the services analyse with the new model from now on.
    controller.services.use_model("site-model")
    controller.model_info = None
    controller.prepare_model()
    qtbot.waitUntil(lambda: controller.model_info is not None, timeout=5000)
    assert controller.model_info is not None and controller.model_info.model_id == "site-model"
    messages: list[str] = []
    controller.status.connect(messages.append)
    with qtbot.waitSignal(controller.series_opened, timeout=20_000):
        controller.open_path(study)
    assert window.state.findings is not None  # not hidden, and not analysed again silently
    assert window.findings.provenance.text().startswith(f"Model {made_by.model_id}")
    assert any("earlier model" in m and "Ctrl+R" in m for m in messages)
    with qtbot.waitSignal(controller.analysis.finished, timeout=30_000):
        window.analyse_action.trigger()
    assert window.findings.provenance.text().startswith("Model site-model")


def test_a_failing_child_reports_its_own_message_and_leaves_nothing(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from mscc_desktop.gui.adapt_job import AdaptFailedError, AdaptJob, AdaptRequest
    from mscc_desktop.gui.workers import io_pool

    data_dir = tmp_path / "data"
    store = data_dir / "store.sqlite"
    storage.open_store(store).close()  # nothing reviewed: the child refuses the empty export
    out = site_models_dir(data_dir) / "m-site"
    job = AdaptJob(io_pool())
    request = AdaptRequest(
        base_folder=models_dir() / DEFAULT_MODEL_ID,
        new_id="m-site",
        out_folder=out,
        db_path=store,
        data_dir=data_dir,
        models_dir=models_dir(),
    )
    with qtbot.waitSignal(job.failed, timeout=120_000) as blocker:
        job.start(request)
    error = blocker.args[0]
    assert isinstance(error, AdaptFailedError)
    assert "mscc-desktop:" not in error.message and error.message  # the child's sentence
    assert not out.exists() and not job.busy
    assert not list(data_dir.glob("adapt-work-*"))
