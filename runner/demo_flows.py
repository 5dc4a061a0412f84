"""The business month's other flows in `tgw demo --units` (issue 17), drawn from the seed.

Beside the salaries and the requests `treasury_sim.budget_plan` plans, a demo month with units has:

* salary batches: the month's first business day salaries go as batch vouchers (一次批量, 003 §26,
  `PlannedVoucher.payees`); one line of the run's first batch bounces (its payee's bank sends it
  back the next business day; `bank_sim.batches`);
* payee returns (refunds): `REFUNDS` direct payments come back whole the business day after
  they were paid (`bank_sim.refunds.PayeeReturn`): the bank refunds the TSA and tells the treasury;
* a payment suspension (7501, 000 五(二)3) on the first day and its lift the next business day,
  of a payee account no voucher of the run pays (so every voucher is still paid once);
* a payment correction (支付更正通知书, 5253; 004 part 5 §3-4, 003 §39): the business day after
  one plain payment was paid, the treasury moves its whole amount to another budget subject; the
  bank reclassifies its reports and confirms (`bank_sim.corrections`); no money moves;
* an account opening on notice (7601, 004 part 3 §9(1)): a unit's real-fund account (AcctType 3)
  at a bank, the business day after the first; the bank opens it at once and confirms. Every
  voucher pays from the bank's registered zero-balance accounts (`treasury_sim.unit_accounts`,
  declared by the world), some direct payments into its fiscal special account: the banks' daily
  account feeds (7602) state those, and the treasury matches them (`treasury_sim.account_feed`).

`plan_flows` is pure (the plans and the seed in, the flows out); `send_due` hands the treasury's
7501 / 5253 / 7601 to the gateway when their time comes; `flows_summary` counts what happened.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["REFUNDS", "FlowPlan", "TreasurySend", "feed_check", "feed_summary", "flows_summary", "plan_flows",
           "send_due"]

REFUNDS = 3  # whole payments returned by their payee's bank in a run
RETURN_TIME = dt.time(10, 0)  # a payment comes back at this time the business day after it was paid
SUSPEND_TIME = dt.time(9, 10)  # the suspension order and, the next business day, its lift
NOTICE_TIME = dt.time(9, 20)  # the account opening notice
CORRECT_TIME = dt.time(9, 40)  # the correction, the business day after the payment corrected
SUSPENDED_PAYEE = "6217990000000001"  # synthetic: no voucher of the run pays it
OPENED_ACCOUNT = "9999000000009001"  # synthetic: the unit real-fund account opened


@dataclass(frozen=True, slots=True)
class TreasurySend:
    """A 7501, 5253 or 7601 the treasury sends at `at`: `kind` suspend, lift, correct or open."""

    at: dt.datetime
    kind: str
    bank: str  # the bank's code
    unit: tuple[str, str]  # (SupDepCode, AgencyCode) of the account opened; unused otherwise
    voucher_no: str = ""  # the payment corrected (correct)
    subject: tuple[str, str] = ("", "")  # the corrected subject (ExpFuncCode, ExpFuncName) (correct)


@dataclass(slots=True)
class FlowPlan:
    returns: dict[str, list[Any]] = field(default_factory=dict)  # bank code → its bank_sim.refunds.PayeeReturn
    sends: list[TreasurySend] = field(default_factory=list)  # in time order
    sent: list[str] = field(default_factory=list)  # the kinds sent so far
    corrections: int = 0  # 5253 sent (their VoucherNo's sequence)


def plan_flows(tcore: Any, run_days: Sequence[dt.date], final_day: dt.date | None, seed: int) -> FlowPlan:
    """The run's flows, from the treasury's plans (planned here, in day order) and the seed. Each
    flow has its answer the business day after its day: a run with no replenishment morning (its
    last day the calendar's, `final_day` None) is refused, calendar-out-of-range naming that day."""
    from bank_sim.refunds import PayeeReturn
    from business_time.calendar import OUT_OF_RANGE
    from business_time.clock import at
    from messages.errors import InputError
    from treasury_sim.budget import SUBJECTS

    if final_day is None:
        raise InputError(OUT_OF_RANGE, f"the month's flows (--units) want the business day after "
                         f"{run_days[-1].isoformat()}, past the calendar: end the run a business day earlier")
    rng = random.Random(f"{seed}:demo-flows")
    days = [*run_days, final_day]
    after = {d: days[i + 1] for i, d in enumerate(days[:-1])}
    out = FlowPlan()
    vouchers = [v for d in run_days for v in tcore.plan(d).vouchers]
    batches = [v for v in vouchers if v.payees]
    if batches:
        b = batches[0]
        line = f"D{rng.randint(1, b.payees):04d}"
        out.returns.setdefault(b.bank, []).append(PayeeReturn(b.voucher_no, at(after[b.day], RETURN_TIME),
                                                              "account-closed", line))
    plain = [v for v in vouchers if not v.payees and v.payee is None and v.vtcode == "5201" and not v.late]
    returned = sorted(rng.sample(plain, min(REFUNDS, len(plain))), key=lambda v: v.voucher_no)
    for k, v in enumerate(returned):
        when = at(after[v.day], RETURN_TIME) + dt.timedelta(minutes=5 * (k + 1))
        out.returns.setdefault(v.bank, []).append(PayeeReturn(v.voucher_no, when, "account-closed"))
    banks = [code for code, _ in tcore.config.banks]
    first = run_days[0]
    bank = rng.choice(banks)
    out.sends.append(TreasurySend(at(first, SUSPEND_TIME), "suspend", bank, ("", "")))
    out.sends.append(TreasurySend(at(after[first], SUSPEND_TIME), "lift", bank, ("", "")))
    unit = rng.choice(tcore.unit_tree.paying())
    out.sends.append(TreasurySend(at(after[first], NOTICE_TIME), "open", rng.choice(banks), (unit.first, unit.code)))
    kept = {v.voucher_no for v in returned}
    correctable = [v for v in vouchers if not v.payees and v.payee is None and not v.late and v.subject is not None
                   and v.voucher_no not in kept]
    if correctable:
        v = rng.choice(correctable)
        subject = rng.choice([s for s in SUBJECTS if s != v.subject])
        out.sends.append(TreasurySend(at(after[v.day], CORRECT_TIME), "correct", v.bank, ("", ""), v.voucher_no,
                                      subject))
    out.sends.sort(key=lambda s: s.at)
    return out


async def send_due(plan: FlowPlan, w: Any, now: dt.datetime) -> bool:
    """Send the treasury's 7501 / 7601 due by `now` through the gateway; whether any went."""
    from messages.dates import format_ymd
    from messages.envelope import encode_envelope

    due = [s for s in plan.sends[len(plan.sent):] if s.at <= now]
    tcore, adm = w.tcore, w.world.adm_div_code
    for s in due:
        ymd = format_ymd(s.at.date())
        if s.kind == "suspend":
            no = f"ZT{ymd}{len(tcore.suspensions.records) + 1:04d}"
            data = tcore.suspensions.order(voucher_no=no, bank=s.bank, scope=("PayeeAcctNo", SUSPENDED_PAYEE),
                                           reason="示例审计发现问题", now=now, adm_div_code=adm)
        elif s.kind == "lift":
            order = next(iter(tcore.suspensions.open_orders))
            no = f"ZT{ymd}{len(tcore.suspensions.records) + 1:04d}"
            data = tcore.suspensions.lift(voucher_no=no, order=order, reason="整改完毕", now=now)
        elif s.kind == "correct":
            plan.corrections += 1
            data = _correction(tcore.vouchers[s.voucher_no], f"GC{ymd}{plan.corrections:04d}", s.at.date(),
                               s.subject)
        else:
            no = f"ZH{ymd}{len(tcore.account_notices.records) + 1:04d}"
            data = tcore.account_notices.notice(voucher_no=no, bank=s.bank, action="open", acct_type="3",
                                                acct_no=OPENED_ACCOUNT, acct_name="示例单位实有资金账户", now=now,
                                                agency=s.unit[1], sup_dep=s.unit[0], adm_div_code=adm)
        body = w.world.sealed(data, sender=w.world.treasury.id, flag=0)
        await w.clients[w.world.treasury.id].send(encode_envelope([body]))
        plan.sent.append(s.kind)
    return bool(due)


def _correction(v: Any, no: str, day: dt.date, subject: tuple[str, str]) -> bytes:
    """The 5253 moving the whole of payment `v` (a `PlannedVoucher`), Detail by Detail, to `subject`."""
    from messages.factory import correction_notice
    from messages.money import parse_fen

    doc = v.doc
    moves = [(d.get("ExpFuncCode"), d.get("ExpFuncName"), *subject, parse_fen(d.get("PayAmt"))) for d in doc.details()]
    return correction_notice(voucher_no=no, vou_date=day, pay_bank_code=v.bank, ori_vtcode=v.vtcode,
                             ori_voucher_no=v.voucher_no, ori_vou_date=v.day, agency=(v.unit[2], v.unit[3]),
                             moves=moves, adm_div_code=v.adm_div_code, fund_type_code=v.fund_type)


def flows_summary(plan: FlowPlan, w: Any) -> dict[str, Any]:
    """What the run's flows came to, counted from the cores (the report's `flows`)."""
    from runner.sim_observe import refunds_of

    refunds = refunds_of(w.bcores)
    batches = [v for v in w.tcore.sent_vouchers() if v.payees]
    lines = [line for core in w.bcores.values() for b in core.state.batches.values() for line in b.lines.values()]
    susp = w.tcore.suspensions.records
    notices = w.tcore.account_notices
    return {
        "salary_batches": len(batches),
        "salary_batch_lines": sum(v.payees for v in batches),
        "batch_lines_bounced": sum(1 for line in lines if line.state != "paid"),
        "payee_returns": len(refunds),  # whole payments and batch lines the payee's bank returned
        "refunds_accepted": sum(1 for r in refunds if r.state == "accepted"),
        "refunded_fen": sum(r.amount_fen for r in refunds if r.state == "accepted"),
        "suspensions": sum(1 for r in susp if r.action == "order"),
        "suspension_lifts": sum(1 for r in susp if r.action == "lift"),
        "suspension_confirmations": sum(1 for r in susp if r.action == "confirmed"),
        "corrections": plan.corrections,
        "corrections_applied": sum(len(core.state.duties.corrected) for core in w.bcores.values()),
        "correction_confirmations": sum(1 for key, _ in w.tcore.state.other if key.split("/")[2] == "5253"),
        "account_openings": sum(1 for r in notices.records.values() if r.action == "open"),
        "account_confirmations": sum(1 for r in notices.records.values() if r.confirmed is not None),
        "planned": {"sends": [s.kind for s in plan.sends], "returns": sum(len(v) for v in plan.returns.values())},
    }


def feed_check(book: Any, due: Iterable[str]) -> tuple[bool, str]:
    """Whether the account feeds held: every feed `due` ("<PayBankCode>/<yyyymmdd>/<AdmDivCode>") came
    and was checked by the treasury (`book`: its `treasury_sim.account_feed.FeedBook`), and none broke."""
    due = sorted(due)
    missing = [k for k in due if k not in book.checked]
    breaks = book.breaks()
    lines = sum(book.lines.values())
    detail = (f"{len(book.checked)} daily account feeds (7602) of {len(due)} due, {lines} movements on the "
              f"registered real-fund and special accounts, {len(breaks)} breaks")
    if missing:
        detail += f"; no feed for {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else "")
    if breaks:
        detail += "; " + "; ".join(b.message() for b in breaks[:3]) + (" ..." if len(breaks) > 3 else "")
    return not missing and not breaks, detail


def feed_summary(w: Any) -> tuple[dict[str, Any], bool, str]:
    """The demo's account feeds: (the report's `account_feed`, whether they held, the detail)."""
    from bank_sim.account_feed import feed_accounts
    from messages.dates import format_ymd

    book = w.tcore.state.feeds
    days = [format_ymd(d) for d in [*w.run_days, w.final_day]]  # w.final_day known: plan_flows refused otherwise
    accounts = {core.bank_code: sorted(feed_accounts(core.state)) for core in w.bcores.values()}
    adm = w.tcore.config.adm_div_code  # the demo's one division: each bank's feed of the day to it
    due = [f"{bank}/{day}/{adm}" for bank, accts in accounts.items() if accts for day in days]
    ok, detail = feed_check(book, due)
    breaks = book.breaks()
    return ({"accounts": accounts, "feeds_due": len(due), "feeds_checked": len(book.checked),
             "movements": sum(book.lines.values()), "payments_to_feed_accounts": book.paid_count,
             "breaks": len(breaks), "break_detail": [b.message() for b in breaks]}, ok, detail)
