"""The central bank's state as typed records (msgspec `Struct`s), saved and restored by the library.

`PbocState` is the whole state: what `PbocCore.snapshot()` encodes (`sim.codec`) and
`load_snapshot()` decodes, nothing hand-written in between. Keys that are tuples in the public
views are strings in the records (a JSON object's keys are strings):

* a quota line: `quota_key(AdmDivCode, bank, pay type, FundTypeCode, ClearDate)`;
* what was cleared: `cleared_key(AdmDivCode, StYear, VtCode, VoucherNo, bank)`;
* a decided 2301 / 2302: `decision_key(voucher key, bank)`;

each the tuple's parts joined by `SEP`.

The encoder writes a dict's keys sorted, not in the order they were added. The order matters
where the oldest entry is forgotten (`CLEARED_MAX`, `DECISIONS_MAX`) and in the order the quota
lines are listed, so each such entry carries `seq`, its place in the order they were added, and
`reorder()` puts a decoded dict back in that order.

The many small records (`Movement`, `Cleared`, `Decision`) are encoded as arrays (no field names
repeated per record) and, holding no reference cycles, are not tracked by the garbage collector
(`gc=False`): a restored busy day creates hundreds of thousands of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Literal, TypeVar

import msgspec

from ledger.model import Transfer
from messages.envelope import VoucherKey
from sim.effects import SendVoucher

__all__ = [
    "OLDER_VERSIONS",
    "SEP",
    "SNAPSHOT_VERSION",
    "Balances",
    "Cleared",
    "ClearedBook",
    "ClearedGroup",
    "ClearedKey",
    "Decision",
    "KeyedView",
    "Movement",
    "PbocState",
    "QuotaKey",
    "QuotaLine",
    "Totals",
    "cleared_key",
    "cleared_key_of",
    "decision_key",
    "flat_matched",
    "flatten_decisions",
    "quota_key",
    "quota_key_of",
    "reorder",
]

# The layout of `PbocCore.snapshot()`. 2: refunds matched to what was cleared, clearing balances.
# 3: quotas keyed by fund type too. 4: decisions and what was cleared are kept per bank (each
# bank numbers its own vouchers). 5: typed records encoded by msgspec, running totals. 6: a
# decision's `matched` flat (key, fen, key, fen, ...), not a pair each; version 5 still loads.
# 7: what was cleared in a `ClearedBook` (a 2301's payments under it, named by VoucherNo in its
# decision's `matched`); versions 5 and 6 (a dict of every entry) still load.
# 8: quotas keyed by AdmDivCode too (each division's treasury notifies its own quota; a bank serving
# two divisions has two); an older snapshot's lines are the configured division's (`loaded`).
# 9: what was cleared keyed by budget year too (each treasury numbers its vouchers afresh each year:
# two years' payments of one number are two); an older snapshot's entries are of the year `loaded` states.
# 10: running sums of the movements (`Balances`); an older snapshot has none, summed on first use.
SNAPSHOT_VERSION = 10
OLDER_VERSIONS = (5, 6, 7, 8, 9)

# A clearing quota is keyed (AdmDivCode, PayBankCode, PayTypeCode, FundTypeCode, ClearDate).
QuotaKey = tuple[str, str, str, str, dt.date | None]
# What was cleared is keyed (AdmDivCode, StYear, VtCode, VoucherNo, bank code): VtCode 2301 for a
# clearing request (its own StYear), 5201 / 8202 for a payment one of its details named (the year
# `pboc_sim.cleared.payment_year` reads: a Detail names none); the bank that cleared it, since each
# bank numbers its own vouchers (two banks' 2301 No. X are two requests).
ClearedKey = tuple[str, str, str, str, str]


# Joins the parts of a record key: a control character, which no voucher field can hold (XML 1.0
# allows none but tab, LF and CR), so two different tuples never make the same key.
SEP = "\x1f"


def quota_key(adm: str, bank: str, pay_type: str, fund_type: str, day: dt.date | None) -> str:
    """The record key of a quota line."""
    return SEP.join((adm, bank, pay_type, fund_type, "" if day is None else day.isoformat()))


def quota_key_of(key: str) -> QuotaKey:
    adm, bank, pay_type, fund_type, day = key.split(SEP)
    return adm, bank, pay_type, fund_type, dt.date.fromisoformat(day) if day else None


# Parts of a quota key before version 8 (no AdmDivCode).
_QUOTA_KEY_PARTS_V7 = 4


def cleared_key(adm: str, year: str, vtcode: str, voucher_no: str, bank: str) -> str:
    """The record key of what was cleared."""
    return SEP.join((adm, year, vtcode, voucher_no, bank))


def cleared_key_of(key: str) -> ClearedKey:
    adm, year, vtcode, voucher_no, bank = key.split(SEP)
    return adm, year, vtcode, voucher_no, bank


def decision_key(key: VoucherKey, bank: str) -> str:
    """A decided 2301 / 2302: its key and the bank that sent it (its PayBankCode, which the
    gateway checked names the sender): each bank numbers its own vouchers."""
    return f"{bank}{SEP}{key}"


class QuotaLine(msgspec.Struct, gc=False):
    """Clearing quota of one (division, bank, pay type, fund type, day)."""

    notified_fen: int = 0
    used_fen: int = 0  # cleared by normal (ClearType 0) requests on the day
    replenished_fen: int = 0  # cleared by ClearType 1 on the next business day
    notices: list[str] = []
    seq: int = 0  # its place among the lines (module doc)

    @property
    def remaining_fen(self) -> int:
        return self.notified_fen - self.used_fen

    @property
    def advance_cap_fen(self) -> int:
        """What may still be replenished: the quota not cleared on the day, less replenishments."""
        return self.notified_fen - self.used_fen - self.replenished_fen


class Movement(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One TSA movement as the core recorded it (the statements are built from these)."""

    business_date: dt.date
    direction: Literal["D", "C"]  # D: out of the TSA, C: into it
    amount_fen: int
    bank_code: str
    bank_name: str
    pay_type: str
    kind: str
    ref: VoucherKey
    transfer_id: str


