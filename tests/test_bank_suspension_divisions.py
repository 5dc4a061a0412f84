"""Payment suspension orders (7501, 000 五(二)3) of two divisions at one bank (the simulated one,
`bank_sim`). Each division's treasury numbers its own vouchers, each year afresh, so two divisions'
orders (or two years') may share an OrderNo: an order is known by its whole key, AdmDivCode, StYear
(as its 7501 carries it) and OrderNo, and suspends its own division's payments only. Before, orders
were kept by OrderNo alone: one division's lift ended the other's order, the second order of a
number was taken for the first (or refused as a number reused for another scope), and an order
suspended every division's payments of its scope."""

from __future__ import annotations

import datetime as dt
import itertools

import msgspec
from hypothesis import given, settings

from bank_sim import suspensions as susp
from bank_sim.core import BankConfig, BankCore
from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from messages.factory import UNITS, payment_voucher, suspension_order
from messages.voucher import VoucherDoc, parse_voucher
from sim.effects import Alarm, Effect, SendVoucher
from sim.store import SimStore
from storage.db import Database
from tests.suspension_oracle import AGENCY, HOME, OPS, OTHER, Op, Oracle

BANK = "999100000001"
DAY = dt.date(2026, 3, 16)
UNIT = UNITS[0]  # both divisions have a unit of this AgencyCode (codes are each treasury's own)
_seq = itertools.count(1)


def at(hhmm: str, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.fromisoformat(hhmm), tzinfo=TZ)


def config() -> BankConfig:
    return BankConfig(adm_div_code=HOME, divisions=(OTHER,))


def core() -> BankCore:
    c = BankCore(BANK, config(), BusinessCalendar.default(), ClockConfig())
    c.on_time(at("08:00"))
    return c


def order(adm: str, no: str, scope: tuple[str, str], *, lift: bool = False, year: int = 2026) -> VoucherDoc:
    """Division `adm`'s 7501 (its StYear `year`), ordering a suspension of `scope` or lifting it."""
    return parse_voucher(suspension_order(voucher_no=f"ZT{next(_seq):08d}", vou_date=dt.date(year, 3, 16),
                                          pay_bank_code=BANK, order_no=no, scope=scope, reason="示例审计整改",
                                          lift=lift, adm_div_code=adm))


def send(bank: BankCore, doc: VoucherDoc, when: dt.datetime) -> list[Effect]:
    return bank.on_voucher(doc, 0, when)


def confirmed(effects: list[Effect]) -> bool:
    """The 7501 was confirmed (its receipt sent), not refused (an alarm, nothing sent)."""
    sent = [e for e in effects if isinstance(e, SendVoucher) and e.vtcode == "7501" and e.flag == 1]
    alarms = [e.code for e in effects if isinstance(e, Alarm)]
    assert bool(sent) != bool(alarms), (sent, alarms)
    return bool(sent)


def verdict(bank: BankCore, adm: str, when: dt.datetime, unit: tuple[str, str, str, str] = UNIT) -> str | None:
    """The Return_Reason of division `adm`'s new 5201 of `unit` (None: paid)."""
    doc = parse_voucher(payment_voucher(voucher_no=f"ZZ{next(_seq):08d}", vou_date=DAY, pay_bank_code=BANK,
                                        amount_fen=120_00, unit=unit, adm_div_code=adm))
    (answer,) = [e for e in send(bank, doc, when) if isinstance(e, SendVoucher) and e.vtcode == "5201"]
    return answer.return_reason


def suspended(bank: BankCore, adm: str, when: dt.datetime, unit: tuple[str, str, str, str] = UNIT) -> bool:
    reason = verdict(bank, adm, when, unit)
    return reason is not None and reason.startswith("payment-suspended")




