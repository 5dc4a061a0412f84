"""The treasury restores quota for money that came back (003 §36 "退回资金清算后"), never for more
than its bank paid: a refund notice (2203 / 7105) naming a payment the treasury never saw paid
by that bank, or for more than the receipt paid, restores nothing and raises an alarm
(`refund-unmatched`, `refund-exceeds-payment`). Generated against an oracle: restored exactly
when the payment was paid, by the notice's bank, for at least the notice's amount. The cap is
cumulative: a payment's notices together restore no more than it paid, the same notice delivered
again restores nothing, and the running totals survive a snapshot (in the sim database, SQLite and
PostgreSQL); a version 4 snapshot (before the totals) loads with none."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from messages.money import fen_to_str
from messages.voucher import fill_receipt, parse_voucher
from sim.effects import Alarm, Effect, SendVoucher, WakeAt
from sim.store import SimStore
from storage.db import Database
from treasury_sim.core import TreasuryConfig, TreasuryCore
from treasury_sim.state import SNAPSHOT_VERSION

CALENDAR, CC = BusinessCalendar.default(), ClockConfig()
DAY = dt.date(2026, 3, 16)
OTHER_BANK = "999100000777"


def at(hhmm: str) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time.fromisoformat(hhmm), tzinfo=TZ)


CONFIG = TreasuryConfig(vouchers_per_day=4, days=1, first_day=DAY)


def morning_payments(core: TreasuryCore) -> list[SendVoucher]:
    """The payment vouchers (5201, 8202) the treasury sends from 08:00 to 12:00 of DAY, in order."""
    now, sends = at("08:00"), []
    while now <= at("12:00"):
        effects = core.on_time(now)
        sends += [e for e in effects if isinstance(e, SendVoucher) and e.vtcode in ("5201", "8202")]
        wakes = [e.at for e in effects if isinstance(e, WakeAt)]
        if not wakes:
            break
        now = wakes[-1]
    return sends


def paid_core() -> tuple[TreasuryCore, SendVoucher, SendVoucher]:
    """A treasury whose first payment was paid (its receipt back) and whose second was returned unpaid."""
    core, paid, returned, _ = paid_twice_core()
    return core, paid, returned


def paid_twice_core() -> tuple[TreasuryCore, SendVoucher, SendVoucher, SendVoucher]:
    """`paid_core`, and the third payment paid too."""
    core = TreasuryCore(CONFIG, CALENDAR, CC)
    paid, returned, third = morning_payments(core)[:3]
    for serial, send in (("B1", paid), ("B3", third)):
        doc = parse_voucher(send.render())
        receipt = fill_receipt(doc, {"XPayDate": "20260316", "XPayAmt": doc.get("PayAmt"), "XAgentBusinessNo": serial})
        assert core.on_voucher(parse_voucher(receipt), 1, at("12:01")) == []
    doc = parse_voucher(returned.render())
    receipt = fill_receipt(doc, {"XPayDate": "20260316", "XPayAmt": "0.00", "XAgentBusinessNo": "B2",
                                 "XReturnReason": "payee-account-closed: 已销户"})
    core.on_voucher(parse_voucher(receipt), 1, at("12:01"), "payee-account-closed: 已销户")
    return core, paid, returned, third


def notice(no: str, original: SendVoucher, fen: int, bank: str) -> bytes:
    h = parse_voucher(original.render()).head()
    head = {"AdmDivCode": h["AdmDivCode"], "StYear": "2026", "VoucherNo": no, "VouDate": "20260316",
            "OriVoucherNo": h["VoucherNo"], "OriVouDate": h["VouDate"], "AgencyCode": h["AgencyCode"],
            "PayBankCode": bank, "PayAmt": fen_to_str(fen)}
    return SendVoucher("2203" if original.vtcode == "5201" else "7105", 0, head, (), "treasury").render()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.sampled_from(("paid", "returned", "other-bank")), delta=st.sampled_from((-1, 0, 1, 10_000)))
def test_restored_only_for_what_the_bank_paid(which: str, delta: int) -> None:
    core, paid, returned = paid_core()
    original = returned if which == "returned" else paid
    doc = parse_voucher(original.render())
    amount = doc.amount_fen("PayAmt")
    fen = max(1, amount + delta)
    bank = OTHER_BANK if which == "other-bank" else doc.get("PayBankCode")
    effects = core.on_voucher(parse_voucher(notice("TK0001", original, fen, bank)), 0, at("14:00"))
    inbox = core.bank_inbox
    ok = which == "paid" and fen <= amount
    assert inbox.refunded_fen == inbox.restored_fen == (fen if ok else 0), (which, delta, effects)
    alarms = [e.code for e in effects if isinstance(e, Alarm)]
    if ok:
        assert alarms == []
    else:
        assert alarms == ["refund-unmatched" if which != "paid" else "refund-exceeds-payment"], alarms


def bank_of(send: SendVoucher) -> str:
    return parse_voucher(send.render()).get("PayBankCode")


def alarms_of(effects: list[Effect]) -> list[str]:
    return [e.code for e in effects if isinstance(e, Alarm)]


# A step: a new notice for payment 0 or 1 of `share` (a fraction of what it paid, or one fen more than
# all of it), the `n`-th notice sent so far delivered again, or the treasury saved and loaded.
STEP = st.one_of(
    st.tuples(st.just("notice"), st.integers(0, 1),
              st.sampled_from(("1fen", "quarter", "third", "half", "all-but-1", "all", "all+1"))),
    st.tuples(st.just("again"), st.integers(0, 20), st.just("")),
    st.tuples(st.just("reload"), st.just(0), st.just("")))


def share_fen(share: str, paid: int) -> int:
    return {"1fen": 1, "quarter": max(1, paid // 4), "third": max(1, paid // 3), "half": max(1, paid // 2),
            "all-but-1": max(1, paid - 1), "all": paid, "all+1": paid + 1}[share]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=1, max_size=12))
def test_a_payment_s_refund_notices_together_restore_no_more_than_it_paid(
        steps: list[tuple[str, int, str]]) -> None:
    core, first, _, third = paid_twice_core()
    payments = [first, third]
    paid = [parse_voucher(p.render()).amount_fen("PayAmt") for p in payments]
    nos = [core.vouchers[p.head["VoucherNo"]].id for p in payments]  # the payments' keys
    # the oracle: a running total per payment; a notice restores only while the total stays within
    # what the payment paid, and a notice once restored is nothing when it comes again
    total, restored_notices = [0, 0], set()
    sent: list[tuple[str, int, int, bytes]] = []  # (notice VoucherNo, payment, fen, bytes)
    for i, (kind, n, share) in enumerate(steps):
        now = at("14:00") + dt.timedelta(minutes=i)
        if kind == "reload":
            core = TreasuryCore.restore(core.snapshot(), CONFIG, CALENDAR, CC)
            continue
        if kind == "again" and not sent:
            continue
        if kind == "again":
            notice_no, which, fen, data = sent[n % len(sent)]
        else:
            which, fen = n, share_fen(share, paid[n])
            notice_no = f"TK{len(sent):04d}"
            data = notice(notice_no, payments[which], fen, bank_of(payments[which]))
            sent.append((notice_no, which, fen, data))
        if notice_no in restored_notices:
            expected: list[str] = []
        elif total[which] + fen <= paid[which]:
            total[which] += fen
            restored_notices.add(notice_no)
            expected = []
        else:
            expected = ["refund-exceeds-payment"]
        alarms = alarms_of(core.on_voucher(parse_voucher(data), 0, now))
        assert alarms == expected, (i, kind, which, fen, total, paid)
        assert core.bank_inbox.restored_fen == core.bank_inbox.refunded_fen == sum(total), (i, total)
    assert core.state.refunded == {nos[w]: total[w] for w in (0, 1) if total[w]}


def test_a_version_4_snapshot_loads_with_no_refunded_totals() -> None:
    """Version 4 kept no running totals: it loads with none (its refunds already restored stay restored;
    the payments they named are capped from here on as if unrefunded), and is written as this version."""
    core, paid, _ = paid_core()
    fen = parse_voucher(paid.render()).amount_fen("PayAmt")
    assert alarms_of(core.on_voucher(parse_voucher(notice("TK0001", paid, 1, bank_of(paid))), 0,
                                     at("14:00"))) == []
    old = json.loads(core.snapshot())
    assert old["version"] == SNAPSHOT_VERSION and old["refunded"] == {core.vouchers[paid.head["VoucherNo"]].id: 1}
    del old["refunded"]
    old["version"] = 4
    restored = TreasuryCore.restore(json.dumps(old).encode(), CONFIG, CALENDAR, CC)
    assert restored.state.refunded == {} and restored.bank_inbox.restored_fen == 1
    assert json.loads(restored.snapshot())["version"] == SNAPSHOT_VERSION
    # from here the cap counts again: the whole payment may come back once more, not one fen beyond
    again = notice("TK0002", paid, fen, bank_of(paid))
    assert alarms_of(restored.on_voucher(parse_voucher(again), 0, at("14:01"))) == []
    over = notice("TK0003", paid, 1, bank_of(paid))
    assert alarms_of(restored.on_voucher(parse_voucher(over), 0, at("14:02"))) == ["refund-exceeds-payment"]


async def test_the_refunded_totals_survive_the_sim_database(db: Database) -> None:
    """The treasury's snapshot in the sim database (SQLite and PostgreSQL): version 5 with its totals,
    and a version 4 one, load; the totals go on capping after the restart."""
    core, paid, _ = paid_core()
    fen = parse_voucher(paid.render()).amount_fen("PayAmt")
    bank = bank_of(paid)
    assert alarms_of(core.on_voucher(parse_voucher(notice("TK0001", paid, fen - 1, bank)), 0, at("14:00"))) == []
    old = json.loads(core.snapshot())
    del old["refunded"]
    old["version"] = 4
    for participant, snapshot, refunded in (("treasury", core.snapshot(), {core.vouchers[paid.head["VoucherNo"]].id: fen - 1}),
                                            ("treasury-v4", json.dumps(old).encode(), {})):
        store = SimStore(db, participant)
        await store.open()
        await store.create(snapshot)
        loaded = await store.load()
        assert loaded is not None
        restored = TreasuryCore.restore(loaded.snapshot, CONFIG, CALENDAR, CC)
        assert restored.state.refunded == refunded
        over = parse_voucher(notice("TK0002", paid, 2, bank))
        assert alarms_of(restored.on_voucher(over, 0, at("14:01"))) == (["refund-exceeds-payment"] if refunded else [])
