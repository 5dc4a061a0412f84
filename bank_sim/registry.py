"""The bank's account registry: the accounts of the treasury single account system it opened,
changed and closed on the treasury's notice (7601; 003 §5, §12-13, §17-18; 004 part 3 §9(1),
§12(1)(一)), and the check a payment voucher's paying account passes before it is paid.

| AcctType | account                                   | rule                                                   |
|----------|-------------------------------------------|--------------------------------------------------------|
| 1        | finance zero-balance account (财政零余额账户) | one per bank (003 §12): pays direct payments (5201)    |
| 2        | a unit's zero-balance account (预算单位零余额账户) | one per unit (003 §13), AgencyCode: pays its 8202s  |
| 3        | a unit's real-fund account (实有资金账户)      | AgencyCode; the own-account rule's data (003 §15)      |
| 4        | a fiscal special account (财政专户)           | opened / changed with ApproveNo, closed with FileNo (003 §18) |

AcctAction 1 opens the account AcctNo, 2 changes it (its name; with OldAcctNo, the new AcctNo
replaces the old one, which closes: 新旧账户), 3 closes it. The bank carries a notice out
`account_open_days` working days after it arrived (0: at once; the agreement allows 3, 004 part 3
§9(1): the deadline is the treasury's to check, `treasury_sim.account_notices`), at its opening,
and confirms it then (receipt, XConfirmDate the day it did). A notice it cannot apply is refused
whole (`account-notice-invalid`: no receipt, an alarm, nothing changed); a redelivery is confirmed
again with the same date.

**Paying.** Once the registry is in force (the world declared the bank's accounts, or a notice
arrived), a payment voucher's PayAcctNo must be an open zero-balance account of the registry:
the finance one for a 5201, the unit's (AgencyCode) for an 8202. Else the voucher is returned
unpaid: `account-closed` when the registry closed it, `account-not-opened` otherwise (never
notified, or notified and not carried out yet). A bank whose registry is not in force pays as
before (it opens a unit's zero-balance account in its ledger at the first payment).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping

from bank_sim import own_accounts as oa
from bank_sim.state import BankState, Ctx, PendingNotice, RegAccount, Registry
from business_time.calendar import OUT_OF_RANGE, if_known
from messages.dates import format_ymd
from messages.envelope import VoucherKey
from messages.errors import InputError
from messages.voucher import VoucherDoc, parse_voucher
from sim.effects import Alarm, Effect, SendVoucher

__all__ = ["ACCOUNT_NOTICE_VTCODE", "ACCT_TYPES", "account_notice", "carry_out_due", "declared", "held", "pay_account_problem",
           "relations"]

ACCOUNT_NOTICE_VTCODE = "7601"
ACCT_TYPES: dict[str, str] = {"1": "finance zero-balance account", "2": "unit zero-balance account",
                              "3": "unit real-fund account", "4": "fiscal special account"}
ZBA_TYPE = {"5201": "1", "8202": "2"}  # the paying account's AcctType by the payment's VtCode


def declared(accounts: tuple[tuple[str, str, str, str], ...]) -> Registry:
    """The registry a bank starts with: the accounts its world declared ((AcctNo, AcctType,
    AcctName, AgencyCode), `BankConfig.registry_accounts`), open; in force when any."""
    return Registry(in_force=bool(accounts),
                    accounts={no: RegAccount(no, kind, name, agency) for no, kind, name, agency in accounts})


def account_notice(ctx: Ctx, st: BankState, doc: VoucherDoc, key: VoucherKey, now: dt.datetime) -> list[Effect]:
    """A 7601: checked at once; carried out now (`account_open_days` 0) or at the opening of the
    `account_open_days`-th working day after, when its receipt goes."""
    reg = st.registry
    no = doc.get("VoucherNo")
    if no in reg.notices:  # redelivered: confirmed again, the same day
        return [_receipt(doc, reg.notices[no])]
    if any(p.voucher_no == no for p in reg.pending):
        return []  # carried out (and confirmed) when due
    refused = _refusal(ctx, reg, doc.head())
    if refused is not None:
        return [Alarm("account-notice-invalid", f"account notice {no} refused: {refused}", str(key))]
    days = ctx.config.account_open_days
    due = if_known(lambda: ctx.calendar.add_business_days(now.date(), days)) if days else now.date()
    if isinstance(due, InputError):  # due past the calendar: refused as a bad notice is, nothing changed
        return [Alarm(OUT_OF_RANGE, f"account notice {no} refused: it is carried out {days} working "
                      f"day(s) after {now.date().isoformat()}, past the calendar: {due.issues[0].message}", str(key))]
    reg.in_force = True
    if days == 0:
        return _carry_out(reg, doc, now.date())
    reg.pending.append(PendingNotice(no, str(key), due, doc.data))
    if doc.get("AcctAction") == "1":
        reg.notified.add(doc.get("AcctNo"))
    return []


def carry_out_due(ctx: Ctx, st: BankState, when: dt.datetime) -> list[Effect]:
    """The opening: carry out the notices due today (in arrival order) and confirm them."""
    reg = st.registry
    due = [p for p in reg.pending if p.due <= when.date()]
    if not due:
        return []
    reg.pending = [p for p in reg.pending if p.due > when.date()]
    effects: list[Effect] = []
    for p in due:
        doc = parse_voucher(p.raw)
        refused = _refusal(ctx, reg, doc.head())  # an earlier notice may have changed the account since
        if refused is not None:
            effects.append(Alarm("account-notice-invalid", f"account notice {p.voucher_no} refused: {refused}",
                                 p.key))
            continue
        effects += _carry_out(reg, doc, when.date())
    return effects


def _refusal(ctx: Ctx, reg: Registry, head: dict[str, str]) -> str | None:
    action, kind, no = head.get("AcctAction", ""), head.get("AcctType", ""), head.get("AcctNo", "")
    known = reg.accounts.get(no)
    old = head.get("OldAcctNo", "")
    if head.get("PayBankCode") != ctx.bank_code:
        return f"PayBankCode {head.get('PayBankCode')} is not bank {ctx.bank_code}"
    if kind not in ACCT_TYPES or action not in ("1", "2", "3"):
        return f"AcctType {kind!r} / AcctAction {action!r} (types 1-4, actions 1 open, 2 change, 3 close)"
    if kind in ("2", "3") and not head.get("AgencyCode"):
        return f"AcctType {kind} ({ACCT_TYPES[kind]}) names no AgencyCode"
    if kind == "4" and action in ("1", "2") and not head.get("ApproveNo"):
        return "a fiscal special account is opened or changed only with the Ministry's approval (ApproveNo, 003 §18)"
    if kind == "4" and action == "3" and not head.get("FileNo"):
        return "a fiscal special account's closure is filed (FileNo, 003 §18)"
    if action == "1" and known is not None and known.state == "open":
        return f"AcctNo {no} is open already"
    if action == "1" and kind == "1" and any(a.acct_type == "1" and a.state == "open" for a in reg.accounts.values()):
        return "the bank holds an open finance zero-balance account already (one per bank, 003 §12)"
    if action == "1" and kind == "2" and any(a.acct_type == "2" and a.state == "open"
                                             and a.agency == head.get("AgencyCode") for a in reg.accounts.values()):
        return f"unit {head.get('AgencyCode')} holds an open zero-balance account already (one per unit, 003 §13)"
    if action == "2" and old:
        was = reg.accounts.get(old)
        if was is None or was.state != "open":
            return f"OldAcctNo {old} is not an open account"
        if known is not None and known.state == "open":
            return f"AcctNo {no} is open already"
    elif action in ("2", "3") and (known is None or known.state != "open"):
        return f"AcctNo {no} is not an open account"
    return None


def _carry_out(reg: Registry, doc: VoucherDoc, day: dt.date) -> list[Effect]:
    h = doc.head()
    action, no, old = h["AcctAction"], h["AcctNo"], h.get("OldAcctNo", "")
    if action == "3":
        acct = reg.accounts[no]
        acct.state, acct.closed, acct.file_no = "closed", day, h.get("FileNo", "")
    elif action == "2" and not old:
        acct = reg.accounts[no]
        acct.name, acct.approve_no = h["AcctName"], h.get("ApproveNo", acct.approve_no)
    else:
        if old:
            was = reg.accounts[old]
            was.state, was.closed = "closed", day
        reg.accounts[no] = RegAccount(no, h["AcctType"], h["AcctName"], h.get("AgencyCode", ""), "open", day,
                                      replaces=old, approve_no=h.get("ApproveNo", ""), sup_dep=h.get("SupDepCode", ""))
    reg.notified.discard(no)
    reg.notices[h["VoucherNo"]] = day
    return [_receipt(doc, day)]


def _receipt(doc: VoucherDoc, day: dt.date) -> SendVoucher:
    head = {**doc.head(), "XConfirmDate": format_ymd(day)}
    return SendVoucher(doc.vtcode, 1, head, (), "treasury", original=doc.data, encoding=doc.encoding)


def pay_account_problem(reg: Registry, vtcode: str, head: dict[str, str]) -> str | None:
    """Why a payment voucher's paying account cannot pay ("<code>: <message>"), or None."""
    if not reg.in_force or vtcode not in ZBA_TYPE:
        return None
    no, kind = head.get("PayAcctNo", ""), ZBA_TYPE[vtcode]
    acct = reg.accounts.get(no)
    if acct is not None and acct.state == "closed":
        when = f" on {format_ymd(acct.closed)}" if acct.closed is not None else ""
        return f"account-closed: PayAcctNo {no} was closed{when} on the treasury's notice"
    if acct is None or acct.acct_type != kind or (kind == "2" and acct.agency != head.get("AgencyCode")):
        pending = " (notified, not opened yet)" if no in reg.notified else ""
        whose = "the finance" if kind == "1" else f"unit {head.get('AgencyCode')}'s"
        return f"account-not-opened: PayAcctNo {no} is not {whose} open zero-balance account{pending}"
    return None


