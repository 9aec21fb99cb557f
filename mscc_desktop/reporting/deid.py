"""De-identification of exports after DICOM PS3.15 Annex E (Basic Application Level
Confidentiality Profile), and the identity every export shows.

Every export (PDF, PNG, DICOM) draws the patient and study identity from one
:class:`ExportIdentity`. Without de-identification it is the series' own; with it:

* Patient's Name and Patient ID become a **pseudonym** ``ANON-`` + 10 base-32 characters of
  HMAC-SHA256(install secret, patient ID | name | birth date). It is deterministic per
  patient on one installation (two exports of one patient get the same pseudonym, so a
  research team can link them) and cannot be reversed or recomputed without the secret,
  which is 32 random bytes created on first use in the user data folder
  (``deid-secret.bin``, owner-only permissions) and never exported.
* Every UID (study, series, frame of reference, source SOP instances) is replaced by
  ``2.25.<128-bit HMAC of the original>``: consistent within and across exports of this
  installation, so the SC, KOS and SR of one export still reference each other correctly.
* Attributes with profile action Z/X/D are emptied or removed: birth date, sex, study and
  content dates and times, accession number, study ID, descriptions, institution,
  referring physician, contrast agent. Dates are removed, not shifted (the profile without
  the "Retain Longitudinal Temporal Information" option); Type 1 dates get the dummy
  ``19000101``.
* Reader names become "de-identified reader" and free-text review comments are left out
  (they may name the patient); vertebral levels, grades and decisions stay.
* Patient Identity Removed (0012,0062) = YES, De-identification Method (0012,0063) and
  De-identification Method Code Sequence (0012,0064) = (113100, DCM, "Basic Application
  Confidentiality Profile") record that it was done; the PDF and PNG say so in their text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from mscc_desktop import __version__
from mscc_desktop.core.config import user_data_dir
from mscc_desktop.core.volume import SeriesInfo

logger = logging.getLogger(__name__)

SECRET_FILE = "deid-secret.bin"
PSEUDONYM_PREFIX = "ANON-"
DUMMY_DATE = "19000101"
DUMMY_TIME = "000000"
DEID_READER = "de-identified reader"
DEID_METHOD_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")
DEID_METHOD_TEXT = (
    f"DICOM PS3.15 Basic Application Level Confidentiality Profile (mscc-desktop {__version__})"
)


def install_secret(folder: Path | None = None) -> bytes:
    """The per-installation de-identification secret, created on first use.

    Stored as 32 random bytes in ``folder`` (the user data folder by default), written
    exclusively with owner-only permissions; a second process racing to create it reads the
    winner's secret.
    """
    root = folder if folder is not None else user_data_dir()
    path = root / SECRET_FILE
    try:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    except FileNotFoundError:
        pass
    root.mkdir(parents=True, exist_ok=True)
    fresh = secrets.token_bytes(32)
    temp = root / f".{SECRET_FILE}.{secrets.token_hex(4)}.partial"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, fresh)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temp, path)  # fails if another process won the race
    except FileExistsError:
        pass
    except OSError:  # file systems without hard links
        if not path.exists():
            os.replace(temp, path)
    temp.unlink(missing_ok=True)
    logger.info("created a new de-identification secret in the user data folder")
    return path.read_bytes()


def _mac(secret: bytes, text: str) -> bytes:
    return hmac.new(secret, text.encode("utf-8"), hashlib.sha256).digest()


def pseudonym(info: SeriesInfo, secret: bytes) -> str:
    """``ANON-XXXXXXXXXX``: deterministic per patient (ID, name, birth date) and install."""
    digest = _mac(
        secret,
        "patient\0" + "\0".join((info.patient_id, info.patient_name, info.patient_birth_date)),
    )
    return PSEUDONYM_PREFIX + base64.b32encode(digest).decode("ascii")[:10]


def mapped_uid(uid: str, secret: bytes) -> str:
    """A new UID for ``uid``: ``2.25.`` + 128 bits of its HMAC (same input → same UID)."""
    if not uid:
        return ""
    return "2.25." + str(int.from_bytes(_mac(secret, "uid\0" + uid)[:16], "big"))


@dataclass(frozen=True, slots=True)
class ExportIdentity:
    """Who and what an export names. ``info`` is the (possibly de-identified) identity.

    Holds patient data unless ``deidentified``: never log it.
    """

    info: SeriesInfo
    deidentified: bool = False
    secret: bytes = field(default=b"", repr=False)

    def uid(self, original: str) -> str:
        """A source UID as this export writes it (mapped when de-identified)."""
        return mapped_uid(original, self.secret) if self.deidentified else original

    def reader(self, name: str) -> str:
        """A reader's name as this export shows it."""
        return DEID_READER if self.deidentified and name else name

    def comment(self, text: str) -> str:
        """A free-text comment as this export shows it (left out when de-identified)."""
        return "" if self.deidentified else text

    @property
    def label(self) -> str:
        """Short patient label for page furniture and file names."""
        return self.info.patient_id or self.info.patient_name or "unknown patient"


def export_identity(
    info: SeriesInfo, *, deidentify: bool, secret: bytes | None = None
) -> ExportIdentity:
    """The identity an export shows: ``info`` itself, or its de-identified form.

    Parameters
    ----------
    info
        The series' identity as loaded.
    deidentify
        Apply the profile (see the module docstring).
    secret
        The install secret; read (or created) from the user data folder when ``None``.
    """
    if not deidentify:
        return ExportIdentity(info)
    key = secret if secret is not None else install_secret()
    alias = pseudonym(info, key)
    clean = replace(
        SeriesInfo(),
        patient_name=alias,
        patient_id=alias,
        study_instance_uid=mapped_uid(info.study_instance_uid, key),
        series_instance_uid=mapped_uid(info.series_instance_uid, key),
        frame_of_reference_uid=mapped_uid(info.frame_of_reference_uid, key),
        series_number=info.series_number,
        modality=info.modality,
        manufacturer=info.manufacturer,
        manufacturer_model=info.manufacturer_model,
        kvp=info.kvp,
        convolution_kernel=info.convolution_kernel,
        body_part=info.body_part,
        image_type=info.image_type,
    )
    return ExportIdentity(clean, deidentified=True, secret=key)


def identifying_values(info: SeriesInfo) -> tuple[str, ...]:
    """The values a de-identified export must not contain (for checks and tests)."""
    values = (
        info.patient_name,
        info.patient_id,
        info.patient_birth_date,
        info.study_instance_uid,
        info.series_instance_uid,
        info.accession_number,
        info.study_date,
        info.institution_name,
        info.referring_physician,
        info.study_description,
        info.series_description,
        info.study_id,
        info.frame_of_reference_uid,
    )
    return tuple(v for v in values if v)


__all__ = [
    "DEID_METHOD_CODE",
    "DEID_METHOD_TEXT",
    "DEID_READER",
    "DUMMY_DATE",
    "DUMMY_TIME",
    "ExportIdentity",
    "export_identity",
    "identifying_values",
    "install_secret",
    "mapped_uid",
    "pseudonym",
]
