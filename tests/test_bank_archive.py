"""A bank with an archive (`sim.archive`) keeps the payee a return copies out of its state and its
snapshots, and reads it back when a payee's bank returns the money (2252): the same refund as a
bank that kept it in its state, once; and `sim.archive_store.SqliteArchive` keeps what a batch
put only when the batch is written."""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_bank_duties import BANK, DAY, World, _payee_bank_notice, t

from bank_sim.core import BankCore
from bank_sim.duties import DutiesConfig
from bank_sim.payee_records import PAYEE, payee_of
from sim.archive import MemoryArchive
from sim.archive_store import SqliteArchive, archive_for
from storage.db import SqliteDatabase, open_database


def _refunded(archive: MemoryArchive | None) -> tuple[World, list[str]]:
    w = World(DutiesConfig())
    if archive is not None:
        w.bank.use_archive(archive)
    w.quota(DAY, 10_000_00)
    paid = w.pay("ZZRET0003", 1_000_00, t(DAY, "10:00"))
    w.pay("ZZKEEP003", 2_000_00, t(DAY, "10:01"))
    if archive is not None:  # out of the state (and so of its snapshots), into the archive
        assert not w.bank.duties.s.payees and set(archive.records) == {(PAYEE, "ZZRET0003"), (PAYEE, "ZZKEEP003")}
        assert payee_of(w.bank.duties.s, "ZZKEEP003", archive) is not None
        saved = w.bank.snapshot()
        w.bank = BankCore.restore(saved, BANK, w.bank.config, w.bank.calendar, w.bank.clock_config)
        w.bank.use_archive(archive)  # a restarted shell gives the same archive back
    _payee_bank_notice(w, paid, t(DAY, "11:00"))
    w.tick(t(DAY, "17:00"))
    _payee_bank_notice(w, paid, t(DAY, "17:05"), no="ST0002202603170002")  # told again: nothing moves twice
    return w, [a.code for a in w.alarms]


def test_an_archived_payee_is_read_back_for_a_return_once_and_the_refund_is_the_same() -> None:
    kept, kept_alarms = _refunded(None)
    archive = MemoryArchive()
    archived, alarms = _refunded(archive)
    assert alarms == kept_alarms == ["refund-unmatched"]  # the second notice: the payee is used up
    [refund] = archived.bank.duties.s.refunds.values()
    assert (refund.voucher, refund.amount_fen, refund.state) == ("ZZRET0003", 1_000_00, "accepted")
    assert [(s.vtcode, s.render()) for s in archived.to_treasury] == [(s.vtcode, s.render()) for s in kept.to_treasury]
    assert archived.books == kept.books
    assert "ZZRET0003" in archived.bank.duties.s.payees_gone and not archived.bank.duties.s.payees


def test_a_sqlite_archive_keeps_a_batch_s_records_when_written_and_drops_them_when_discarded(tmp_path: Path) -> None:
    async def run() -> None:
        db = await open_database(str(tmp_path / "bank.db"))
        assert isinstance(db, SqliteDatabase)
        try:
            archive = archive_for(db, "bank-a")
            assert isinstance(archive, SqliteArchive)
            await archive.open()
            archive.put(PAYEE, "A", b"one")
            assert archive.get(PAYEE, "A") == b"one"  # the batch's own, before it is written
            async with db.transaction() as tx:
                await archive.write(tx)
            archive.put(PAYEE, "A", b"changed")  # a record is written once
            archive.put(PAYEE, "B", b"two")
            archive.discard()  # a rolled-back batch
            again = SqliteArchive(db, "bank-a")
            assert (again.get(PAYEE, "A"), again.get(PAYEE, "B"), again.get("other", "A")) == (b"one", None, None)
            assert SqliteArchive(db, "bank-b").get(PAYEE, "A") is None  # each participant its own
            again.close()
            archive.close()
        finally:
            await db.close()
        assert archive_for(None, "bank-a") is None

    asyncio.run(run())
