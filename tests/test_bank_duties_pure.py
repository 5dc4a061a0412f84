"""The agent bank's pure rule modules: authorized quotas, returns before payment, clearing
re-filing and advances (bank_sim.quotas / returns / clearing / advances)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from bank_sim import quotas
from bank_sim.clearing import refile_action, sweep_instant
from bank_sim.returns import ReturnFacts, check_return
from business_time.clock import TZ, ClockConfig
from messages.money import fen_to_str
from sim.codec import decode, encode

CC = ClockConfig()

ADM = "990100"  # messages.factory.ADM_DIV_CODE: the configured division


def _book(fen: int) -> dict[quotas.LineKey, quotas.QuotaLine]:
    book: dict[quotas.LineKey, quotas.QuotaLine] = {}
    assert quotas.grant(book, "ED1", [((ADM, "2026", "1", "101001", "2140104", "P1"), ("u", "s", "p"), fen)]) is None
    return book


def _detail(fen: int, project: str = "") -> dict[str, str]:
    return {"AgencyCode": "101001", "ExpFuncCode": "2140104", "ProCode": project, "PayAmt": fen_to_str(fen)}


def test_the_issue_case_600_then_400_01_against_1000() -> None:
    book = _book(1000_00)
    first = quotas.draw(book, "101001", [_detail(600_00)], "2026", "1", ADM)
    assert isinstance(first, dict)
    quotas.spend(book, first)
    second = quotas.draw(book, "101001", [_detail(400_01)], "2026", "1", ADM)
    assert isinstance(second, quotas.Shortfall) and second.code == "over-unit-quota"
    assert quotas.remaining_by_unit(book)["101001"] == {"granted": 1000_00, "spent": 600_00, "remaining": 400_00}


def test_no_line_is_no_unit_quota_and_a_repeated_line_refuses_the_notice() -> None:
    book = _book(10_00)
    miss = quotas.draw(book, "101001", [{**_detail(1_00), "ExpFuncCode": "2050203"}], "2026", "1", ADM)
    assert isinstance(miss, quotas.Shortfall) and miss.code == "no-unit-quota"
    line = ((ADM, "2026", "1", "1", "2", "3"), ("a", "b", "c"), 5)
    assert quotas.grant(book, "ED2", [line, line]) is not None


@given(grants=st.lists(st.integers(1, 10**9), min_size=1, max_size=4),
       wants=st.lists(st.integers(1, 10**9), min_size=1, max_size=20))
def test_never_spends_beyond_the_granted_quota(grants: list[int], wants: list[int]) -> None:
    book = quotas.QuotaBook()  # the bank core's book: a mapping kept under text keys
    for i, fen in enumerate(grants):
        quotas.grant(book, f"ED{i}", [((ADM, "2026", "1", "101001", "2140104", f"P{i}"), ("u", "s", "p"), fen)])
    paid = 0
    for want in wants:
        taken = quotas.draw(book, "101001", [_detail(want)], "2026", "1", ADM)
        if isinstance(taken, dict):
            assert sum(taken.values()) == want
            quotas.spend(book, taken)
            paid += want
        else:
            assert want > sum(line.remaining_fen for line in book.values())
    assert paid == sum(line.spent_fen for line in book.values()) <= sum(grants)
    assert all(line.remaining_fen >= 0 for line in book.values())
    assert decode(encode(book), quotas.QuotaBook) == book  # saved and restored by the library


def _facts(**head: str) -> ReturnFacts:
    base = {"PayeeAcctNo": "9999000000000001", "PayeeAcctName": "测试供应商有限公司", "PayeeAcctBankName": "x",
            "PayeeAcctBankNo": "999100000001", "AgencyCode": "101001", "AgencyName": "示例市第一中学",
            "SupDepCode": "101", "FundTypeCode": "1"}
    return ReturnFacts("999100000001", "8202", {**base, **head}, [{"ExpFuncCode": "2140104"}],
                       {"9999000000000001": "测试供应商有限公司"})


def test_return_rules() -> None:
    assert check_return(_facts()) is None
    assert check_return(_facts(PayeeAcctName=" "))[0] == "voucher-incomplete"  # type: ignore[index]
    assert check_return(_facts(PayeeAcctNo="9999000000000099"))[0] == "payee-account-unknown"  # type: ignore[index]
    assert check_return(_facts(PayeeAcctName="别的公司"))[0] == "payee-name-mismatch"  # type: ignore[index]
    own = _facts(PayeeAcctBankNo="999100000002", PayeeAcctNo="9999000000000101", PayeeAcctName="示例市第一中学")
    assert check_return(own)[0] == "zba-to-own-account"  # type: ignore[index]
    # the account decides, not the name (tests/test_bank_own_accounts.py has the rule in full)
    assert check_return(_facts(PayeeAcctBankNo="999100000002", PayeeAcctName="示例市第一中学",
                               PayeeAcctNo="9999000000000401")) is None
    assert check_return(_facts(PayeeAcctBankNo="999100000002", PayeeAcctNo="1234567")) is None  # not ours to know


def test_refile_actions_only_a_missed_cutoff_is_the_reserves() -> None:
    # 004 part 3 第四条: the reserve is for payments past the clearing time; a quota refusal is held
    sweep = sweep_instant(dt.date(2026, 3, 10), CC)
    assert sweep == dt.datetime(2026, 3, 10, 15, 59, 59, 999999, tzinfo=TZ)
    assert refile_action("after-cutoff") == "cover"
    for code in ("over-quota", "no-quota-notice", "insufficient-funds", "amount-mismatch", "unknown-code"):
        assert refile_action(code) == "hold"
