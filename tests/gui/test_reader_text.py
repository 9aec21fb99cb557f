"""Text a reader meets in the views: the kernel, the findings' z range, long status messages."""

from __future__ import annotations

from dataclasses import replace

from mscc_desktop.core.volume import kernel_text
from mscc_desktop.core.windows import PAPER_WINDOWS, WindowPreset
from mscc_desktop.gui.findings_panel import FindingsPanel, z_range_text
from mscc_desktop.gui.main_window import MainWindow
from mscc_desktop.gui.overlay_text import corner_texts
from mscc_desktop.gui.state import ViewerState
from tests.gui.conftest import WindowFactory
from tests.gui.fakes import fake_findings, phantom_volume


def test_a_multi_valued_kernel_reads_as_a_reader_writes_it() -> None:
    assert kernel_text("Br38f\\3") == "Br38f 3"
    assert kernel_text("['Br38f', '3']") == "Br38f 3"  # as older stores may hold it
    assert kernel_text("B30f") == "B30f" and kernel_text("") == ""
    volume = phantom_volume(4, 32)
    volume = replace(volume, info=replace(volume.info, convolution_kernel="Br38f\\3"))
    corners = corner_texts(volume, 0, PAPER_WINDOWS[WindowPreset.BONE])
    text = " ".join(corners.bottom_right)  # the technique corner
    assert "Br38f 3" in text and "\\" not in text and "[" not in text


def test_the_z_column_writes_a_range(state: ViewerState, qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = FindingsPanel(state)
    qtbot.addWidget(panel)
    volume = phantom_volume(40, 32)
    state.set_volume(volume)
    findings = fake_findings(volume)
    state.set_findings(findings)
    high = next(
        les for les in findings.lesions if les.number == int(panel.table.topLevelItem(0).text(0))
    )
    cell = panel.table.topLevelItem(0).text(3)
    assert cell == z_range_text(high) == f"{high.z_to_mm:+.0f} to {high.z_from_mm:+.0f}"
    assert "…" not in cell
    one_slice = replace(high, z_from_mm=high.z_to_mm)
    assert z_range_text(one_slice) == f"{high.z_to_mm:+.0f}"
    assert one_slice.z_range_text == f"z {high.z_to_mm:+.1f} mm"  # PDF, SR: not "z a to a"


def test_a_long_status_message_is_whole_in_the_tooltip(windows: WindowFactory) -> None:
    window: MainWindow = windows.open()
    text = (
        "Showing the analysis made by the earlier model mscc-compact 1.0: Analyze (Ctrl+R) to "
        "analyse it with mscc-compact-real, the model new analyses use now"
    )
    window.controller.status.emit(text)
    assert window.statusBar().toolTip() == text
    message = (
        "The model folder holds neither a manifest nor the id of a model: reinstall the model "
        "or choose another one under Analysis › Models."
    )
    window._on_model_failed(message)
    shown = window.warning_label.text()
    assert shown.endswith(" … (hover for more)")  # cut between words, never inside one
    words = shown.removeprefix("⚠ Analysis unavailable: ").removesuffix(" … (hover for more)")
    assert words.split() == message.split()[: len(words.split())]
    assert window.warning_label.toolTip().endswith("Analysis › Models.")
