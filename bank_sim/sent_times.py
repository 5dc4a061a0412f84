"""When each of a bank's sends left (`DutiesState.sent`): by "AdmDivCode/StYear/VtCode/flag"
(`send_group`), then by VoucherNo, in the order they left. A send's VoucherNo is a text its
payment's key holds already: one dict slot a send, not a key text more (the scorecard reads them,
`runner.scorecard_feed`; `bank_sim.outgoing` sends a key once)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from messages.envelope import VoucherKey

# "adm/year/vtcode/flag" → VoucherNo → when, each in the order they left
SentTimes = dict[str, dict[str, dt.datetime]]

__all__ = ["SentTimes", "mark_sent", "send_group", "sent_count", "sent_when"]


def send_group(key: VoucherKey) -> str:
    """Where `DutiesState.sent` keeps a send's time: all but its VoucherNo."""
    return f"{key.adm_div_code}/{key.st_year}/{key.vtcode}/{key.flag}"


def sent_when(sent: SentTimes, key: VoucherKey) -> dt.datetime | None:
    """When the send `key` left, or None (not sent, or forgotten)."""
    times = sent.get(send_group(key))
    return None if times is None else times.get(key.voucher_no)


def sent_count(sent: SentTimes) -> int:
    return sum(map(len, sent.values()))  # (a send marks it: no generator stepped a group)


def mark_sent(sent: SentTimes, key: VoucherKey, now: dt.datetime, keep: int) -> None:
    """`key` left at `now` (a first time only), the oldest forgotten beyond `keep` sends."""
    group = send_group(key)
    times = sent.get(group)
    if times is None:
        times = sent[group] = {}
    times.setdefault(key.voucher_no, now)
    while sent_count(sent) > keep:
        oldest = min((t for t in sent.values() if t), key=lambda t: next(iter(t.values())))
        oldest.pop(next(iter(oldest)))
