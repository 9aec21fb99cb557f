"""Reconstruction kernel names and what they make: soft-tissue, sharp (bone) or lung images.

A staging CT is often reconstructed several times from one acquisition: with a soft-tissue
(standard) kernel for the mediastinum, abdomen and spinal canal, a sharp kernel for bone and
an edge-enhancing lung kernel. The canal grader needs the soft-tissue reconstruction: epidural
tumour, thecal sac and paraspinal muscle differ by a few tens of HU, which the noise of a
sharp or lung kernel (several times that of a soft one) buries.

(0018,1210) Convolution Kernel is free text whose meaning is the vendor's. This module maps
the names the vendors document to a :class:`KernelClass`. A name the table does not hold is
``UNKNOWN``, never guessed from a look-alike (Philips "B" is a standard kernel, Siemens "B70f"
a sharp one); the series choice then measures image noise instead. The vendor-neutral
(0018,9316) Convolution Kernel Group (Enhanced CT) is used first when a file has it.

Where the names come from (written down by hand; nothing is looked up at run time):

* DICOM PS3.3, CT Reconstruction Macro: (0018,9316) Convolution Kernel Group, defined terms
  BRAIN, SOFT_TISSUE, LUNG, BONE, CONSTANT_ANGLE.
* Siemens, classic names (SOMATOM Sensation/Definition operating instructions, "Body
  kernels"): a family letter (B body, C child head, H head, I/J body/head with SAFIRE or IRIS
  iterative reconstruction, D/Q dual-energy body, U ultra-high resolution), a two-digit
  sharpness index and a letter for the reconstruction speed (f, s, h, u). The manuals name
  B30/B40 the standard body kernels, B10/B20 softer, B31/B41 the same sharpness with finer
  noise, and B50 to B80 the sharper ones for spine, extremities, thorax and lung; U70u to
  U90u are for bone. syngo CT names (SOMATOM Force, Drive, Edge, go.): two letters and the
  index, e.g. Br40d (B body, H head, Q quantitative, U ultra-high resolution; second letter
  r regular, v vascular, f fine noise, c crisp, p paediatric, l lung), again higher = sharper;
  an iterative strength may follow as a second value ("Br40d\\3", "I30f\\3").
* GE (LightSpeed, Discovery, Revolution reference guides), reconstruction algorithms from
  smooth to sharp: SOFT, STANDARD, DETAIL, CHEST, LUNG, BONE, BONEPLUS, EDGE; HD STANDARD,
  HD DETAIL, HD LUNG, HD BONE, HD BONEPLUS and HD ULTRA on high-definition systems.
* Philips (Brilliance, Ingenuity, iCT, IQon filter names): A smooth, B standard, C sharp,
  D very sharp ("detail"), E extra sharp ("edge"), L lung enhanced; the Y set YA and YB smooth
  and standard, YC, YD and YE sharper; UA and UB the smooth and standard ultra-high-resolution
  filters.
* Toshiba/Canon (Aquilion reconstruction functions): FC01 to FC18 body (abdomen, mediastinum),
  FC30 to FC39 bone, FC50 to FC59 lung, FC80 to FC89 high-resolution bone.

The shared real data hold Siemens B40f and B70f, Philips B, C, D and L, GE STANDARD and
Toshiba FC07 and FC17, all classified by this table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class KernelClass(StrEnum):
    """What kind of image a reconstruction kernel makes."""

    SOFT_TISSUE = "soft_tissue"  # soft-tissue or standard body/head kernel: what the grader needs
    SHARP = "sharp"  # bone, detail or edge-enhancing; Siemens' index 50+ serve bone and lung
    LUNG = "lung"  # named for lung parenchyma: sharp and edge-enhanced
    UNKNOWN = "unknown"  # not in the table: decided by measured noise instead

    @property
    def label(self) -> str:
        """Short words for reports: "soft-tissue", "sharp", "lung", "unknown class"."""
        return _LABELS[self]


_LABELS = {
    KernelClass.SOFT_TISSUE: "soft-tissue",
    KernelClass.SHARP: "sharp",
    KernelClass.LUNG: "lung",
    KernelClass.UNKNOWN: "unknown class",
}


class Vendor(StrEnum):
    GE = "GE"
    SIEMENS = "Siemens"
    PHILIPS = "Philips"
    CANON = "Toshiba/Canon"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Kernel:
    """A series' reconstruction kernel, its class and what the class was decided from."""

    name: str  # (0018,1210) as recorded, first value only; "" when absent
    kernel_class: KernelClass
    basis: str  # e.g. "Siemens body kernel, sharpness index 40"

    @property
    def is_soft_tissue(self) -> bool:
        return self.kernel_class == KernelClass.SOFT_TISSUE

    def describe(self) -> str:
        """E.g. "B40f (soft-tissue)", "XR7 (unknown class)" or "no kernel recorded"."""
        if not self.name:
            return "no kernel recorded"
        return f"{self.name} ({self.kernel_class.label})"


