"""Pace and duration conversions at the edges."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sub3coach.errors import Sub3Error
from sub3coach.units import format_duration, format_pace, parse_pace


@given(st.integers(min_value=120, max_value=1199))
def test_pace_round_trip(s_per_km: int) -> None:
    assert parse_pace(format_pace(s_per_km)) == s_per_km


@pytest.mark.parametrize("bad", ["", "4", "4:60", "abc", "1:59", "25:00", "4:15:00"])
def test_bad_paces_are_one_line_errors(bad: str) -> None:
    with pytest.raises(Sub3Error, match="pace"):
        parse_pace(bad)


def test_formats() -> None:
    assert parse_pace("4:15/km") == 255.0
    assert format_pace(None) == "-" and format_pace(299.6) == "5:00/km"
    assert format_duration(3725.4) == "1:02:05" and format_duration(None) == "-"
