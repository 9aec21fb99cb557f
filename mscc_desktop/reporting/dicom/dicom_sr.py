"""The findings as a Comprehensive SR measurement report (TID 1500), with highdicom.

* One planar ROI group (TID 1410) per finding: the canal box on its key slice (SCOORD
  polyline on the source image), the finding type, the vertebral level(s) as finding sites
  (SNOMED CT vertebra codes) when the reader entered one, the peak probability, the model's
  grade group, the reader's decision and grade, and the model as algorithm identification.
* One study group (TID 1501): the study result and the number of high-grade slices.
* Observation context: the model as device observer; the reader as person observer once the
  study is signed off. The document is UNVERIFIED until then, VERIFIED (verifying observer =
  the reader who signed off) afterwards.

Codes are standard where a standard code says the same thing:

* finding type (SCT, 71286001, "Spinal cord compression"): the disorder the Bilsky
  (epidural spinal cord compression) scale grades;
* grade "Normal" (SCT, 17621005, "Normal");
* the study result (DCM, 121073, "Impression"): the conclusion about the whole study;
* as before: the probability (DCM, 122157, "Probability"), the vertebrae and the spinal
  canal (SCT) as finding sites, the procedure (LN, 25045-6, "CT unspecified body region").

The Bilsky grade groups "low" (1a/1b) and "high" (1c/2/3), the reader's decisions and the
count of high-grade slices have no standard code: they use the private coding scheme
``99MSCC`` (PS3.3 8.2: designators starting "99" are private or local), declared in
(0008,0110) Coding Scheme Identification Sequence. dciodvfy still warns about every use of
a designator outside its built-in list, declared or not; that is expected.
"""

from __future__ import annotations

import highdicom as hd
import numpy as np
from highdicom.coding_schemes import CodingSchemeIdentificationItem
from highdicom.sr import CodedConcept
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.review import ReviewDecision
from mscc_desktop.reporting.deid import DEID_READER, ExportIdentity
from mscc_desktop.reporting.dicom.dicom_common import (
    MANUFACTURER,
    SR_SERIES_NUMBER,
    SourceImage,
    dicom_text,
    evidence_dataset,
    finish_dataset,
    new_uid,
    person_name,
)
from mscc_desktop.reporting.inputs import ReportInputs
from mscc_desktop.reporting.layout import stored_box
from mscc_desktop.reporting.summary import FindingRow, ReportContent

SCHEME = "99MSCC"
SCHEME_NAME = "mscc-desktop MSCC triage codes"
SR_DESCRIPTION = "MSCC AI findings (not for clinical use)"
FINDING_TYPE = CodedConcept("71286001", "SCT", "Spinal cord compression")
GRADE_GROUP = CodedConcept("GROUP", SCHEME, "Bilsky grade group")
READER_DECISION = CodedConcept("DECISION", SCHEME, "Reader decision")
READER_GROUP = CodedConcept("READERGROUP", SCHEME, "Bilsky grade group assigned by reader")
STUDY_RESULT = CodedConcept.from_code(codes.DCM.Impression)
HIGH_SLICES = CodedConcept("NHIGH", SCHEME, "Number of high-grade slices")
GROUP_CODES = {
    GradeGroup.NORMAL: CodedConcept.from_code(codes.SCT.Normal),
    GradeGroup.LOW: CodedConcept("LOW", SCHEME, "Low grade (Bilsky 1a/1b)"),
    GradeGroup.HIGH: CodedConcept("HIGH", SCHEME, "High grade (Bilsky 1c/2/3)"),
}
DECISION_CODES = {
    None: CodedConcept("UNREVIEWED", SCHEME, "Not reviewed"),
    ReviewDecision.ACCEPT: CodedConcept("ACCEPT", SCHEME, "Accepted by reader"),
    ReviewDecision.REJECT: CodedConcept("REJECT", SCHEME, "Rejected by reader"),
    ReviewDecision.REGRADE: CodedConcept("REGRADE", SCHEME, "Regraded by reader"),
}
SLICES_UNIT = CodedConcept("{slices}", "UCUM", "slices")


def scheme_identification() -> CodingSchemeIdentificationItem:
    """The (0008,0110) Coding Scheme Identification item that declares ``99MSCC``."""
    return CodingSchemeIdentificationItem(
        designator=SCHEME,
        name=SCHEME_NAME,
        version="1",
        responsible_organization=MANUFACTURER,
    )


def vertebra_sites(level: str) -> list[hd.sr.FindingSite]:
    """Finding sites of a normalised level or range ("T7", "T7-T8"); the spinal canal when
    no level was entered."""
    from mscc_desktop.core.vertebral_levels import VERTEBRAL_LEVELS

    if not level:
        return [hd.sr.FindingSite(codes.SCT.SpinalCanalStructure)]
    first, _, last = level.partition("-")
    names = VERTEBRAL_LEVELS
    start, stop = names.index(first), names.index(last or first)
    sites = []
    for name in names[start : stop + 1]:
        code = codes.SCT.Sacrum if name == "S1" else getattr(codes.SCT, f"{name}Vertebra")
        sites.append(hd.sr.FindingSite(code))
    return sites


