"""Pieces every form dialog of the workstation shares."""

from __future__ import annotations

from PySide6 import QtWidgets


def finish_form_dialog(
    dialog: QtWidgets.QDialog,
    form: QtWidgets.QFormLayout,
    accept_button: QtWidgets.QDialogButtonBox.StandardButton,
) -> None:
    """Lay out ``form`` above an accept/Cancel button row wired to the dialog."""
    buttons = QtWidgets.QDialogButtonBox(
        accept_button | QtWidgets.QDialogButtonBox.StandardButton.Cancel
    )
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    layout = QtWidgets.QVBoxLayout(dialog)
    layout.addLayout(form)
    layout.addWidget(buttons)


def browse_folder_into(parent: QtWidgets.QWidget, edit: QtWidgets.QLineEdit, title: str) -> None:
    """Let the user pick a folder, starting at ``edit``'s text; a chosen folder replaces it."""
    folder = QtWidgets.QFileDialog.getExistingDirectory(parent, title, edit.text())
    if folder:
        edit.setText(folder)