class Cleared(msgspec.Struct, array_like=True, gc=False):
    """What the central bank cleared under one voucher, and how much of it came back."""

    bank: str
    pay_type: str
    cleared_fen: int
    refunded_fen: int = 0
    clearing: str | None = None  # a payment: the `cleared_key` of the 2301 that cleared it
    seq: int = 0

    @property
    def refundable_fen(self) -> int:
        return self.cleared_fen - self.refunded_fen


class Decision(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """How a 2301 / 2302 was answered: enough to give the same effects again for the same voucher."""

    transfers: tuple[Transfer, ...]
    xfields: dict[str, str]
    return_reason: str | None = None
    advice: dict[str, str] | None = None  # the head of the 7403 a refund sends the treasury
    # What it did to `PbocState.cleared`, to undo it if the books refuse the movement: a clearing
    # added fen to each entry key, a refund refunded fen of each. Flat, key, fen, key, fen, ...
    # (`matched_pairs` reads it): a pair each was a tuple more (64 bytes) for every payment of a
    # day. A version 5 snapshot held (key, fen) pairs (`flatten_decisions` when it is loaded).
    matched: tuple[str | int | tuple[str, int], ...] = ()
    seq: int = 0

    def matched_pairs(self) -> Iterator[tuple[str, int]]:
        """(entry key, fen) of each entry `matched` names, in order (flat: a loaded version 5
        snapshot's pairs are made flat first, `flatten_decisions`)."""
        m = self.matched
        for i in range(0, len(m), 2):
            yield m[i], m[i + 1]  # type: ignore[misc]


def flat_matched(pairs: Iterable[tuple[str, int]]) -> tuple[str | int, ...]:
    """`Decision.matched` of (entry key, fen) pairs."""
    return tuple(x for pair in pairs for x in pair)


def flatten_decisions(decisions: dict[str, Decision]) -> dict[str, Decision]:
    """`decisions` with any `matched` of (key, fen) pairs (a version 5 snapshot's) made flat."""
    for key, d in decisions.items():
        if d.matched and isinstance(d.matched[0], tuple):
            decisions[key] = msgspec.structs.replace(d, matched=flat_matched(d.matched))  # type: ignore[arg-type]
    return decisions


# What the central bank cleared (`PbocState.cleared`), the payments a 2301 named kept under it.
#
# Before (version 6) every payment a 2301's details named was an entry of its own in a dict: a key
# text (AdmDivCode, VtCode, VoucherNo, bank joined), a `Cleared` record and its `seq`, ~220 bytes a
# payment held for months (`CLEARED_MAX`): 22 MB at 100,000 vouchers a day. Now such a payment, as
# long as nothing changed it, is one slot of `index` (its VoucherNo, the text the banks' records
# share, → the key of the 2301 that named it) and its amount is the one the 2301's decision keeps
# in `matched` (`ClearedGroup.matched` is that same tuple, the payments by bare VoucherNo, no key
# text made). What changes such a payment (a refund, a second 2301 naming it, a books' refusal)
# takes it out of the index into `entries` first, a `Cleared` as before (`modify`).
#
# Reading gives the same records as before: `get` / `[]` / `in` of a payment's key find it in the
# index (a new `Cleared`, equal to the one kept before, not kept); `entries` hold the 2301s and the
# payments changed since. The order they were added is kept for the oldest to be forgotten first
# beyond the bound: an entry's `seq`, a group's `seq` for its payments (in the order its 2301 named
# them). A snapshot keeps the three maps as they are; `reordered` puts them back in that order.


class ClearedGroup(msgspec.Struct, array_like=True, gc=False):
    """The payments one accepted 2301 named, those `ClearedBook.index` still holds."""

    vtcode: str  # their VtCode: 5201 (pay type 11) or 8202 (12)
    pay_type: str
    seq: int  # their place in the order added (after the 2301's own entry)
    matched: tuple[str | int, ...]  # the 2301 decision's: own key, fen, then VoucherNo (or a full key), fen, ...
    left: int = 0  # how many of them the index holds


class ClearedBook(msgspec.Struct):
    """cleared key → `Cleared` (module doc)."""

    entries: dict[str, Cleared] = msgspec.field(default_factory=dict)
    groups: dict[str, ClearedGroup] = msgspec.field(default_factory=dict)  # the 2301's own key → its payments
    # VoucherNo → the own key of its group: a payment of the 2301's own StYear (`record_cleared`)
    index: dict[str, str] = msgspec.field(default_factory=dict)
    seq: int = 0  # the last `seq` given

    # --- reading (nothing kept) -------------------------------------------------------------

    def get(self, key: str) -> Cleared | None:
        item = self.entries.get(key)
        if item is not None or not self.index:
            return item
        found = self._indexed(key)
        return None if found is None else found[0]

    def __getitem__(self, key: str) -> Cleared:
        item = self.get(key)
        if item is None:
            raise KeyError(key)
        return item

    def __contains__(self, key: object) -> bool:
        return key in self.entries or (isinstance(key, str) and bool(self.index) and self._indexed(key) is not None)

    def __len__(self) -> int:
        return len(self.entries) + len(self.index)

    def __bool__(self) -> bool:
        return bool(self.entries) or bool(self.index)

    def __iter__(self) -> Iterator[str]:
        """The entries' keys, then the indexed payments' (each group's in the order named)."""
        yield from self.entries
        for no, own in self.index.items():
            adm, year, _, _, bank = own.split(SEP)  # a 2301's payments under it are of its year
            yield SEP.join((adm, year, self.groups[own].vtcode, no, bank))

    def items(self) -> Iterator[tuple[str, Cleared]]:
        for key in self:
            yield key, self[key]

    def _indexed(self, key: str) -> tuple[Cleared, str, ClearedGroup] | None:
        """The indexed payment under `key`: (its record, made now), its group's key, its group."""
        parts = key.split(SEP)
        if len(parts) != 5:
            return None
        adm, year, vtcode, no, bank = parts
        own = self.index.get(no)
        if own is None:
            return None
        group = self.groups[own]
        own_adm, own_year, _, _, own_bank = own.split(SEP)
        if group.vtcode != vtcode or own_adm != adm or own_year != year or own_bank != bank:
            return None
        m = group.matched
        fen = m[m.index(no, 2) + 1]
        assert isinstance(fen, int)
        return Cleared(bank, group.pay_type, fen, clearing=own, seq=group.seq), own, group

    # --- changing ------------------------------------------------------------------------

    def modify(self, key: str) -> Cleared | None:
        """The record under `key` to change in place: an indexed payment is taken into `entries`
        first (a new `seq`: it counts as added now)."""
        item = self.entries.get(key)
        if item is not None or not self.index:
            return item
        found = self._indexed(key)
        if found is None:
            return None
        item, own, group = found
        del self.index[key.split(SEP)[3]]
        group.left -= 1
        if group.left == 0:
            del self.groups[own]
        item.seq = self._next()
        self.entries[key] = item
        return item

    def __delitem__(self, key: str) -> None:
        if self.modify(key) is None:
            raise KeyError(key)
        del self.entries[key]

    def add(self, key: str, item: Cleared, bound: int) -> None:
        """A new entry (after forgetting the oldest beyond `bound`)."""
        self._make_room(bound)
        item.seq = self._next()
        self.entries[key] = item

    def add_group(self, own: str, vtcode: str, pay_type: str, matched: tuple[str | int, ...],
                  payments: Iterable[str], bound: int) -> None:
        """The payments `payments` (VoucherNos, in the order named) of the 2301 under `own`, whose
        decision's `matched` names each by VoucherNo with its fen."""
        group = ClearedGroup(vtcode, pay_type, self._next(), matched)
        for no in payments:
            self._make_room(bound)  # (with a tiny bound, this group's first payments among the oldest)
            self.groups[own] = group
            self.index[no] = own
            group.left += 1

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _make_room(self, bound: int) -> None:
        while len(self) >= bound:
            self._forget_oldest()

    def _forget_oldest(self) -> None:
        first = next(iter(self.entries.items()), None)
        no, own = next(iter(self.index.items()), ("", ""))
        group = self.groups.get(own) if own else None
        if own and (group is None or first is None or group.seq < first[1].seq):
            del self.index[no]
            if group is not None:
                group.left -= 1
                if group.left == 0:
                    del self.groups[own]
        elif first is not None:
            del self.entries[first[0]]

    # --- a snapshot ------------------------------------------------------------------------

    def reordered(self) -> ClearedBook:
        """In the order added again (a decoded snapshot's maps are sorted by key)."""
        self.entries = dict(sorted(self.entries.items(), key=lambda item: item[1].seq))
        self.groups = dict(sorted(self.groups.items(), key=lambda item: item[1].seq))
        index: dict[str, str] = {}
        for own, group in self.groups.items():
            m = group.matched
            for i in range(2, len(m), 2):
                no = m[i]
                if isinstance(no, str) and self.index.get(no) == own:
                    index[no] = own
        self.index = index
        return self


class Totals(msgspec.Struct):
    """Running totals the books check reads (`pboc_sim.books`), kept as the records change."""

    opening_fen: int = 0  # the TSA's opening balance, once posted
    tsa_in_fen: int = 0  # movements into the TSA (refunds)
    tsa_out_fen: int = 0  # movements out of it (clearings, replenishments)
    clearing_sum_fen: int = 0  # the sum of `PbocState.clearing_balances`


class Balances(msgspec.Struct, gc=False):
    """The movements of every day before `day`, summed by the AdmDivCode of each one's voucher
    (`pboc_sim.record.balance_before`): a statement adds the days since, not every day kept.
    `day` None: not summed yet (a version 9 snapshot's), summed whole on first use."""

    day: dt.date | None = None
    fen: dict[str, int] = {}


class PbocState(msgspec.Struct):
    """Everything the central bank core knows; `PbocCore.snapshot()` is this, encoded."""

    config: str  # the fingerprint of the config it was taken under
    core: str = "pboc"
    version: int = SNAPSHOT_VERSION
    started: bool = False
    first_day: dt.date | None = None  # the first business day whose books the core kept
    next_close: dt.date | None = None
    serial: int = 0
    seq: int = 0  # the last `seq` given to a quota line, a cleared entry or a decision
    tsa_balance_fen: int = 0
    quotas: dict[str, QuotaLine] = {}
    # what refunds are matched against (pboc_sim.cleared), saved as "cleared_book"; "cleared" is a
    # version 5 / 6 snapshot's dict of every entry, taken into the book when it is loaded (`load_older`)
    cleared: ClearedBook = msgspec.field(default_factory=ClearedBook, name="cleared_book")
    older_cleared: dict[str, Cleared] = msgspec.field(default_factory=dict, name="cleared")
    clearing_balances: dict[str, int] = {}  # bank code → its clearing account, as the core moved it
    movements: dict[str, list[Movement]] = {}  # ISO business day → its movements, in order
    balances: Balances = msgspec.field(default_factory=Balances)  # kept by `pboc_sim.record`
    decisions: dict[str, Decision] = {}
    statements: list[SendVoucher] = []  # every 7401 / 3502 emitted, for inspection
    notice_keys: set[str] = set()  # the quota notices counted (str of their voucher keys)
    banks: set[str] = set()  # banks whose clearing account the core opened
    bank_names: dict[str, str] = {}
    rejected_notices: list[tuple[str, str, str]] = []  # (key, code, message)
    reconciliation_results: dict[str, tuple[str, str]] = {}  # 3502 key → (result, remark)
    refused_sends: list[tuple[str, str]] = []  # (voucher key, code) the gateway refused
    refused_by_books: list[tuple[str, str]] = []  # (voucher key, code) the ledger refused
    totals: Totals = msgspec.field(default_factory=Totals)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def loaded(self, adm_div_code: str) -> PbocState:
        """A decoded snapshot's records in the order they were added, an older version's taken in:
        a quota line of version 7 or before (no division) is `adm_div_code`'s, the division the core
        is configured for (before version 8 a line held whatever division's notices named the bank);
        what was cleared by version 8 or before (no year) is given its year by `pboc_sim.older`."""
        self.quotas = {(SEP.join((adm_div_code, k)) if k.count(SEP) + 1 == _QUOTA_KEY_PARTS_V7 else k): line
                       for k, line in reorder(self.quotas).items()}
        self.decisions = flatten_decisions(reorder(self.decisions))
        self.cleared.reordered()
        if self.older_cleared:  # version 5 / 6: every entry its own, as `entries` keep them
            entries = reorder(self.older_cleared)
            self.older_cleared = {}
            self.cleared.entries.update(entries)
            self.cleared.seq = max(self.cleared.seq, max(item.seq for item in entries.values()))
        return self

_V = TypeVar("_V", QuotaLine, Cleared, Decision)


def reorder(records: dict[str, _V]) -> dict[str, _V]:
    """`records` in the order they were added (by `seq`), as before they were encoded."""
    return dict(sorted(records.items(), key=lambda item: item[1].seq))


_K = TypeVar("_K")
_R = TypeVar("_R")


class KeyedView(Mapping[_K, _R]):
    """A read-only view of string-keyed records under their typed keys (`core.quotas`, `core.movements`)."""

    __slots__ = ("_key", "_key_of", "_records")

    def __init__(self, records: Mapping[str, _R], key: Callable[[_K], str], key_of: Callable[[str], _K]) -> None:
        self._records = records
        self._key = key
        self._key_of = key_of

    def __getitem__(self, key: _K) -> _R:
        try:
            record_key = self._key(key)
        except (TypeError, ValueError, AttributeError) as exc:  # not a key of this view
            raise KeyError(key) from exc
        return self._records[record_key]

    def __contains__(self, key: object) -> bool:
        try:
            return self._key(key) in self._records  # type: ignore[arg-type]
        except (TypeError, ValueError, AttributeError):
            return False

    def __iter__(self) -> Iterator[_K]:
        return (self._key_of(k) for k in self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __repr__(self) -> str:
        return repr(dict(self.items()))