def test_one_division_s_lift_leaves_the_other_division_s_order_of_that_number_in_force() -> None:
    bank = core()
    assert confirmed(send(bank, order(HOME, "ZT-1", AGENCY), at("09:00")))
    assert confirmed(send(bank, order(OTHER, "ZT-1", AGENCY), at("09:01")))  # its own order, not a redelivery
    assert suspended(bank, HOME, at("09:10")) and suspended(bank, OTHER, at("09:11"))
    assert confirmed(send(bank, order(HOME, "ZT-1", AGENCY, lift=True), at("10:00")))
    assert not suspended(bank, HOME, at("10:10"))
    assert suspended(bank, OTHER, at("10:11"))  # OTHER's order stands: its lift has not come
    assert confirmed(send(bank, order(OTHER, "ZT-1", AGENCY, lift=True), at("10:20")))
    assert not suspended(bank, OTHER, at("10:30"))
    assert bank.suspensions == {} and sorted(bank.lifted_suspensions) == [f"{HOME}/2026/ZT-1", f"{OTHER}/2026/ZT-1"]


def test_a_second_division_s_order_of_a_number_seen_for_another_scope_is_its_own_order() -> None:
    payee = ("PayeeAcctNo", "99990000000001234")
    bank = core()
    assert confirmed(send(bank, order(HOME, "ZT-2", payee), at("09:00")))
    assert confirmed(send(bank, order(OTHER, "ZT-2", AGENCY), at("09:01")))  # was refused: "reused for another scope"
    assert suspended(bank, OTHER, at("09:10")) and not suspended(bank, HOME, at("09:11"))
    assert {k: (o.element, o.value) for k, o in bank.suspensions.items()} == {
        f"{HOME}/2026/ZT-2": payee, f"{OTHER}/2026/ZT-2": AGENCY}


def test_an_order_suspends_its_own_division_s_payments_only() -> None:
    bank = core()
    assert confirmed(send(bank, order(OTHER, "ZT-3", AGENCY), at("09:00")))
    assert verdict(bank, HOME, at("09:10")) is None  # HOME's unit of that code: not under OTHER's order
    reason = verdict(bank, OTHER, at("09:11"))
    assert reason is not None and reason.startswith(f"payment-suspended: order ZT-3 of division {OTHER}")


def test_a_lift_of_another_division_s_order_is_refused_whole() -> None:
    bank = core()
    assert confirmed(send(bank, order(HOME, "ZT-4", AGENCY), at("09:00")))
    assert not confirmed(send(bank, order(OTHER, "ZT-4", AGENCY, lift=True), at("09:30")))
    assert suspended(bank, HOME, at("09:40")) and list(bank.suspensions) == [f"{HOME}/2026/ZT-4"]


def test_a_lift_sent_the_next_year_ends_last_year_s_order_and_a_redelivery_is_confirmed() -> None:
    """The treasury may lift an order in a later year than it issued it: the lift's StYear is its
    own year's, and it ends the latest earlier year's standing order of its division, number and scope."""
    bank = core()
    assert confirmed(send(bank, order(HOME, "ZT-5", AGENCY), at("09:00")))
    assert confirmed(send(bank, order(HOME, "ZT-5", AGENCY, lift=True, year=2027), at("09:30")))
    assert not suspended(bank, HOME, at("09:40")) and bank.suspensions == {}
    assert confirmed(send(bank, order(HOME, "ZT-5", AGENCY, lift=True, year=2027), at("09:50")))  # redelivered
    assert not confirmed(send(bank, order(HOME, "ZT-5", AGENCY), at("10:00")))  # lifted: a new order, a new number


def test_orders_of_one_number_and_two_years_stand_apart() -> None:
    payee = ("PayeeAcctNo", "99990000000001234")
    bank = core()
    assert confirmed(send(bank, order(HOME, "ZT-6", payee, year=2025), at("09:00")))
    assert confirmed(send(bank, order(HOME, "ZT-6", AGENCY, year=2026), at("09:01")))
    assert confirmed(send(bank, order(HOME, "ZT-6", AGENCY, lift=True, year=2026), at("09:30")))
    assert list(bank.suspensions) == [f"{HOME}/2025/ZT-6"]


