"""The treasury's side of the account registry (003 §5, §12-13, §17-18; 004 part 3 §9(1)): the
account notices it sends a bank (7601: open, change, close a zero-balance account, a unit's
real-fund account or a fiscal special account) and the bank's confirmations, with the deadline
the agreement sets: the bank carries a notice out "在收到甲方批准开设、变更和撤销预算单位零余额账户
通知的3个工作日内" (004 part 3 §9(1)). A confirmation dated after that is late: the scorecard's
and the scenarios' concern (an account opened late counts against the bank, §13(5)), never the
simulated bank's habit.

`AccountNoticeLog.notice(...)` gives the 7601 to send (`messages.factory.account_notice`) and
records it; `.confirmed(head, now)` records the bank's receipt; `.outcome(calendar, key)` says
whether it was carried out in time. A notice is its voucher's key (AdmDivCode, StYear, VtCode 7601,
VoucherNo: `notice_key`): each division's treasury numbers its notices afresh each year, so two
divisions' or years' notices of one number are two records, and a receipt confirms only the notice
of its own key. Pure: the caller gives the time and the calendar.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Literal

import msgspec

from business_time.calendar import BusinessCalendar
from messages.dates import parse_ymd
from messages.factory import account_notice
from treasury_sim.records import by_whole_key, voucher_id

__all__ = ["ACCOUNT_NOTICES_MAX", "ACCOUNT_NOTICE_DAYS", "AccountNoticeLog", "NoticeRecord", "deadline", "notice_key"]

# 004 part 3 §9(1): the bank opens, changes or closes the account within 3 working days of the notice.
ACCOUNT_NOTICE_DAYS = 3
# A unit opens or changes an account a few times in its life; 10,000 notices is far above a city's
# year. Beyond it the log refuses rather than forget a notice.
ACCOUNT_NOTICES_MAX = 10_000
ACTIONS: dict[str, str] = {"open": "1", "change": "2", "close": "3"}

Outcome = Literal["on-time", "late", "pending"]


def deadline(calendar: BusinessCalendar, sent: dt.date) -> dt.date:
    """The last day the bank may carry out a notice it received on `sent` (the 3rd working day after)."""
    return calendar.add_business_days(sent, ACCOUNT_NOTICE_DAYS)


def notice_key(adm_div_code: str, st_year: str, voucher_no: str) -> str:
    """The key a notice is logged under: "<AdmDivCode>/<StYear>/7601/<VoucherNo>"."""
    return voucher_id(adm_div_code, st_year, "7601", voucher_no)


class NoticeRecord(msgspec.Struct):
    voucher_no: str
    bank: str  # PayBankCode
    action: str  # open, change, close
    acct_type: str  # AcctType 1-4
    acct_no: str
    sent_at: dt.datetime
    confirmed: dt.date | None = None  # XConfirmDate of the bank's receipt
    confirmed_at: dt.datetime | None = None
    # the notice's division and year (its key's; a version 7 snapshot's records: set when loaded)
    adm_div_code: str = ""
    st_year: str = ""

    @property
    def key(self) -> str:
        return notice_key(self.adm_div_code, self.st_year, self.voucher_no)


class AccountNoticeLog(msgspec.Struct):
    """In the treasury core's state (`treasury_sim.state.TreasuryState`), saved with it."""

    # the notice's key (`notice_key`) → record; a version 7 (or older) snapshot's: VoucherNo → record (`keyed`)
    records: dict[str, NoticeRecord] = msgspec.field(default_factory=dict)

    def keyed(self, adm_div_code: str) -> None:
        """A version 7 (or older) snapshot's log (keyed by VoucherNo alone) keyed by the whole key
        (`by_whole_key`: its notices were division `adm_div_code`'s, of the year each was sent)."""
        self.records = by_whole_key(self.records.values(), adm_div_code)

    def notice(self, *, voucher_no: str, bank: str, action: str, acct_type: str, acct_no: str, acct_name: str,
               now: dt.datetime, agency: str = "", sup_dep: str = "", old_acct_no: str = "", approve_no: str = "", file_no: str = "",
               adm_div_code: str = "990100") -> bytes:
        """A 7601 to send, recorded. `action`: open, change or close."""
        key = notice_key(adm_div_code, str(now.date().year), voucher_no)
        if key in self.records:
            raise ValueError(f"account notice {key} was sent before")
        if len(self.records) >= ACCOUNT_NOTICES_MAX:
            raise OverflowError(f"the account notice log holds {ACCOUNT_NOTICES_MAX} notices already")
        data = account_notice(voucher_no=voucher_no, vou_date=now.date(), pay_bank_code=bank,
                              action=ACTIONS[action], acct_type=acct_type, acct_no=acct_no, acct_name=acct_name,
                              agency=agency, sup_dep=sup_dep, old_acct_no=old_acct_no, approve_no=approve_no, file_no=file_no,
                              adm_div_code=adm_div_code)
        self.records[key] = NoticeRecord(voucher_no, bank, action, acct_type, acct_no, now,
                                         adm_div_code=adm_div_code, st_year=str(now.date().year))
        return data

    def confirmed(self, head: Mapping[str, str], now: dt.datetime) -> None:
        """The bank's receipt of a 7601 (XConfirmDate: the day it carried the notice out) confirms the
        notice of its key (AdmDivCode, StYear, VoucherNo), never another division's or year's. The first counts."""
        record = self.records.get(notice_key(head.get("AdmDivCode", ""), head.get("StYear", ""),
                                             head.get("VoucherNo", "")))
        day = parse_ymd(head.get("XConfirmDate", ""))
        if record is not None and record.confirmed is None and day is not None:
            record.confirmed, record.confirmed_at = day, now

    def outcome(self, calendar: BusinessCalendar, key: str) -> tuple[Outcome, dt.date]:
        """(on-time | late | pending, the deadline) of the notice sent under `key` (`notice_key`)."""
        r = self.records[key]
        due = deadline(calendar, r.sent_at.date())
        if r.confirmed is None:
            return "pending", due
        return ("on-time" if r.confirmed <= due else "late"), due
