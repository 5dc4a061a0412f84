"""The treasury core's own logs of the 7601 account notices (`treasury_sim.account_notices`) and the
7501 suspension orders (`treasury_sim.suspensions`) key a voucher by its whole key (AdmDivCode,
StYear, VtCode, VoucherNo), as everything else does: each division's treasury numbers its vouchers
afresh each year, so two divisions' or years' vouchers of one number are two records, and a bank's
receipt confirms the one of its own key. Treasury snapshot version 8 (and later); a version 7 snapshot (keyed
by VoucherNo alone) loads as the configured division's, each record of the year it was sent, on
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from sim.store import SimStore
from storage.db import Database
from treasury_sim.account_notices import AccountNoticeLog, notice_key
from treasury_sim.core import TreasuryConfig, TreasuryCore
from treasury_sim.state import SNAPSHOT_VERSION
from treasury_sim.suspensions import SuspensionLog, order_key

BANK = "999100000001"
HOME, OTHER = "990100", "990200"
CAL, CC = BusinessCalendar.default(), ClockConfig()
# a working day of each year (the notice's StYear is its VouDate's: the day it is sent)
DAYS = {"2025": dt.date(2025, 12, 29), "2026": dt.date(2026, 1, 5)}


def at(year: str, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(DAYS[year], dt.time(hour), tzinfo=TZ)


def _notice(log: AccountNoticeLog, adm: str, year: str, no: str, acct: str = "9999000000005001") -> None:
    log.notice(voucher_no=no, bank=BANK, action="open", acct_type="2", acct_no=acct, acct_name="零余额",
               agency="101001", now=at(year), adm_div_code=adm)


def _receipt(adm: str, year: str, no: str, day: dt.date, **more: str) -> dict[str, str]:
    return {"AdmDivCode": adm, "StYear": year, "VoucherNo": no, "XConfirmDate": f"{day:%Y%m%d}",
            "PayBankCode": BANK, **more}


# --- account notices (7601) -------------------------------------------------------------------------

def test_two_years_notices_of_one_number_are_two_records_each_confirmed_by_its_own_receipt() -> None:
    """Keyed by VoucherNo alone, the second year's ZH0001 was refused "sent before" and a receipt of
    either confirmed the first."""
    log = AccountNoticeLog()
    _notice(log, HOME, "2025", "ZH0001")
    _notice(log, HOME, "2026", "ZH0001", acct="9999000000005002")
    _notice(log, OTHER, "2026", "ZH0001", acct="9999000000005003")
    assert set(log.records) == {f"{HOME}/2025/7601/ZH0001", f"{HOME}/2026/7601/ZH0001", f"{OTHER}/2026/7601/ZH0001"}
    assert log.records[notice_key(HOME, "2026", "ZH0001")].acct_no == "9999000000005002"
    # 2026's receipt confirms 2026's only
    log.confirmed(_receipt(HOME, "2026", "ZH0001", DAYS["2026"]), at("2026", 10))
    assert log.outcome(CAL, notice_key(HOME, "2026", "ZH0001"))[0] == "on-time"
    assert log.outcome(CAL, notice_key(HOME, "2025", "ZH0001"))[0] == "pending"
    assert log.outcome(CAL, notice_key(OTHER, "2026", "ZH0001"))[0] == "pending"


def test_a_notice_of_one_key_is_sent_once() -> None:
    log = AccountNoticeLog()
    _notice(log, HOME, "2025", "ZH0001")
    try:
        _notice(log, HOME, "2025", "ZH0001")
    except ValueError as exc:
        assert "was sent before" in str(exc)
    else:
        raise AssertionError("a second notice of one key was taken")


_NOTICES = st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from(["2025", "2026"]),
                              st.sampled_from(["ZH1", "ZH2"])), min_size=1, max_size=8, unique=True)
# receipts: (division, year, number, days after the notice's year's day); some name no notice sent
_RECEIPTS = st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from(["2025", "2026"]),
                               st.sampled_from(["ZH1", "ZH2", "ZH3"]), st.integers(0, 8)), max_size=10)


@settings(max_examples=80, deadline=None)
@given(notices=_NOTICES, receipts=_RECEIPTS)
def test_each_notice_s_outcome_is_as_if_it_were_alone(notices: list[tuple[str, str, str]],
                                                      receipts: list[tuple[str, str, str, int]]) -> None:
    """Oracle "each voucher alone" (004 part 3 §9(1): each notice carried out within 3 working days
    of it; a voucher is its key): every notice's outcome in a log of all of them, with every receipt,
    is its outcome in a log holding it alone, given the same receipts."""
    both = AccountNoticeLog()
    alone: dict[str, AccountNoticeLog] = {}
    for adm, year, no in notices:
        _notice(both, adm, year, no)
        _notice(alone.setdefault(notice_key(adm, year, no), AccountNoticeLog()), adm, year, no)
    for adm, year, no, after in receipts:
        head = _receipt(adm, year, no, DAYS[year] + dt.timedelta(days=after))
        both.confirmed(head, at(year, 10))
        for log in alone.values():
            log.confirmed(head, at(year, 10))
    assert set(both.records) == set(alone)
    for key, log in alone.items():
        assert both.outcome(CAL, key) == log.outcome(CAL, key), key
        assert both.records[key] == log.records[key]


# --- suspension orders (7501) -----------------------------------------------------------------------

def _order(log: SuspensionLog, adm: str, year: str, no: str, agency: str = "101001") -> None:
    log.order(voucher_no=no, bank=BANK, scope=("AgencyCode", agency), reason="审计整改", now=at(year),
              adm_div_code=adm)


def test_two_divisions_orders_of_one_number_are_two_orders_lifted_one_at_a_time() -> None:
    """Keyed by OrderNo alone, the second division's ZT0001 was refused "issued before" and lifting
    one lifted both."""
    log = SuspensionLog()
    _order(log, HOME, "2025", "ZT0001")
    _order(log, OTHER, "2025", "ZT0001", agency="201001")
    _order(log, HOME, "2026", "ZT0001", agency="101002")
    home, other, later = (order_key(HOME, "2025", "ZT0001"), order_key(OTHER, "2025", "ZT0001"),
                          order_key(HOME, "2026", "ZT0001"))
    assert set(log.standing()) == {home, other, later}
    data = log.lift(voucher_no="ZT0001", order=other, reason="整改完毕", now=at("2026"))  # 2026's own ZT0001 too
    assert b"<AdmDivCode>990200</AdmDivCode>" in data and b"<OrderNo>ZT0001</OrderNo>" in data
    assert set(log.standing()) == {home, later}
    assert log.standing()[later].value == "101002"
    # the bank's receipt of the lift (990200's 2026 7501 ZT0001) is a confirmation of 990200's 2025 order
    log.confirmed(_receipt(OTHER, "2026", "ZT0001", DAYS["2026"], OrderNo="ZT0001", AgencyCode="201001"), at("2026"))
    confirmed = log.records[-1]
    assert (confirmed.action, confirmed.order_key) == ("confirmed", other)


def _scope(adm: str, no: str) -> str:
    return f"{adm[2:4]}{no}"


# orders (division, year, number, lifted in 2026 by a lift numbered "L" + number)
_ORDERS = st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from(["2025", "2026"]),
                             st.sampled_from(["ZT1", "ZT2"]), st.booleans()), min_size=1, max_size=8,
                   unique_by=lambda o: o[:3])


@settings(max_examples=80, deadline=None)
@given(orders=_ORDERS, confirm=st.lists(st.integers(0, 20), max_size=10))
def test_each_order_stands_or_is_lifted_as_if_it_were_alone(orders: list[tuple[str, str, str, bool]],
                                                            confirm: list[int]) -> None:
    """Oracle "each voucher alone" (000 五(二)3: an order stands until lifted; a voucher is its key):
    in a log of all orders, an order stands iff it stands in a log holding it alone with its own lift,
    and each record (order, lift, confirmation of a voucher sent) is the record it is alone."""
    orders = sorted(orders, key=lambda o: o[1])  # each in its year, 2025's first
    both = SuspensionLog()
    alone: dict[str, SuspensionLog] = {}
    sent: list[tuple[str, str, str, str]] = []  # (division, year, VoucherNo, OrderNo) of each 7501 sent
    whose: list[str] = []  # the order key of each of `sent`
    for adm, year, no, _ in orders:
        for log in (both, alone.setdefault(order_key(adm, year, no), SuspensionLog())):
            log.order(voucher_no=no, bank=BANK, scope=("AgencyCode", _scope(adm, no)), reason="r", now=at(year),
                      adm_div_code=adm)
        sent.append((adm, year, no, no))
        whose.append(order_key(adm, year, no))
    for adm, year, no, lifted in orders:
        if lifted:
            key = order_key(adm, year, no)
            for log in (both, alone[key]):
                log.lift(voucher_no=f"L{year}{no}", order=key, reason="r", now=at("2026", 11))
            sent.append((adm, "2026", f"L{year}{no}", no))
            whose.append(key)
    for i in confirm:  # the bank's receipts, some of the same 7501 twice: alone, an order's receipts are its own
        adm, year, vno, ono = sent[i % len(sent)]
        head = _receipt(adm, year, vno, DAYS[year], OrderNo=ono, AgencyCode=_scope(adm, ono))
        for log in (both, alone[whose[i % len(sent)]]):
            log.confirmed(head, at("2026", 12))
    assert both.standing() == {k: v for log in alone.values() for k, v in log.standing().items()}
    for adm, year, no, lifted in orders:
        key = order_key(adm, year, no)
        assert (key in both.standing()) is not lifted
        mine = [r for r in both.records if r.order_key == key]
        assert mine == [r for r in alone[key].records if r.order_key == key], key
    assert both.orders - both.lifts == len(both.standing())


# --- version 7 snapshots: keyed by VoucherNo alone ---------------------------------------------------

def _core_with_logs() -> TreasuryCore:
    """A treasury core (division 990100) that sent a notice and an order in 2025, lifted the order in
    2026 and had each confirmed."""
    core = TreasuryCore(TreasuryConfig(days=1, first_day=DAYS["2025"]), CAL, CC)
    _notice(core.account_notices, HOME, "2025", "ZH0001")
    core.account_notices.confirmed(_receipt(HOME, "2025", "ZH0001", DAYS["2025"]), at("2025", 10))
    _notice(core.account_notices, HOME, "2026", "ZH0002")
    _order(core.suspensions, HOME, "2025", "ZT0001")
    _order(core.suspensions, HOME, "2025", "ZT0002", agency="101002")
    core.suspensions.confirmed(_receipt(HOME, "2025", "ZT0001", DAYS["2025"], OrderNo="ZT0001", AgencyCode="101001"),
                               at("2025", 10))
    core.suspensions.lift(voucher_no="ZT0003", order=order_key(HOME, "2025", "ZT0001"), reason="r", now=at("2026"))
    core.suspensions.confirmed(_receipt(HOME, "2026", "ZT0003", DAYS["2026"], OrderNo="ZT0001", AgencyCode="101001"),
                               at("2026", 10))
    return core


_NEW_FIELDS = ("adm_div_code", "st_year", "order_year")


def _as_version_7(snapshot: bytes) -> bytes:
    """The snapshot as version 7 wrote it: notices by VoucherNo, orders by OrderNo, no division or year."""
    state: dict[str, Any] = json.loads(snapshot)
    assert state["version"] == SNAPSHOT_VERSION >= 8

    def old(record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if k not in _NEW_FIELDS}

    notices = state["account_notices"]["records"]
    state["account_notices"]["records"] = {r["voucher_no"]: old(r) for r in notices.values()}
    susp = state["suspensions"]
    susp["entries"] = [old(r) for r in susp["entries"]]
    susp["open_orders"] = {r["order_no"]: old(r) for r in susp["open_orders"].values()}
    state["version"] = 7
    return json.dumps(state).encode()


def _check_loaded(loaded: TreasuryCore, core: TreasuryCore) -> None:
    assert loaded.account_notices == core.account_notices
    assert loaded.suspensions == core.suspensions
    assert set(loaded.suspensions.standing()) == {order_key(HOME, "2025", "ZT0002")}
    assert [r.order_key for r in loaded.suspensions.records] == [order_key(HOME, "2025", no) for no in
                                                                 ("ZT0001", "ZT0002", "ZT0001", "ZT0001", "ZT0001")]
    assert json.loads(loaded.snapshot())["version"] == SNAPSHOT_VERSION


def test_a_version_7_snapshot_s_logs_load_keyed_by_the_whole_key() -> None:
    core = _core_with_logs()
    old = _as_version_7(core.snapshot())
    assert '"ZH0001":' in old.decode() and '"ZT0002":' in old.decode()
    _check_loaded(TreasuryCore.restore(old, core.config, CAL, CC), core)


async def test_a_version_7_snapshot_in_the_sim_database_loads_as_this_version(db: Database) -> None:
    """The same through the simulator's store, on both backends (SQLite and PostgreSQL); written back
    as this version, it loads again."""
    core = _core_with_logs()
    store = SimStore(db, "treasury")
    await store.open()
    await store.create(_as_version_7(core.snapshot()))
    loaded = await SimStore(db, "treasury").load()
    assert loaded is not None
    after = TreasuryCore.restore(loaded.snapshot, core.config, CAL, CC)
    _check_loaded(after, core)
    again = SimStore(db, "treasury-8")
    await again.open()
    await again.create(after.snapshot())
    reloaded = await SimStore(db, "treasury-8").load()
    assert reloaded is not None and json.loads(reloaded.snapshot)["version"] == SNAPSHOT_VERSION
    _check_loaded(TreasuryCore.restore(reloaded.snapshot, core.config, CAL, CC), core)