def _algorithm(inputs: ReportInputs) -> hd.sr.AlgorithmIdentification:
    prov = inputs.result.provenance
    parameters = [
        f"model_sha256={prov.model_sha256}",
        f"backend={prov.backend_text}",
        f"software=mscc-desktop {inputs.software_version}",
        f"threshold_high={inputs.result.thresholds.high:.3f}",
        f"threshold_any_mscc={inputs.result.thresholds.any_mscc:.3f}",
        f"probability_temperature={prov.probability_temperature:.4g}",
    ]
    return hd.sr.AlgorithmIdentification(
        name=dicom_text(prov.model_id),
        version=dicom_text(prov.model_version),
        parameters=[dicom_text(p) for p in parameters],
        manufacturer=MANUFACTURER,
    )


def _finding_group(
    inputs: ReportInputs,
    row: FindingRow,
    source: SourceImage,
    algorithm: hd.sr.AlgorithmIdentification,
) -> (
    hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations
    | hd.sr.MeasurementsAndQualitativeEvaluations
):
    lesion = row.lesion
    review = inputs.reviews.get(lesion.number)
    tracking = hd.sr.TrackingIdentifier(uid=new_uid(), identifier=f"Finding {lesion.number}")
    evaluations = [
        hd.sr.QualitativeEvaluation(GRADE_GROUP, GROUP_CODES[lesion.group]),
        hd.sr.QualitativeEvaluation(
            READER_DECISION, DECISION_CODES[review.decision if review else None]
        ),
    ]
    if review is not None and review.regraded_group is not None:
        evaluations.append(
            hd.sr.QualitativeEvaluation(READER_GROUP, GROUP_CODES[review.regraded_group])
        )
    measurement = hd.sr.Measurement(
        name=codes.DCM.Probability,
        value=round(float(lesion.peak_probability), 4),
        unit=codes.UCUM.NoUnits,
        algorithm_id=algorithm,
    )
    common = {
        "tracking_identifier": tracking,
        "finding_type": FINDING_TYPE,
        "algorithm_id": algorithm,
        "finding_sites": vertebra_sites(row.level),
        "measurements": [measurement],
        "qualitative_evaluations": evaluations,
    }
    slice_result = next((s for s in inputs.findings.slices if s.index == lesion.key_slice), None)
    if slice_result is None or slice_result.box is None:
        return hd.sr.MeasurementsAndQualitativeEvaluations(**common)  # type: ignore[arg-type]
    box = stored_box(inputs.volume, slice_result.box)
    outline = np.array(
        [[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1], [box.x0, box.y0]],
        dtype=np.float64,
    )
    region = hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
        graphic_data=outline,
        source_image=hd.sr.SourceImageForRegion(
            source.sop_class_uid,
            source.sop_instance_uid,
            [source.frame_number] if source.frame_number is not None else None,
        ),
    )
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(referenced_region=region, **common)  # type: ignore[arg-type]


def measurement_report(
    inputs: ReportInputs,
    content: ReportContent,
    sources: dict[int, SourceImage],
    identity: ExportIdentity,
) -> hd.sr.ComprehensiveSR:
    """The Comprehensive SR of one analysis (see the module docstring)."""
    verdict = content.verdict
    prov = inputs.result.provenance
    algorithm = _algorithm(inputs)
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=new_uid(),
            name="mscc-desktop",
            manufacturer_name=MANUFACTURER,
            model_name=dicom_text(f"{prov.model_id} {prov.model_version}"),
        ),
    )
    reader = ""
    person = None
    if verdict.verified:
        reader = identity.reader(inputs.sign_off.by) or DEID_READER
        person = hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                name=person_name(reader)
            ),
        )
    groups: list[object] = []
    for row in content.rows:
        source = sources[row.lesion.key_slice]
        groups.append(_finding_group(inputs, row, source, algorithm))
    study_group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=new_uid(), identifier="Study result"),
        algorithm_id=algorithm,
        measurements=[
            hd.sr.Measurement(
                name=HIGH_SLICES,
                value=float(verdict.n_high_slices),
                unit=SLICES_UNIT,
                algorithm_id=algorithm,
            )
        ],
        qualitative_evaluations=[
            hd.sr.QualitativeEvaluation(STUDY_RESULT, GROUP_CODES[verdict.group])
        ],
    )
    groups.append(study_group)
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_person_context=person, observer_device_context=device
        ),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=groups,  # type: ignore[arg-type]
    )
    evidence: list[Dataset] = [evidence_dataset(s, identity) for s in sources.values()]
    organisation = "" if identity.deidentified else identity.info.institution_name
    sr = hd.sr.ComprehensiveSR(
        evidence=evidence,
        content=report,
        series_instance_uid=new_uid(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=new_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=verdict.verified,
        is_verified=verdict.verified,
        verifying_observer_name=person_name(reader) if verdict.verified else None,
        verifying_organization=(organisation or "Unknown organization")
        if verdict.verified
        else None,
        institution_name=None if identity.deidentified else identity.info.institution_name or None,
        coding_schemes=[scheme_identification()],
    )
    return finish_dataset(sr, identity, series_description=SR_DESCRIPTION)


__all__ = ["measurement_report", "scheme_identification", "vertebra_sites"]