# ---- the property: suspended iff an order of its own division covering it is in force ----------

@settings(max_examples=60, deadline=None)
@given(ops=OPS)
def test_a_payment_is_suspended_iff_an_order_of_its_own_division_covering_it_is_in_force(ops: list[Op]) -> None:
    """Oracle (`tests.suspension_oracle`, from docs/rules.md): orders and lifts of two divisions, two
    years and two numbers, in any order, each confirmed iff the rules let the bank apply it (a lift
    may come in a later year than its order); a payment of a division is returned
    `payment-suspended` iff an order of that division naming its unit stands."""
    bank, oracle = core(), Oracle()
    for i, (what, adm, year, no, scope) in enumerate(ops):
        when = at("09:00") + dt.timedelta(minutes=i)
        if what == "pay":
            assert suspended(bank, adm, when) == oracle.suspended(adm), (i, oracle)
        else:
            expect = oracle.apply(what, adm, year, no, scope)
            assert confirmed(send(bank, order(adm, no, scope, lift=what == "lift", year=year), when)) == expect, i


# ---- snapshots: version 9 kept orders by OrderNo alone -----------------------------------------

def _version_9() -> tuple[BankCore, bytes]:
    """A bank holding an order and a lifted one, and its snapshot as version 9 wrote it (by OrderNo)."""
    bank = core()
    assert confirmed(send(bank, order(HOME, "ZT-7", AGENCY), at("09:00")))
    assert confirmed(send(bank, order(HOME, "ZT-8", AGENCY), at("09:01")))
    assert confirmed(send(bank, order(HOME, "ZT-8", AGENCY, lift=True), at("09:02")))
    state = msgspec.json.decode(bank.snapshot())
    state["version"] = 9
    state["suspensions"] = {o["order_no"]: {k: v for k, v in o.items() if k not in ("adm_div_code", "st_year")}
                            for o in state["suspensions"].values()}
    state["lifted_suspensions"] = ["ZT-8"]
    return bank, msgspec.json.encode(state)


def _restored(data: bytes) -> BankCore:
    return BankCore.restore(data, BANK, config(), BusinessCalendar.default(), ClockConfig())


def test_a_version_9_snapshot_loads_its_orders_as_the_configured_division_s() -> None:
    bank, old = _version_9()
    again = _restored(old)
    assert again.suspensions == bank.suspensions == {f"{HOME}/2026/ZT-7": susp.Order(
        "ZT-7", "AgencyCode", UNIT[2], "示例审计整改", HOME, "2026")}
    assert again.lifted_suspensions == [f"{HOME}/2026/ZT-8"]
    assert msgspec.json.decode(again.snapshot())["version"] == susp_version()
    assert suspended(again, HOME, at("10:00")) and not suspended(again, OTHER, at("10:01"))
    assert confirmed(send(again, order(HOME, "ZT-8", AGENCY, lift=True), at("10:02")))  # a redelivery
    assert confirmed(send(again, order(HOME, "ZT-7", AGENCY, lift=True), at("10:03")))
    assert not suspended(again, HOME, at("10:04"))


async def test_a_version_9_snapshot_stored_in_the_database_loads_as_this_version(db: Database) -> None:
    """The same through the simulator's store, on SQLite and PostgreSQL: the bytes as stored."""
    bank, old = _version_9()
    store = SimStore(db, "bank-a")
    await store.open()
    await store.create(old)
    loaded = await SimStore(db, "bank-a").load()
    assert loaded is not None
    again = _restored(loaded.snapshot)
    assert again.suspensions == bank.suspensions and again.lifted_suspensions == bank.lifted_suspensions
    assert msgspec.json.decode(again.snapshot())["version"] == susp_version()


def susp_version() -> int:
    from bank_sim.state import SNAPSHOT_VERSION

    return SNAPSHOT_VERSION
