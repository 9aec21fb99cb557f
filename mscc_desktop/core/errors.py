"""One error hierarchy for everything the user can be told about.

Messages name the file (or object), the problem and what to do about it. Per-file scan
problems are collected as :class:`SkippedFile` records rather than raised; only input that
cannot be used at all raises.
"""

from __future__ import annotations


class MsccError(Exception):
    """Base of every error mscc-desktop reports to a user.

    Parameters
    ----------
    message
        A sentence a radiologist can act on: what, where, and what to do.
    details
        Optional technical details (shown on request, never containing patient data).
    """

    def __init__(self, message: str, *, details: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class DicomReadError(MsccError):
    """A DICOM file or its pixel data cannot be read or decoded."""


class UnusableSeriesError(MsccError):
    """A series cannot be turned into a volume or analysed (not CT, no geometry, ...)."""


class NothingToLoadError(MsccError):
    """A folder holds no DICOM image that can be loaded."""


class ModelIntegrityError(MsccError):
    """A model folder is missing files, has a bad manifest, or fails its checksums."""


class BackendUnavailableError(MsccError):
    """The requested inference backend cannot run on this machine."""


class StoreError(MsccError):
    """The local results store cannot be opened, migrated or written."""


class ExportError(MsccError):
    """A report or image export cannot be written."""


class EvaluationInputError(MsccError):
    """Reference or reader files for an evaluation do not match or cannot be parsed."""


class NetworkError(MsccError):
    """A DICOM network peer cannot be reached, refuses us, or the settings for it are wrong."""


class Cancelled(Exception):  # noqa: N818 - reads as an event, like StopIteration
    """Raised by :meth:`CancelToken.raise_if_cancelled` when the user cancelled.

    Deliberately not an :class:`MsccError`: a cancellation is not a failure and is never
    shown as an error.
    """
