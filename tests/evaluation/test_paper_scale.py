"""An evaluation the size of the paper's internal test set runs end to end.

66 studies x 50 images (the paper's ~50 axial images per CT), the paper's class mix, five
readers with probabilities, 2000 bootstrap resamples per comparison. Its duration is reported
by ``pytest --durations`` (no timing is asserted: machines are shared and noisy).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mscc_desktop.core.grades import GROUP_ORDER
from mscc_desktop.evaluation import (
    ImageReading,
    Readings,
    Scheme,
    evaluate_predictions,
    report_tables,
    write_pdf,
    write_tables,
)


def test_paper_sized_evaluation(tmp_path: Path) -> None:
    rng = np.random.default_rng(2023)
    reference: list[ImageReading] = []
    readers: dict[str, list[ImageReading]] = {f"Reader {k}": [] for k in range(5)}
    for study in range(66):
        for image in range(50):
            g = int(rng.choice(3, p=[0.795, 0.113, 0.092]))
            reference.append(ImageReading(f"S{study}", str(image), GROUP_ORDER[g]))
            for number, rows in enumerate(readers.values()):
                # Readers differ in how sharply their probabilities favour the true group.
                p = rng.dirichlet(np.eye(3)[g] * (2 + 2 * number) + 1)
                group = GROUP_ORDER[int(np.argmax(p))]
                rows.append(ImageReading(f"S{study}", str(image), group, tuple(p)))
    report = evaluate_predictions(
        Readings("reference", tuple(reference)),
        [Readings(name, tuple(rows)) for name, rows in readers.items()],
    )
    assert report.n_images == 3300 and report.n_studies == 66
    assert len(report.comparisons) == 4 * 4  # first reader vs four others, four analyses
    assert all(not math.isnan(c.p_value) for c in report.comparisons)
    # Sharper probabilities agree better: AC1 rises from reader 0 to reader 4.
    ac1 = [r.agreement[Scheme.THREE_CLASS].ac1.value for r in report.readers]
    assert ac1 == sorted(ac1)
    # The bootstrap's point values are the tables' AC1s.
    first, second = report.readers[0], report.readers[1]
    three_class, *_, per_study = report.comparisons[:4]
    expected = (
        first.agreement[Scheme.THREE_CLASS].ac1.value,
        second.agreement[Scheme.THREE_CLASS].ac1.value,
        second.per_study.agreement.ac1.value,
    )
    got = (three_class.value_a, three_class.value_b, per_study.value_b)
    assert got == pytest.approx(expected, abs=1e-12)
    written = write_tables(report, tmp_path)
    written.append(write_pdf(report, tmp_path / "evaluation.pdf"))
    assert all(path.stat().st_size > 0 for path in written)
    assert [len(t.rows) for t in report_tables(report)][:6] == [5] * 6
