"""Monitoring tables: window state (every screened payment), holds, and the decision audit.

`mon_decisions` is append-only: no code path updates or deletes a row, and the database itself
refuses it (a trigger on SQLite and on PostgreSQL), so no interface, the CLI's `--db` included,
can edit the audit. Writes that belong to a submission go into the journal's transaction (the
SQL below as `extra` of `Journal.record`); reads are plain queries.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from messages.envelope import VoucherKey
from storage.db import Database, SqliteDatabase, padded

__all__ = ["DECISION_INSERT", "HOLDS_PAGE_MAX", "HOLD_INSERT", "PAYMENT_UPSERT", "PRIORS_PER_STATEMENT_MAX", "Hold",
           "MonitorStore", "Prior"]

HOLDS_PAGE_MAX = 500  # holds in one answer; a dashboard pages with `after`
DECISIONS_MAX = 1000  # decisions shown for one voucher: a handful in practice (one per rule hit and step)
RECENT_MAX = 1000  # earlier payments read for one payer/payee window: more than any `count` a catalogue sets

SCHEMA = """
CREATE TABLE IF NOT EXISTS mon_payments (
    adm_div_code TEXT NOT NULL, st_year TEXT NOT NULL, vtcode TEXT NOT NULL, voucher_no TEXT NOT NULL,
    digest {blob} NOT NULL, payer TEXT NOT NULL, payee TEXT NOT NULL, amount_fen BIGINT NOT NULL,
    at_us BIGINT NOT NULL, outcome TEXT NOT NULL, hold_id TEXT, sender TEXT NOT NULL, recipient TEXT NOT NULL,
    {payments_key} (adm_div_code, st_year, vtcode, voucher_no)
){payments_tail};
CREATE INDEX IF NOT EXISTS mon_payments_pair ON mon_payments (payee, payer, at_us);
CREATE TABLE IF NOT EXISTS mon_holds (
    id TEXT PRIMARY KEY,
    adm_div_code TEXT NOT NULL, st_year TEXT NOT NULL, vtcode TEXT NOT NULL, voucher_no TEXT NOT NULL,
    rule_id TEXT NOT NULL, grade TEXT NOT NULL, amount_fen BIGINT NOT NULL, payee TEXT NOT NULL,
    sender TEXT NOT NULL, recipient TEXT NOT NULL, held_at TEXT NOT NULL, status TEXT NOT NULL,
    decided_by TEXT, decided_at TEXT, reason TEXT, digest {blob} NOT NULL, payload {blob} NOT NULL
);
CREATE INDEX IF NOT EXISTS mon_holds_status ON mon_holds (status, id);
CREATE TABLE IF NOT EXISTS mon_decisions (
    id {serial},
    adm_div_code TEXT NOT NULL, st_year TEXT NOT NULL, vtcode TEXT NOT NULL, voucher_no TEXT NOT NULL,
    at TEXT NOT NULL, wall_us BIGINT NOT NULL, rule_id TEXT, rule_version TEXT NOT NULL, grade TEXT,
    outcome TEXT NOT NULL, who TEXT NOT NULL, reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mon_decisions_key ON mon_decisions (adm_div_code, st_year, vtcode, voucher_no);
"""

# mon_payments is found by its key (every screening's `priors`): on SQLite the key is the table's
# own b-tree (WITHOUT ROWID), so a payment's row is written into two b-trees (the table and
# mon_payments_pair), not three (a rowid table, its key's index and the pair's). PostgreSQL keeps
# a heap and a unique index either way: its schema is unchanged.
_PAYMENTS_SHAPE = {True: {"payments_key": "PRIMARY KEY", "payments_tail": " WITHOUT ROWID"},
                   False: {"payments_key": "UNIQUE", "payments_tail": ""}}
_PAYMENTS_COLUMNS = ("adm_div_code, st_year, vtcode, voucher_no, digest, payer, payee, amount_fen, at_us, outcome, "
                     "hold_id, sender, recipient")


def _payments_table(name: str) -> str:
    """mon_payments' SQLite CREATE TABLE (from SCHEMA) under `name`."""
    start = SCHEMA.index("CREATE TABLE IF NOT EXISTS mon_payments")
    text = SCHEMA[start:SCHEMA.index(";", start) + 1]
    return text.replace("mon_payments", name, 1).format(blob="BLOB", **_PAYMENTS_SHAPE[True])


# A database made before: copy the rows into the keyed table and swap it in (SQLite's documented
# procedure for a new table shape), in one transaction; the pair's index is made again by SCHEMA.
SQLITE_PAYMENTS_MIGRATION = ("BEGIN IMMEDIATE;\n" + _payments_table("mon_payments_keyed") + "\n"
                             f"INSERT INTO mon_payments_keyed ({_PAYMENTS_COLUMNS}) SELECT {_PAYMENTS_COLUMNS} "
                             "FROM mon_payments;\nDROP TABLE mon_payments;\n"
                             "ALTER TABLE mon_payments_keyed RENAME TO mon_payments;\nCOMMIT;\n")

SQLITE_APPEND_ONLY = """
CREATE TRIGGER IF NOT EXISTS mon_decisions_no_update BEFORE UPDATE ON mon_decisions
BEGIN SELECT RAISE(ABORT, 'mon_decisions is append-only: the monitoring audit is never edited'); END;
CREATE TRIGGER IF NOT EXISTS mon_decisions_no_delete BEFORE DELETE ON mon_decisions
BEGIN SELECT RAISE(ABORT, 'mon_decisions is append-only: the monitoring audit is never deleted'); END;
"""

POSTGRES_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION mon_decisions_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN RAISE EXCEPTION 'mon_decisions is append-only: the monitoring audit is never edited or deleted'; END
$fn$;
DROP TRIGGER IF EXISTS mon_decisions_append_only ON mon_decisions;
CREATE TRIGGER mon_decisions_append_only BEFORE UPDATE OR DELETE ON mon_decisions
    FOR EACH ROW EXECUTE FUNCTION mon_decisions_append_only();
DROP TRIGGER IF EXISTS mon_decisions_no_truncate ON mon_decisions;
CREATE TRIGGER mon_decisions_no_truncate BEFORE TRUNCATE ON mon_decisions
    FOR EACH STATEMENT EXECUTE FUNCTION mon_decisions_append_only();
"""

# A voucher screened again after a block (corrected and re-sent under the same key) replaces its
# window row; any other outcome keeps the first (a duplicate never counts twice in a window).
PAYMENT_UPSERT = (
    "INSERT INTO mon_payments (adm_div_code, st_year, vtcode, voucher_no, digest, payer, payee, amount_fen, at_us, "
    "outcome, hold_id, sender, recipient) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) "
    "ON CONFLICT (adm_div_code, st_year, vtcode, voucher_no) DO UPDATE SET digest = excluded.digest, "
    "payer = excluded.payer, payee = excluded.payee, amount_fen = excluded.amount_fen, at_us = excluded.at_us, "
    "outcome = excluded.outcome, hold_id = excluded.hold_id, sender = excluded.sender, "
    "recipient = excluded.recipient WHERE mon_payments.outcome = 'block'")
HOLD_INSERT = (
    "INSERT INTO mon_holds (id, adm_div_code, st_year, vtcode, voucher_no, rule_id, grade, amount_fen, payee, "
    "sender, recipient, held_at, status, digest, payload) "
    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,'held',$13,$14)")
HOLD_DECIDE = ("UPDATE mon_holds SET status = $2, decided_by = $3, decided_at = $4, reason = $5 "
               "WHERE id = $1 AND status = 'held'")
DECISION_INSERT = (
    "INSERT INTO mon_decisions (adm_div_code, st_year, vtcode, voucher_no, at, wall_us, rule_id, rule_version, "
    "grade, outcome, who, reason) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)")
_HOLD_COLUMNS = ("id, adm_div_code, st_year, vtcode, voucher_no, rule_id, grade, amount_fen, payee, sender, "
                 "recipient, held_at, status, decided_by, decided_at, reason, digest, payload")


def at_us(at: dt.datetime) -> int:
    return int(at.timestamp() * 1_000_000)


# `screen_reads`: part 0 the key's row (at most one), part 1 a row if the payee was paid before,
# part 2 the pair's payments in the window, newest first. LIMIT inside a subquery in FROM: both
# SQLite and PostgreSQL take it there (SQLite refuses it on a member of a compound SELECT).
_SCREEN_READS = (
    "SELECT 0, digest, outcome, hold_id, sender, 0, 0 FROM mon_payments WHERE adm_div_code = $1 AND st_year = $2 "
    "AND vtcode = $3 AND voucher_no = $4 "
    "UNION ALL SELECT 1, NULL, NULL, NULL, NULL, 0, 0 FROM (SELECT 1 AS one FROM mon_payments WHERE payee = $5 "
    "AND outcome <> 'block' LIMIT 1) AS seen "
    "UNION ALL SELECT 2, NULL, NULL, NULL, NULL, at_us, amount_fen FROM (SELECT at_us, amount_fen FROM mon_payments "
    "WHERE payee = $5 AND payer = $6 AND at_us >= $7 AND outcome <> 'block' ORDER BY at_us DESC LIMIT $8) AS recent")
_PRIOR_READ = ("SELECT digest, outcome, hold_id, sender FROM mon_payments WHERE adm_div_code = $1 AND st_year = $2 "
               "AND vtcode = $3 AND voucher_no = $4")
# `priors`: the keys of one screening in one statement (an OR of equalities, each a search of the
# unique index), padded to one of a few sizes (`storage.db.padded`) so each size is prepared once.
PRIORS_PER_STATEMENT_MAX = 128


@functools.lru_cache(maxsize=16)  # one text per padded size: 1, 2, 4 ... PRIORS_PER_STATEMENT_MAX
def _priors_sql(terms: int) -> str:
    where = " OR ".join(f"(adm_div_code=${4 * n + 1} AND st_year=${4 * n + 2} AND vtcode=${4 * n + 3} "
                        f"AND voucher_no=${4 * n + 4})" for n in range(terms))
    return f"SELECT adm_div_code, st_year, vtcode, voucher_no, digest, outcome, hold_id, sender FROM mon_payments WHERE {where}"


_NO_WINDOW_US = 1 << 62  # no window: no payment is that recent


@dataclass(frozen=True, slots=True)
class Prior:
    """What the store holds for a voucher key screened before."""

    digest: bytes
    outcome: str  # pass | flag | hold | block
    hold_id: str | None
    sender: str


@dataclass(frozen=True, slots=True)
class Hold:
    id: str
    key: VoucherKey
    rule_id: str
    grade: str
    amount_fen: int
    payee: str
    sender: str
    recipient: str
    held_at: str
    status: str  # held | released | rejected
    decided_by: str | None
    decided_at: str | None
    reason: str | None
    digest: bytes
    payload: bytes

    @classmethod
    def from_row(cls, r: Sequence[Any]) -> Hold:
        return cls(r[0], VoucherKey(r[1], r[2], r[3], r[4], 0), r[5], r[6], int(r[7]), r[8], r[9], r[10], r[11],
                   r[12], r[13], r[14], r[15], bytes(r[16]), bytes(r[17]))

    def as_dict(self) -> dict[str, Any]:
        k = self.key
        return {"id": self.id, "voucher": {"adm": k.adm_div_code, "year": k.st_year, "vtcode": k.vtcode,
                                           "no": k.voucher_no},
                "rule_id": self.rule_id, "grade": self.grade, "amount_fen": self.amount_fen, "payee": self.payee,
                "sender": self.sender, "recipient": self.recipient, "held_at": self.held_at, "status": self.status,
                "decided_by": self.decided_by, "decided_at": self.decided_at, "reason": self.reason}


class MonitorStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        # A test gateway's reset (gateway/sim_reset.py) keeps the audit, as everywhere, but shows
        # only the decisions after it: those of the epoch the gateway is in.
        self.decisions_after = 0
        # Screen a lone payment without reading its key, its row the commit's claim (`Monitor.screen`)?
        # On SQLite the read is a reader-connection read on the loop, its cache emptied by every
        # commit, and the claim one statement in the writer's transaction. On PostgreSQL each is a
        # round trip, and the claim's would be inside the serialized commit: the read stays there.
        self.claims = isinstance(db, SqliteDatabase)

    async def new_epoch(self) -> None:
        """A test gateway was reset: the audit stays; reads show only what is decided from now on."""
        row = await self.db.fetchrow("SELECT max(id) FROM mon_decisions")
        self.decisions_after = int(row[0] or 0) if row is not None else 0

    async def init_schema(self) -> None:
        sqlite = isinstance(self.db, SqliteDatabase)
        # mon_decisions' id on SQLite: the rowid, not AUTOINCREMENT. Its rows are never deleted (the
        # append-only trigger), so max(rowid) + 1 never reuses an id (the epoch's `decisions_after`
        # stays sound), and a commit no longer writes sqlite_sequence's page for it (one WAL frame a
        # commit once no other table of the commit is AUTOINCREMENT: bench/results/journal-frames.md). A table
        # made before keeps AUTOINCREMENT (CREATE TABLE IF NOT EXISTS): it numbers the same way.
        serial = "INTEGER PRIMARY KEY" if sqlite else "BIGSERIAL PRIMARY KEY"
        if sqlite:
            await self._migrate_payments()
        await self.db.execute_script(SCHEMA.format(blob=self.db.blob_type, serial=serial, **_PAYMENTS_SHAPE[sqlite]))
        await self.db.execute_script(SQLITE_APPEND_ONLY if sqlite else POSTGRES_APPEND_ONLY)

    async def _migrate_payments(self) -> None:
        """Bring a SQLite mon_payments made as a rowid table (before it was keyed) to the keyed
        shape (once; then a no-op)."""
        row = await self.db.fetchrow("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'mon_payments'")
        if row is not None and "WITHOUT ROWID" not in str(row[0]).upper():
            await self.db.execute_script(SQLITE_PAYMENTS_MIGRATION)

    async def priors(self, keys: Sequence[VoucherKey]) -> dict[tuple[str, str, str, str], Prior]:
        """What the store holds under each key (AdmDivCode, StYear, VtCode, VoucherNo; the flag
        is not part of a payment's key here), for a whole screening: one statement per
        PRIORS_PER_STATEMENT_MAX keys instead of one per payment."""
        found: dict[tuple[str, str, str, str], Prior] = {}
        if len(keys) == 1:  # a one-voucher envelope: the key's lookup alone (no set, sort, padding)
            key = keys[0]
            prior = await self.prior(key)
            if prior is not None:
                found[(key.adm_div_code, key.st_year, key.vtcode, key.voucher_no)] = prior
            return found
        wanted = sorted({(k.adm_div_code, k.st_year, k.vtcode, k.voucher_no) for k in keys})
        for start in range(0, len(wanted), PRIORS_PER_STATEMENT_MAX):
            chunk = padded(wanted[start:start + PRIORS_PER_STATEMENT_MAX], PRIORS_PER_STATEMENT_MAX)
            rows = await self.db.fetch(_priors_sql(len(chunk)), *(v for k in chunk for v in k))
            for r in rows:
                found[(r[0], r[1], r[2], r[3])] = Prior(bytes(r[4]), r[5], r[6], r[7])
        return found

    async def prior(self, key: VoucherKey) -> Prior | None:
        """What the store holds for the key: one lookup of the unique index (a screening that
        needs no history for this payment reads only this)."""
        row = await self.db.fetchrow(_PRIOR_READ, key.adm_div_code, key.st_year, key.vtcode, key.voucher_no)
        return Prior(bytes(row[0]), row[1], row[2], row[3]) if row is not None else None

    async def screen_reads(self, key: VoucherKey, payee: str, payer: str,
                           since: dt.datetime | None) -> tuple[Prior | None, bool, list[tuple[dt.datetime, int]]]:
        """`priors` of one key, `payee_seen` and `recent` (None: no window) in one query: one
        round trip per payment screened instead of three."""
        rows = await self.db.fetch(
            _SCREEN_READS, key.adm_div_code, key.st_year, key.vtcode, key.voucher_no, payee, payer,
            at_us(since) if since is not None else _NO_WINDOW_US, RECENT_MAX)
        prior, seen, recent = None, False, []
        for part, digest, outcome, hold_id, sender, at, fen in rows:
            if part == 0:
                prior = Prior(bytes(digest), outcome, hold_id, sender)
            elif part == 1:
                seen = True
            else:
                recent.append((dt.datetime.fromtimestamp(at / 1e6, dt.UTC), int(fen)))
        return prior, seen, recent

    async def payee_seen(self, payee: str) -> bool:
        row = await self.db.fetchrow("SELECT 1 FROM mon_payments WHERE payee = $1 AND outcome <> 'block' LIMIT 1",
                                     payee)
        return row is not None

    async def recent(self, payee: str, payer: str, since: dt.datetime) -> list[tuple[dt.datetime, int]]:
        rows = await self.db.fetch(
            "SELECT at_us, amount_fen FROM mon_payments WHERE payee = $1 AND payer = $2 AND at_us >= $3 "
            "AND outcome <> 'block' ORDER BY at_us DESC LIMIT $4", payee, payer, at_us(since), RECENT_MAX)
        return [(dt.datetime.fromtimestamp(r[0] / 1e6, dt.UTC), int(r[1])) for r in rows]

    async def hold(self, hold_id: str) -> Hold | None:
        row = await self.db.fetchrow(f"SELECT {_HOLD_COLUMNS} FROM mon_holds WHERE id = $1", hold_id)
        return Hold.from_row(row) if row is not None else None

    async def holds(self, *, status: str | None, after: str, limit: int, sender: str | None = None) -> list[Hold]:
        where, params = ["id > $1"], [after]
        if status is not None:
            params.append(status)
            where.append(f"status = ${len(params)}")
        if sender is not None:
            params.append(sender)
            where.append(f"sender = ${len(params)}")
        rows = await self.db.fetch(f"SELECT {_HOLD_COLUMNS} FROM mon_holds WHERE {' AND '.join(where)} "
                                   f"ORDER BY id LIMIT {int(limit)}", *params)
        return [Hold.from_row(r) for r in rows]

    async def holds_for(self, adm: str, year: str, vtcode: str, no: str) -> list[Hold]:
        rows = await self.db.fetch(f"SELECT {_HOLD_COLUMNS} FROM mon_holds WHERE adm_div_code=$1 AND st_year=$2 "
                                   "AND vtcode=$3 AND voucher_no=$4 ORDER BY id", adm, year, vtcode, no)
        return [Hold.from_row(r) for r in rows]

    async def parties(self, key: VoucherKey) -> tuple[str, str] | None:
        row = await self.db.fetchrow(
            "SELECT sender, recipient FROM mon_payments WHERE adm_div_code=$1 AND st_year=$2 AND vtcode=$3 "
            "AND voucher_no=$4", key.adm_div_code, key.st_year, key.vtcode, key.voucher_no)
        return (row[0], row[1]) if row is not None else None

    async def decisions(self, key: VoucherKey) -> list[dict[str, Any]]:
        """The voucher's decisions in order, then the banks' payment feedback (its receipts)."""
        k = (key.adm_div_code, key.st_year, key.vtcode, key.voucher_no)
        rows = await self.db.fetch(
            "SELECT at, rule_id, rule_version, grade, outcome, who, reason FROM mon_decisions WHERE adm_div_code=$1 "
            f"AND st_year=$2 AND vtcode=$3 AND voucher_no=$4 AND id > $5 ORDER BY id LIMIT {DECISIONS_MAX}", *k,
            self.decisions_after)
        out = [{"at": r[0], "rule_id": r[1], "rule_version": r[2], "grade": r[3], "outcome": r[4], "who": r[5],
                "reason": r[6]} for r in rows]
        receipts = await self.db.fetch(
            "SELECT business_time, sender, id FROM gw_messages WHERE adm_div_code=$1 AND st_year=$2 AND vtcode=$3 "
            "AND voucher_no=$4 AND flag = 1", *k)
        out.extend({"at": r[0], "rule_id": None, "rule_version": None, "grade": None, "outcome": "bank-feedback",
                    "who": r[1], "reason": f"payment receipt, message {r[2]}"} for r in receipts)
        return out
