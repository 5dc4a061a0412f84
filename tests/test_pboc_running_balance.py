"""The central bank's balance before a day (`pboc_sim.record.balance_before`) from running sums.

Before, every daily statement summed every kept day's movements again: a statement on day 300 read
300 days. Now `PbocState.balances` keeps the movements of the days before one day, summed by the
voucher's AdmDivCode, and a statement adds the days since. Oracle: the old sum over every movement
kept, over generated histories (several divisions, days out of order, refusals taking movements
back, a restart from a snapshot in the middle, a version 9 snapshot without the sums). Synthetic codes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.model import Transfer
from messages.envelope import VoucherKey
from pboc_sim import record
from pboc_sim.state import OLDER_VERSIONS, SNAPSHOT_VERSION, Movement, PbocState
from sim.codec import decode_snapshot, encode

DIVISIONS = ("990100", "990200", "990300")
START = dt.date(2026, 3, 2)
OPENING = 5_000_00


class _Doc:
    """The three fields `record.move` reads of a voucher."""

    def __init__(self, bank: str) -> None:
        self.fields = {"PayBankCode": bank, "PayBankName": f"示例银行{bank[-1]}", "PayTypeCode": "11"}

    def get(self, name: str) -> str:
        return self.fields[name]


def _old_sum(s: PbocState, opening: int, day: dt.date, counted: Callable[[str], bool] | None = None) -> int:
    """The sum before: every kept day before `day`, each movement counted or not by its voucher's division."""
    return opening + sum(m.amount_fen if m.direction == "C" else -m.amount_fen
                         for d, moves in s.movements.items() if d < day.isoformat() for m in moves
                         if counted is None or counted(m.ref.adm_div_code))


def _restarted(s: PbocState, *, as_version_9: bool = False) -> PbocState:
    """`s` encoded and decoded as a snapshot (`as_version_9`: as version 9 wrote it, without the sums)."""
    data = encode(s)
    if as_version_9:
        raw = json.loads(data)
        del raw["balances"]
        raw["version"] = 9
        data = json.dumps(raw).encode()
    return decode_snapshot(data, PbocState, "pboc", SNAPSHOT_VERSION, "cfg", older=OLDER_VERSIONS).loaded(DIVISIONS[0])


_DAY = st.integers(0, 40).map(lambda n: START + dt.timedelta(days=n))
_OPS = st.lists(st.one_of(
    st.tuples(st.just("move"), _DAY, st.sampled_from(DIVISIONS), st.sampled_from("DC"), st.integers(1, 10**9)),
    st.tuples(st.just("drop"), st.integers(0, 10**6)),
    st.tuples(st.just("ask"), _DAY, st.sets(st.sampled_from(DIVISIONS))),
    st.tuples(st.just("restart"), st.booleans()),
), max_size=60)


@settings(max_examples=300, deadline=None)
@given(ops=_OPS)
def test_the_balance_before_a_day_is_the_old_sum_of_every_kept_day(ops: list[tuple[Any, ...]]) -> None:
    s = PbocState(config="cfg")
    transfers: list[Transfer] = []
    for n, op in enumerate(ops):
        if op[0] == "move":
            _, day, adm, direction, fen = op
            key = VoucherKey(adm, str(day.year), "2301" if direction == "D" else "2302", f"ZZ{n:06d}", 0)
            _, transfer = record.move(s, _Doc(f"99910000000{n % 3}"), key, direction, fen, "synthetic", day, f"t{n}")
            transfers.append(transfer)
        elif op[0] == "drop" and transfers:
            assert record.drop_movement(s, transfers.pop(op[1] % len(transfers))) is not None
        elif op[0] == "ask":
            _, day, divisions = op
            assert record.balance_before(s, OPENING, day) == _old_sum(s, OPENING, day)
            counted = divisions.__contains__
            assert record.balance_before(s, 0, day, counted) == _old_sum(s, 0, day, counted), (day, divisions)
        elif op[0] == "restart":
            s = _restarted(s, as_version_9=op[1])
    for n in range(42):
        day = START + dt.timedelta(days=n)
        assert record.balance_before(s, OPENING, day) == _old_sum(s, OPENING, day)


class _CountingDays(dict[str, list[Movement]]):
    """`PbocState.movements` counting the days whose movements are read."""

    read = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.read += 1
        return super().get(key, default)

    def items(self) -> Any:
        for item in super().items():
            self.read += 1
            yield item


