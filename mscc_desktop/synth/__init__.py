"""Synthetic staging-CT phantoms with Bilsky-graded epidural disease and exact ground truth.

No labelled MSCC CT can be shipped, so the demo study, the training data of the shipped
models, the tests and the benchmarks all come from here. Each study is a continuous 3-D
patient (C7 to L3 by default) rendered slice by slice: body wall, lungs with vessels,
contrast-enhanced heart and great vessels, liver, kidneys, bowel, ribs, and vertebrae with
cortex, trabecular bone, pedicles, laminae and processes around a spinal canal holding
epidural fat, the thecal sac and the cord (conus and cauda equina lower down). Patients,
scanners and contrast phases vary; metastases are lytic, sclerotic or mixed, and epidural
tumour extends into the canal with per-slice Bilsky geometry (1a ... 3) whose grade is
re-derived from the rasterised masks (:func:`mscc_desktop.synth.canal.derive_grade`), so
labels always match pixels. Degenerative narrowing is generated and flagged, never graded.

Dataset layout (``mscc-desktop synth OUTDIR --studies N --seed S``)::

    OUTDIR/<study_id>/dicom/IM00001.dcm ...   CT Image Storage series, slice order = head first
    OUTDIR/<study_id>/voc/IM00001.xml ...     LabelImg Pascal VOC: one "canal" box per slice
                                              (<filename> = the DICOM file's name)
    OUTDIR/<study_id>/labels.csv              sop_instance_uid, slice_index, z_mm,
                                              vertebral_level, bilsky_grade, group, degenerative
    OUTDIR/<study_id>/study.json              levels and z-ranges, lesions (z-ranges, slices,
                                              peak grade), generator version, seed, parameters

``slice_index`` is the slice's position in the volume the importer returns (head first);
boxes are the bony canal in display pixels (see :mod:`mscc_desktop.core.labels` for the
1-based VOC convention). Study ``i`` of a dataset uses seed
``sampling.study_seed(S, i)``; the same seed gives byte-identical pixel data.

Realism where the networks look (generator 1.2.0, tuned so a model trained on phantoms finds
the canal on real CT and does not mistake a normal real canal for a tumour-filled one):
scanner noise of 7-55 HU with a 1.5-4 mm grain and up to 55 % streaky (row-elongated) noise;
coarse, patchy trabecular bone; posterior elements with a thin cortex around cancellous bone
and slightly irregular outlines; a basivertebral vein; canal contents between 0 and ~75 HU
(beam hardening, partial volume, enhancing veins) with the cord often invisible and the
epidural fat mostly hidden by partial volume, a bright partial-volume rim along the bony wall,
and a tumour brightened with the rest of the canal, so it keeps its own >= 26 HU over CSF
(the grade stays visible); 30 % of studies without contrast; fields of view up to the 500 mm
bore, off-centre, and backs lifted off the table by cushions.

Main entry points: :func:`sample_study` (parameters from a seed), :func:`generate_study`
(in memory), :func:`write_study`, :func:`generate_dataset` and :func:`ensure_demo_study`.
"""

from __future__ import annotations

from mscc_desktop.synth.demo import demo_study, ensure_demo_study
from mscc_desktop.synth.generate import SynthStudy, generate_study
from mscc_desktop.synth.output import WrittenStudy, generate_dataset, write_study
from mscc_desktop.synth.params import GENERATOR_VERSION, GeneratorConfig, StudyParams
from mscc_desktop.synth.render import SliceTruth
from mscc_desktop.synth.sampling import sample_study, study_seed

__all__ = [
    "GENERATOR_VERSION",
    "GeneratorConfig",
    "SliceTruth",
    "StudyParams",
    "SynthStudy",
    "WrittenStudy",
    "demo_study",
    "ensure_demo_study",
    "generate_dataset",
    "generate_study",
    "sample_study",
    "study_seed",
    "write_study",
]
