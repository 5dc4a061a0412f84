"""The journal's tables (gw_messages, gw_outbox, gw_trace) and the migration of older journals."""

from __future__ import annotations

__all__ = ["ACKED_AFTER_SQLITE", "MESSAGE_COLUMNS", "PG_MIGRATION", "PG_SEQ_MIGRATION", "SCHEMA", "SEQ_HIGH_WATER_SQLITE",
           "SEQ_MIGRATION_SQLITE", "SHAPES", "SQLITE_MIGRATION", "TRACE_AFTER_SQLITE"]

# gw_messages.owner: whose numbering the key belongs to. Vouchers are numbered by their senders,
# each on its own, so the key of an original is unique per sender (owner = sender) and the key of
# a receipt per original (owner = the original's sender, which is the receipt's recipient).
# Another participant can therefore neither claim nor probe a key of someone else's.
_MESSAGES_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    id {message_id},
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
    seq {message_seq},
    UNIQUE (adm_div_code, st_year, vtcode, voucher_no, flag, owner)
);
"""
_OUTBOX_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    seq {outbox_seq} REFERENCES gw_messages(seq),
    message_id TEXT NOT NULL,
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
# gw_messages.seq: the message's place in the journal, and its outbox row's key (gw_outbox.seq,
# the inbox cursor). A message is found by id through gw_messages' id index, and its outbox row from
# there by seq: the outbox has no index on message_id (it was one more b-tree, a WAL frame, per
# voucher). The seq is never given twice, even after every row is deleted (a test gateway's reset,
# gateway.sim_reset), so a cursor or an ack of before names nothing of after. PostgreSQL: a sequence
# (DELETE does not reset it). SQLite: a plain INTEGER PRIMARY KEY numbered by the journal from the
# high-water mark below (`Journal._commit`), not AUTOINCREMENT, whose sqlite_sequence row cost
# every commit one more WAL frame.
SHAPES = {
    "sqlite": {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "message_id": "TEXT NOT NULL UNIQUE",
               "message_seq": "INTEGER PRIMARY KEY", "outbox_seq": "INTEGER PRIMARY KEY"},
    "postgres": {"serial": "BIGSERIAL PRIMARY KEY", "message_id": "TEXT PRIMARY KEY",
                 "message_seq": "BIGSERIAL UNIQUE", "outbox_seq": "BIGINT PRIMARY KEY"},
}
SCHEMA = _MESSAGES_TABLE.replace("{table}", "gw_messages") + _OUTBOX_TABLE.replace("{table}", "gw_outbox") + """
DROP INDEX IF EXISTS gw_outbox_ready;
CREATE INDEX IF NOT EXISTS gw_outbox_pending ON gw_outbox (recipient, seq) WHERE state = 'ready';
CREATE INDEX IF NOT EXISTS gw_outbox_dead ON gw_outbox (seq) WHERE state = 'dead';
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
# gw_outbox_dead, as small as the dead letters: the DLQ's pages and the counts `/healthz` gives
# (`Outbox.backlog`) read it, not every row ever delivered (a full scan of gw_outbox for each
# health probe, seconds at tens of millions of rows: bench/results/live-memory.md). A row enters it
# only when dead-lettered: nothing is written to it for a voucher delivered.

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

# SQLite: the largest seq ever deleted from gw_messages (one row, kept by a trigger on every DELETE).
# The next seq is one above both it and the largest present (`Journal._commit`), which is
# AUTOINCREMENT's rule (one above the largest ever given) without a write per commit: deletes are
# rare (a reset), inserts are every commit.
_SEQ_HWM_TABLE = ("CREATE TABLE IF NOT EXISTS gw_messages_hwm (id INTEGER PRIMARY KEY CHECK (id = 1), "
                  "seq INTEGER NOT NULL);\n")
SEQ_HIGH_WATER_SQLITE = _SEQ_HWM_TABLE + """
CREATE TRIGGER IF NOT EXISTS gw_messages_hwm_kept AFTER DELETE ON gw_messages BEGIN
    INSERT INTO gw_messages_hwm (id, seq) VALUES (1, OLD.seq)
        ON CONFLICT (id) DO UPDATE SET seq = max(seq, excluded.seq);
END;
"""
# A journal made before: gw_outbox keyed by its own AUTOINCREMENT seq with a UNIQUE message_id,
# gw_messages without seq. Both copied into the new shape in one transaction (the procedure of
# SQLITE_MIGRATION): each message takes its outbox row's seq (a message without one, never
# expected, one above all), the largest seq ever given (sqlite_sequence) is kept as the high-water
# mark. The trigger is made after it (`Journal.init_schema`).
_OUTBOX_COLUMNS = ("seq, message_id, recipient, state, attempts, next_attempt_us, last_error, acked_us, acked_time, "
                   "acked_after")
