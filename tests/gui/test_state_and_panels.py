"""View-model rules and the panels around the viewer."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6 import QtCore

from mscc_desktop.core.config import AppConfig
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.review import Review, ReviewDecision, ReviewStatus, StudyStatus
from mscc_desktop.core.windows import PAPER_WINDOWS, Window, WindowPreset
from mscc_desktop.gui.about import about_html
from mscc_desktop.gui.findings_panel import FindingsPanel, ordered_lesions
from mscc_desktop.gui.settings import SettingsDialog, UiSettings, load_settings, save_settings
from mscc_desktop.gui.state import ViewerState
from mscc_desktop.gui.study_browser import StudyBrowser, flag_text
from mscc_desktop.storage.records import StudyListEntry
from tests.gui.fakes import COVERAGE_NOTICE, FakeAnalyser, fake_findings, phantom_volume


def test_slice_is_clamped_and_signals_only_on_change(state: ViewerState, qtbot) -> None:  # type: ignore[no-untyped-def]
    state.set_volume(phantom_volume(10, 32))
    seen: list[int] = []
    state.slice_changed.connect(seen.append)
    state.set_slice(50)
    state.set_slice(50)
    state.step_slice(-100)
    assert seen == [9, 0]


def test_windows_are_per_viewport_and_keep_their_preset_name(state: ViewerState) -> None:
    state.set_window(WindowPreset.SPINE, Window(300.0, 80.0))
    assert state.window(WindowPreset.SPINE).name == "Spine"
    assert not state.window_is_preset(WindowPreset.SPINE)
    assert state.window(WindowPreset.BONE) == PAPER_WINDOWS[WindowPreset.BONE]
    state.reset_window(None)
    assert state.window_is_preset(WindowPreset.SPINE)


def test_new_volume_resets_findings_marks_and_camera(state: ViewerState) -> None:
    volume = phantom_volume(30, 32)
    state.set_volume(volume)
    state.set_findings(fake_findings(volume), notices=[COVERAGE_NOTICE])
    state.set_key_images({3})
    state.zoom_by(3.0)
    state.set_volume(phantom_volume(5, 32))
    assert state.findings is None and state.key_images == frozenset()
    assert state.zoom == 1.0 and state.notices == ()


def test_notices_merge_volume_and_analysis_without_repeats(state: ViewerState) -> None:
    volume = phantom_volume(5, 32, notices=(COVERAGE_NOTICE,))
    state.set_volume(volume)
    state.set_findings(None, notices=[COVERAGE_NOTICE])
    assert state.notices == (COVERAGE_NOTICE,)


def test_findings_panel_lists_high_grade_first_and_jumps(state: ViewerState, qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = FindingsPanel(state)
    qtbot.addWidget(panel)
    volume = phantom_volume(40, 32)
    state.set_volume(volume)
    findings = fake_findings(volume)
    state.set_findings(findings)
    groups = [les.group for les in ordered_lesions(findings)]
    assert groups == [GradeGroup.HIGH, GradeGroup.LOW]
    assert panel.table.topLevelItem(0).text(1) == "High"
    assert panel.table.topLevelItem(0).text(2) == "21–24"
    panel.table.setCurrentItem(panel.table.topLevelItem(1))  # keyboard selection jumps too
    low = next(les for les in findings.lesions if les.group is GradeGroup.LOW)
    assert state.slice_index == low.key_slice
    assert not panel.editor.save_button.isEnabled()  # no stored analysis to save to yet
    review = Review(1, low.number, ReviewDecision.ACCEPT, None, "T9", "", "dr a", datetime.now(UTC))
    panel.set_reviews({low.number: review}, True)
    assert panel.table.topLevelItem(1).text(5) == "Accepted"
    assert panel.editor.accept_button.isChecked() and panel.editor.save_button.isEnabled()


def test_settings_round_trip_through_qsettings(qapp, tmp_path) -> None:  # type: ignore[no-untyped-def]
    qs = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat)
    assert load_settings(qs) == UiSettings()
    chosen = UiSettings("Dr Reader", "onnx-cpu", 0.4, str(tmp_path), True)
    dialog = SettingsDialog(chosen)
    assert dialog.settings() == chosen
    save_settings(qs, dialog.settings())
    again = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat)
    assert load_settings(again) == chosen
    config = chosen.apply(AppConfig(tmp_path, tmp_path / "db", tmp_path))
    assert (config.user_name, config.backend, config.high_grade_threshold) == (
        "Dr Reader",
        "onnx-cpu",
        0.4,
    )
    assert config.deidentify_exports and config.export_dir == tmp_path
    again.setValue("analysis/high_grade_threshold", "nonsense")
    assert load_settings(again).high_grade_threshold is None


def test_the_model_s_own_threshold_is_the_default_and_round_trips(qapp, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert UiSettings().high_grade_threshold is None
    assert AppConfig(tmp_path, tmp_path / "db", tmp_path).high_grade_threshold is None
    dialog = SettingsDialog(UiSettings())
    assert dialog.threshold_spin.text() == "the model's own"
    assert dialog.settings().high_grade_threshold is None
    qs = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat)
    save_settings(qs, UiSettings(high_grade_threshold=0.3))
    save_settings(qs, dialog.settings())  # back to the model's own
    again = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat)
    assert load_settings(again).high_grade_threshold is None


def test_about_box_states_intended_use_and_model(qapp) -> None:  # type: ignore[no-untyped-def]
    info = FakeAnalyser().prepare(progress=None, cancel=None)
    text = about_html(info)
    assert "NOT FOR CLINICAL USE" in text and "synthetic" in text
    assert "gui-test-model" in text and "Fake backend" in text
    assert "not loaded yet" in about_html(None)


def _entry(study_id: int, *, high: bool, p: float | None, review: ReviewStatus) -> StudyListEntry:
    return StudyListEntry(
        study_id,
        f"1.2.{study_id}",
        "DOE^JO",
        f"P{study_id}",
        "",
        "20240101",
        "",
        "CT",
        "",
        1,
        StudyStatus.COMPLETE,
        high,
        GradeGroup.HIGH if high else GradeGroup.NORMAL,
        p,
        1,
        review,
        None,
        (),
    )


def test_study_browser_shows_flags_and_review_state(qtbot) -> None:  # type: ignore[no-untyped-def]
    browser = StudyBrowser()
    qtbot.addWidget(browser)
    entries = [
        _entry(1, high=True, p=0.91, review=ReviewStatus.UNREVIEWED),
        _entry(2, high=False, p=None, review=ReviewStatus.REVIEWED),
    ]
    browser.set_entries(entries)
    assert browser.table.topLevelItem(0).text(0) == "HIGH 0.91"
    assert browser.table.topLevelItem(0).text(6) == "no"
    assert browser.table.topLevelItem(1).text(6) == "yes"
    assert flag_text(entries[1]) == "–"
    assert not browser.empty.isVisible()


LIMITS = (
    "On real CT it called 12 of 28 disease-free slices high grade (target: none).",
    "Canal found on 89 % of real slices (target 90 %).",
)


def _provenance(*, temperature: float = 1.0, limitations: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    from mscc_desktop.core.findings import ModelProvenance

    return ModelProvenance(
        "gui-test-model",
        "0.1",
        "ab" * 32,
        "Fake backend",
        "CPU",
        probability_temperature=temperature,
        limitations=limitations,
    )


def test_findings_panel_shows_each_probability_beside_its_cut_off(  # type: ignore[no-untyped-def]
    state: ViewerState, qtbot
) -> None:
    from mscc_desktop.core.findings import Thresholds
    from mscc_desktop.gui.findings_panel import P_COLUMN

    panel = FindingsPanel(state)
    qtbot.addWidget(panel)
    volume = phantom_volume(40, 32)
    state.set_volume(volume)
    state.set_findings(fake_findings(volume), thresholds=Thresholds(high=0.08, any_mscc=0.4))
    high, low = panel.table.topLevelItem(0), panel.table.topLevelItem(1)
    assert panel.table.headerItem().text(P_COLUMN) == "P (cut-off)"
    assert high.text(P_COLUMN) == "0.85 (cut-off 0.08)"  # peak P(high) of slices 21-24
    assert low.text(P_COLUMN) == "0.75 (cut-off 0.40)"  # P(low or high) on its key slice
    assert "below 0.5" in panel.table.headerItem().toolTip(P_COLUMN)
    panel.set_provenance(_provenance())
    assert "not calibrated" in high.toolTip(P_COLUMN)
    assert "from P(high) 0.08" in high.toolTip(P_COLUMN)
    panel.set_provenance(_provenance(temperature=1.6))
    assert "calibrated probability of high-grade compression" in high.toolTip(P_COLUMN)
    assert "T = 1.60" in panel.provenance.toolTip()


def test_findings_panel_states_the_model_s_limitations_under_the_model_line(  # type: ignore[no-untyped-def]
    state: ViewerState, qtbot
) -> None:
    panel = FindingsPanel(state)
    qtbot.addWidget(panel)
    panel.show()
    panel.set_provenance(_provenance(limitations=LIMITS))
    assert panel.limitations.isVisible()  # on screen, no tooltip to hunt for
    text = panel.limitations.text()
    assert "Model limitations" in text
    assert "12 of 28 disease-free slices high grade" in text and "89 % of real" in text
    layout = panel.layout()
    assert layout.indexOf(panel.limitations) == layout.indexOf(panel.provenance) + 1
    panel.set_provenance(_provenance())
    assert not panel.limitations.isVisible() and panel.limitations.text() == ""
    panel.set_provenance(None)
    assert not panel.limitations.isVisible()


def test_slice_overlay_label_carries_the_cut_off(state: ViewerState) -> None:
    from mscc_desktop.core.findings import Thresholds
    from mscc_desktop.gui.viewport import result_label

    volume = phantom_volume(40, 32)
    findings = fake_findings(volume)
    th = Thresholds(high=0.08, any_mscc=0.4)
    assert result_label(findings.slices[21], th) == "High grade · P(high) 0.85 (cut-off 0.08)"
    assert result_label(findings.slices[30], th) == "Normal · P(high) 0.02 (cut-off 0.08)"
    assert result_label(findings.slices[0], th) == "not graded"


def test_study_browser_flag_and_about_box_carry_cut_off_and_limitations(qapp) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    entry = _entry(1, high=True, p=0.27, review=ReviewStatus.UNREVIEWED)
    assert flag_text(entry) == "HIGH 0.27"
    assert flag_text(replace(entry, max_p_high_cut_off=0.08)) == "HIGH 0.27 (cut-off 0.08)"
    info = replace(
        FakeAnalyser().prepare(progress=None, cancel=None),
        probability_temperature=1.6,
        limitations=LIMITS,
    )
    text = about_html(info)
    assert "Model limitations" in text and "12 of 28 disease-free" in text
    assert "temperature scaling (T = 1.60)" in text
    assert "Calls a slice high grade from P(high) 0.42" in text
