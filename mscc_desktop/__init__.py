"""mscc-desktop: an offline workstation that flags metastatic spinal cord compression on CT.

Not for clinical use: the shipped model has never seen a real patient with epidural disease
(synthetic phantoms, and disease-free real CT with disease inserted by software).
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

# The app never touches the network. ONNX Runtime's PyPI builds otherwise queue telemetry
# (executable path, OS, CPU) in ~/.cache/Microsoft and look up Microsoft's event host a few
# seconds after the first session; only this variable, set before onnxruntime is imported,
# stops it (disable_telemetry_events() after import does not). See docs/RELIABILITY.md.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

try:
    __version__ = version("mscc-desktop")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
