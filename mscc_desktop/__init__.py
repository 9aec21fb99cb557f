"""mscc-desktop: an offline workstation that flags metastatic spinal cord compression on CT.

Not for clinical use: the shipped models are trained on synthetic phantoms only.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mscc-desktop")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
