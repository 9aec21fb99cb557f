"""The About box: version, model card summary and the intended-use statement."""

from __future__ import annotations

import html

from PySide6 import QtCore, QtWidgets

from mscc_desktop import __version__
from mscc_desktop.workflow.model import ModelInfo

INTENDED_USE = (
    "NOT FOR CLINICAL USE. The shipped model has never seen a real patient with epidural "
    "disease: it learnt from synthetic CT phantoms and from disease-free real CT with disease "
    "inserted by software, and it has not been validated on patients. Results are research "
    "output for testing the workstation and must not guide diagnosis or treatment."
)
METHOD = (
    "Method after Hallinan et al., Front. Oncol. 2023: each axial slice in three CT windows "
    "(Bone 1500/300, Abdomen 400/50, Spine 200/100), spinal-canal detection, then Bilsky "
    "grading (normal / low grade 1a–1b / high grade 1c–3) with average fusion of the windows."
)


def about_html(model: ModelInfo | None) -> str:
    """The About text (rich text), with whatever is known about the model."""
    parts = [f"<h3>mscc-desktop {html.escape(__version__)}</h3>"]
    parts.append(
        "<p>Reading workstation that flags metastatic spinal cord compression on staging CT.</p>"
    )
    parts.append(f"<p style='color:#FF9E7A'><b>{html.escape(INTENDED_USE)}</b></p>")
    if model is None:
        parts.append("<p>Model: not loaded yet (it loads in the background at start-up).</p>")
    else:
        made_by = model
        parts.append(
            "<p><b>Model</b> "
            f"{html.escape(made_by.model_id)} {html.escape(made_by.model_version)}<br>"
            f"sha256 {html.escape(made_by.model_sha256[:16])}…<br>"
            f"Runs on {html.escape(made_by.backend)} · {html.escape(made_by.device)}<br>"
            f"Calls a slice high grade from P(high) {model.thresholds.high:.2f}, low grade "
            f"from P(low or high) {model.thresholds.any_mscc:.2f}<br>"
            + (
                "Probabilities calibrated by temperature scaling "
                f"(T = {made_by.probability_temperature:.2f})</p>"
                if made_by.calibrated
                else "Probabilities not calibrated</p>"
            )
        )
        if made_by.limitations:
            items = "".join(f"<li>{html.escape(text)}</li>" for text in made_by.limitations)
            parts.append(f"<p style='color:#E69F00'><b>Model limitations</b></p><ul>{items}</ul>")
        if model.card_summary:
            parts.append(f"<p><b>Model card</b><br>{html.escape(model.card_summary)}</p>")
    parts.append(f"<p>{html.escape(METHOD)}</p>")
    return "".join(parts)


def show_about(parent: QtWidgets.QWidget, model: ModelInfo | None) -> None:
    box = QtWidgets.QMessageBox(parent)
    box.setWindowTitle("About mscc-desktop")
    box.setTextFormat(QtCore.Qt.TextFormat.RichText)
    box.setText(about_html(model))
    box.setIcon(QtWidgets.QMessageBox.Icon.Information)
    box.exec()
