"""The export and settings dialogs: Save/OK and Cancel close them, Browse fills the folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6 import QtWidgets

from mscc_desktop.gui.export_ui import ExportChoice, ExportDialog, ExportRequest
from mscc_desktop.gui.settings import SettingsDialog, UiSettings


def _button(dialog: QtWidgets.QDialog, which: QtWidgets.QDialogButtonBox.StandardButton):  # type: ignore[no-untyped-def]
    box = dialog.findChild(QtWidgets.QDialogButtonBox)
    assert box is not None
    return box.button(which)


@pytest.mark.parametrize("accept", [True, False])
def test_export_dialog_buttons_close_it_with_the_right_result(
    qtbot, tmp_path: Path, accept: bool
) -> None:  # type: ignore[no-untyped-def]
    dialog = ExportDialog(ExportChoice.PDF, str(tmp_path), True)
    qtbot.addWidget(dialog)
    std = QtWidgets.QDialogButtonBox.StandardButton
    _button(dialog, std.Save if accept else std.Cancel).click()
    expected = (
        QtWidgets.QDialog.DialogCode.Accepted if accept else QtWidgets.QDialog.DialogCode.Rejected
    )
    assert dialog.result() == expected
    assert dialog.request() == ExportRequest(ExportChoice.PDF, tmp_path, True, False)


def test_browse_replaces_the_folder_only_when_one_is_chosen(
    qtbot, monkeypatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(UiSettings(export_dir=str(tmp_path)))
    qtbot.addWidget(dialog)
    assert _button(dialog, QtWidgets.QDialogButtonBox.StandardButton.Ok) is not None
    asked: list[str] = []

    def pick(parent, title, start):  # type: ignore[no-untyped-def]
        asked.append(start)
        return answers.pop(0)

    answers = ["", str(tmp_path / "chosen")]
    monkeypatch.setattr(QtWidgets.QFileDialog, "getExistingDirectory", pick)
    dialog._browse()  # cancelled: unchanged
    assert dialog.settings().export_dir == str(tmp_path)
    dialog._browse()
    assert dialog.settings().export_dir == str(tmp_path / "chosen")
    assert asked == [str(tmp_path), str(tmp_path)]
