"""Print the README's model-card tables from a model's manifest (markdown).

    python scripts/model_card_table.py [models/mscc-compact-real]

The tables are :mod:`mscc_desktop.evaluation.model_card`'s; every number comes from
``manifest.json``, nothing is recomputed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mscc_desktop.evaluation.model_card import model_table, per_patient_table, protocol_table
from mscc_desktop.inference.model_folder import load_model_folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="models/mscc-compact-real")
    args = parser.parse_args(argv)
    manifest = load_model_folder(Path(args.model))
    evaluation = dict(manifest.evaluation)
    print("\n".join(protocol_table(evaluation)))
    print()
    print("\n".join(per_patient_table(evaluation)))
    print()
    print("\n".join(model_table(evaluation)))
    print()
    print(
        f"Thresholds: high {manifest.thresholds.high:.4f}, any {manifest.thresholds.any_mscc:.4f}"
        f", canal {manifest.thresholds.canal_score:.4f}; temperature "
        f"{manifest.probability_temperature:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