def _days_read(days: int) -> int:
    """How many days' movements the balance before the day after `days` busy days reads."""
    s = PbocState(config="cfg")
    counting = _CountingDays()
    s.movements = counting
    for n in range(days):
        day = START + dt.timedelta(days=n)
        record.move(s, _Doc("999100000001"), VoucherKey(DIVISIONS[0], "2026", "2301", f"ZZ{n:06d}", 0), "D", 100,
                    "synthetic", day, f"t{n}")
        record.balance_before(s, OPENING, day)  # the statement at the day's close
    counting.read = 0
    assert record.balance_before(s, OPENING, START + dt.timedelta(days=days)) == OPENING - 100 * days
    return counting.read


def test_a_statement_on_day_300_reads_as_many_days_as_one_on_day_3() -> None:
    assert _days_read(300) == _days_read(3) <= 1


def test_a_month_start_s_balance_reads_that_month_not_every_day_kept() -> None:
    """A 3502 asks for the balance before its month's first day: the days since, not the year."""
    s = PbocState(config="cfg")
    counting = _CountingDays()
    s.movements = counting
    for n in range(300):
        day = START + dt.timedelta(days=n)
        record.move(s, _Doc("999100000001"), VoucherKey(DIVISIONS[1], "2026", "2302", f"ZZ{n:06d}", 0), "C", 7,
                    "synthetic", day, f"t{n}")
        record.balance_before(s, 0, day)
    start = (START + dt.timedelta(days=299)).replace(day=1)
    want = _old_sum(s, 0, start)
    counting.read = 0
    assert record.balance_before(s, 0, start) == want
    assert counting.read <= 31


# ---------------------------------------------------------------- a whole core, restarted

def _statements(w: Any) -> list[tuple[str, str, list[tuple[str, str]]]]:
    return [(s.vtcode, s.head["AdmDivCode"], sorted(s.head.items())) for s in w.pboc.statements]


async def test_a_version_9_snapshot_restarted_through_the_store_states_as_a_core_never_stopped(db: Any) -> None:
    """Two divisions paying over March, the central bank snapshotted after a week's statements as
    version 9 wrote it (no sums), stored and loaded on SQLite and PostgreSQL, restored and run on
    to April's first close: every 7401 and 3502 as those of a core never stopped; written back as
    the current version, with the sums, and that loads again to the same."""
    from bank_sim.duties import DutiesConfig
    from business_time.clock import ClockConfig
    from pboc_sim.core import PbocCore
    from sim.store import SimStore
    from tests.test_bank_duties import CAL, DAY, World, t
    from tests.two_divisions import HOME, OTHER

    days = [DAY + dt.timedelta(days=n) for n in range(14) if CAL.is_business_day(DAY + dt.timedelta(days=n))]
    worlds = [World(DutiesConfig(), divisions=(OTHER,)) for _ in range(2)]
    for w in worlds:
        for n, day in enumerate(days):
            for adm in (HOME, OTHER):
                w.quota(day, 10_000_000_00, adm_div_code=adm)
                w.pay(f"ZZRB{n:04d}", (n + 1) * 1_00 + (7 if adm == OTHER else 0), t(day, "10:00"), adm_div_code=adm)
            w.tick(t(day, "18:00"))
            if w is worlds[1] and day == days[4]:
                assert w.pboc.state.balances.day == day
                raw = json.loads(w.pboc.snapshot())
                del raw["balances"]
                raw["version"] = 9
                old = json.dumps(raw, ensure_ascii=False).encode()
                store = SimStore(db, "pboc")
                await store.open()
                await store.create(old)
                loaded = await SimStore(db, "pboc").load()
                assert loaded is not None and loaded.snapshot == old
                w.pboc = PbocCore.restore(loaded.snapshot, w.pboc.config, CAL, ClockConfig())
                assert w.pboc.state.balances.day is None
    for w in worlds:
        w.tick(t(dt.date(2026, 4, 1), "18:00"))
    assert _statements(worlds[1]) == _statements(worlds[0])
    assert {s.vtcode for s in worlds[0].pboc.statements} == {"7401", "3502"}
    again = worlds[1].pboc.snapshot()
    assert json.loads(again)["version"] == SNAPSHOT_VERSION == 10 and json.loads(again)["balances"]["day"]
    restored = PbocCore.restore(again, worlds[1].pboc.config, CAL, ClockConfig())
    assert restored.snapshot() == again
