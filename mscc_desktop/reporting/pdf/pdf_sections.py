"""The PDF's text sections: identity header, result box, findings table, method and scale."""

from __future__ import annotations

from datetime import datetime

from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, KeepTogether, Paragraph, Spacer, Table, TableStyle

from mscc_desktop.core.findings import ModelProvenance, Thresholds
from mscc_desktop.core.notices import Severity
from mscc_desktop.core.operating_point import cut_off_legend
from mscc_desktop.core.review import ReviewStatus
from mscc_desktop.core.windows import PAPER_WINDOWS
from mscc_desktop.reporting.deid import DEID_METHOD_TEXT, ExportIdentity
from mscc_desktop.reporting.fonts import BOLD, font_files, missing_glyphs
from mscc_desktop.reporting.inputs import ReportInputs
from mscc_desktop.reporting.palette import (
    GROUP_BILSKY,
    GROUP_COLOURS,
    GROUP_TINTS,
    INTENDED_USE_TEXT,
    bilsky_rows,
)
from mscc_desktop.reporting.pdf.pdf_doc import MUTED, RULE, escape
from mscc_desktop.reporting.summary import ReportContent
from mscc_desktop.reporting.text import dicom_date, local_time, person_name, sex_text

Styles = dict[str, ParagraphStyle]
CAUTION = colors.HexColor("#F0E442")  # Okabe-Ito yellow behind the "not verified" line
_REVIEW_TEXT = {
    ReviewStatus.UNREVIEWED: "Not reviewed",
    ReviewStatus.IN_PROGRESS: "Review in progress (not signed off)",
    ReviewStatus.REVIEWED: "Signed off",
}


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


def identity_block(
    inputs: ReportInputs, identity: ExportIdentity, created: datetime, st: Styles, width: float
) -> list[Flowable]:
    """Title, patient and study identity, report date, reviewer and review status."""
    info = identity.info
    volume = inputs.volume
    if identity.deidentified:
        patient = [("Patient", info.patient_name), ("De-identified", "Yes: " + DEID_METHOD_TEXT)]
        study: list[tuple[str, str]] = []
    else:
        patient = [
            ("Patient", person_name(info.patient_name) or "(no name recorded)"),
            ("Patient ID", info.patient_id),
            ("Born", dicom_date(info.patient_birth_date)),
            ("Sex", sex_text(info.patient_sex)),
        ]
        study = [
            ("Study date", dicom_date(info.study_date)),
            ("Accession", info.accession_number),
            ("Description", info.study_description),
            ("Institution", info.institution_name),
        ]
    number = f"#{info.series_number} " if info.series_number is not None else ""
    series = f"{number}{info.series_description}".strip()
    slices = f"{volume.n_slices} axial, {volume.slice_spacing_mm:.1f} mm apart"
    reviewers = sorted({r.user for r in inputs.reviews.values() if r.decision is not None})
    sign_off = inputs.sign_off
    reviewer = identity.reader(sign_off.by) if sign_off.signed_off and sign_off.by else ""
    reviewer = reviewer or ", ".join(identity.reader(r) for r in reviewers) or "Nobody yet"
    when = inputs.result.finished_at
    report = [
        ("Report created", "" if identity.deidentified else local_time(created)),
        ("Review status", _REVIEW_TEXT[sign_off.status]),
        ("Reviewed by", reviewer),
        ("Analysed", "" if identity.deidentified else local_time(when)),
        ("Series", series),
        ("Slices", slices),
    ]
    left = [(k, v) for k, v in patient + study if v]
    right = [(k, v) for k, v in report if v]
    rows: list[list[object]] = []
    for i in range(max(len(left), len(right))):
        row: list[object] = []
        for side in (left, right):
            if i < len(side):
                key, value = side[i]
                style = st["name"] if key == "Patient" else st["cell"]
                row += [_p(key, st["label"]), _p(value, style)]
            else:
                row += ["", ""]
        rows.append(row)
    table = Table(rows, colWidths=[22 * mm, width / 2 - 24 * mm, 24 * mm, width / 2 - 22 * mm])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                ("LEFTPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    out: list[Flowable] = [
        _p("Metastatic spinal cord compression: CT summary", st["h1"]),
        Spacer(1, 2 * mm),
        table,
    ]
    missing = missing_glyphs(info.patient_name)
    if missing:
        out.append(
            _p(
                f"Some characters of the patient name ({missing}) cannot be shown in "
                "this report's font: check the identity against PACS.",
                st["small"],
            )
        )
    return out


def _places(places: tuple[str, ...]) -> str:
    """ "T7, slices 12–15, 78–81": the word "slices" once, levels as entered."""
    out: list[str] = []
    said_slices = False
    for place in places:
        if place.startswith(("slices ", "slice ")):
            if said_slices:
                place = place.split(" ", 1)[1]
            said_slices = True
        out.append(place)
    return ", ".join(out)


