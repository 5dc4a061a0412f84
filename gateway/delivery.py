"""Push scheduling, sans IO: a window of unacked pushes per recipient and an adaptive ack timeout.

The deliverer asks this core three things each round: which recipients to visit and in what
order (round robin, so the first one listed is not always served first), how many new pushes
each may take (its *credit*: the window minus the pushes it has not acked yet), and how long to
wait for an ack before a push counts as lost. It tells the core what it pushed, what was acked
and what failed. Time is a number of microseconds handed in by the caller (wall time in the
gateway, a simulated clock in tests); nothing here reads a clock, sleeps or touches a database.

Why a window: a push is "sent" when the transport takes it (MQTT: the broker's PUBACK), not
when the bank has handled it. Without a bound, a slow bank's broker queue grows without limit,
its acks come later than any fixed timeout, and every late ack costs a re-push that lengthens
the queue again. With at most `window` unacked pushes per recipient, the time to an ack is about
`window × the bank's time per message`, which the ack timer learns.

The timer is TCP's retransmission timer (RFC 6298: smoothed estimate plus four times its mean
deviation, within a floor and a ceiling, doubled on a timeout, samples only from pushes sent
once: Karn's rule, the ack of a re-sent push says nothing about which send it answers), with one
change: it estimates the recipient's time *per queued push*, not per round trip. A push that
enters a window already holding d-1 unacked pushes waits behind them (a recipient handles its
queue in order), so its sample is `rtt / d` and its timeout scales with d. A plain round-trip
timer learns from pushes that queued behind fewer others than the one being timed (the window
fills from empty), times the later ones out too early, and re-pushes exactly what the window is
there to protect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = ["AckTimer", "DeliveryScheduler", "interleave"]

T = TypeVar("T")

_ALPHA, _BETA, _K = 0.125, 0.25, 4.0  # RFC 6298 gains and deviation factor
_MARGIN = 2.0  # a push times out only when the recipient runs at half its measured pace (or worse)
_BACKOFF_MAX = 1024  # doublings stop here (the ceiling stops them sooner)


@dataclass(slots=True)
class AckTimer:
    """Ack timeout of one recipient, in microseconds; see the module docstring."""

    initial_us: int
    floor_us: int
    ceiling_us: int
    slot_us: float | None = None  # smoothed time per queued push
    slot_var_us: float = 0.0  # its mean deviation
    backoff: int = 1  # doubled by each timeout, back to 1 with the next sample

    def __post_init__(self) -> None:
        self.floor_us = min(self.floor_us, self.initial_us)  # the floor never exceeds the first timeout
        self.ceiling_us = max(self.ceiling_us, self.initial_us)

    def sample(self, rtt_us: int, depth: int) -> None:
        """An ack `rtt_us` after the push, which had `depth - 1` unacked pushes ahead of it."""
        per_slot = max(0, rtt_us) / max(1, depth)
        if self.slot_us is None:
            self.slot_us, self.slot_var_us = per_slot, per_slot / 2
        else:
            self.slot_var_us = (1 - _BETA) * self.slot_var_us + _BETA * abs(self.slot_us - per_slot)
            self.slot_us = (1 - _ALPHA) * self.slot_us + _ALPHA * per_slot
        self.backoff = 1

    def timed_out(self) -> None:
        """A push went unacked for a whole timeout: back off (RFC 6298 5.5)."""
        self.backoff = min(self.backoff * 2, _BACKOFF_MAX)

    def timeout_us(self, depth: int) -> int:
        """The timeout of a push with `depth - 1` unacked pushes ahead of it."""
        if self.slot_us is None:
            base = float(self.initial_us)
        else:
            base = max(1, depth) * (_MARGIN * self.slot_us + _K * self.slot_var_us)
        return int(min(self.ceiling_us, max(self.floor_us, base * self.backoff)))


@dataclass(frozen=True, slots=True)
class _Pending:
    sent_us: int
    deadline_us: int
    depth: int  # unacked pushes to this recipient when it was sent, itself included
    first: bool  # the row's first push: its ack is a timing sample


@dataclass(slots=True)
class _Recipient:
    timer: AckTimer
    pending: dict[str, _Pending] = field(default_factory=dict)  # message id -> push awaiting its ack
    checked_us: int = -1  # last time its pending ids were checked against the database


class DeliveryScheduler:
    """Per-recipient windows and ack timers; see the module docstring."""

    def __init__(self, *, window: int, initial_timeout_us: int, floor_us: int, ceiling_us: int) -> None:
        if window < 1:
            raise ValueError("push window must be at least 1")
        self.window = window
        self._timer = (initial_timeout_us, floor_us, ceiling_us)
        self._recipients: dict[str, _Recipient] = {}
        self._turn = 0  # round-robin start: advances every round
        self.timeouts = 0  # pushes that went unacked for a whole timeout (a metric, and for tests)

    def _state(self, recipient: str) -> _Recipient:
        state = self._recipients.get(recipient)
        if state is None:
            state = self._recipients[recipient] = _Recipient(AckTimer(*self._timer))
        return state

    # ------------------------------------------------------------------ questions

    def order(self, recipients: Iterable[str]) -> list[str]:
        """This round's visiting order: sorted, rotated by one more place each round."""
        names = sorted(recipients)
        if not names:
            return names
        start = self._turn % len(names)
        self._turn += 1
        return names[start:] + names[:start]

    def credit(self, recipient: str) -> int:
        state = self._recipients.get(recipient)
        return self.window - (len(state.pending) if state else 0)

    def timeout_us(self, recipient: str) -> int:
        """The longest timeout a push to `recipient` could get now (at the back of a full window):
        the retry time written to the outbox is never before the in-memory deadline."""
        return self._state(recipient).timer.timeout_us(self.window)

    def is_pending(self, recipient: str, message_id: str) -> bool:
        state = self._recipients.get(recipient)
        return state is not None and message_id in state.pending

    def pending_ids(self, recipient: str) -> list[str]:
        state = self._recipients.get(recipient)
        return list(state.pending) if state else []

    def due_check(self, recipient: str, now_us: int, every_us: int) -> bool:
        """Whether a full window should be checked against the database now (at most once per
        `every_us`): with several gateway workers, an ack can land on another worker."""
        state = self._recipients.get(recipient)
        if state is None or len(state.pending) < self.window or now_us - state.checked_us < every_us:
            return False
        state.checked_us = now_us
        return True

    @property
    def in_flight(self) -> dict[str, int]:
        """Every push awaiting its ack: message id -> deadline (µs)."""
        return {mid: p.deadline_us for s in self._recipients.values() for mid, p in s.pending.items()}

    def timer(self, recipient: str) -> AckTimer:
        return self._state(recipient).timer

    # ------------------------------------------------------------------ events

    def expire(self, now_us: int) -> int:
        """Forget pushes past their deadline (their rows come due again in the outbox); each
        recipient that had one backs its timer off once. Returns how many expired."""
        expired = 0
        for state in self._recipients.values():
            late = [mid for mid, p in state.pending.items() if p.deadline_us <= now_us]
            for mid in late:
                del state.pending[mid]
            if late:
                state.timer.timed_out()
                expired += len(late)
        self.timeouts += expired
        return expired

    def sent(self, recipient: str, message_id: str, now_us: int, *, first: bool) -> int:
        """Record a push; returns its deadline (µs)."""
        state = self._state(recipient)
        depth = len(state.pending) + 1
        deadline = now_us + state.timer.timeout_us(depth)
        state.pending[message_id] = _Pending(now_us, deadline, depth, first)
        return deadline

    def acked(self, recipient: str, message_ids: Sequence[str], now_us: int) -> int:
        """The recipient acked these ids; returns how many were pending (their window slots free)."""
        state = self._recipients.get(recipient)
        if state is None:
            return 0
        freed = 0
        for mid in message_ids:
            p = state.pending.pop(mid, None)
            if p is None:
                continue
            freed += 1
            if p.first:
                state.timer.sample(now_us - p.sent_us, p.depth)
        return freed

    def settled(self, recipient: str, message_ids: Iterable[str]) -> None:
        """These ids are no longer waiting (acked on another worker): free their slots, no sample."""
        state = self._recipients.get(recipient)
        if state is not None:
            for mid in message_ids:
                state.pending.pop(mid, None)

    def failed(self, recipient: str, message_id: str) -> None:
        """The transport did not take the push: its slot is free (the row retries after backoff)."""
        state = self._recipients.get(recipient)
        if state is not None:
            state.pending.pop(message_id, None)


def interleave(batches: Mapping[str, Sequence[T]], order: Sequence[str]) -> list[T]:
    """Round robin over the batches in `order`: first of each, then second of each, ..."""
    out: list[T] = []
    longest = max((len(batches.get(r, ())) for r in order), default=0)
    for i in range(longest):
        for r in order:
            batch = batches.get(r, ())
            if i < len(batch):
                out.append(batch[i])
    return out
