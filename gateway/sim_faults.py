"""Delivery faults a test gateway injects on a simulated clock (`POST /v1/sim/faults`).

Conformance runs (`tgw scenario run --external BANK`) play scripted `offline` / `online` and
`fault: {kind: drop}` steps against a real bank through this hook; the transport refuses it on a
live clock (409 `clock-live`) and to anyone but the treasury (the runner acts as the treasury).

What the gateway can do, and so what the faults mean here:

* `offline`: the participant neither receives nor sends, as far as anyone else can tell. The
  deliveries to it are withheld, not lost: its inbox answers nothing from the moment it goes
  offline until it is back online (`online`, or the simulated clock reaching `until`), then
  everything waiting, in order. A real system keeps running on its own side and may still
  submit: the gateway accepts (and journals, at the time it came) what it sends, but hands it
  to no one until the sender is back, as if it had waited in the sender's own outbound queue.
  The recipient sees it arrive at the return; the journal's acceptance time is the earlier one.
* `drop`: the next matching delivery to the participant (by VtCode / flag, or one voucher key
  `adm/year/vtcode/no/flag`) is lost in transit: it is withheld for the gateway's ack timeout
  (`push_ack_timeout_s`, of simulated time) and then handed over again, as a push never acked
  would be. Nothing behind it overtakes it (the inbox answer stops before it), so order holds.

Pure state and decisions; the service filters its inbox answers through `withhold`, which costs
nothing while no fault is set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["SIM_FAULTS_MAX", "SimFaults", "parse_fault"]

# Faults held at once (offline participants + drops waiting for their delivery + deliveries
# withheld after a drop): a scenario scripts a handful; the bound keeps a runaway client from
# growing the gateway's memory.
SIM_FAULTS_MAX = 64


class _Item(Protocol):
    @property
    def message_id(self) -> str: ...
    @property
    def key(self) -> Any: ...
    @property
    def sender(self) -> str: ...


@dataclass
class _Drop:
    to: str
    vtcode: str | None = None
    flag: int | None = None
    voucher: str | None = None

    def matches(self, recipient: str, item: _Item) -> bool:
        if recipient != self.to:
            return False
        if self.voucher is not None:
            return str(item.key) == self.voucher
        return ((self.vtcode is None or item.key.vtcode == self.vtcode)
                and (self.flag is None or item.key.flag == self.flag))

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("to", self.to), ("vtcode", self.vtcode), ("flag", self.flag),
                                  ("voucher", self.voucher)) if v is not None}


def _time(value: Any, name: str) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError(f"{name} is an ISO datetime with a UTC offset")
    t = dt.datetime.fromisoformat(value)
    if t.tzinfo is None:
        raise ValueError(f"{name} needs a UTC offset, e.g. 2026-03-10T16:40:00+08:00")
    return t


def parse_fault(body: Any) -> tuple[str, str, Any]:
    """(kind, participant, detail) from a request body, or ValueError naming the element at fault.

    {"offline": ID, "until"?: ISO}, {"online": ID}, {"drop": {"to": ID, "vtcode"?, "flag"?,
    "voucher"?: "adm/year/vtcode/no/flag"}}."""
    if not isinstance(body, dict) or len({"offline", "online", "drop"} & set(body)) != 1:
        raise ValueError('the body is {"offline": ID, "until"?: ISO}, {"online": ID} or '
                         '{"drop": {"to": ID, "vtcode"?, "flag"?, "voucher"?}}')
    if "drop" in body:
        if set(body) != {"drop"} or not isinstance(body["drop"], dict):
            raise ValueError('drop: {"to": ID, "vtcode"?, "flag"?, "voucher"?}, nothing beside it')
        d = body["drop"]
        unknown = sorted(set(d) - {"to", "vtcode", "flag", "voucher"})
        if unknown:
            raise ValueError(f"drop.{unknown[0]}: unknown; drop takes to, vtcode, flag, voucher")
        if not isinstance(d.get("to"), str) or not d["to"]:
            raise ValueError("drop.to: the participant id the delivery is lost to")
        vtcode, flag, voucher = d.get("vtcode"), d.get("flag"), d.get("voucher")
        if vtcode is not None and not (isinstance(vtcode, str) and len(vtcode) == 4 and vtcode.isdigit()):
            raise ValueError("drop.vtcode: four digits, e.g. 5201")
        if (flag is not None and flag not in (0, 1)) or isinstance(flag, bool):
            raise ValueError("drop.flag: 0 (the voucher) or 1 (its answer)")
        if voucher is not None and not (isinstance(voucher, str) and voucher.count("/") == 4):
            raise ValueError("drop.voucher: a voucher key adm/year/vtcode/no/flag")
        if voucher is not None and (vtcode is not None or flag is not None):
            raise ValueError("drop.voucher: names one delivery; give it alone, without vtcode or flag")
        return "drop", d["to"], _Drop(d["to"], vtcode, flag, voucher)
    kind = "offline" if "offline" in body else "online"
    allowed = {"offline", "until"} if kind == "offline" else {"online"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown beside {kind}")
    who = body[kind]
    if not isinstance(who, str) or not who:
        raise ValueError(f"{kind}: the participant id")
    until = _time(body["until"], "until") if body.get("until") is not None else None
    return kind, who, until


class SimFaults:
    """The gateway's fault state: offline participants and pending drops (see the module doc)."""

    def __init__(self, redeliver_after: dt.timedelta) -> None:
        self.redeliver_after = redeliver_after
        self._offline: dict[str, dt.datetime | None] = {}  # participant → back at (None: until `online`)
        self._drops: list[_Drop] = []
        self._held: dict[str, dt.datetime] = {}  # message id lost in transit → handed over again at

    def __bool__(self) -> bool:
        return bool(self._offline or self._drops or self._held)

    def _room(self) -> None:
        if len(self._offline) + len(self._drops) + len(self._held) >= SIM_FAULTS_MAX:
            raise OverflowError(f"at most {SIM_FAULTS_MAX} faults at once")

    def apply(self, kind: str, who: str, detail: Any) -> None:
        """Record a parsed fault (`parse_fault`); OverflowError past SIM_FAULTS_MAX."""
        if kind == "online":
            self._offline.pop(who, None)
            return
        if kind == "offline":
            if who not in self._offline:
                self._room()
            self._offline[who] = detail
            return
        self._room()
        self._drops.append(detail)

    def _offline_at(self, participant: str, now: dt.datetime) -> bool:
        if participant not in self._offline:
            return False
        until = self._offline[participant]
        if until is None or now < until:
            return True
        del self._offline[participant]  # back at `until`
        return False

    def withhold(self, recipient: str, items: Sequence[Any], now: dt.datetime) -> list[Any]:
        """What of `items` (one recipient's inbox answer, in order) is handed over at `now`."""
        if not self:
            return list(items)
        if self._offline_at(recipient, now):
            return []
        out = []
        for item in items:
            if self._offline_at(item.sender, now):
                break  # sent while its sender was offline: it leaves when the sender is back
            at = self._held.get(item.message_id)
            if at is not None:
                if now < at:
                    break  # lost in transit for now; nothing behind it overtakes it
                del self._held[item.message_id]
            else:
                rule = next((d for d in self._drops if d.matches(recipient, item)), None)
                if rule is not None:
                    self._drops.remove(rule)
                    self._held[item.message_id] = now + self.redeliver_after
                    break
            out.append(item)
        return out

    def next_release(self) -> dt.datetime | None:
        """The earliest simulated time something withheld is handed over (an `until`, a redelivery)."""
        times = [t for t in self._offline.values() if t is not None] + list(self._held.values())
        return min(times) if times else None

    def view(self) -> dict[str, Any]:
        release = self.next_release()
        return {"offline": {p: (t.isoformat() if t else None) for p, t in sorted(self._offline.items())},
                "drops": [d.as_dict() for d in self._drops],
                "withheld": {m: t.isoformat() for m, t in sorted(self._held.items())},
                "next_release": release.isoformat() if release else None}

