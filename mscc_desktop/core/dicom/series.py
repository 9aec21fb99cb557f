"""Group scanned images into patients → studies → series, splitting mixed series.

Identity comes from the UIDs when present. When (0020,000D) Study or (0020,000E) Series
Instance UID is missing or empty, other identifying attributes stand in (patient, study
date/time, accession number; series number, description, modality, frame of reference), and
geometry (orientation, matrix, pixel spacing) splits whatever they cannot tell apart. Images
of different patients never end up in one series, even when they share a Series UID.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace

from mscc_desktop.core.dicom.classify import SeriesEntry, classify_series
from mscc_desktop.core.dicom.headers import FrameRef, ImageHeader
from mscc_desktop.core.notices import Notice, NoticeCode
from mscc_desktop.core.volume import SeriesInfo

_LOCALIZER_TYPES = frozenset({"LOCALIZER", "SCOUT", "TOPOGRAM", "SURVIEW", "SCANOGRAM"})


@dataclass(frozen=True, slots=True)
class StudyEntry:
    """A study and its series (each already classified)."""

    key: str
    study_instance_uid: str
    study_date: str
    study_description: str
    accession_number: str
    series: tuple[SeriesEntry, ...]


@dataclass(frozen=True, slots=True)
class PatientEntry:
    """A patient and their studies. Holds patient data: never log it."""

    key: str
    patient_name: str
    patient_id: str
    patient_birth_date: str
    studies: tuple[StudyEntry, ...]


def _digest(*parts: object) -> str:
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


def patient_key(info: SeriesInfo) -> str:
    """Two images belong to one patient only if ID, name and birth date all agree."""
    return _digest(info.patient_id, info.patient_name.upper(), info.patient_birth_date)


def study_key(info: SeriesInfo) -> str:
    if info.study_instance_uid:
        return info.study_instance_uid
    return "nouid-study-" + _digest(
        patient_key(info), info.study_date, info.study_time, info.accession_number, info.study_id
    )


def _series_base_key(header: ImageHeader) -> str:
    info = header.info
    if info.series_instance_uid:
        return info.series_instance_uid
    # Without a Series UID, reconstruction parameters help tell series of one study apart.
    thickness = header.frames[0].slice_thickness_mm
    return "nouid-series-" + _digest(
        study_key(info),
        info.series_number,
        info.series_description,
        info.modality,
        info.frame_of_reference_uid,
        info.convolution_kernel,
        None if thickness is None else round(thickness, 2),
        "\\".join(info.image_type),
    )


def _split_key(ref: FrameRef) -> tuple[object, ...]:
    """What must be equal for two frames of one series to share a volume."""
    header = ref.header
    geometry = ref.geometry
    orientation = (
        None
        if geometry.orientation is None
        else tuple(round(v, 2) + 0.0 for v in geometry.orientation)
    )
    spacing = (
        None
        if geometry.pixel_spacing_mm is None
        else tuple(round(v, 3) for v in geometry.pixel_spacing_mm)
    )
    localizer = bool(_LOCALIZER_TYPES.intersection(header.info.image_type))
    return (
        patient_key(header.info),
        study_key(header.info),
        header.info.modality,
        orientation,
        header.rows,
        header.columns,
        spacing,
        header.samples_per_pixel,
        header.bits_allocated,
        header.bits_stored,
        header.pixel_representation,
        localizer,
        header.is_secondary_capture,
    )


_SPLIT_FIELDS = (
    "patient",
    "study",
    "modality",
    "orientation",
    "rows",
    "columns",
    "pixel spacing",
    "samples per pixel",
    "bits allocated",
    "bits stored",
    "pixel representation",
    "localizer",
    "secondary capture",
)


def _split_note(key: tuple[object, ...], keys: list[tuple[object, ...]], number: int) -> str:
    """E.g. "part 2 of 3: differs in orientation, rows" (no patient data)."""
    differing = [
        name for position, name in enumerate(_SPLIT_FIELDS) if len({k[position] for k in keys}) > 1
    ]
    return f"part {number} of {len(keys)}: differs in " + ", ".join(differing)


def _merged_info(frames: list[FrameRef]) -> SeriesInfo:
    first = frames[0].header.info
    syntaxes = tuple(dict.fromkeys(f.header.transfer_syntax_uid for f in frames))
    return replace(first, transfer_syntaxes=syntaxes)


def group_headers(headers: Iterable[ImageHeader], *, min_slices: int) -> tuple[PatientEntry, ...]:
    """Group image headers into classified series inside studies inside patients."""
    by_series: dict[str, list[FrameRef]] = defaultdict(list)
    for header in headers:
        base = _series_base_key(header)
        for index in range(len(header.frames)):
            by_series[base].append(FrameRef(header, index))
    entries: list[SeriesEntry] = []
    for base, frames in by_series.items():
        parts: dict[tuple[object, ...], list[FrameRef]] = defaultdict(list)
        for ref in frames:
            parts[_split_key(ref)].append(ref)
        patients = {key[0] for key in parts}
        keys = list(parts)
        for number, (split, part) in enumerate(parts.items(), start=1):
            notices: list[Notice] = []
            if len(patients) > 1:
                notices.append(
                    Notice(
                        NoticeCode.MIXED_SERIES,
                        "This series identifier is shared by images of different patients; "
                        "each patient's images were kept apart.",
                    )
                )
            key = base if len(parts) == 1 else f"{base}#{number}"
            split_note = "" if len(parts) == 1 else _split_note(split, keys, number)
            entries.append(
                classify_series(
                    key=key,
                    frames=tuple(part),
                    info=_merged_info(part),
                    split_note=split_note,
                    extra_notices=tuple(notices),
                    min_slices=min_slices,
                )
            )
    return _hierarchy(entries)


def _hierarchy(entries: list[SeriesEntry]) -> tuple[PatientEntry, ...]:
    studies: dict[tuple[str, str], list[SeriesEntry]] = defaultdict(list)
    for entry in entries:
        studies[(patient_key(entry.info), study_key(entry.info))].append(entry)
    patients: dict[str, list[StudyEntry]] = defaultdict(list)
    for (p_key, s_key), series in studies.items():
        series.sort(key=lambda e: (e.info.series_number is None, e.info.series_number or 0, e.key))
        info = series[0].info
        patients[p_key].append(
            StudyEntry(
                key=s_key,
                study_instance_uid=info.study_instance_uid,
                study_date=info.study_date,
                study_description=info.study_description,
                accession_number=info.accession_number,
                series=tuple(series),
            )
        )
    result: list[PatientEntry] = []
    for p_key, study_list in patients.items():
        study_list.sort(key=lambda s: (s.study_date, s.key))
        info = study_list[0].series[0].info
        result.append(
            PatientEntry(
                key=p_key,
                patient_name=info.patient_name,
                patient_id=info.patient_id,
                patient_birth_date=info.patient_birth_date,
                studies=tuple(study_list),
            )
        )
    result.sort(key=lambda p: (p.patient_name, p.patient_id, p.key))
    return tuple(result)
