"""Readings (one grade per image) and their alignment with the reference standard.

A *reader* is anyone or anything that grades images: a radiologist, a report, the model. The
reference standard is a reader too. :func:`align` matches every reader's images to the
reference's by (study, image id), drops the reference's degenerative-flagged images unless
asked not to (the paper excluded degenerative canal narrowing), and turns the result into
arrays the statistics work on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mscc_desktop.core.errors import EvaluationInputError
from mscc_desktop.core.grades import GROUP_ORDER, GradeGroup

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

ImageKey = tuple[str, str]  # (study, image id)
_MAX_EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class ImageReading:
    """One reader's grade of one image.

    ``probabilities`` are (P(normal), P(low), P(high)) in :data:`GROUP_ORDER`, when the reader
    gives them. ``degenerative`` marks degenerative canal narrowing; only the reference's flag
    is used.
    """

    study: str
    image_id: str
    group: GradeGroup
    probabilities: tuple[float, float, float] | None = None
    degenerative: bool = False

    @property
    def key(self) -> ImageKey:
        return (self.study, self.image_id)


@dataclass(frozen=True, slots=True)
class Readings:
    """All of one reader's readings. ``source`` names the file or folder, for messages."""

    name: str
    images: tuple[ImageReading, ...]
    source: str = ""

    @property
    def has_probabilities(self) -> bool:
        return bool(self.images) and all(r.probabilities is not None for r in self.images)

    @property
    def described(self) -> str:
        return f"{self.name!r} ({self.source})" if self.source else repr(self.name)


@dataclass(frozen=True, slots=True, eq=False)
class AlignedReader:
    """A reader's grades in the evaluation order. ``probabilities`` is (n, 3) or None."""

    name: str
    codes: IntArray  # positions in GROUP_ORDER
    probabilities: FloatArray | None


@dataclass(frozen=True, slots=True, eq=False)
class AlignedSet:
    """The reference and every reader on the same images, in the same order.

    Images are sorted by study then image id; ``study_index[i]`` is image i's position in
    ``study_ids``.
    """

    reference_name: str
    image_keys: tuple[ImageKey, ...]
    study_ids: tuple[str, ...]
    study_index: IntArray
    reference: IntArray
    readers: tuple[AlignedReader, ...]
    n_excluded_degenerative: int
    include_degenerative: bool

    @property
    def n_images(self) -> int:
        return len(self.image_keys)

    @property
    def n_studies(self) -> int:
        return len(self.study_ids)

    def reader(self, name: str) -> AlignedReader:
        for reader in self.readers:
            if reader.name == name:
                return reader
        names = ", ".join(r.name for r in self.readers)
        raise EvaluationInputError(f"no reader named {name!r}; the readers are: {names}")


def _examples(keys: Sequence[ImageKey]) -> str:
    shown = ", ".join(f"study {s!r} image {i!r}" for s, i in sorted(keys)[:_MAX_EXAMPLES])
    more = len(keys) - _MAX_EXAMPLES
    return shown + (f" and {more} more" if more > 0 else "")


def check_unique(readings: Readings) -> None:
    """Raise :class:`EvaluationInputError` when an image appears more than once."""
    counts = Counter(r.key for r in readings.images)
    duplicated = [key for key, count in counts.items() if count > 1]
    if duplicated:
        raise EvaluationInputError(
            f"{readings.described} grades {len(duplicated)} image(s) more than once "
            f"(e.g. {_examples(duplicated)}): give each image exactly one row."
        )


def _mismatch_message(
    reader: Readings, reference: Readings, missing: list[ImageKey], extra: list[ImageKey]
) -> str:
    parts = [f"reader {reader.described} does not match the reference {reference.described}:"]
    if missing:
        parts.append(
            f"{len(missing)} reference image(s) have no reading (e.g. {_examples(missing)});"
        )
    if extra:
        parts.append(
            f"{len(extra)} of its image(s) are not in the reference (e.g. {_examples(extra)});"
        )
    if missing and extra and {i for _, i in missing} == {i for _, i in extra}:
        parts.append("the image ids agree but their study ids differ: check the study column;")
    parts.append("every reader must grade the same images, with the same study and image ids.")
    return " ".join(parts)


def align(
    reference: Readings,
    readers: Sequence[Readings],
    *,
    include_degenerative: bool = False,
) -> AlignedSet:
    """Match readers to the reference image by image.

    Parameters
    ----------
    reference
        The reference standard's readings.
    readers
        One or more readers; names must be distinct. A reader may grade images the reference
        excluded as degenerative (they are dropped), but no others beyond the reference's.
    include_degenerative
        Keep the reference's degenerative-flagged images (excluded by default, as in the paper).

    Raises
    ------
    EvaluationInputError
        Duplicated images, readers that do not grade the same images as the reference, duplicate
        reader names, or nothing left to evaluate.
    """
    if not readers:
        raise EvaluationInputError("no reader to evaluate: give at least one reader")
    names = [r.name for r in readers]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise EvaluationInputError(
            f"reader names must be distinct; repeated: {', '.join(repeated)}"
        )
    check_unique(reference)
    excluded = {r.key for r in reference.images if r.degenerative and not include_degenerative}
    kept = sorted((r for r in reference.images if r.key not in excluded), key=lambda r: r.key)
    if not kept:
        raise EvaluationInputError(
            f"the reference {reference.described} has no image left to evaluate"
            + (f" ({len(excluded)} excluded as degenerative)" if excluded else "")
        )
    keys = [r.key for r in kept]
    key_set = set(keys)
    study_ids = tuple(sorted({study for study, _ in keys}))
    study_pos = {study: i for i, study in enumerate(study_ids)}

    aligned: list[AlignedReader] = []
    for reader in readers:
        check_unique(reader)
        by_key = {r.key: r for r in reader.images if r.key not in excluded}
        missing = [k for k in keys if k not in by_key]
        extra = [k for k in by_key if k not in key_set]
        if missing or extra:
            raise EvaluationInputError(_mismatch_message(reader, reference, missing, extra))
        rows = [by_key[k] for k in keys]
        codes = np.array([r.group.position for r in rows], dtype=np.int64)
        probabilities = None
        if all(r.probabilities is not None for r in rows):
            probabilities = np.array([r.probabilities for r in rows], dtype=np.float64)
        aligned.append(AlignedReader(reader.name, codes, probabilities))

    return AlignedSet(
        reference_name=reference.name,
        image_keys=tuple(keys),
        study_ids=study_ids,
        study_index=np.array([study_pos[s] for s, _ in keys], dtype=np.int64),
        reference=np.array([r.group.position for r in kept], dtype=np.int64),
        readers=tuple(aligned),
        n_excluded_degenerative=len(excluded),
        include_degenerative=include_degenerative,
    )


def group_counts(codes: IntArray) -> dict[GradeGroup, int]:
    """How many images fall in each group, in :data:`GROUP_ORDER`."""
    counts = np.bincount(np.asarray(codes, dtype=np.int64), minlength=len(GROUP_ORDER))
    return {group: int(counts[group.position]) for group in GROUP_ORDER}