def vendor_of(manufacturer: str) -> Vendor:
    """The kernel-naming vendor of a (0008,0070) Manufacturer value."""
    text = manufacturer.strip().upper()
    if "SIEMENS" in text:
        return Vendor.SIEMENS
    if "PHILIPS" in text:
        return Vendor.PHILIPS
    if "TOSHIBA" in text or "CANON" in text:
        return Vendor.CANON
    if re.match(r"GE\b", text) or "GENERAL ELECTRIC" in text:
        return Vendor.GE
    return Vendor.OTHER


_GROUPS = {
    "SOFT_TISSUE": KernelClass.SOFT_TISSUE,
    "BRAIN": KernelClass.SOFT_TISSUE,
    "LUNG": KernelClass.LUNG,
    "BONE": KernelClass.SHARP,
}

_GE = {
    "SOFT": KernelClass.SOFT_TISSUE,
    "STANDARD": KernelClass.SOFT_TISSUE,
    "HD STANDARD": KernelClass.SOFT_TISSUE,
    # DETAIL and CHEST are already sharper than STANDARD: not the soft-tissue reconstruction.
    "DETAIL": KernelClass.SHARP,
    "HD DETAIL": KernelClass.SHARP,
    "CHEST": KernelClass.SHARP,
    "BONE": KernelClass.SHARP,
    "HD BONE": KernelClass.SHARP,
    "BONEPLUS": KernelClass.SHARP,
    "HD BONEPLUS": KernelClass.SHARP,
    "EDGE": KernelClass.SHARP,
    "HD ULTRA": KernelClass.SHARP,
    "LUNG": KernelClass.LUNG,
    "HD LUNG": KernelClass.LUNG,
}

_PHILIPS = {
    "A": KernelClass.SOFT_TISSUE,
    "B": KernelClass.SOFT_TISSUE,
    "UA": KernelClass.SOFT_TISSUE,
    "UB": KernelClass.SOFT_TISSUE,
    "YA": KernelClass.SOFT_TISSUE,
    "YB": KernelClass.SOFT_TISSUE,
    "C": KernelClass.SHARP,
    "D": KernelClass.SHARP,
    "E": KernelClass.SHARP,
    "YC": KernelClass.SHARP,
    "YD": KernelClass.SHARP,
    "YE": KernelClass.SHARP,
    "L": KernelClass.LUNG,
}

SIEMENS_SOFT_MAX = 46
"""Siemens sharpness index up to which a kernel is soft tissue/standard (B10 to B46)."""
SIEMENS_SHARP_MIN = 50
"""Siemens sharpness index from which a kernel is sharp (B50 to B80). Between the two
(e.g. Bv49) the manuals give no class: UNKNOWN, decided by noise."""

_SIEMENS = re.compile(r"([A-Z])([A-Z])?(\d{2})([A-Z])?")
_SIEMENS_FAMILIES = {
    "B": "body",
    "C": "child head",
    "H": "head",
    "I": "iterative body",
    "J": "iterative head",
    "D": "dual-energy body",
    "Q": "quantitative",
    "U": "ultra-high-resolution",
}
_CANON = re.compile(r"FC(\d{2})(?:\D.*)?")
_CANON_RANGES = (
    (1, 18, KernelClass.SOFT_TISSUE, "body"),
    (30, 39, KernelClass.SHARP, "bone"),
    (50, 59, KernelClass.LUNG, "lung"),
    (80, 89, KernelClass.SHARP, "high-resolution bone"),
)


