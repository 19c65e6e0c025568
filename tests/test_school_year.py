"""The school year's pure rules: what each class becomes, and checking a typed promotion."""

from __future__ import annotations

import pytest

from webapp.school_year import LEAVERS_GROUP, check_promotion, next_group


@pytest.mark.parametrize(
    ("now", "next_year"),
    [
        ("Year 7", "Year 8"),
        ("Year 12", "Year 13"),
        ("Year 13", LEAVERS_GROUP),
        ("9B", "10B"),
        ("Y10 Blue", "Y11 Blue"),
        ("Staff", "Staff"),
        ("Leavers", "Leavers"),
    ],
)
def test_each_class_moves_up_a_year_and_the_oldest_leave(now, next_year):
    assert next_group(now) == next_year


def test_a_promotion_keeps_only_real_renames_and_refuses_overlong_names():
    mapping, errors = check_promotion(
        ["Year 7", "Year 8", "Staff", "Year 9"],
        {"Year 7": "Year 8", "Year 8": " Year 9 ", "Staff": "", "Year 9": "x" * 101},
    )
    assert mapping == {"Year 7": "Year 8", "Year 8": "Year 9"}
    assert list(errors) == ["Year 9"]