class _Held(Mapping[str, str]):
    """`held`'s view: a lookup reads the registry, never a copy of it (a registry holding every
    unit's zero-balance account was copied for every payment)."""

    __slots__ = ("_payees", "_reg")

    def __init__(self, reg: Registry, payees: Mapping[str, str]) -> None:
        self._reg, self._payees = reg, payees

    def __getitem__(self, number: str) -> str:
        acct = self._reg.accounts.get(number)
        if acct is not None and acct.state == "open":
            return acct.name
        return self._payees[number]

    def _all(self) -> dict[str, str]:
        return {**self._payees, **{a.number: a.name for a in self._reg.accounts.values() if a.state == "open"}}

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def held(reg: Registry, payees: Mapping[str, str]) -> Mapping[str, str]:
    """The accounts the bank holds (number → holder): its customers' and the registry's open ones
    (the registry's first)."""
    return _Held(reg, payees)


def relations(reg: Registry, base: oa.UnitRelations) -> oa.UnitRelations:
    """The own-account rule's data with the registry's unit real-fund accounts (AcctType 3) added
    (open or closed: an old account counts as the unit's, 004 part 3 §12(1)); a unit the tree does
    not know hangs under the notice's SupDepCode (a first-level unit)."""
    real = [a for a in reg.accounts.values() if a.acct_type == "3"]  # one pass over every unit's accounts
    extra = {a.number: a.agency for a in real if a.agency}
    if not extra:
        return base
    replaces = {a.number: a.replaces for a in real if a.replaces}
    ups: dict[str, str | None] = {}
    for a in real:
        if a.agency not in base.superiors and a.sup_dep and a.sup_dep != a.agency:
            ups[a.agency] = a.sup_dep
            ups.setdefault(a.sup_dep, base.superiors.get(a.sup_dep))
    return oa.UnitRelations({**base.superiors, **ups}, {**base.owners, **extra}, {**base.replaces, **replaces},
                            base.approved)
