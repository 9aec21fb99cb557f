"""Write tiny labelled studies to disk in the layout ``mscc-desktop train`` reads.

``DATA_DIR/<study>/dicom/IM00001.dcm ...`` (our own CT writer), ``<study>/voc/*.xml``
(LabelImg VOC, one per slice) and ``<study>/labels.csv`` — the same layout the synthetic
generator writes, in milliseconds instead of seconds.
"""

from __future__ import annotations

from pathlib import Path

from mscc_desktop.core.dicom import CtSeriesSpec, write_ct_series
from mscc_desktop.core.labels import (
    CANAL_LABEL,
    SliceLabel,
    VocAnnotation,
    VocObject,
    write_labels_csv,
    write_voc,
)
from mscc_desktop.core.volume import SeriesInfo
from mscc_desktop.training.datasets import LabelledStudy


def write_study(study: LabelledStudy, folder: Path, *, seed: int = 0) -> Path:
    """Write ``study`` (boxes on whole-pixel edges) as DICOM + VOC + labels.csv."""
    n, rows, cols = study.hu.shape
    spec = CtSeriesSpec(
        pixel_spacing_mm=(0.8, 0.8),
        z_positions_mm=tuple(100.0 - 3.0 * i for i in range(n)),
        slice_thickness_mm=3.0,
        info=SeriesInfo(
            modality="CT", series_description="AX 3MM", contrast_agent="IOHEXOL",
            body_part="CHEST", image_type=("ORIGINAL", "PRIMARY", "AXIAL"),
        ),
        seed=seed,
    )  # fmt: skip
    written = write_ct_series(study.hu, spec, folder / "dicom")
    (folder / "voc").mkdir(parents=True, exist_ok=True)
    rows_out = []
    for label in study.labels:
        uid = written.sop_instance_uids[label.slice_index]
        image = written.paths[label.slice_index]
        if label.box is not None:
            write_voc(
                VocAnnotation(
                    filename=image.name, width=cols, height=rows, folder="dicom",
                    path=f"dicom/{image.name}", objects=(VocObject(CANAL_LABEL, label.box),),
                ),
                folder / "voc" / f"{image.stem}.xml",
            )  # fmt: skip
        rows_out.append(
            SliceLabel(
                sop_instance_uid=uid,
                slice_index=label.slice_index,
                z_mm=100.0 - 3.0 * label.slice_index,
                vertebral_level="T8",
                bilsky_grade=None,
                group=label.group,  # type: ignore[arg-type]
                degenerative=label.degenerative,
            )
        )
    write_labels_csv(rows_out, folder / "labels.csv")
    return folder