def result_box(inputs: ReportInputs, content: ReportContent, st: Styles, width: float) -> Table:
    """The answer, readable in five seconds: headline, counts, levels and who verified it."""
    v = content.verdict
    lines: list[object] = [_p(v.headline, st["headline"])]
    facts = []
    n_findings = sum(1 for r in content.rows if r.final_group is not None or not v.verified)
    if v.n_high_slices:
        plural = "s" if v.n_high_slices != 1 else ""
        facts.append(f"{v.n_high_slices} high-grade slice{plural} on the AI read")
    else:
        facts.append("no high-grade slice")
    facts.append(f"{n_findings} finding{'s' if n_findings != 1 else ''}")
    if v.high_levels:
        facts.append("high grade at " + _places(v.high_levels))
    lines.append(_p(" · ".join(facts), st["result"]))
    if v.verified and v.group is not v.ai_group:
        lines.append(_p(f"The AI result was: {v.ai_headline}.", st["result"]))
    if inputs.stale:
        lines.append(
            _p(
                "Warning: the source images changed after this analysis. "
                "Analyse the series again before relying on it.",
                st["status"],
            )
        )
    status_style = ParagraphStyle("st", parent=st["status"], backColor=None)
    status = Table(
        [[_p(v.status_line.upper() if not v.verified else v.status_line, status_style)]],
        colWidths=[width - 16 * mm],
    )
    status.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), colors.white if v.verified else CAUTION),
                ("LEFTPADDING", (0, 0), (-1, -1), 4),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    lines += [Spacer(1, 1.5 * mm), status]
    if v.reader_line:
        lines.append(_p(v.reader_line, st["result"]))
    box = Table([[lines]], colWidths=[width])
    colour = colors.HexColor(GROUP_COLOURS[v.group])
    box.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor(GROUP_TINTS[v.group])),
                ("BOX", (0, 0), (-1, -1), 2.2, colour),
                ("LINEBEFORE", (0, 0), (0, -1), 9, colour),
                ("LEFTPADDING", (0, 0), (-1, -1), 12),
                ("TOPPADDING", (0, 0), (-1, -1), 7),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
            ]
        )
    )
    return box


def findings_table(
    content: ReportContent, st: Styles, width: float, thresholds: Thresholds | None = None
) -> list[Flowable]:
    """One row per finding, head to feet: level, grade, probability with the cut-off of its
    call, decision, comment; a legend under the table says what P and the cut-off are."""
    head = ["#", "Level / position", "AI grade", "P", "Slices", "Reader decision", "Comment"]
    rows: list[list[object]] = [[_p(h, st["head"]) for h in head]]
    style: list[tuple[object, ...]] = [
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    for n, row in enumerate(content.rows, start=1):
        lesion = row.lesion
        level = f"<b>{escape(row.level)}</b> · " if row.level else ""
        where = f"{level}{escape(lesion.slice_range_text)}<br/>{escape(lesion.z_range_text)}"
        grade = f'{row.ai_group.label}<br/><font size="7">{GROUP_BILSKY[row.ai_group]}</font>'
        probability = f"{row.lesion.peak_probability:.2f}"
        if row.point is not None:
            probability = (
                f'{row.point.value:.2f}<br/><font size="7">cut-off {row.point.cut_off:.2f}</font>'
            )
        rows.append(
            [
                _p(str(lesion.number), st["cell"]),
                Paragraph(where, st["cell"]),
                Paragraph(grade, st["cell"]),
                Paragraph(probability, st["cell"]),
                _p(str(lesion.n_abnormal_slices), st["cell"]),
                _p(row.decision + (f" ({row.reviewer})" if row.reviewer else ""), st["cell"]),
                _p(row.comment, st["cell"]),
            ]
        )
        style += [
            ("BACKGROUND", (2, n), (2, n), colors.HexColor(GROUP_TINTS[row.ai_group])),
            ("LINEBEFORE", (2, n), (2, n), 4, colors.HexColor(GROUP_COLOURS[row.ai_group])),
            ("LINEBELOW", (0, n), (-1, n), 0.4, RULE),
        ]
        if row.final_group is None:
            style.append(("TEXTCOLOR", (0, n), (-1, n), MUTED))
    if not content.rows:
        rows.append(
            [
                "",
                _p("No finding: no slice reached the low- or high-grade threshold.", st["cell"]),
                "",
                "",
                "",
                "",
                "",
            ]
        )
        style.append(("SPAN", (1, 1), (-1, 1)))
    widths = [7 * mm, 40 * mm, 24 * mm, 15 * mm, 12 * mm, 38 * mm]
    widths.append(width - sum(widths))
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle(style))
    out: list[Flowable] = [_p("Findings", st["h2"]), table]
    if content.rows:
        out += [Spacer(1, 1 * mm), _p(cut_off_legend(thresholds), st["small"])]
    return out


