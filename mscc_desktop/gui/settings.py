"""Reader preferences (QSettings) and the Settings dialog."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from mscc_desktop.core.config import AppConfig
from mscc_desktop.gui.dialogs import browse_folder_into, finish_form_dialog

BACKEND_LABELS: dict[str, str] = {
    "auto": "Automatic (fastest that works)",
    "onnx-cuda": "ONNX Runtime · GPU (CUDA)",
    "onnx-cpu": "ONNX Runtime · CPU",
    "torch-cuda": "PyTorch · GPU (CUDA)",
    "torch-cpu": "PyTorch · CPU",
}


MODEL_THRESHOLD = "model"  # stored for "the model's own threshold"


@dataclass(frozen=True, slots=True)
class UiSettings:
    """Preferences a reader sets once; stored in QSettings, applied to :class:`AppConfig`."""

    user_name: str = ""
    backend: str = "auto"
    high_grade_threshold: float | None = None  # None: the model's own threshold
    export_dir: str = ""
    deidentify_exports: bool = False

    def apply(self, config: AppConfig) -> AppConfig:
        return config.with_changes(
            user_name=self.user_name,
            backend=self.backend,
            high_grade_threshold=self.high_grade_threshold,
            export_dir=Path(self.export_dir) if self.export_dir else None,
            deidentify_exports=self.deidentify_exports,
        )


def _bool(value: object) -> bool:
    # QSettings' INI backend gives strings back ("true"/"false").
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def load_settings(qsettings: QtCore.QSettings) -> UiSettings:
    """Read preferences, falling back to defaults for missing or damaged values."""
    default = UiSettings()
    backend = str(qsettings.value("analysis/backend", default.backend))
    threshold: float | None
    try:
        threshold = float(str(qsettings.value("analysis/high_grade_threshold", MODEL_THRESHOLD)))
    except (TypeError, ValueError):
        threshold = default.high_grade_threshold
    if threshold is not None and not 0.0 < threshold < 1.0:
        threshold = default.high_grade_threshold
    return UiSettings(
        user_name=str(qsettings.value("reader/user_name", default.user_name)),
        backend=backend if backend in BACKEND_LABELS else default.backend,
        high_grade_threshold=threshold,
        export_dir=str(qsettings.value("export/folder", default.export_dir)),
        deidentify_exports=_bool(qsettings.value("export/deidentify", default.deidentify_exports)),
    )


def save_settings(qsettings: QtCore.QSettings, settings: UiSettings) -> None:
    qsettings.setValue("reader/user_name", settings.user_name)
    qsettings.setValue("analysis/backend", settings.backend)
    threshold = settings.high_grade_threshold
    qsettings.setValue(
        "analysis/high_grade_threshold", MODEL_THRESHOLD if threshold is None else threshold
    )
    qsettings.setValue("export/folder", settings.export_dir)
    qsettings.setValue("export/deidentify", settings.deidentify_exports)
    qsettings.sync()


class SettingsDialog(QtWidgets.QDialog):
    """Edits :class:`UiSettings`; :meth:`settings` gives the result after ``exec()``.

    ``network`` opens the DICOM network settings over this dialog (they are saved on their
    own, in ``network.json``); without it the row is left out.
    """

    def __init__(
        self,
        settings: UiSettings,
        parent: QtWidgets.QWidget | None = None,
        *,
        network: Callable[[QtWidgets.QWidget], None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.user_edit = QtWidgets.QLineEdit(settings.user_name)
        self.user_edit.setPlaceholderText("your name, recorded with every review")
        self.backend_combo = QtWidgets.QComboBox()
        for key, label in BACKEND_LABELS.items():
            self.backend_combo.addItem(label, key)
        self.backend_combo.setCurrentIndex(list(BACKEND_LABELS).index(settings.backend))
        self.threshold_spin = QtWidgets.QDoubleSpinBox()
        # The spin box's minimum stands for "the model's own threshold" (the default).
        self.threshold_spin.setRange(0.0, 0.95)
        self.threshold_spin.setSpecialValueText("the model's own")
        self.threshold_spin.setSingleStep(0.05)
        self.threshold_spin.setDecimals(2)
        self.threshold_spin.setValue(settings.high_grade_threshold or 0.0)
        self.threshold_spin.setToolTip(
            "A slice is high grade when P(high) reaches this value. The model's own threshold "
            "was chosen on its calibration studies and is shown in Help › About; lower finds "
            "more, with more false alarms. Applies to new analyses."
        )
        self.export_edit = QtWidgets.QLineEdit(settings.export_dir)
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        export_row = QtWidgets.QHBoxLayout()
        export_row.addWidget(self.export_edit, 1)
        export_row.addWidget(browse)
        self.deidentify_check = QtWidgets.QCheckBox("De-identify exports by default")
        self.deidentify_check.setChecked(settings.deidentify_exports)

        form = QtWidgets.QFormLayout()
        form.addRow("Reader name", self.user_edit)
        form.addRow("Inference backend", self.backend_combo)
        form.addRow("High-grade threshold", self.threshold_spin)
        form.addRow("Export folder", export_row)
        form.addRow("", self.deidentify_check)
        if network is not None:
            self.network_button = QtWidgets.QPushButton("DICOM network…")
            self.network_button.setToolTip(
                "Receiving studies, PACS destinations and TLS (saved on their own)"
            )
            self.network_button.clicked.connect(lambda: network(self))
            form.addRow("Network", self.network_button)
        finish_form_dialog(self, form, QtWidgets.QDialogButtonBox.StandardButton.Ok)

    def _browse(self) -> None:
        browse_folder_into(self, self.export_edit, "Default export folder")

    def settings(self) -> UiSettings:
        return UiSettings(
            user_name=self.user_edit.text().strip(),
            backend=str(self.backend_combo.currentData()),
            high_grade_threshold=round(self.threshold_spin.value(), 2) or None,
            export_dir=self.export_edit.text().strip(),
            deidentify_exports=self.deidentify_check.isChecked(),
        )
