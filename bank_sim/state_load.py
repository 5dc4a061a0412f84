"""A bank's snapshot read back as its state: this version's, or an older one this layout still
reads (`bank_sim.state.OLDER_VERSIONS`; what each version changed is told beside SNAPSHOT_VERSION)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from bank_sim.flat_lines import flat_pairs
from bank_sim.payment_rare import rare_apart
from bank_sim.state import OLDER_VERSIONS, SNAPSHOT_VERSION, BankState
from bank_sim.suspensions import order_key
from sim import codec

__all__ = ["decode_state"]


def decode_state(data: bytes, fingerprint: str, home: str) -> BankState:
    """A bank's snapshot (this version's or an older one this layout still reads) as its state;
    `home`: the configured division (AdmDivCode), whose a version 8 or older snapshot's quota lines
    and notices were."""
    head = codec.decode(data, codec.SnapshotHeader)
    if head.core == "bank" and head.version in OLDER_VERSIONS and head.version < 7:
        data = rare_apart(data)
    state = codec.decode_snapshot(data, BankState, "bank", SNAPSHOT_VERSION, fingerprint, older=OLDER_VERSIONS)
    if head.version < 9:
        _divided_quotas(state, home)
    if head.version < 10:
        _keyed_orders(state, home)
    return state


def _keyed_orders(st: BankState, home: str) -> None:
    """A version 9 (or older) state's suspension orders, kept by OrderNo, as version 10 keys them
    (`bank_sim.suspensions.order_key`): the configured division's (the only one a bank then kept
    apart), of the year of the snapshot's cursor (a lift of that year or later ends it)."""
    year = str(st.cursor.year) if st.cursor is not None else ""
    orders = [dataclasses.replace(o, adm_div_code=home, st_year=year) for o in st.suspensions.values()]
    st.suspensions = {o.key: o for o in orders}
    st.lifted_suspensions = [order_key(home, year, no) for no in st.lifted_suspensions]  # each an OrderNo


def _divided_quotas(st: BankState, home: str) -> None:
    """A version 8 (or older) state's quota lines and 7101s, as version 9 keys them: every line the
    configured division's; a notice kept as "<no>" (the configured division's) or "<AdmDivCode>/<no>",
    of the year its 7102s went (a 7101 is the month's quota of its own year)."""
    sep = "\x1f"  # `bank_sim.quotas`'s key separator
    # a key of five parts is an old one (six: already named, as a test's edited snapshot may be)
    st.quota_book.lines = {(f"{home}{sep}{text}" if text.count(sep) == 4 else text): line
                           for text, line in st.quota_book.lines.items()}
    for p in st.payments.values():
        if p.quota_taken:
            p.quota_taken = flat_pairs([(home, *line) if len(line) == 5 else line for line in p.quota_taken[0::2]],
                                       p.quota_taken[1::2])
    notices: dict[str, dt.datetime] = {}
    for seen, when in st.quota_notices.items():
        parts = seen.split("/")
        if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():  # already "<adm>/<year>/<no>"
            notices[seen] = when
            continue
        adm, sep_, no = seen.partition("/")
        adm, no = (adm, no) if sep_ and adm.isdigit() else (home, seen)
        notices[f"{adm}/{when.year}/{no}"] = when
    st.quota_notices = notices
    st.year_end_notices = {(f"{home}/{when.year}/{seen}" if seen.count("/") == 1 else seen): when
                           for seen, when in st.year_end_notices.items()}  # "<VtCode>/<VoucherNo>" before
