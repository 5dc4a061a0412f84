"""What the gateway service is configured with and what a submission answers (`gateway.service`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from messages.errors import Issue
from messages.xmlsafe import DEFAULT_LIMITS, Limits

__all__ = ["ACK_IDS_MAX", "WORKERS_MAX", "GatewayConfig", "SubmitResult", "results_summary"]

ACK_IDS_MAX = 1000  # ids in one ack request (HTTP or MQTT): one transaction, answered in one reply
# Pipeline processes (`admission_workers`): far past any core count the gateway runs on; 100,000
# would fork until killed.
WORKERS_MAX = 64

@dataclass(frozen=True, slots=True)
class GatewayConfig:
    limits: Limits = DEFAULT_LIMITS
    push_attempts_max: int = 8  # then a dead letter; `tgw dlq replay` brings it back
    # The ack timeout adapts to each recipient's measured ack time (smoothed RTT + 4 x its deviation,
    # as TCP does, gateway/delivery.py): this is its value before the first ack, then it stays within
    # [push_ack_timeout_min_s (at most the initial value), push_ack_timeout_max_s]; a push not acked
    # in time is retried (with backoff).
    push_ack_timeout_s: float = 10.0
    push_ack_timeout_min_s: float = 1.0
    push_ack_timeout_max_s: float = 120.0
    # Unacked pushes per recipient (its credit, like MQTT's Receive Maximum): a slow recipient gets
    # no more than this in its queue, so its acks come in time and nothing is pushed twice.
    push_window: int = 64
    push_backoff_base_ms: int = 500
    push_in_flight_max: int = 256  # publishes awaiting the transport at once, all recipients together
    poll_interval_s: float = 1.0  # deliverer's safety net; commits wake it at once anyway
    # Processes running the pure pipeline (parse, XSD, verify). 0: on the event loop. On a 2-core
    # machine 1-2 workers leave the loop free for the journal and the transports; the loop feeds
    # them in batches over socket pairs (gateway.admission), about 50-100 µs of CPU per envelope
    # on top of inline (`tgw bench --latency` measures both, bench/results/latency.json).
    admission_workers: int = 0


class SubmitResult(NamedTuple):
    """One voucher's answer. A named tuple, not a frozen dataclass: one is made for every voucher
    submitted, and a frozen dataclass sets each of its seven fields through object.__setattr__
    (~12K instructions against ~4K, callgrind). Read by name (`as_dict` for the wire)."""

    voucher: str | None
    vtcode: str | None
    voucher_no: str | None
    status: str  # accepted | duplicate | rejected | held (monitoring: code monitor-held)
    message_id: str | None = None
    recipient: str | None = None
    issues: tuple[Issue, ...] = ()

    @property
    def code(self) -> str | None:
        return self.issues[0].code if self.issues else None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"voucher": self.voucher, "vtcode": self.vtcode, "voucher_no": self.voucher_no,
                               "status": self.status}
        if self.message_id:
            out["message_id"] = self.message_id
            out["recipient"] = self.recipient
        if self.issues:
            out["code"] = self.issues[0].code
            out["message"] = self.issues[0].message
            out["errors"] = [i.as_dict() for i in self.issues]
        return out


def results_summary(results: Sequence[SubmitResult]) -> dict[str, int]:
    """The `summary` of an envelope's answer, the same over HTTP and MQTT: how many accepted,
    duplicate and rejected, and `held` (monitoring, docs/monitoring.md) only when there is one."""
    summary = {"accepted": 0, "duplicate": 0, "rejected": 0}
    held = 0
    for r in results:
        if r.status in summary:
            summary[r.status] += 1
        elif r.status == "held":
            held += 1
    if held:
        summary["held"] = held
    return summary
