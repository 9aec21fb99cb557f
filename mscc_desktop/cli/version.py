"""``mscc-desktop --version``: software version plus the installed model and its checksum."""

from __future__ import annotations

from mscc_desktop import __version__


def version_text() -> str:
    lines = [f"mscc-desktop {__version__}"]
    try:
        from mscc_desktop.inference.models import describe_default_model
    except ImportError:  # the model layer is not built yet in this tree
        lines.append("model: none installed")
    else:
        lines.append(describe_default_model())
    return "\n".join(lines)
