"""The central bank's statements to each division its own (`PbocConfig.divisions`).

Before, a branch serving several divisions' treasuries sent one 7401 a day and one 3502 a month,
under its configured division (AdmDivCode), listing every division's movements: the other
division's treasury got no statement at all, and the configured one's listed payments it never
made. Now each division served gets its own 7401 and 3502, of the movements of its own vouchers;
the opening balance is the configured division's (the divisions' balances add up to the TSA's).
A branch of one division states as before (its config's repr, the snapshot fingerprint, too).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim.duties import DutiesConfig
from business_time.calendar import BusinessCalendar
from business_time.clock import ClockConfig
from messages.business import business_issues
from messages.catalog import get_catalog
from messages.errors import StateError
from messages.money import parse_fen
from messages.schema import validate_tree
from messages.voucher import build_voucher, parse_voucher
from pboc_sim.config import PbocConfig
from pboc_sim.core import PbocCore
from runner.observed import StatementSeen, tsa_days
from sim.store import SimStore
from storage.db import Database
from tests.test_bank_duties import DAY, World, t
from tests.two_divisions import HOME, OTHER

OPENING = 10**12  # the World's TSA opening balance
APRIL = dt.date(2026, 4, 1)  # the first business day after DAY's month: its close sends March's 3502


def _statements(w: World, vtcode: str) -> dict[tuple[str, str], Any]:
    """(AdmDivCode, VoucherNo) → the central bank's statement of `vtcode`."""
    return {(s.head["AdmDivCode"], s.head["VoucherNo"]): s for s in w.pboc.statements if s.vtcode == vtcode}


def _paid(payments: list[tuple[str, str, int]], divisions: tuple[str, ...] = (OTHER,)) -> World:
    """A bank and central bank serving HOME and `divisions`: each of `payments` ((division, VoucherNo,
    fen)) paid on DAY, each division's quota notified, run through April's first close."""
    w = World(DutiesConfig(), divisions=divisions)
    for adm in {HOME, *(p[0] for p in payments)}:
        w.quota(DAY, 10_000_000_00, adm_div_code=adm)
    for n, (adm, no, fen) in enumerate(payments):
        w.pay(no, fen, t(DAY, f"10:{n:02d}"), adm_div_code=adm)
    w.tick(t(APRIL, "18:00"))
    return w


def test_each_division_gets_the_7401_and_3502_of_its_own_movements() -> None:
    w = _paid([(HOME, "ZZDV0001", 100_00), (OTHER, "ZZDV0001", 250_00)])
    daily = _statements(w, "7401")
    home, other = daily[(HOME, f"RZ{DAY:%Y%m%d}")], daily[(OTHER, f"RZ{DAY:%Y%m%d}")]
    # each movement's reference: the division's clearing request (2301) that paid its payments
    assert [(d["RefAdmDivCode"], d["RefVtCode"], d["Amt"]) for d in home.details] == [(HOME, "2301", "100.00")]
    assert [(d["RefAdmDivCode"], d["RefVtCode"], d["Amt"]) for d in other.details] == [(OTHER, "2301", "250.00")]
    assert (home.head["BeginBalance"], home.head["DebitAmt"]) == ("10000000000.00", "100.00")
    assert (other.head["BeginBalance"], other.head["DebitAmt"], other.head["EndBalance"]) == ("0.00", "250.00", "-250.00")
    for s in (home, other):  # each valid against its XSD and the business checks
        vt = get_catalog().get("7401")
        doc = parse_voucher(build_voucher("7401", s.head, list(s.details)))
        assert validate_tree(doc.root, vt.xsd) == [] and business_issues(doc, vt, 0) == []
    # a quiet day: each division its empty 7401
    quiet = DAY + dt.timedelta(days=1)
    assert {adm for adm, no in daily if no == f"RZ{quiet:%Y%m%d}"} == {HOME, OTHER}
    monthly = _statements(w, "3502")
    assert {adm: [(d["PayBankCode"], d["DebitAmt"]) for d in s.details] for (adm, _), s in monthly.items()} == {
        HOME: [("999100000001", "100.00")], OTHER: [("999100000001", "250.00")]}


