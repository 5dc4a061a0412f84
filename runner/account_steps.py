"""Scenario step `account:` and the world's declared accounts (the account registry, 003 §5,
§12-13, §17-18; 004 part 3 §9(1); docs/accounts.md): the treasury sends a bank a 7601 to open,
change or close an account, recorded in its log (`treasury_sim.account_notices.AccountNoticeLog`);
the bank's confirmations arrive as 7601 receipts. A payment voucher of the steps that sets no
PayAcctNo gets the paying zero-balance account the registry names for its bank (and unit), as
the treasury's system would fill it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from messages.dates import format_ymd, parse_ymd
from runner.observed import Observed
from runner.scenario_file import AccountSpec, Scenario, SendSpec, Step
from treasury_sim.account_notices import AccountNoticeLog, deadline

__all__ = ["account_send", "declared_for", "declared_notices", "notice_outcome", "pay_account"]


class _World(Protocol):
    def bank(self, bank_id: str) -> Any: ...

    @property
    def units(self) -> Sequence[Any]: ...


def account_send(log: AccountNoticeLog, step: Step, world: _World, adm_div_code: str,
                 now: dt.datetime) -> tuple[SendSpec, bytes, int]:
    """The 7601 (flag 0) of an account step, recorded in `log`, to hand to the runner's delivery."""
    o = step.order
    a: AccountSpec = o["account"]
    voucher_no = f"ZH{format_ymd(now.date())}{len(log.records) + 1:04d}"
    data = log.notice(voucher_no=voucher_no, bank=world.bank(a.bank).code, action=o["action"], acct_type=a.acct_type,
                      acct_no=a.number, acct_name=a.name, now=now, agency=a.unit,
                      sup_dep=next((u.sup_dep for u in world.units if u.agency == a.unit), "") if a.unit else "",
                      old_acct_no=o["replaces"],
                      approve_no=a.approval, file_no=o["filing"], adm_div_code=adm_div_code)
    return SendSpec(o["id"], "treasury", None, bank=a.bank, line=step.line), data, 0


def declared_for(s: Scenario, bank: str) -> tuple[tuple[str, str, str, str], ...]:
    """The accounts the world declares at `bank`, as `BankConfig.registry_accounts` takes them."""
    return tuple((a.number, a.acct_type, a.name, a.unit) for a in s.world.accounts if a.bank == bank)


def pay_account(s: Scenario, steps: Sequence[Step], bank: str, vtcode: str, unit: str, now: dt.datetime) -> str | None:
    """The zero-balance account a payment of `unit` at `bank` is paid from, as the registry stands
    by the treasury's notices up to `now` (the last opened): the finance one for a 5201, the unit's
    for an 8202; None when the registry names none (the voucher keeps its own)."""
    kind = "1" if vtcode == "5201" else "2"

    def fits(a: AccountSpec) -> bool:
        return a.bank == bank and a.acct_type == kind and (kind == "1" or a.unit == unit)

    found = next((a.number for a in s.world.accounts if fits(a)), None)
    for step in steps:
        if step.action != "account" or step.at > now:
            continue
        a = step.order["account"]
        if fits(a) and step.order["action"] in ("open", "change"):
            found = a.number
    return found


def notice_outcome(p: Mapping[str, Any], o: Observed) -> tuple[bool, str, str]:
    """An `account_notice` expectation: (ok, expected, actual). The deadline is the agreement's
    (`treasury_sim.account_notices.deadline`: 3 working days after the notice reached the bank). The
    confirmations are the 7601 receipts of the notice's key (AdmDivCode, StYear, VoucherNo): a
    receipt of another division's or year's notice of the number is not its."""
    from business_time.calendar import BusinessCalendar

    v = o.by_id(p["notice"])
    if v is None:
        return False, f"account notice {p['notice']} sent", "it was never sent"
    due = deadline(BusinessCalendar.default(), v.sent_at.date())
    late, done = bool(p.get("late", False)), bool(p.get("done", True))
    expected = ("no confirmation" if not done else
                f"confirmed after {due:%Y-%m-%d} (late)" if late else f"confirmed by {due:%Y-%m-%d}")
    adm, year = v.key.split("/")[:2]  # a confirmation is of the notice's key: another division's or year's
    confirmations = [r for r in o.receipts if r.vtcode == "7601" and r.voucher_no == v.voucher_no
                     and r.adm in ("", adm) and r.year in ("", year) and r.return_reason is None]
    days = [d for d in (parse_ymd(r.fields.get("XConfirmDate", "")) for r in confirmations) if d is not None]
    if not days:
        return not done, expected, "no confirmation arrived"
    day = min(days)
    actual = f"confirmed: XConfirmDate {day:%Y-%m-%d}, deadline {due:%Y-%m-%d}"
    return done and (day > due) == late, expected, actual


def declared_notices(s: Scenario, bank: str) -> list[Step]:
    """Account steps at the world's start opening the accounts the world declares at `bank`: how a
    bank the runner does not build (conformance mode's system under test) learns them, by notice."""
    return [Step(s.world.start, "account", order={"id": f"world-account-{i}", "action": "open", "account": a,
                                                  "replaces": "", "filing": ""})
            for i, a in enumerate((a for a in s.world.accounts if a.bank == bank), start=1)]
