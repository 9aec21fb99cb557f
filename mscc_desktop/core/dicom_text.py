"""How DICOM identity values read to a person: names, dates, times, sex.

One implementation for the viewer overlays, the study browser and the reports, so the same
patient reads the same everywhere. Pure string functions; they never raise on odd values and
return what they cannot interpret unchanged.
"""

from __future__ import annotations

_SEX = {"M": "male", "F": "female", "O": "other"}


def person_name_text(dicom_name: str) -> str:
    """DICOM PN ``"DOE^JOHN^^DR"`` → ``"DOE, JOHN DR"`` (family name first, as on PACS).

    Of ideographic/phonetic groups (``"Yamada^Tarou=山田^太郎"``) the alphabetic one is shown.
    """
    if "=" in dicom_name:
        dicom_name = dicom_name.split("=")[0] or dicom_name.replace("=", " ")
    parts = [p.strip() for p in dicom_name.split("^")]
    family = parts[0] if parts else ""
    rest = " ".join(p for p in parts[1:] if p)
    if family and rest:
        return f"{family}, {rest}"
    return family or rest


def date_text(value: str) -> str:
    """DICOM DA ``"20240117"`` → ``"2024-01-17"``; other values unchanged; ``""`` stays ``""``."""
    text = value.strip()
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def time_text(value: str) -> str:
    """DICOM TM ``"134502.25"`` → ``"13:45"``; anything else unchanged."""
    text = value.strip()
    if len(text) >= 4 and text[:4].isdigit():
        return f"{text[:2]}:{text[2:4]}"
    return text


def sex_text(value: str) -> str:
    """DICOM CS ``"F"`` → ``"female"``; other values as recorded."""
    return _SEX.get(value.strip().upper(), value.strip())
