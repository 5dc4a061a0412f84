"""The ledger over a `Database`: an append-only journal of transfers and balances derived from it.

Tables:
  ledger_accounts   one row per account, with its running `debits_fen` / `credits_fen`;
  ledger_transfers  the journal: one row per applied transfer, never updated or deleted.
A transfer's journal row and the two balance updates are written in the same transaction, so
the balances are always exactly the sums over the journal (`check_invariants` proves it).

A batch (`transfer_many`) is atomic: every transfer in it is applied, or none. Each transfer id
is an idempotency key: the same id with the same fields again is reported as `exists` and not
applied twice; the same id with other fields is a `duplicate-conflict`. Limits are checked
transfer by transfer in batch order, so an inflow earlier in a batch can fund a payment later
in it.

Refusals (`ledger-invalid`, `ledger-unknown-account`, `ledger-overdraft`, `ledger-overflow`,
`duplicate-conflict`) are raised before anything is written: a caller that passed its own
transaction (`tx=`) may still go on using it, e.g. to journal the refusal.

Concurrency: the accounts a batch touches are locked in id order (`SELECT ... FOR UPDATE` on
PostgreSQL; SQLite's single writer covers it) before balances are read, so two concurrent
batches cannot both spend the same money, and cannot deadlock on each other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from ledger.model import BALANCE_FEN_MAX, Account, AccountFlags, HistoryEntry, Transfer, TransferStatus
from messages.errors import InputError, StateError
from storage.db import Database, Row, Tx, is_unique_violation

__all__ = ["HISTORY_LIMIT_MAX", "TRANSFER_BATCH_MAX", "Ledger", "LedgerCorrupt"]

# One batch is one database transaction holding row locks on its accounts: 8190 transfers (as
# TigerBeetle's batch) keeps a transaction well under a second and the IN lists within SQLite's
# 32766 bound parameters.
TRANSFER_BATCH_MAX = 8190
# Ids per `IN (...)` list when looking up transfers and accounts.
IN_LIST_MAX = 500
HISTORY_LIMIT_MAX = 10_000

_SEQ_COLUMN = {
    "sqlite": "seq INTEGER PRIMARY KEY AUTOINCREMENT",
    "postgres": "seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger_accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    flags INTEGER NOT NULL,
    owner TEXT NOT NULL,
    debits_fen BIGINT NOT NULL DEFAULT 0 CHECK (debits_fen >= 0),
    credits_fen BIGINT NOT NULL DEFAULT 0 CHECK (credits_fen >= 0)
);
CREATE TABLE IF NOT EXISTS ledger_transfers (
    {seq},
    id TEXT NOT NULL UNIQUE,
    debit_account TEXT NOT NULL REFERENCES ledger_accounts (id),
    credit_account TEXT NOT NULL REFERENCES ledger_accounts (id),
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    business_date TEXT,
    note TEXT NOT NULL,
    CHECK (debit_account <> credit_account)
);
CREATE INDEX IF NOT EXISTS ledger_transfers_debit ON ledger_transfers (debit_account, seq);
CREATE INDEX IF NOT EXISTS ledger_transfers_credit ON ledger_transfers (credit_account, seq);
"""

_TRANSFER_COLUMNS = "id, debit_account, credit_account, amount_fen, kind, reference, business_date, note"


class LedgerCorrupt(StateError):
    """The stored ledger breaks one of its invariants: a bug or tampering, never the caller's input."""


def _transfer_from_row(row: Row) -> Transfer:
    tid, debit, credit, amount, kind, reference, business_date, note = row
    day = dt.date.fromisoformat(business_date) if business_date is not None else None
    return Transfer(tid, debit, credit, int(amount), kind, reference, day, note)


def _transfer_params(t: Transfer) -> tuple[Any, ...]:
    day = t.business_date.isoformat() if t.business_date is not None else None
    return (t.id, t.debit_account, t.credit_account, t.amount_fen, t.kind, t.reference, day, t.note)


def _placeholders(count: int, start: int = 1) -> str:
    return ", ".join(f"${i}" for i in range(start, start + count))


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), IN_LIST_MAX):
        yield items[i:i + IN_LIST_MAX]


