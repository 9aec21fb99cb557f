"""The installer recipe's helper modules live in ``installer/`` (not a package): make them
importable for the tests, as the spec and the build script do."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INSTALLER = REPO / "installer"
for folder in (INSTALLER, INSTALLER / "launcher"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