def kernel_name(value: str) -> str:
    """The kernel proper of a (0018,1210) value: its first value ("Br40d\\3" → "Br40d")."""
    return value.split("\\")[0].strip()


def classify_kernel(value: str, manufacturer: str, *, group: str = "") -> Kernel:
    """Classify a reconstruction kernel by the vendor's documented names.

    Parameters
    ----------
    value
        (0018,1210) Convolution Kernel as recorded (values joined by a backslash).
    manufacturer
        (0008,0070) Manufacturer: names mean different things at different vendors.
    group
        (0018,9316) Convolution Kernel Group when present (Enhanced CT): vendor-neutral,
        so it decides before the name.

    Returns
    -------
    Kernel
        The class is ``UNKNOWN`` for any name the vendor's table does not hold, and for
        every name when the vendor is not one of GE, Siemens, Philips, Toshiba/Canon.
    """
    name = kernel_name(value)
    group_class = _GROUPS.get(group.strip().upper())
    if group_class is not None:
        return Kernel(name or group.strip(), group_class, f"Convolution Kernel Group {group}")
    if not name:
        return Kernel("", KernelClass.UNKNOWN, "no (0018,1210) Convolution Kernel recorded")
    vendor = vendor_of(manufacturer)
    if vendor == Vendor.SIEMENS:
        return _siemens(name)
    if vendor == Vendor.GE:
        key = " ".join(name.upper().replace("+", "PLUS").split()).replace("BONE PLUS", "BONEPLUS")
        return _from_table(name, _GE.get(key), "GE")
    if vendor == Vendor.PHILIPS:
        return _from_table(name, _PHILIPS.get(name.upper()), "Philips")
    if vendor == Vendor.CANON:
        return _canon(name)
    who = manufacturer.strip() or "no manufacturer recorded"
    return Kernel(name, KernelClass.UNKNOWN, f"no kernel table for this vendor ({who})")


def _from_table(name: str, found: KernelClass | None, vendor: str) -> Kernel:
    if found is None:
        return Kernel(name, KernelClass.UNKNOWN, f"not among the documented {vendor} kernels")
    return Kernel(name, found, f"{vendor} {found.label} kernel")


def _siemens(name: str) -> Kernel:
    match = _SIEMENS.fullmatch(name.upper())
    family = _SIEMENS_FAMILIES.get(match.group(1)) if match else None
    if match is None or family is None:
        return Kernel(name, KernelClass.UNKNOWN, "not a documented Siemens kernel family")
    index = int(match.group(3))
    basis = f"Siemens {family} kernel, sharpness index {index}"
    if match.group(2) == "L":  # syngo CT "Bl": optimised for lung
        return Kernel(name, KernelClass.LUNG, f"Siemens lung kernel, sharpness index {index}")
    if index >= SIEMENS_SHARP_MIN:
        return Kernel(name, KernelClass.SHARP, basis)
    if index <= SIEMENS_SOFT_MAX and match.group(1) != "U":
        return Kernel(name, KernelClass.SOFT_TISSUE, basis)
    return Kernel(name, KernelClass.UNKNOWN, basis + " (between standard and sharp)")


def _canon(name: str) -> Kernel:
    match = _CANON.fullmatch(name.upper())
    if match is None:
        return Kernel(name, KernelClass.UNKNOWN, "not a documented Toshiba/Canon FC kernel")
    number = int(match.group(1))
    for low, high, kernel_class, what in _CANON_RANGES:
        if low <= number <= high:
            return Kernel(name, kernel_class, f"Toshiba/Canon {what} kernel")
    return Kernel(name, KernelClass.UNKNOWN, "Toshiba/Canon FC number without a documented use")