def test_a_branch_of_one_division_states_every_movement_under_it_as_before() -> None:
    """The other way: not configured for 990200, its payments are on 990100's statements (as before)."""
    w = _paid([(HOME, "ZZDV0001", 100_00), (OTHER, "ZZDV0001", 250_00)], divisions=())
    daily = _statements(w, "7401")
    assert {adm for adm, _ in daily} == {HOME}
    assert daily[(HOME, f"RZ{DAY:%Y%m%d}")].head["DebitAmt"] == "350.00"
    assert repr(PbocConfig()) == repr(PbocConfig(divisions=()))
    assert "divisions" not in repr(PbocConfig()) and "divisions=('990200',)" in repr(PbocConfig(divisions=(OTHER,)))


_PAYMENTS = st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from(["ZZDV0001", "ZZDV0002"]),
                               st.integers(1, 1_000_000_00)),
                     min_size=1, max_size=5, unique_by=lambda p: (p[0], p[1]))


def _view(w: World, adm: str, opening: int) -> list[tuple[Any, ...]]:
    """Division `adm`'s statements, its balances less `opening`, without the number of the bank's
    clearing request a movement refers to (the bank numbers its 2301s across divisions)."""
    out = []
    for s in w.pboc.statements:
        if s.head["AdmDivCode"] != adm:
            continue
        h = {**s.head}
        for k in ("BeginBalance", "EndBalance"):
            h[k] = str(parse_fen(h[k], allow_negative=True) - opening)
        out.append((s.vtcode, sorted(h.items()), [sorted((k, v) for k, v in d.items() if k != "RefVoucherNo")
                                                  for d in s.details]))
    return out


@settings(max_examples=5, deadline=None)  # four worlds of a fortnight each
@given(payments=_PAYMENTS)
def test_a_division_s_statements_are_what_its_payments_alone_make(payments: list[tuple[str, str, int]]) -> None:
    """Oracle: each division's 7401s and 3502 are those of a world given that division's payments
    alone (its balances less the opening balance, which is the configured division's); the
    divisions' 7401s of a day add up to the TSA's, as a branch of one division states it."""
    together = _paid(payments)
    for adm in (HOME, OTHER):
        alone = _paid([p for p in payments if p[0] == adm])
        assert _view(together, adm, OPENING if adm == HOME else 0) == _view(alone, adm, OPENING if adm == HOME else 0)
    one = _paid(payments, divisions=())

    def seen(w: World) -> list[StatementSeen]:
        return [StatementSeen(dt.date.fromisoformat(f"{h[:4]}-{h[4:6]}-{h[6:]}"), *(
            parse_fen(s.head[k], allow_negative=True) for k in ("BeginBalance", "DebitAmt", "CreditAmt", "EndBalance")),
            s.head["AdmDivCode"]) for s in w.pboc.statements if s.vtcode == "7401" and (h := s.head["StatementDate"])]

    assert tsa_days(seen(together)) == tsa_days(seen(one))


async def test_a_one_division_branch_s_snapshot_loads_and_another_config_s_is_refused(db: Database) -> None:
    """On both backends (SQLite and PostgreSQL): a snapshot of a branch configured without divisions
    (its fingerprint as before `divisions`) loads into it; a branch serving another division refuses it."""
    w = _paid([(HOME, "ZZDV0001", 100_00)], divisions=())
    data = w.pboc.snapshot()
    store = SimStore(db, "pboc")
    await store.open()
    await store.create(data)
    loaded = await SimStore(db, "pboc").load()
    assert loaded is not None
    cal, cc = BusinessCalendar.default(), ClockConfig()
    again = PbocCore.restore(loaded.snapshot, PbocConfig(tsa_opening_fen=OPENING), cal, cc)
    assert again.snapshot() == data
    with pytest.raises(StateError, match="another config"):
        PbocCore.restore(loaded.snapshot, PbocConfig(tsa_opening_fen=OPENING, divisions=(OTHER,)), cal, cc)