class Ledger:
    """Double-entry ledger in integer fen. Create with `await Ledger.open(db)`."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock_suffix = " FOR UPDATE" if db.dialect == "postgres" else ""

    @property
    def db(self) -> Database:
        """The database the ledger lives in (a caller's own transactions may include it)."""
        return self._db

    @classmethod
    async def open(cls, db: Database) -> Ledger:
        if db.dialect not in _SEQ_COLUMN:
            raise StateError(f"the ledger does not support database dialect {db.dialect!r}")
        await db.execute_script(_SCHEMA.replace("{seq}", _SEQ_COLUMN[db.dialect]))
        return cls(db)

    @asynccontextmanager
    async def _tx(self, tx: Tx | None) -> AsyncIterator[Tx]:
        if tx is not None:
            yield tx
            return
        async with self._db.transaction() as own:
            yield own

    async def _fetchrow(self, tx: Tx | None, sql: str, *params: Any) -> Row | None:
        return await (tx.fetchrow(sql, *params) if tx is not None else self._db.fetchrow(sql, *params))

    async def _fetch(self, tx: Tx | None, sql: str, *params: Any) -> list[Row]:
        return await (tx.fetch(sql, *params) if tx is not None else self._db.fetch(sql, *params))

    # --- accounts --------------------------------------------------------------------------

    async def open_account(self, account: Account, *, tx: Tx | None = None) -> bool:
        """Create the account; True if created, False if it already existed with the same
        definition. A different definition under the same id is a `duplicate-conflict`."""
        if not isinstance(account, Account):
            raise TypeError(f"expected Account, got {type(account).__name__}")
        async with self._tx(tx) as t:
            created = await t.execute(
                "INSERT INTO ledger_accounts (id, name, kind, flags, owner, debits_fen, credits_fen) "
                "VALUES ($1, $2, $3, $4, $5, 0, 0) ON CONFLICT (id) DO NOTHING",
                account.id, account.name, account.kind, int(account.flags), account.owner)
            if created:
                return True
            existing = await self._account(t, account.id)
        if existing != account:
            raise InputError("duplicate-conflict", f"account {account.id} exists with another definition: "
                             f"{existing!r}")
        return False

    async def _account(self, tx: Tx | None, account_id: str) -> Account:
        row = await self._fetchrow(tx, "SELECT id, name, kind, flags, owner FROM ledger_accounts WHERE id = $1",
                                   account_id)
        if row is None:
            raise InputError("ledger-unknown-account", f"no ledger account {account_id!r}")
        return Account(row[0], row[1], row[2], AccountFlags(row[3]), row[4])

    async def account(self, account_id: str, *, tx: Tx | None = None) -> Account:
        return await self._account(tx, account_id)

    # --- transfers -------------------------------------------------------------------------

    async def transfer(self, transfer: Transfer, *, tx: Tx | None = None) -> TransferStatus:
        return (await self.transfer_many([transfer], tx=tx))[0]

    async def transfer_many(self, transfers: Sequence[Transfer], *, tx: Tx | None = None) -> list[TransferStatus]:
        """Apply a batch atomically; one status per input, in order. A repeat of an id earlier in
        the same batch (same fields) is `exists` too."""
        batch = list(transfers)
        if len(batch) > TRANSFER_BATCH_MAX:
            raise InputError("ledger-invalid", f"{len(batch)} transfers in one batch; at most {TRANSFER_BATCH_MAX}")
        first_by_id: dict[str, Transfer] = {}
        for t in batch:
            if not isinstance(t, Transfer):
                raise TypeError(f"expected Transfer, got {type(t).__name__}")
            if first_by_id.setdefault(t.id, t) != t:
                raise InputError("duplicate-conflict", f"transfer {t.id} appears twice in the batch with "
                                 "different fields")
        if not batch:
            return []
        async with self._tx(tx) as own:
            return await self._apply(own, batch, first_by_id)

    async def _apply(self, tx: Tx, batch: list[Transfer], first_by_id: dict[str, Transfer]) -> list[TransferStatus]:
        account_ids = sorted({a for t in batch for a in (t.debit_account, t.credit_account)})
        locked = await self._lock_accounts(tx, account_ids)
        existing = await self._transfers_by_id(tx, list(first_by_id))
        statuses: list[TransferStatus] = []
        new: list[Transfer] = []
        for t in batch:
            old = existing.get(t.id)
            if old is not None and old != t:
                raise InputError("duplicate-conflict", f"transfer {t.id} was applied before with other "
                                 f"fields: {old!r}")
            if old is not None:
                statuses.append(TransferStatus.EXISTS)
            else:
                existing[t.id] = t
                new.append(t)
                statuses.append(TransferStatus.CREATED)
        if not new:
            return statuses

        balances = {aid: [debits, credits] for aid, (_, debits, credits) in locked.items()}
        for t in new:
            self._post(t, balances, locked)
        changed = sorted({a for t in new for a in (t.debit_account, t.credit_account)})
        # Invariant at the end: the batch moved as much into debits as into credits.
        moved_fen = sum(t.amount_fen for t in new)
        debits_moved = sum(balances[a][0] - locked[a][1] for a in changed)
        credits_moved = sum(balances[a][1] - locked[a][2] for a in changed)
        if not debits_moved == credits_moved == moved_fen:
            raise LedgerCorrupt(f"batch does not balance: debits {debits_moved}, credits {credits_moved}, "
                                f"amounts {moved_fen}")

        try:
            await tx.executemany(
                f"INSERT INTO ledger_transfers ({_TRANSFER_COLUMNS}) VALUES ({_placeholders(8)})",
                [_transfer_params(t) for t in new])
        except Exception as exc:
            if is_unique_violation(exc):  # a concurrent batch inserted one of these ids first
                raise InputError("duplicate-conflict", f"a transfer id of this batch was applied concurrently "
                                 f"with other fields: {exc}") from exc
            raise
        await tx.executemany(
            "UPDATE ledger_accounts SET debits_fen = $2, credits_fen = $3 WHERE id = $1",
            [(a, balances[a][0], balances[a][1]) for a in changed])
        return statuses

    @staticmethod
    def _post(t: Transfer, balances: dict[str, list[int]], locked: dict[str, tuple[AccountFlags, int, int]]) -> None:
        """Apply one transfer to the in-memory balances, refusing a limit or overflow breach."""
        debit, credit = balances[t.debit_account], balances[t.credit_account]
        debit_flags, credit_flags = locked[t.debit_account][0], locked[t.credit_account][0]
        new_debits, new_credits = debit[0] + t.amount_fen, credit[1] + t.amount_fen
        if new_debits > BALANCE_FEN_MAX or new_credits > BALANCE_FEN_MAX:
            raise InputError("ledger-overflow", f"transfer {t.id} would take a total past {BALANCE_FEN_MAX} fen")
        if debit_flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS and new_debits > debit[1]:
            raise InputError("ledger-overdraft", f"transfer {t.id} of {t.amount_fen} fen would overdraw "
                             f"{t.debit_account} (balance {debit[1] - debit[0]} fen)")
        if credit_flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS and new_credits > credit[0]:
            raise InputError("ledger-overdraft", f"transfer {t.id} of {t.amount_fen} fen would take "
                             f"{t.credit_account} above zero (balance {credit[1] - credit[0]} fen)")
        debit[0], credit[1] = new_debits, new_credits

    async def _lock_accounts(self, tx: Tx, account_ids: list[str]) -> dict[str, tuple[AccountFlags, int, int]]:
        """Read (and on PostgreSQL lock, in id order) the accounts: id -> (flags, debits, credits)."""
        found: dict[str, tuple[AccountFlags, int, int]] = {}
        for chunk in _chunks(account_ids):  # chunks are in id order, and so is each chunk's locking
            rows = await tx.fetch(
                f"SELECT id, flags, debits_fen, credits_fen FROM ledger_accounts WHERE id IN "
                f"({_placeholders(len(chunk))}) ORDER BY id{self._lock_suffix}", *chunk)
            for aid, flags, debits, credits in rows:
                found[aid] = (AccountFlags(flags), int(debits), int(credits))
        missing = [a for a in account_ids if a not in found]
        if missing:
            raise InputError("ledger-unknown-account", f"no ledger account {', '.join(missing)}")
        return found

    async def _transfers_by_id(self, tx: Tx | None, ids: list[str]) -> dict[str, Transfer]:
        found: dict[str, Transfer] = {}
        for chunk in _chunks(ids):
            rows = await self._fetch(tx, f"SELECT {_TRANSFER_COLUMNS} FROM ledger_transfers WHERE id IN "
                                     f"({_placeholders(len(chunk))})", *chunk)
            for row in rows:
                found[row[0]] = _transfer_from_row(row)
        return found

    async def get_transfer(self, transfer_id: str, *, tx: Tx | None = None) -> Transfer | None:
        return (await self._transfers_by_id(tx, [transfer_id])).get(transfer_id)

    # --- reading ---------------------------------------------------------------------------

    async def balance(self, account_id: str, *, tx: Tx | None = None) -> int:
        """credits_fen - debits_fen of the account."""
        row = await self._fetchrow(tx, "SELECT debits_fen, credits_fen FROM ledger_accounts WHERE id = $1",
                                   account_id)
        if row is None:
            raise InputError("ledger-unknown-account", f"no ledger account {account_id!r}")
        return int(row[1]) - int(row[0])

    async def balances(self, *, tx: Tx | None = None) -> dict[str, int]:
        rows = await self._fetch(tx, "SELECT id, debits_fen, credits_fen FROM ledger_accounts ORDER BY id")
        return {aid: int(credits) - int(debits) for aid, debits, credits in rows}

    async def history(self, account_id: str, *, limit: int = 100, tx: Tx | None = None) -> list[HistoryEntry]:
        """The account's transfers, newest first, at most `limit` (<= HISTORY_LIMIT_MAX)."""
        if not 1 <= limit <= HISTORY_LIMIT_MAX:
            raise InputError("ledger-invalid", f"history limit {limit} is not in 1..{HISTORY_LIMIT_MAX}")
        await self._account(tx, account_id)
        rows = await self._fetch(
            tx, f"SELECT seq, {_TRANSFER_COLUMNS} FROM ledger_transfers "
                "WHERE debit_account = $1 OR credit_account = $1 ORDER BY seq DESC LIMIT $2", account_id, limit)
        entries = []
        for row in rows:
            t = _transfer_from_row(row[1:])
            entries.append(HistoryEntry(int(row[0]), t, t.amount_fen if t.credit_account == account_id
                                        else -t.amount_fen))
        return entries

    async def accounts_not_zero(self, flag: AccountFlags = AccountFlags.ZERO_AT_CLOSE, *,
                                tx: Tx | None = None) -> list[tuple[str, int]]:
        """(account id, balance_fen) of every account carrying `flag` whose balance is not zero:
        at the end of a business day, the zero-balance accounts that were not cleared."""
        rows = await self._fetch(
            tx, "SELECT id, debits_fen, credits_fen FROM ledger_accounts "
                "WHERE (flags & $1) <> 0 AND debits_fen <> credits_fen ORDER BY id", int(flag))
        return [(aid, int(credits) - int(debits)) for aid, debits, credits in rows]

    async def check_invariants(self, *, tx: Tx | None = None) -> int:
        """Prove the stored ledger sound, from one consistent read; return the number of accounts.

        Raises LedgerCorrupt unless: each account's debits and credits equal the sums over its
        journal rows; the balances sum to zero; no account breaks its balance limit flag."""
        rows = await self._fetch(tx, """
            SELECT a.id, a.flags, a.debits_fen, a.credits_fen,
                   COALESCE((SELECT CAST(SUM(t.amount_fen) AS BIGINT) FROM ledger_transfers t
                             WHERE t.debit_account = a.id), 0),
                   COALESCE((SELECT CAST(SUM(t.amount_fen) AS BIGINT) FROM ledger_transfers t
                             WHERE t.credit_account = a.id), 0)
            FROM ledger_accounts a ORDER BY a.id""")
        total_fen = 0
        for aid, flags, debits, credits, journal_debits, journal_credits in rows:
            debits, credits = int(debits), int(credits)
            if (debits, credits) != (int(journal_debits), int(journal_credits)):
                raise LedgerCorrupt(f"account {aid}: stored debits/credits {debits}/{credits} differ from "
                                    f"the journal's {journal_debits}/{journal_credits}")
            if flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS and debits > credits:
                raise LedgerCorrupt(f"account {aid} is overdrawn: balance {credits - debits} fen")
            if flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS and credits > debits:
                raise LedgerCorrupt(f"account {aid} is above zero: balance {credits - debits} fen")
            total_fen += credits - debits
        if total_fen != 0:
            raise LedgerCorrupt(f"balances sum to {total_fen} fen, not zero")
        return len(rows)
