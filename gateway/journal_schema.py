"""The journal's tables (gw_messages, gw_outbox, gw_trace) and the migration of older journals."""

from __future__ import annotations

__all__ = ["ACKED_AFTER_SQLITE", "MESSAGE_COLUMNS", "OUTBOX_HIGH_WATER_SQLITE", "OUTBOX_REKEY_SQLITE", "OUTBOX_SEQ",
           "PG_MIGRATION", "SCHEMA", "SQLITE_MIGRATION", "TRACE_AFTER_SQLITE"]

# gw_messages.owner: whose numbering the key belongs to. Vouchers are numbered by their senders,
# each on its own, so the key of an original is unique per sender (owner = sender) and the key of
# a receipt per original (owner = the original's sender, which is the receipt's recipient).
# Another participant can therefore neither claim nor probe a key of someone else's.
_MESSAGES_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    id TEXT PRIMARY KEY,
    adm_div_code TEXT NOT NULL,
    st_year TEXT NOT NULL,
    vtcode TEXT NOT NULL,
    voucher_no TEXT NOT NULL,
    flag INTEGER NOT NULL,
    digest {blob} NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    original_id TEXT,
    payload {blob} NOT NULL,
    received_us BIGINT NOT NULL,
    business_time TEXT NOT NULL,
    owner TEXT NOT NULL,
    trace_after BIGINT,
    UNIQUE (adm_div_code, st_year, vtcode, voucher_no, flag, owner)
);
"""
_OUTBOX_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    seq {outbox_seq},
    message_id TEXT NOT NULL UNIQUE REFERENCES gw_messages(id),
    recipient TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_us BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    acked_us BIGINT,
    acked_time TEXT,
    acked_after BIGINT
);
"""
_OUTBOX_COLUMNS = ("seq, message_id, recipient, state, attempts, next_attempt_us, last_error, acked_us, acked_time, "
                   "acked_after")
# gw_outbox.seq is the inbox cursor: never given twice, even after every row is deleted (a test
# gateway's reset, gateway.sim_reset), so a cursor or an ack of before names nothing of after.
# PostgreSQL: a sequence (DELETE does not reset it). SQLite: a plain INTEGER PRIMARY KEY, numbered
# by the journal from the high-water mark below (`Journal._commit`), not AUTOINCREMENT, whose
# sqlite_sequence row cost every commit one more WAL frame (1 of the 15 of a one-voucher commit).
OUTBOX_SEQ = {"sqlite": "INTEGER PRIMARY KEY", "postgres": "BIGSERIAL PRIMARY KEY"}
SCHEMA = _MESSAGES_TABLE.replace("{table}", "gw_messages") + _OUTBOX_TABLE.replace("{table}", "gw_outbox") + """
DROP INDEX IF EXISTS gw_outbox_ready;
CREATE INDEX IF NOT EXISTS gw_outbox_pending ON gw_outbox (recipient, seq) WHERE state = 'ready';
CREATE TABLE IF NOT EXISTS gw_trace (
    id {serial},
    adm_div_code TEXT NOT NULL,
    st_year TEXT NOT NULL,
    vtcode TEXT NOT NULL,
    voucher_no TEXT NOT NULL,
    flag INTEGER NOT NULL,
    message_id TEXT,
    step TEXT NOT NULL,
    participant TEXT NOT NULL,
    wall_us BIGINT NOT NULL,
    business_time TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS gw_trace_key ON gw_trace (adm_div_code, st_year, vtcode, voucher_no);
"""

# gw_messages.trace_after: the admission's place among gw_trace rows (the largest gw_trace id when
# its commit began; NULL in journals written before, which hold an `admitted` trace row instead).
# The admission's steps are shown from the message row, right after that id
# (`gateway.trace_rows.with_admissions`): no gw_trace row per message (its table page and index page
# were 2 of the ~16 WAL pages of a one-voucher commit).
TRACE_AFTER_SQLITE = "ALTER TABLE gw_messages ADD COLUMN trace_after BIGINT"

# gw_outbox.acked_time / acked_after: an ack's business time and its place among gw_trace rows (the
# largest gw_trace id when it was written; NULL for rows acked before, which have a `delivered`
# trace row instead). The `delivered` step is shown from the outbox row
# (`gateway.trace_rows.with_admissions`): no gw_trace row per delivery (its table page, and an index
# page of gw_trace_key at a random place per voucher key: ~2 of the ~10 WAL pages a voucher cost).
ACKED_AFTER_SQLITE = "ALTER TABLE gw_outbox ADD COLUMN acked_time TEXT;\nALTER TABLE gw_outbox ADD COLUMN acked_after BIGINT;\n"

# gw_outbox_pending holds only the rows waiting for delivery (the inbox and the deliverer read
# those, with `state = 'ready'`), so it stays as small as the backlog however long the journal
# grows. The index it replaced, gw_outbox_ready (recipient, state, seq) over every row, also
# drew SQLite's planner into scanning all of a recipient's rows for an ack of 16 ids or more
# (`state <> 'acked'` matched it): an ack cost grew with the journal (~130 µs a row at 30,000).

