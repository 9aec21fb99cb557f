"""Write a CT volume as one Enhanced CT Image Storage multi-frame file.

Geometry and rescale live in functional groups, as scanners write them: Pixel Measures,
Plane Orientation and Pixel Value Transformation in the shared groups, Plane Position and
Frame Content per frame. Same determinism rules as :mod:`mscc_desktop.core.dicom.write`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, EnhancedCTImageStorage

from mscc_desktop.core.dicom.write import (
    FIXED_DATE,
    FIXED_TIME,
    CtSeriesSpec,
    base_dataset,
    ds_number,
    encode_and_save,
    instance_uid,
    series_uids,
    set_padding,
    set_pixel_module,
    set_window,
    stored_values,
)


@dataclass(frozen=True, slots=True)
class WrittenMultiframe:
    """What :func:`write_enhanced_ct` wrote."""

    path: Path
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    frame_of_reference_uid: str


def _item(**attributes: object) -> Dataset:
    item = Dataset()
    for keyword, value in attributes.items():
        setattr(item, keyword, value)
    return item


def write_enhanced_ct(
    hu: npt.ArrayLike,
    spec: CtSeriesSpec,
    out_path: str | os.PathLike[str],
    *,
    padding_mask: npt.NDArray[np.bool_] | None = None,
    rescale_in_shared_groups_only: bool = True,
) -> WrittenMultiframe:
    """Write ``hu`` as a single Enhanced CT multi-frame file at ``out_path``.

    Parameters
    ----------
    hu
        ``(frame, row, col)`` HU, frames in the order of ``spec.z_positions_mm``.
    spec
        Geometry, identity and encoding (``naming`` is ignored: one file).
    out_path
        File to write (its folder is created if missing).
    padding_mask
        Optional mask of voxels stored as ``spec.pixel_padding_value``.
    rescale_in_shared_groups_only
        When true (as Enhanced CT requires), (0028,1052)/(0028,1053) appear only in the
        Pixel Value Transformation functional group, not at the top level.

    Returns
    -------
    WrittenMultiframe
        The path and UIDs written.
    """
    volume = np.asarray(hu)
    if volume.ndim != 3 or min(volume.shape) < 1:
        raise ValueError(f"hu must be (frame, row, col), got shape {volume.shape}")
    stored = stored_values(volume, spec, padding_mask)
    signed = stored.dtype == np.int16
    n_frames = int(volume.shape[0])
    positions = spec.positions(n_frames)
    uids = series_uids(spec)
    ds = base_dataset(spec, uids, EnhancedCTImageStorage)
    # Enhanced CT carries thickness in Pixel Measures, not at the top level.
    del ds.SliceThickness
    sop = instance_uid(spec, uids.series, 0)
    ds.SOPInstanceUID = UID(sop)
    ds.InstanceNumber = 1
    image_type = list(spec.info.image_type or ("ORIGINAL", "PRIMARY", "AXIAL", "NONE"))
    if len(image_type) < 4:
        image_type = [*image_type, "NONE"][:4] if len(image_type) == 3 else image_type
    ds.ImageType = image_type
    ds.ContentDate = FIXED_DATE
    ds.ContentTime = FIXED_TIME
    ds.AcquisitionNumber = 1
    ds.AcquisitionDateTime = FIXED_DATE + FIXED_TIME
    ds.PresentationLUTShape = "IDENTITY"
    ds.NumberOfFrames = n_frames
    ds.BurnedInAnnotation = "NO"
    ds.ContentQualification = "RESEARCH"
    ds.ImageComments = "synthetic"
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence(
        [
            _item(
                PixelSpacing=[ds_number(v) for v in spec.pixel_spacing_mm],
                SliceThickness=ds_number(spec.slice_thickness_mm),
            )
        ]
    )
    shared.PlaneOrientationSequence = Sequence(
        [_item(ImageOrientationPatient=[ds_number(v) for v in spec.image_orientation])]
    )
    shared.PixelValueTransformationSequence = Sequence(
        [
            _item(
                RescaleIntercept=ds_number(spec.rescale_intercept),
                RescaleSlope=ds_number(spec.rescale_slope),
                RescaleType="HU",
            )
        ]
    )
    if spec.window is not None:
        voi = Dataset()
        set_window(voi, spec.window)
        shared.FrameVOILUTSequence = Sequence([voi])
    shared.CTImageFrameTypeSequence = Sequence([_item(FrameType=image_type[:4])])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame: list[Dataset] = []
    for index in range(n_frames):
        frame = Dataset()
        frame.PlanePositionSequence = Sequence(
            [_item(ImagePositionPatient=[ds_number(v) for v in positions[index]])]
        )
        frame.FrameContentSequence = Sequence(
            [_item(FrameAcquisitionNumber=1, InStackPositionNumber=index + 1, StackID="1")]
        )
        per_frame.append(frame)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    set_pixel_module(ds, stored)
    set_padding(ds, spec, signed)
    if not rescale_in_shared_groups_only:
        ds.RescaleIntercept = ds_number(spec.rescale_intercept)
        ds.RescaleSlope = ds_number(spec.rescale_slope)
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    encode_and_save(ds, path, spec.transfer_syntax)
    return WrittenMultiframe(
        path=path,
        sop_instance_uid=sop,
        study_instance_uid=uids.study,
        series_instance_uid=uids.series,
        frame_of_reference_uid=uids.frame_of_reference,
    )
