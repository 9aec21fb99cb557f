from __future__ import annotations

import pytest

from mscc_desktop.core.dicom_text import date_text, person_name_text, sex_text, time_text


@pytest.mark.parametrize(
    ("pn", "shown"),
    [
        ("DOE^JANE^^DR", "DOE, JANE DR"),
        ("ANON", "ANON"),
        ("^JANE", "JANE"),
        ("Yamada^Tarou=山田^太郎=やまだ^たろう", "Yamada, Tarou"),
        ("", ""),
    ],
)
def test_person_names_read_family_first(pn: str, shown: str) -> None:
    assert person_name_text(pn) == shown


def test_dates_times_and_sex() -> None:
    assert date_text("20240131") == "2024-01-31"
    assert date_text("2024") == "2024"  # not a full date: shown as recorded
    assert time_text("134502.25") == "13:45"
    assert time_text("x") == "x"
    assert sex_text("f") == "female" and sex_text("") == "" and sex_text("U") == "U"
