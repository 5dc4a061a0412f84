"""The dashboard's read model: one row per journaled message with the fields people search by.

The journal keeps the signed envelope as bytes; searching it by payee or amount would parse every
row per request. This index is a side table (`gw_ui_vouchers`) kept incrementally: `catch_up`
reads the messages journaled since the last indexed outbox sequence, in bounded pages, parses
each envelope once and writes its unit, payee, amount and business day. Queries then go through
the table's indexes: one page of a search, one day's GROUP BY for the overview, never a scan of
the journal per request.

Scope (server-side authorization): a bank, the central bank: only messages it sent or received;
the treasury: every message of its AdmDivCodes. `scope_sql` is the one place that says so.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.participants import Participant, Registry
from messages.envelope import parse_envelope
from messages.errors import InputError
from messages.money import parse_fen
from messages.voucher import parse_voucher
from storage.db import Database

__all__ = ["INDEX_PAGE_ROWS", "SEARCH_LIMIT_MAX", "SearchQuery", "VoucherIndex", "index_fields", "scope_sql"]

# Messages indexed per catch-up page: one page of envelopes parsed and written in one transaction
# (~a few ms each); a request catching up a busy minute does a few pages, never the whole day.
INDEX_PAGE_ROWS = 500
# Pages one request may catch up before it answers from what is indexed: a request never waits on
# a backlog of a whole day (the live-update loop and later requests index the rest). Indexing
# parses each envelope, ~1.4 ms a message on a loaded 2-core machine: 4 pages, about 3 s at most.
INDEX_PAGES_PER_REQUEST_MAX = 4
SEARCH_LIMIT_MAX = 200  # one answer: a table a person reads; more is paging with `after`
SEARCH_LIMIT_DEFAULT = 50
TEXT_FILTER_CHARS_MAX = 64  # a voucher number, unit code or payee name a person types
STATUSES = ("ready", "acked", "dead", "receipted")

SCHEMA = """
CREATE TABLE IF NOT EXISTS gw_ui_vouchers (
    seq BIGINT PRIMARY KEY,
    message_id TEXT NOT NULL,
    adm_div_code TEXT NOT NULL,
    st_year TEXT NOT NULL,
    vtcode TEXT NOT NULL,
    voucher_no TEXT NOT NULL,
    flag INTEGER NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    bank TEXT NOT NULL,
    day TEXT NOT NULL,
    business_time TEXT NOT NULL,
    unit TEXT NOT NULL,
    unit_name TEXT NOT NULL,
    payee TEXT NOT NULL,
    amount_fen BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS gw_ui_day ON gw_ui_vouchers (day, adm_div_code);
CREATE INDEX IF NOT EXISTS gw_ui_sender ON gw_ui_vouchers (sender, day);
CREATE INDEX IF NOT EXISTS gw_ui_recipient ON gw_ui_vouchers (recipient, day);
CREATE INDEX IF NOT EXISTS gw_ui_no ON gw_ui_vouchers (voucher_no);
CREATE INDEX IF NOT EXISTS gw_ui_key ON gw_ui_vouchers (adm_div_code, st_year, vtcode, voucher_no);
CREATE INDEX IF NOT EXISTS gw_ui_unit ON gw_ui_vouchers (unit);
CREATE INDEX IF NOT EXISTS gw_ui_amount ON gw_ui_vouchers (amount_fen);
CREATE TABLE IF NOT EXISTS gw_ui_meta (version INTEGER NOT NULL);
"""
# 2: a clearing receipt's amount is its XClearAmt (before, its PayAmt: a refused request counted as
# cleared); a table of version 1 has those rows' amounts indexed again once (`_upgrade`).
INDEX_VERSION = 2
_RECEIPTS_V1 = ("SELECT v.seq, m.payload FROM gw_ui_vouchers v JOIN gw_messages m ON m.seq = v.seq "
                "WHERE v.vtcode = '2301' AND v.flag = 1")

# Several gateway processes on one PostgreSQL each keep the table: a row another one wrote first is skipped.
_INSERT = ("INSERT INTO gw_ui_vouchers (seq, message_id, adm_div_code, st_year, vtcode, voucher_no, flag, sender, "
           "recipient, bank, day, business_time, unit, unit_name, payee, amount_fen) "
           "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16) ON CONFLICT (seq) DO NOTHING")
# Sequence numbers behind the last one indexed that are looked at again: on PostgreSQL with several
# writers a lower sequence can commit after a higher one is visible; such a row is picked up late,
# never lost. A range of this many primary-key probes costs well under a millisecond.
INDEX_LATE_WINDOW = 1000
_NEW = ("SELECT o.seq, m.id, m.adm_div_code, m.st_year, m.vtcode, m.voucher_no, m.flag, m.sender, m.recipient, "
        "m.business_time, m.payload FROM gw_outbox o JOIN gw_messages m ON m.seq = o.seq "
        "WHERE o.seq > $1 AND NOT EXISTS (SELECT 1 FROM gw_ui_vouchers v WHERE v.seq = o.seq) "
        "ORDER BY o.seq LIMIT $2")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def index_fields(payload: bytes) -> tuple[str, str, str, int, str]:
    """(unit code, unit name, payee, amount fen, PayBankCode) of a delivery envelope; blanks and 0
    for what a voucher type does not carry. A receipt's amount is what was done: XPayAmt, what the
    bank paid; a clearing receipt's XClearAmt, what the central bank cleared (0.00 when refused)."""
    try:
        body = parse_envelope(payload).bodies[0]
        doc = parse_voucher(body.voucher)
    except (InputError, ValueError):
        return "", "", "", 0, ""
    done = (doc.get("XPayAmt") or doc.get("XClearAmt")) if body.flag == 1 else ""
    amount_text = done or doc.get("PayAmt") or doc.get("SumAmt") or doc.get("Amt")
    try:
        amount = parse_fen(amount_text) if amount_text else 0
    except (InputError, ValueError):
        amount = 0
    return (doc.get("AgencyCode"), doc.get("AgencyName"), doc.get("PayeeAcctName"), amount, doc.get("PayBankCode"))


def scope_sql(participant: Participant, first: int) -> tuple[str, list[Any]]:
    """The WHERE clause (alias v) and its parameters (numbered from `first`) of what `participant` may see."""
    if participant.role == "treasury":
        marks = ",".join(f"${first + i}" for i in range(len(participant.adm_div_codes)))
        return f"v.adm_div_code IN ({marks})", list(participant.adm_div_codes)
    return f"(v.sender = ${first} OR v.recipient = ${first})", [participant.id]


@dataclass(frozen=True, slots=True)
class SearchQuery:
    no: str = ""
    unit: str = ""
    payee: str = ""
    min_fen: int | None = None
    max_fen: int | None = None
    day: str = ""
    status: str = ""
    vtcode: str = ""
    limit: int = SEARCH_LIMIT_DEFAULT
    after: int = 0  # the seq of the last row of the previous page

    @classmethod
    def parse(cls, query: Any) -> SearchQuery | tuple[str, str]:
        """From `GET /v1/search`'s query; or (parameter, why) for a coded 400 naming it."""
        known = {"no", "unit", "payee", "min_fen", "max_fen", "date", "status", "vtcode", "limit", "after"}
        for name in query:
            if name not in known:
                return name, f"unknown query parameter; /v1/search takes {', '.join(sorted(known))}"
            if len(query.getall(name)) > 1:
                return name, "given more than once"
        texts: dict[str, str] = {}
        for name in ("no", "unit", "payee", "vtcode"):
            text = query.get(name, "").strip()
            if len(text) > TEXT_FILTER_CHARS_MAX or "\x00" in text:
                return name, f"at most {TEXT_FILTER_CHARS_MAX} characters, no NUL"
            texts[name] = text
        amounts: dict[str, int | None] = {}
        for name in ("min_fen", "max_fen"):
            if name not in query:
                amounts[name] = None
                continue
            text = query[name]
            if not _digits(text) or len(text) > 18:
                return name, "an amount in fen: a whole number from 0 to 10^18 - 1"
            amounts[name] = int(text)
        day = query.get("date", "")
        if "date" in query:
            try:
                if not _DAY.fullmatch(day):
                    raise ValueError
                dt.date.fromisoformat(day)
            except ValueError:
                return "date", "a date YYYY-MM-DD"
        status = query.get("status", "")
        if "status" in query and status not in STATUSES:
            return "status", f"one of {', '.join(STATUSES)}"
        limit_text, after_text = query.get("limit", str(SEARCH_LIMIT_DEFAULT)), query.get("after", "0")
        if not _digits(limit_text) or not 1 <= int(limit_text) <= SEARCH_LIMIT_MAX:
            return "limit", f"an integer from 1 to {SEARCH_LIMIT_MAX}"
        if not _digits(after_text) or len(after_text) > 18:
            return "after", "the `next` of the previous page (a whole number)"
        return cls(texts["no"], texts["unit"], texts["payee"], amounts["min_fen"], amounts["max_fen"], day, status,
                   texts["vtcode"], int(limit_text), int(after_text))


class VoucherIndex:
    """The side table and its incremental upkeep; queries scoped per participant."""

    def __init__(self, db: Database, registry: Registry) -> None:
        self.db = db
        self.registry = registry
        self._lock = asyncio.Lock()  # one catch-up at a time: two would insert the same rows
        self._ready = False
        self._last = 0

    async def _init(self) -> None:
        if self._ready:
            return
        await self.db.execute_script(SCHEMA)
        await self._upgrade()
        row = await self.db.fetchrow("SELECT max(seq) FROM gw_ui_vouchers")
        self._last = int(row[0]) if row is not None and row[0] is not None else 0
        self._ready = True

    async def _upgrade(self) -> None:
        """Bring a table indexed by an older version up to `INDEX_VERSION` (once, in one transaction)."""
        row = await self.db.fetchrow("SELECT max(version) FROM gw_ui_meta")
        if row is not None and row[0] is not None and int(row[0]) >= INDEX_VERSION:
            return
        async with self.db.transaction() as tx:
            fixed = [(index_fields(bytes(r[1]))[3], int(r[0])) for r in await tx.fetch(_RECEIPTS_V1)]
            if fixed:
                await tx.executemany("UPDATE gw_ui_vouchers SET amount_fen = $1 WHERE seq = $2", fixed)
            await tx.execute("DELETE FROM gw_ui_meta")
            await tx.execute(f"INSERT INTO gw_ui_meta (version) VALUES ({INDEX_VERSION})")

    def _bank_of(self, sender: str, recipient: str, adm_div_code: str, pay_bank_code: str) -> str:
        """The bank a message is about: its sender or recipient, or (a quota notice the treasury
        sends the central bank) the bank its PayBankCode names."""
        for pid in (sender, recipient):
            p = self.registry.get(pid)
            if p is not None and p.role == "bank":
                return pid
        by_code = self.registry.bank_for_code(pay_bank_code, adm_div_code) if pay_bank_code else None
        return by_code.id if by_code is not None else ""

    async def catch_up(self, pages_max: int = INDEX_PAGES_PER_REQUEST_MAX) -> int:
        """Index what was journaled since the last call, at most `pages_max` pages; rows indexed."""
        done = 0
        async with self._lock:
            await self._init()
            floor = max(0, self._last - INDEX_LATE_WINDOW)
            for _ in range(pages_max):
                rows = await self.db.fetch(_NEW, floor, INDEX_PAGE_ROWS)
                if not rows:
                    break
                out = []
                for r in rows:
                    unit, unit_name, payee, amount, pay_bank = index_fields(bytes(r[10]))
                    business_time = str(r[9])
                    out.append((int(r[0]), r[1], r[2], r[3], r[4], r[5], int(r[6]), r[7], r[8],
                                self._bank_of(r[7], r[8], r[2], pay_bank), business_time[:10], business_time, unit, unit_name,
                                payee, amount))
                async with self.db.transaction() as tx:
                    await tx.executemany(_INSERT, out)
                floor = out[-1][0]
                self._last = max(self._last, floor)
                done += len(out)
                if len(rows) < INDEX_PAGE_ROWS:
                    break
        return done

    @property
    def last_seq(self) -> int:
        return self._last

    async def search(self, participant: Participant, q: SearchQuery) -> dict[str, Any]:
        await self.catch_up()
        where, params = scope_sql(participant, 1)
        clauses = [where, f"v.seq > ${len(params) + 1}"]
        params.append(q.after)

        def add(sql: str, value: Any) -> None:
            params.append(value)
            clauses.append(sql.replace("?", f"${len(params)}"))

        if q.no:
            add("v.voucher_no = ?", q.no)
        if q.unit:
            add("(v.unit = ? OR v.unit_name = ?)", q.unit)
        if q.payee:
            add("v.payee LIKE ?", f"%{_like(q.payee)}%")
            clauses[-1] += " ESCAPE '\\'"
        if q.min_fen is not None:
            add("v.amount_fen >= ?", q.min_fen)
        if q.max_fen is not None:
            add("v.amount_fen <= ?", q.max_fen)
        if q.day:
            add("v.day = ?", q.day)
        if q.vtcode:
            add("v.vtcode = ?", q.vtcode)
        if q.status == "receipted":
            clauses.append("EXISTS (SELECT 1 FROM gw_ui_vouchers r WHERE r.adm_div_code = v.adm_div_code AND "
                           "r.st_year = v.st_year AND r.vtcode = v.vtcode AND r.voucher_no = v.voucher_no "
                           "AND r.flag = 1) AND v.flag = 0")
        elif q.status:
            add("o.state = ?", q.status)
        params.append(q.limit + 1)
        rows = await self.db.fetch(
            "SELECT v.seq, v.message_id, v.adm_div_code, v.st_year, v.vtcode, v.voucher_no, v.flag, v.sender, "
            "v.recipient, v.day, v.business_time, v.unit, v.unit_name, v.payee, v.amount_fen, o.state "
            "FROM gw_ui_vouchers v JOIN gw_outbox o ON o.seq = v.seq "
            f"WHERE {' AND '.join(clauses)} ORDER BY v.seq LIMIT ${len(params)}", *params)
        items = [_row(r) for r in rows[:q.limit]]
        return {"items": items, "next": items[-1]["seq"] if len(rows) > q.limit and items else None}

    async def overview(self, participant: Participant, day: str) -> dict[str, Any]:
        """One business day: counts and amounts by bank and voucher type; per bank the payments paid,
        the clearing filed (requests as sent) and cleared (the central bank's accepted receipts,
        XClearAmt: a refused one is 0.00), the quota notified; one indexed GROUP BY over the day's rows."""
        await self.catch_up()
        where, params = scope_sql(participant, 2)
        rows = await self.db.fetch(
            "SELECT v.bank, v.vtcode, v.flag, COUNT(*), SUM(v.amount_fen) FROM gw_ui_vouchers v "
            f"WHERE v.day = $1 AND {where} GROUP BY v.bank, v.vtcode, v.flag ORDER BY v.bank, v.vtcode, v.flag",
            day, *params)
        groups = [{"bank": r[0], "vtcode": r[1], "flag": int(r[2]), "count": int(r[3]),
                   "amount_fen": int(r[4] or 0)} for r in rows]
        banks: dict[str, dict[str, int]] = {}
        for g in groups:
            b = banks.setdefault(g["bank"] or "-", {"paid_fen": 0, "clearing_filed_fen": 0, "cleared_fen": 0,
                                                    "quota_fen": 0})
            if g["vtcode"] in ("5201", "8202") and g["flag"] == 1:
                b["paid_fen"] += g["amount_fen"]
            elif g["vtcode"] == "2301":
                b["cleared_fen" if g["flag"] == 1 else "clearing_filed_fen"] += g["amount_fen"]
            elif g["vtcode"] in ("5108", "5106") and g["flag"] == 0:
                b["quota_fen"] += g["amount_fen"]
        for b in banks.values():
            b["advances_outstanding_fen"] = max(0, b["paid_fen"] - b["cleared_fen"])
        return {"date": day, "groups": groups, "banks": banks,
                "totals": {"count": sum(g["count"] for g in groups),
                           "amount_fen": sum(g["amount_fen"] for g in groups if g["flag"] == 0)}}

    async def visible(self, participant: Participant, keys: Sequence[str]) -> bool:
        """True when the participant may see the voucher `adm/year/vtcode/no`."""
        await self.catch_up()
        where, params = scope_sql(participant, 5)
        row = await self.db.fetchrow(
            "SELECT 1 FROM gw_ui_vouchers v WHERE v.adm_div_code = $1 AND v.st_year = $2 AND v.vtcode = $3 AND "
            f"v.voucher_no = $4 AND {where} LIMIT 1", *keys, *params)
        return row is not None


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes "²" and other digits int() refuses."""
    return text.isascii() and text.isdigit()


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _row(r: Sequence[Any]) -> dict[str, Any]:
    return {"seq": int(r[0]), "message_id": r[1], "voucher": f"{r[2]}/{r[3]}/{r[4]}/{r[5]}",
            "adm_div_code": r[2], "st_year": r[3], "vtcode": r[4], "voucher_no": r[5], "flag": int(r[6]),
            "sender": r[7], "recipient": r[8], "date": r[9], "business_time": r[10], "unit": r[11],
            "unit_name": r[12], "payee": r[13], "amount_fen": int(r[14]), "state": r[15]}
