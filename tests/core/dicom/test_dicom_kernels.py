"""Reconstruction kernel table: vendor names → soft-tissue, sharp, lung or unknown."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from mscc_desktop.core.dicom.headers import image_header
from mscc_desktop.core.dicom.kernels import (
    KernelClass,
    Vendor,
    classify_kernel,
    kernel_name,
    vendor_of,
)

SOFT = KernelClass.SOFT_TISSUE
SHARP = KernelClass.SHARP
LUNG = KernelClass.LUNG
UNKNOWN = KernelClass.UNKNOWN


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [
        ("B10f", SOFT),
        ("B19f", SOFT),
        ("B30f", SOFT),
        ("B31s", SOFT),
        ("B40f", SOFT),
        ("B46f", SOFT),
        ("H31s", SOFT),
        ("C30s", SOFT),
        ("I30f", SOFT),  # SAFIRE iterative
        ("I30f\\3", SOFT),  # with the iterative strength as a second value
        ("J37s", SOFT),
        ("Br40d", SOFT),
        ("Br40d\\3", SOFT),
        ("Bv36d", SOFT),
        ("Bf37f", SOFT),
        ("Qr40d", SOFT),
        ("Hr38h", SOFT),
        ("B50f", SHARP),
        ("B60f", SHARP),
        ("B70f", SHARP),
        ("B80f", SHARP),
        ("I70f", SHARP),
        ("H70h", SHARP),
        ("Br59d", SHARP),
        ("Br64d", SHARP),
        ("Hr64h", SHARP),
        ("U90u", SHARP),
        ("Ur77u", SHARP),
        ("Bl57d", LUNG),
        ("Bl64d\\2", LUNG),
        ("Bv49d", UNKNOWN),  # between standard and sharp: the manuals give no class
        ("S80s", UNKNOWN),  # special (phantom) kernel
        ("T20f", UNKNOWN),  # topogram
        ("U30u", UNKNOWN),
        ("SOFT", UNKNOWN),  # a GE name means nothing on a Siemens scanner
    ],
)
def test_siemens_kernels(kernel: str, expected: KernelClass) -> None:
    assert classify_kernel(kernel, "SIEMENS").kernel_class == expected


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [
        ("SOFT", SOFT),
        ("STANDARD", SOFT),
        ("standard", SOFT),
        ("HD STANDARD", SOFT),
        ("DETAIL", SHARP),
        ("CHEST", SHARP),
        ("BONE", SHARP),
        ("BONEPLUS", SHARP),
        ("BONE PLUS", SHARP),
        ("BONE+", SHARP),
        ("EDGE", SHARP),
        ("HD BONE", SHARP),
        ("LUNG", LUNG),
        ("HD LUNG", LUNG),
        ("EXPERIMENTAL7", UNKNOWN),
        ("B40f", UNKNOWN),
    ],
)
def test_ge_kernels(kernel: str, expected: KernelClass) -> None:
    assert classify_kernel(kernel, "GE MEDICAL SYSTEMS").kernel_class == expected


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [
        ("A", SOFT),
        ("B", SOFT),
        ("UA", SOFT),
        ("UB", SOFT),
        ("YA", SOFT),
        ("YB", SOFT),
        ("C", SHARP),
        ("D", SHARP),
        ("E", SHARP),
        ("YC", SHARP),
        ("YD", SHARP),
        ("YE", SHARP),
        ("L", LUNG),
        ("XCB", UNKNOWN),
        ("STANDARD", UNKNOWN),
    ],
)
def test_philips_kernels(kernel: str, expected: KernelClass) -> None:
    assert classify_kernel(kernel, "Philips").kernel_class == expected


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [
        ("FC01", SOFT),
        ("FC07", SOFT),
        ("FC13", SOFT),
        ("FC17", SOFT),
        ("FC18", SOFT),
        ("FC30", SHARP),
        ("FC35", SHARP),
        ("FC81", SHARP),
        ("FC50", LUNG),
        ("FC52", LUNG),
        ("FC56", LUNG),
        ("FC26", UNKNOWN),
        ("FC43", UNKNOWN),
        ("FL04", UNKNOWN),
        ("B", UNKNOWN),
    ],
)
def test_toshiba_canon_kernels(kernel: str, expected: KernelClass) -> None:
    assert classify_kernel(kernel, "TOSHIBA").kernel_class == expected
    assert classify_kernel(kernel, "CANON_MEC").kernel_class == expected


@pytest.mark.parametrize(
    ("manufacturer", "vendor"),
    [
        ("SIEMENS", Vendor.SIEMENS),
        ("Siemens Healthineers", Vendor.SIEMENS),
        ("GE MEDICAL SYSTEMS", Vendor.GE),
        ("GE Healthcare", Vendor.GE),
        ("Philips Medical Systems", Vendor.PHILIPS),
        ("TOSHIBA", Vendor.CANON),
        ("Canon Medical Systems", Vendor.CANON),
        ("GEMINI Labs", Vendor.OTHER),
        ("UIH", Vendor.OTHER),
        ("", Vendor.OTHER),
    ],
)
def test_vendor_of_manufacturer(manufacturer: str, vendor: Vendor) -> None:
    assert vendor_of(manufacturer) == vendor


def test_unknown_vendor_or_missing_name_is_never_guessed() -> None:
    # "B" is standard at Philips and "B40f" soft at Siemens: without the vendor, unknown.
    for name in ("B", "B40f", "STANDARD", "FC17"):
        kernel = classify_kernel(name, "")
        assert kernel.kernel_class == UNKNOWN and "no manufacturer recorded" in kernel.basis
    empty = classify_kernel("", "SIEMENS")
    assert empty.kernel_class == UNKNOWN and empty.describe() == "no kernel recorded"


def test_kernel_group_is_vendor_neutral_and_decides_first() -> None:
    assert classify_kernel("XR7", "Acme", group="SOFT_TISSUE").kernel_class == SOFT
    assert classify_kernel("", "", group="LUNG").kernel_class == LUNG
    assert classify_kernel("B40f", "SIEMENS", group="BONE").kernel_class == SHARP
    assert classify_kernel("XR7", "Acme", group="CONSTANT_ANGLE").kernel_class == UNKNOWN


def test_description_names_kernel_and_class() -> None:
    assert classify_kernel("B70f", "SIEMENS").describe() == "B70f (sharp)"
    assert classify_kernel("L", "Philips").describe() == "L (lung)"
    assert classify_kernel("Br40d\\3", "SIEMENS").describe() == "Br40d (soft-tissue)"
    assert kernel_name(" I30f \\3") == "I30f"


def _ct_header(**attributes: object) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.Modality = "CT"
    ds.Manufacturer = "SIEMENS"
    ds.Rows = 4
    ds.Columns = 4
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def test_header_keeps_every_kernel_value_and_case() -> None:
    header = image_header(_ct_header(ConvolutionKernel=["Br40d", "3"]), Path("x"), None)
    assert header.info.convolution_kernel == "Br40d\\3"


def test_enhanced_ct_kernel_comes_from_the_reconstruction_functional_group() -> None:
    reconstruction = Dataset()
    reconstruction.ConvolutionKernel = "Qr40d"
    reconstruction.ConvolutionKernelGroup = "SOFT_TISSUE"
    shared = Dataset()
    shared.CTReconstructionSequence = Sequence([reconstruction])
    ds = _ct_header(
        SOPClassUID="1.2.840.10008.5.1.4.1.1.2.1",
        NumberOfFrames=2,
        SharedFunctionalGroupsSequence=Sequence([shared]),
    )
    header = image_header(ds, Path("x"), None)
    assert header.info.convolution_kernel == "Qr40d"
    assert header.convolution_kernel_group == "SOFT_TISSUE"
