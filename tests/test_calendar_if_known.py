"""One helper for "unless the calendar does not know the day" (`business_time.calendar.if_known`).

Before, five places (`business_time.clock.or_calendar_end`, `bank_sim.outgoing`, `bank_sim.payments`,
`bank_sim.registry`, `pboc_sim.config`, and the gateway's monitor) each caught `InputError` and raised
it again unless its code was calendar-out-of-range. Now they ask `if_known`; what each does past the
calendar is tested where it is (tests/test_calendar_last_days.py and its neighbours).
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from business_time.calendar import OUT_OF_RANGE, BusinessCalendar, if_known
from messages.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
CAL = BusinessCalendar.default()


def test_the_answer_when_known_the_refusal_when_not_any_other_raised() -> None:
    first, last = CAL.known_range
    assert if_known(lambda: CAL.next_business_day(first)) == CAL.next_business_day(first)
    refused = if_known(lambda: CAL.next_business_day(last))
    assert isinstance(refused, InputError) and refused.code == OUT_OF_RANGE == "calendar-out-of-range"
    assert str(last.year + 1) in refused.issues[0].message or last.isoformat() in refused.issues[0].message

    def other() -> int:
        raise InputError("bad-date", "synthetic: not a date")

    with pytest.raises(InputError) as caught:
        if_known(other)
    assert caught.value.code == "bad-date"
    with pytest.raises(ZeroDivisionError):
        if_known(lambda: 1 // 0)


_AROUND = st.integers(-40, 40).flatmap(lambda n: st.sampled_from(CAL.known_range).map(
    lambda edge: edge + dt.timedelta(days=n)))


@given(day=_AROUND, days=st.integers(0, 30))
def test_if_known_is_the_call_or_its_calendar_out_of_range_refusal(day: dt.date, days: int) -> None:
    """Oracle: the question asked directly, around both ends of the calendar."""
    try:
        want: object = CAL.add_business_days(day, days)
    except InputError as exc:
        assert exc.code == OUT_OF_RANGE
        want = None
    got = if_known(lambda: CAL.add_business_days(day, days))
    if want is None:
        assert isinstance(got, InputError) and got.code == OUT_OF_RANGE
    else:
        assert got == want


def _code_compared_to_out_of_range(path: Path) -> list[int]:
    """Lines of `path` comparing something's `.code` with "calendar-out-of-range"."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(isinstance(x, ast.Attribute) and x.attr == "code" for x in sides) and any(
                    isinstance(x, ast.Constant) and x.value == OUT_OF_RANGE for x in sides):
                lines.append(node.lineno)
    return lines


def test_no_module_but_the_helper_tells_calendar_out_of_range_from_other_refusals() -> None:
    found = {}
    for folder in ("business_time", "bank_sim", "pboc_sim", "treasury_sim", "sim", "gateway", "runner", "tgw"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path != ROOT / "business_time" / "calendar.py" and (lines := _code_compared_to_out_of_range(path)):
                found[str(path.relative_to(ROOT))] = lines
    assert found == {}
