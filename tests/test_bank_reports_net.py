"""Issue 16 rule 8 (004 part 3 §10(3), part 5 §2): the bank's reports are by basic unit, fund
type, subject and project, and net of refunds; before, the project was not a line of them and
refunds were not taken off."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from bank_sim import reports as rp
from messages.money import parse_fen

DAY = dt.date(2026, 3, 31)
BANK = ("999100000001", "示例银行")


def _l(agency: str, pro: str, subject: str = "2050203") -> rp.Line:
    return ("11", "1", "一般公共预算资金", "101", "示例市教育局", agency, "单位" + agency, subject, "初中教育",
            pro, ("项目" + pro) if pro else "")


def test_the_daily_report_has_one_detail_per_unit_subject_and_project() -> None:
    lines = {_l("101001", "P1"): 100_00, _l("101001", "P2"): 50_00, _l("101001", ""): 7_00}
    head, details = rp.daily_report("RB1", DAY, DAY, "990100", BANK, lines)
    assert [(d["AgencyCode"], d.get("ProCode"), d["PayAmt"]) for d in details] == [
        ("101001", None, "7.00"), ("101001", "P1", "100.00"), ("101001", "P2", "50.00")]
    assert details[1]["ProName"] == "项目P1" and head["PayAmt"] == "157.00"


def test_statement_and_monthly_report_keep_the_project() -> None:
    lines = {_l("101001", "P1"): 100_00, _l("101002", "P1"): 20_00}
    _, monthly = rp.monthly_report("YB1", "202603", DAY, "990100", BANK, lines)
    _, statement = rp.monthly_statement("DZ1", "202603", DAY, "990100", BANK, lines)
    assert [(d["SupDepCode"], d["AgencyCode"], d["ProCode"], d["PayAmt"]) for d in monthly] == [
        ("101", "101001", "P1", "100.00"), ("101", "101002", "P1", "20.00")]
    assert [(d["AgencyCode"], d["ProCode"]) for d in statement] == [("101001", "P1"), ("101002", "P1")]


def test_a_refund_only_day_reports_a_negative_line() -> None:
    head, details = rp.daily_report("RB2", DAY, DAY, "990100", BANK, {_l("101001", "P1"): -300_00})
    assert head["PayAmt"] == "-300.00" and details[0]["PayAmt"] == "-300.00"


@given(st.dictionaries(st.tuples(st.sampled_from(["101001", "101002"]), st.sampled_from(["", "P1", "P2"]),
                                 st.sampled_from(["2050203", "2100201"])),
                       st.integers(-10**9, 10**9), min_size=1, max_size=12))
def test_the_details_add_up_to_the_head(raw: dict[tuple[str, str, str], int]) -> None:
    lines = {_l(a, p, s): fen for (a, p, s), fen in raw.items()}
    for build in (rp.daily_report, rp.monthly_report, rp.monthly_statement):
        head, details = build("X1", DAY if build is rp.daily_report else "202603", DAY, "990100", BANK, lines)  # type: ignore[operator]
        assert sum(parse_fen(d["PayAmt"], allow_negative=True) for d in details) == parse_fen(head["PayAmt"], allow_negative=True) == sum(raw.values())