def thresholds_text(th: Thresholds) -> str:
    """The operating point in words: from which probability each call is made."""
    return (
        f"called high grade from P(high) {th.high:.2f}; low grade from P(low or high) "
        f"{th.any_mscc:.2f}; canal found from a detection score of {th.canal_score:.2f}"
    )


def calibration_text(prov: ModelProvenance) -> str:
    """Whether the shown probabilities are calibrated, in words."""
    if prov.calibrated:
        return (
            "calibrated on the model's calibration studies by temperature scaling "
            f"(T = {prov.probability_temperature:.2f}); the cut-offs apply to the calibrated "
            "probabilities"
        )
    return "not calibrated: the model's raw probabilities (average of the three windows)"


def method_section(
    inputs: ReportInputs, identity: ExportIdentity, st: Styles, width: float
) -> list[Flowable]:
    """Windows, model and software provenance, input-check warnings, intended use, Bilsky."""
    result = inputs.result
    prov = result.provenance
    th = result.thresholds
    windows = ", ".join(w.label for w in PAPER_WINDOWS.values())
    rows = [
        ("Windows", windows),
        ("Model", f"{prov.model_id} version {prov.model_version}"),
        ("Model SHA-256", prov.model_sha256),
        ("Backend and device", prov.backend_text),
        ("Software", f"mscc-desktop {inputs.software_version}"),
        ("Cut-offs", thresholds_text(th)),
        ("Probabilities", calibration_text(prov)),
    ]
    if not identity.deidentified:
        rows.append(
            ("Analysis time", f"{local_time(result.started_at)}, {result.duration_s:.1f} s")
        )
    rows.append(("Report font", font_files().name))
    cells: list[list[object]] = [[_p(k, st["label"]), _p(v, st["cell"])] for k, v in rows]
    if prov.limitations:
        # Right under the model's identity: what the model card says it gets wrong.
        listed = "<br/>".join(f"• {escape(text)}" for text in prov.limitations)
        cells.insert(2, [_p("Model limitations", st["label"]), Paragraph(listed, st["cell"])])
    table = Table(cells, colWidths=[34 * mm, width - 34 * mm])
    table_style: list[tuple[object, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("LINEBELOW", (0, 0), (-1, -1), 0.3, RULE),
    ]
    if prov.limitations:
        table_style.append(("BACKGROUND", (0, 2), (-1, 2), colors.HexColor("#FFF8F0")))
    table.setStyle(TableStyle(table_style))
    how = (
        "Every axial slice is shown to the model in the three CT windows above. A detector "
        "finds the spinal canal; a grader (combined window learning, probabilities averaged "
        "over the windows) gives the probability of normal, low-grade (Bilsky 1a/1b) and "
        "high-grade (Bilsky 1c/2/3) epidural disease. Abnormal slices no more than one slice "
        "apart form one finding; its key image is its most probable slice."
    )
    out: list[Flowable] = [
        _p("Method and provenance", st["h2"]),
        _p(how, st["body"]),
        Spacer(1, 2 * mm),
        table,
        _p("Input checks", st["h2"]),
    ]
    if inputs.notices:
        for notice in inputs.notices:
            tag = {Severity.ERROR: "Error", Severity.WARNING: "Warning"}.get(
                notice.severity, "Note"
            )
            out.append(Paragraph(f"<b>{tag}:</b> {escape(notice.message)}", st["body"]))
    else:
        out.append(_p("No warnings: the series passed every input check.", st["body"]))
    if identity.deidentified:
        out += [
            _p("De-identification", st["h2"]),
            _p(
                f"This export was de-identified ({DEID_METHOD_TEXT}). Names, identifiers, dates, "
                "descriptions and reader comments were removed; the patient is named by a "
                "pseudonym that is stable on this workstation.",
                st["body"],
            ),
        ]
    use = Table(
        [[Paragraph(f"<b>Intended use.</b> {escape(INTENDED_USE_TEXT)}", st["body"])]],
        colWidths=[width],
    )
    use.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 1.2, colors.HexColor("#D55E00")),
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#FFF8F0")),
                ("LEFTPADDING", (0, 0), (-1, -1), 6),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
            ]
        )
    )
    out += [Spacer(1, 3 * mm), use]
    return out


def bilsky_table(st: Styles, width: float) -> Flowable:
    """The Bilsky (ESCC) scale in one small table, grouped as the model reports it."""
    rows: list[list[object]] = [[_p(h, st["head"]) for h in ("Grade", "Group", "Meaning")]]
    for grade, group, description in bilsky_rows():
        rows.append([_p(grade, st["cell"]), _p(group, st["cell"]), _p(description, st["cell"])])
    table = Table(rows, colWidths=[24 * mm, 26 * mm, width - 50 * mm])
    table.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE),
                ("FONTNAME", (0, 0), (-1, 0), BOLD),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    return KeepTogether(
        [_p("The Bilsky scale (epidural spinal cord compression)", st["h2"]), table]
    )


__all__ = ["bilsky_table", "findings_table", "identity_block", "method_section", "result_box"]
