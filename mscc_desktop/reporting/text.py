"""How DICOM identity values read on a report: names, dates, sex, file-name stems."""

from __future__ import annotations

from datetime import datetime

from mscc_desktop.core.dicom_text import date_text as dicom_date
from mscc_desktop.core.dicom_text import person_name_text as person_name
from mscc_desktop.core.dicom_text import sex_text
from mscc_desktop.reporting.deid import ExportIdentity
from mscc_desktop.reporting.safe_files import safe_filename


def local_time(moment: datetime) -> str:
    """A timestamp in the machine's local time, ``"2024-01-17 10:15"``."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def identity_line(identity: ExportIdentity) -> str:
    """One line naming the patient and study, for page furniture and image headers."""
    info = identity.info
    if identity.deidentified:
        return f"{info.patient_name} · de-identified"
    parts = [person_name(info.patient_name) or "(no name)"]
    if info.patient_id:
        parts.append(f"ID {info.patient_id}")
    if info.patient_birth_date:
        parts.append(f"born {dicom_date(info.patient_birth_date)}")
    if info.patient_sex:
        parts.append(sex_text(info.patient_sex))
    if info.study_date:
        parts.append(f"CT {dicom_date(info.study_date)}")
    if info.accession_number:
        parts.append(f"Acc {info.accession_number}")
    return " · ".join(parts)


def short_identifier(identity: ExportIdentity) -> str:
    """Name and patient ID (the pseudonym when de-identified)."""
    info = identity.info
    if identity.deidentified:
        return info.patient_name
    name = person_name(info.patient_name) or "(no name)"
    return f"{name} · ID {info.patient_id}" if info.patient_id else name


def export_stem(identity: ExportIdentity) -> str:
    """File-name stem of an export: ``MSCC_<patient>_<study date>_S<series>`` (sanitised)."""
    info = identity.info
    parts = ["MSCC", person_name(info.patient_name) or info.patient_id or "patient"]
    if info.study_date:
        parts.append(info.study_date)
    if info.series_number is not None:
        parts.append(f"S{info.series_number}")
    return safe_filename("_".join(parts), fallback="MSCC_report")


__all__ = [
    "dicom_date",
    "export_stem",
    "identity_line",
    "local_time",
    "person_name",
    "sex_text",
    "short_identifier",
]
