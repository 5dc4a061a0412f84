"""Scenario support for dynamic monitoring: the `monitor` step (a treasury officer releases or
rejects a hold) and the `monitor` expectation (a rule's decision on a voucher)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from messages.envelope import VoucherKey
from messages.errors import StateError

__all__ = ["decide_hold", "monitor_outcome"]


async def decide_hold(gateway: Any, key: str, step: Mapping[str, Any], *, officer: str, at: dt.datetime) -> bool:
    """Release or reject the hold on the voucher `key` ("adm/year/vtcode/no/flag"); False if it
    is not held (then nothing happens, and a `monitor` expectation on it says what was seen)."""
    monitor = gateway.monitor
    if monitor is None:
        raise StateError("a monitor step needs monitoring on")
    k = VoucherKey.parse(key)
    holds = [h for h in await monitor.store.holds_for(k.adm_div_code, k.st_year, k.vtcode, k.voucher_no)
             if h.status == "held"]
    if not holds:
        return False
    fn = monitor.release if step["action"] == "release" else monitor.reject
    await fn(holds[0].id, who=officer, reason=step["reason"], at=at)
    return True


def _decisions(v: Any) -> list[tuple[str, str]]:
    """(rule, outcome) of the voucher's monitoring, from its trace and the gateway's answer."""
    out: list[tuple[str, str]] = []
    for e in v.trace:
        if e.step == "monitor-flagged":  # "warning: rule: reason"
            parts = e.detail.split(": ", 2)
            if len(parts) >= 2:
                out.append((parts[1], "flagged"))
        elif e.step == "monitor-held":  # "hold ID: rule: reason"
            parts = e.detail.split(": ", 2)
            if len(parts) >= 2:
                out.append((parts[1], "held"))
        elif e.step in ("monitor-released", "monitor-rejected"):
            out.append(("*", e.step.removeprefix("monitor-")))
    for x in v.verdicts:
        if x.code == "monitor-blocked":  # "blocked by monitoring rule RULE (catalogue V): reason"
            words = x.message.split()
            rule = words[words.index("rule") + 1] if "rule" in words[:-1] else "?"
            out.append((rule, "blocked"))
    return out


def monitor_outcome(p: Mapping[str, Any], v: Any) -> tuple[bool, str, str]:
    got = _decisions(v)
    want = (p["rule"], p["outcome"])
    ok = want in got or (p["outcome"] in ("released", "rejected") and ("*", p["outcome"]) in got
                         and (p["rule"], "held") in got)
    actual = ", ".join(f"{r} {o}" if r != "*" else o for r, o in got) or "no monitoring decision"
    return ok, f"monitoring rule {p['rule']}: {p['outcome']}", actual
