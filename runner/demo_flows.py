"""The business month's other flows in `tgw demo --units` (issue 17), drawn from the seed.

Beside the salaries and the requests `treasury_sim.budget_plan` plans, a demo month with units has:

* salary batches: the month's first business day salaries go as batch vouchers (一次批量, 003 §26,
  `PlannedVoucher.payees`); one line of the run's first batch bounces (its payee's bank sends it
  back the next business day; `bank_sim.batches`);
* payee returns (refunds): `REFUNDS` direct payments come back whole the business day after
  they were paid (`bank_sim.refunds.PayeeReturn`): the bank refunds the TSA and tells the treasury;
* a payment suspension (7501, 000 五(二)3) on the first day and its lift the next business day,
  of a payee account no voucher of the run pays (so every voucher is still paid once);
* an account opening on notice (7601, 004 part 3 §9(1)): a unit's zero-balance account at a bank,
  on the replenishment day after the last (no voucher is paid then: the first notice puts the
  bank's account registry in force, and the demo's vouchers name paying accounts the registry
  never declared); the bank confirms it.

`plan_flows` is pure (the plans and the seed in, the flows out); `send_due` hands the treasury's
7501 / 7601 to the gateway when their time comes; `flows_summary` counts what happened.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["REFUNDS", "FlowPlan", "TreasurySend", "flows_summary", "plan_flows", "send_due"]

REFUNDS = 3  # whole payments returned by their payee's bank in a run
RETURN_TIME = dt.time(10, 0)  # a payment comes back at this time the business day after it was paid
SUSPEND_TIME = dt.time(9, 10)  # the suspension order and, the next business day, its lift
NOTICE_TIME = dt.time(9, 20)  # the account opening notice
SUSPENDED_PAYEE = "6217990000000001"  # synthetic: no voucher of the run pays it
OPENED_ACCOUNT = "9999000000009001"  # synthetic: the unit zero-balance account opened


@dataclass(frozen=True, slots=True)
class TreasurySend:
    """A 7501 or 7601 the treasury sends at `at`: `kind` suspend, lift or open."""

    at: dt.datetime
    kind: str
    bank: str  # the bank's code
    unit: tuple[str, str]  # (SupDepCode, AgencyCode) of the account opened; unused otherwise


@dataclass(slots=True)
class FlowPlan:
    returns: dict[str, list[Any]] = field(default_factory=dict)  # bank code → its bank_sim.refunds.PayeeReturn
    sends: list[TreasurySend] = field(default_factory=list)  # in time order
    sent: list[str] = field(default_factory=list)  # the kinds sent so far


def plan_flows(tcore: Any, run_days: Sequence[dt.date], final_day: dt.date, seed: int) -> FlowPlan:
    """The run's flows, from the treasury's plans (planned here, in day order) and the seed."""
    from bank_sim.refunds import PayeeReturn
    from business_time.clock import at

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
    plain = [v for v in vouchers if not v.payees and v.vtcode == "5201" and not v.late]
    for k, v in enumerate(sorted(rng.sample(plain, min(REFUNDS, len(plain))), key=lambda v: v.voucher_no)):
        when = at(after[v.day], RETURN_TIME) + dt.timedelta(minutes=5 * (k + 1))
        out.returns.setdefault(v.bank, []).append(PayeeReturn(v.voucher_no, when, "account-closed"))
    banks = [code for code, _ in tcore.config.banks]
    first = run_days[0]
    bank = rng.choice(banks)
    out.sends.append(TreasurySend(at(first, SUSPEND_TIME), "suspend", bank, ("", "")))
    out.sends.append(TreasurySend(at(after[first], SUSPEND_TIME), "lift", bank, ("", "")))
    unit = rng.choice(tcore.unit_tree.paying())
    # on the replenishment day, when no voucher is paid: the first notice puts a bank's account
    # registry in force (bank_sim.registry), and the demo's vouchers pay from accounts it never declared
    out.sends.append(TreasurySend(at(final_day, NOTICE_TIME), "open", rng.choice(banks), (unit.first, unit.code)))
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
            data = tcore.suspensions.lift(voucher_no=no, order_no=order, reason="整改完毕", now=now, adm_div_code=adm)
        else:
            no = f"ZH{ymd}{len(tcore.account_notices.records) + 1:04d}"
            data = tcore.account_notices.notice(voucher_no=no, bank=s.bank, action="open", acct_type="2",
                                                acct_no=OPENED_ACCOUNT, acct_name="示例单位零余额账户", now=now,
                                                agency=s.unit[1], sup_dep=s.unit[0], adm_div_code=adm)
        body = w.world.sealed(data, sender=w.world.treasury.id, flag=0)
        await w.clients[w.world.treasury.id].send(encode_envelope([body]))
        plan.sent.append(s.kind)
    return bool(due)


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
        "account_openings": sum(1 for r in notices.records.values() if r.action == "open"),
        "account_confirmations": sum(1 for r in notices.records.values() if r.confirmed is not None),
        "planned": {"sends": [s.kind for s in plan.sends], "returns": sum(len(v) for v in plan.returns.values())},
    }