# A journal made before keys were scoped by owner has no `owner` column and a UNIQUE without it.
# The owner of each row follows from what it holds (an original's sender, a receipt's recipient).
_OWNER_OF_ROW = "CASE WHEN flag = 0 THEN sender ELSE recipient END"
MESSAGE_COLUMNS = ("id, adm_div_code, st_year, vtcode, voucher_no, flag, digest, sender, recipient, original_id, "
                    "payload, received_us, business_time")
# SQLite cannot drop a table constraint: copy into a new table and rename it (the documented
# procedure, foreign keys off meanwhile; gw_outbox's reference then names the new table).
SQLITE_MIGRATION = ("PRAGMA foreign_keys=OFF;\nBEGIN IMMEDIATE;\n"
                     + _MESSAGES_TABLE.replace("{table}", "gw_messages_owned")
                     + f"INSERT INTO gw_messages_owned ({MESSAGE_COLUMNS}, owner) SELECT {MESSAGE_COLUMNS}, "
                       f"{_OWNER_OF_ROW} FROM gw_messages;\n"
                     "DROP TABLE gw_messages;\nALTER TABLE gw_messages_owned RENAME TO gw_messages;\n"
                     "COMMIT;\nPRAGMA foreign_keys=ON;\n")
# PostgreSQL: in place, once (the script runs under an advisory lock, so workers do not race).
PG_MIGRATION = f"""
DO $migrate$ BEGIN
IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
               AND table_name = 'gw_messages' AND column_name = 'owner') THEN
    ALTER TABLE gw_messages ADD COLUMN owner TEXT;
    UPDATE gw_messages SET owner = {_OWNER_OF_ROW};
    ALTER TABLE gw_messages ALTER COLUMN owner SET NOT NULL;
    EXECUTE (SELECT 'ALTER TABLE gw_messages DROP CONSTRAINT ' || quote_ident(conname) FROM pg_constraint
             WHERE conrelid = 'gw_messages'::regclass AND contype = 'u' LIMIT 1);
    ALTER TABLE gw_messages ADD UNIQUE (adm_div_code, st_year, vtcode, voucher_no, flag, owner);
END IF;
END $migrate$;
ALTER TABLE gw_messages ADD COLUMN IF NOT EXISTS trace_after BIGINT;
ALTER TABLE gw_outbox ADD COLUMN IF NOT EXISTS acked_time TEXT;
ALTER TABLE gw_outbox ADD COLUMN IF NOT EXISTS acked_after BIGINT;
"""

# SQLite: the largest seq ever deleted from gw_outbox (one row, kept by a trigger on every DELETE).
# The next seq is one above both it and the largest present (`Journal._commit`), which is
# AUTOINCREMENT's rule (one above the largest ever given) without a write per commit: deletes are
# rare (a reset), inserts are every commit.
_OUTBOX_HWM_TABLE = ("CREATE TABLE IF NOT EXISTS gw_outbox_hwm (id INTEGER PRIMARY KEY CHECK (id = 1), "
                     "seq INTEGER NOT NULL);\n")
OUTBOX_HIGH_WATER_SQLITE = _OUTBOX_HWM_TABLE + """
CREATE TRIGGER IF NOT EXISTS gw_outbox_hwm_kept AFTER DELETE ON gw_outbox BEGIN
    INSERT INTO gw_outbox_hwm (id, seq) VALUES (1, OLD.seq)
        ON CONFLICT (id) DO UPDATE SET seq = max(seq, excluded.seq);
END;
"""
# A journal made before: gw_outbox with AUTOINCREMENT. Copied into a table without it (the same
# procedure as SQLITE_MIGRATION), its sqlite_sequence value (the largest seq ever given) kept as the
# high-water mark, in one transaction; the trigger is made after it (`Journal.init_schema`).
OUTBOX_REKEY_SQLITE = ("PRAGMA foreign_keys=OFF;\nBEGIN IMMEDIATE;\n"
                       + _OUTBOX_TABLE.replace("{table}", "gw_outbox_keyed").replace("{outbox_seq}",
                                                                                      OUTBOX_SEQ["sqlite"])
                       + f"INSERT INTO gw_outbox_keyed ({_OUTBOX_COLUMNS}) SELECT {_OUTBOX_COLUMNS} FROM gw_outbox;\n"
                       + _OUTBOX_HWM_TABLE
                       + "INSERT INTO gw_outbox_hwm (id, seq) SELECT 1, COALESCE((SELECT seq FROM sqlite_sequence "
                         "WHERE name = 'gw_outbox'), 0) WHERE true ON CONFLICT (id) DO UPDATE SET seq = "
                         "max(seq, excluded.seq);\n"
                         "DROP TABLE gw_outbox;\nALTER TABLE gw_outbox_keyed RENAME TO gw_outbox;\n"
                         "CREATE INDEX gw_outbox_pending ON gw_outbox (recipient, seq) WHERE state = 'ready';\n"
                         "COMMIT;\nPRAGMA foreign_keys=ON;\n")