_KEPT_COLUMNS = f"{MESSAGE_COLUMNS}, owner, trace_after"
SEQ_MIGRATION_SQLITE = ("PRAGMA foreign_keys=OFF;\nBEGIN IMMEDIATE;\n"
                        + _MESSAGES_TABLE.replace("{table}", "gw_messages_seq")
                        + _OUTBOX_TABLE.replace("{table}", "gw_outbox_seq")
                        + f"INSERT INTO gw_messages_seq (seq, {_KEPT_COLUMNS}) SELECT o.seq, "
                        + ", ".join(f"m.{c.strip()}" for c in _KEPT_COLUMNS.split(","))
                        + " FROM gw_messages m JOIN gw_outbox o ON o.message_id = m.id ORDER BY o.seq;\n"
                        + f"INSERT INTO gw_messages_seq ({_KEPT_COLUMNS}) SELECT {_KEPT_COLUMNS} FROM gw_messages m "
                          "WHERE NOT EXISTS (SELECT 1 FROM gw_outbox o WHERE o.message_id = m.id) ORDER BY m.rowid;\n"
                        + f"INSERT INTO gw_outbox_seq ({_OUTBOX_COLUMNS}) SELECT {_OUTBOX_COLUMNS} FROM gw_outbox;\n"
                        + _SEQ_HWM_TABLE
                        + "INSERT INTO gw_messages_hwm (id, seq) SELECT 1, COALESCE((SELECT seq FROM sqlite_sequence "
                          "WHERE name = 'gw_outbox'), 0) WHERE true ON CONFLICT (id) DO UPDATE SET seq = "
                          "max(seq, excluded.seq);\n"
                          "DROP TABLE gw_outbox;\nDROP TABLE gw_messages;\n"
                          "ALTER TABLE gw_messages_seq RENAME TO gw_messages;\n"
                          "ALTER TABLE gw_outbox_seq RENAME TO gw_outbox;\n"
                          "CREATE INDEX gw_outbox_pending ON gw_outbox (recipient, seq) WHERE state = 'ready';\n"
                          "CREATE INDEX gw_outbox_dead ON gw_outbox (seq) WHERE state = 'dead';\n"
                          "COMMIT;\nPRAGMA foreign_keys=ON;\n")
# PostgreSQL, in place, once: gw_messages.seq from the outbox rows (a sequence of its own, started
# above the outbox's, which then stops numbering), the outbox keyed by it.
PG_SEQ_MIGRATION = """
DO $seq$ DECLARE outbox_seq TEXT; outbox_last BIGINT := 0; BEGIN
IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
               AND table_name = 'gw_messages' AND column_name = 'seq') THEN
    ALTER TABLE gw_messages ADD COLUMN seq BIGINT;
    UPDATE gw_messages m SET seq = o.seq FROM gw_outbox o WHERE o.message_id = m.id;
    CREATE SEQUENCE gw_messages_seq_seq OWNED BY gw_messages.seq;
    outbox_seq := pg_get_serial_sequence('gw_outbox', 'seq');
    IF outbox_seq IS NOT NULL THEN
        EXECUTE format('SELECT last_value FROM %s', outbox_seq) INTO outbox_last;
    END IF;
    PERFORM setval('gw_messages_seq_seq', GREATEST(outbox_last, (SELECT COALESCE(max(seq), 0) FROM gw_messages), 1));
    UPDATE gw_messages SET seq = nextval('gw_messages_seq_seq') WHERE seq IS NULL;
    ALTER TABLE gw_messages ALTER COLUMN seq SET DEFAULT nextval('gw_messages_seq_seq'),
        ALTER COLUMN seq SET NOT NULL, ADD UNIQUE (seq);
    ALTER TABLE gw_outbox DROP CONSTRAINT IF EXISTS gw_outbox_message_id_fkey,
        DROP CONSTRAINT IF EXISTS gw_outbox_message_id_key, ALTER COLUMN seq DROP DEFAULT,
        ADD FOREIGN KEY (seq) REFERENCES gw_messages(seq);
END IF;
END $seq$;
"""
