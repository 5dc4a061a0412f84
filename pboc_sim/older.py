"""What a version 8 (or older) snapshot of the central bank cleared, given its year (version 9 keys
what was cleared by StYear too: `pboc_sim.state.cleared_key`). `PbocCore.load_snapshot` calls
`cleared_years` after `PbocState.loaded`."""

from __future__ import annotations

import msgspec

from pboc_sim.state import SEP, PbocState, cleared_key_of

__all__ = ["cleared_years"]

# Parts of a cleared key before version 9 (no StYear).
_CLEARED_KEY_PARTS_V8 = 4


def cleared_years(s: PbocState) -> PbocState:
    """Put the year in what a version 8 (or older) snapshot cleared: a 2301's entry, and each
    payment it cleared, is of the 2301's StYear as its decision's key (kept here, `decisions`)
    gives it; one whose decision was forgotten (`DECISIONS_MAX`) of the year of the day the core
    closes next (else the first day it kept). A version 9 snapshot's: as they are."""
    if not _older(s):
        return s
    years: dict[tuple[str, str, str], str] = {}
    for key in s.decisions:
        bank, _, voucher = key.partition(SEP)
        adm, year, vtcode, no, _flag = voucher.split("/", 4)
        if vtcode == "2301":
            years[(adm, no, bank)] = year
    day = s.next_close or s.first_day
    default = "" if day is None else str(day.year)
    book = s.cleared
    old_entries, old_index = book.entries, book.index

    def upgrade(key: str, own: str | None = None) -> str:
        """`key` (version 8) with the year of its 2301 (`own`, else the one that cleared it)."""
        if key.count(SEP) + 1 != _CLEARED_KEY_PARTS_V8:
            return key
        adm, vtcode, no, bank = key.split(SEP)
        if own is None:
            item = old_entries.get(key)
            own = key if vtcode == "2301" else item.clearing if item is not None else old_index.get(no)
        if own is not None and own.count(SEP) + 1 == _CLEARED_KEY_PARTS_V8:
            own_adm, _, own_no, own_bank = own.split(SEP)
            year = years.get((own_adm, own_no, own_bank), default)
        else:
            year = default if own is None else cleared_key_of(own)[1]
        return SEP.join((adm, year, vtcode, no, bank))

    entries = {upgrade(k): item for k, item in old_entries.items()}
    for item in entries.values():
        if item.clearing is not None:
            item.clearing = upgrade(item.clearing)
    for own, group in book.groups.items():
        group.matched = tuple(upgrade(x, own) if isinstance(x, str) and SEP in x else x for x in group.matched)
    book.groups = {upgrade(k): g for k, g in book.groups.items()}
    book.index = {no: upgrade(own) for no, own in old_index.items()}
    book.entries = entries
    for key, d in s.decisions.items():
        if d.matched:
            s.decisions[key] = msgspec.structs.replace(
                d, matched=tuple(upgrade(x) if isinstance(x, str) and SEP in x else x for x in d.matched))
    return s


def _older(s: PbocState) -> bool:
    book = s.cleared
    return any(k.count(SEP) + 1 == _CLEARED_KEY_PARTS_V8 for k in (*book.entries, *book.groups))
