"""Bank behaviour profiles as plugins: how an agent bank keeps (or breaks) its duties.

A profile decides, for each message the bank core is about to send, *when* it goes out and
*which fault* (if any) it carries. The core does the business; the profile only bends timing
and form, so every profile runs the same money flows and the money invariants still hold.

**Plugins.** Profiles are found through the entry-point group `tgw.bank_profiles`
(`importlib.metadata`): the entry point's name is the profile name and its object a factory
`(params: Mapping[str, Any], seed: int) -> BankProfile`. The built-in ones are declared in
`pyproject.toml` and also known here (`BUILTIN`), so a checkout that was never installed still
runs them. A user adds a profile by installing a distribution that declares the entry point;
nothing in this project changes (docs/connect-a-bank.md).

**Built-ins.**

| name     | params (defaults)                                              | behaviour                                                    |
|----------|----------------------------------------------------------------|--------------------------------------------------------------|
| `prompt` | none                                                           | everything on time                                           |
| `slow`   | `late_pct` 100, `late_business_days` 1, `late_time` "14:00", `reports_late_business_days` 2, `quota_notices_late_business_days` 0 | receipts (and refund notices) go out `late_business_days` business days after they were ready, at `late_time`: after the 11:00 deadline; reports and credit notices `reports_late_business_days` later; quota arrival notices (7102) `quota_notices_late_business_days` later |
| `faulty` | `faults` (all of `FAULTS`)                                     | the n-th receipt carries the n-th receipt fault; the first daily report a wrong sum; the first clearing filing a probe over the quota |
| `flaky`  | `windows` [["10:00", "11:30"]]                                 | offline in those windows each business day: what is ready then goes out at the window's end |

Randomness (which receipts a `slow` bank delays) comes from `random.Random(f"{seed}:{ref}")`:
the same seed gives the same behaviour, whatever the order of events.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Literal, Protocol

from business_time.calendar import BusinessCalendar
from business_time.clock import at, to_local

__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "FAULTS",
    "BankProfile",
    "Fault",
    "Faulty",
    "Flaky",
    "Prompt",
    "SendKind",
    "Slow",
    "available_profiles",
    "load_profile",
]

ENTRY_POINT_GROUP = "tgw.bank_profiles"
SendKind = Literal["receipt", "clearing", "refund", "refund-notice", "credit-notice", "quota-arrival-notice",
                   "daily-report", "monthly-report", "monthly-statement", "other"]
Fault = Literal["bad-signature", "missing-x-fields", "duplicate", "wrong-sum", "over-quota"]
# Receipt faults, in the order a `faulty` bank applies them to its receipts; then the report and
# clearing faults. Each is caught by someone with its code (see the module doc of bank_sim.duties).
FAULTS: tuple[Fault, ...] = ("bad-signature", "missing-x-fields", "duplicate", "wrong-sum", "over-quota")
RECEIPT_FAULTS: tuple[Fault, ...] = ("bad-signature", "missing-x-fields", "duplicate")
# Offline windows a flaky profile may have per day: a handful is a flaky bank, more is a typo.
WINDOWS_MAX = 8


class BankProfile(Protocol):
    """What the bank core asks its profile."""

    name: str

    def release(self, kind: SendKind, ref: str, ready: dt.datetime, calendar: BusinessCalendar) -> dt.datetime:
        """When a message of `kind` about `ref`, ready at `ready`, actually goes out (>= ready)."""
        ...

    def fault(self, kind: SendKind, index: int) -> Fault | None:
        """The fault the `index`-th (from 0) message of `kind` carries, if any."""
        ...


def _int(params: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"profile parameter {name}: {value!r} is not an integer {low}..{high}")
    return value


def _tod(value: Any, name: str) -> dt.time:
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(f"profile parameter {name}: {value!r} is not a time of day HH:MM") from exc


def _no_unknown(params: Mapping[str, Any], known: set[str], profile: str) -> None:
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"profile {profile}: unknown parameters {unknown}; known: {sorted(known)}")


@dataclass(frozen=True, slots=True)
class Prompt:
    """Everything on time, nothing faulty."""

    name: str = "prompt"

    @classmethod
    def create(cls, params: Mapping[str, Any], seed: int) -> Prompt:
        _no_unknown(params, set(), "prompt")
        return cls()

    def release(self, kind: SendKind, ref: str, ready: dt.datetime, calendar: BusinessCalendar) -> dt.datetime:
        return ready

    def fault(self, kind: SendKind, index: int) -> Fault | None:
        return None


@dataclass(frozen=True, slots=True)
class Slow:
    """Late receipts, refund notices and reports (never late clearing: that would move money)."""

    seed: int
    late_pct: int = 100
    late_business_days: int = 1
    late_time: dt.time = dt.time(14, 0)
    reports_late_business_days: int = 2
    quota_notices_late_business_days: int = 0
    name: str = "slow"

    @classmethod
    def create(cls, params: Mapping[str, Any], seed: int) -> Slow:
        _no_unknown(params, {"late_pct", "late_business_days", "late_time", "reports_late_business_days",
                             "quota_notices_late_business_days"}, "slow")
        return cls(seed, _int(params, "late_pct", 100, 0, 100), _int(params, "late_business_days", 1, 1, 10),
                   _tod(params.get("late_time", "14:00"), "late_time"),
                   _int(params, "reports_late_business_days", 2, 0, 10),
                   _int(params, "quota_notices_late_business_days", 0, 0, 10))

    def release(self, kind: SendKind, ref: str, ready: dt.datetime, calendar: BusinessCalendar) -> dt.datetime:
        if kind in ("receipt", "refund-notice"):
            if random.Random(f"{self.seed}:{ref}").randrange(100) >= self.late_pct:
                return ready
            return max(ready, at(calendar.add_business_days(to_local(ready).date(), self.late_business_days),
                                 self.late_time))
        late = (self.reports_late_business_days
                if kind in ("daily-report", "monthly-report", "monthly-statement", "credit-notice")
                else self.quota_notices_late_business_days if kind == "quota-arrival-notice" else 0)
        if late:
            local = to_local(ready)
            return at(calendar.add_business_days(local.date(), late), local.timetz().replace(tzinfo=None))
        return ready

    def fault(self, kind: SendKind, index: int) -> Fault | None:
        return None


@dataclass(frozen=True, slots=True)
class Faulty:
    """One of each fault: the n-th receipt the n-th receipt fault, the first daily report a wrong
    sum, the first clearing filing an extra request over the quota."""

    faults: tuple[Fault, ...] = FAULTS
    name: str = "faulty"

    @classmethod
    def create(cls, params: Mapping[str, Any], seed: int) -> Faulty:
        _no_unknown(params, {"faults"}, "faulty")
        faults = params.get("faults", list(FAULTS))
        if not isinstance(faults, (list, tuple)) or any(f not in FAULTS for f in faults):
            raise ValueError(f"profile parameter faults: {faults!r}; each one of {', '.join(FAULTS)}")
        return cls(tuple(faults))

    def release(self, kind: SendKind, ref: str, ready: dt.datetime, calendar: BusinessCalendar) -> dt.datetime:
        return ready

    def fault(self, kind: SendKind, index: int) -> Fault | None:
        if kind == "receipt":
            mine = [f for f in RECEIPT_FAULTS if f in self.faults]
            return mine[index] if index < len(mine) else None
        if kind == "daily-report" and index == 0 and "wrong-sum" in self.faults:
            return "wrong-sum"
        if kind == "clearing" and index == 0 and "over-quota" in self.faults:
            return "over-quota"
        return None


@dataclass(frozen=True, slots=True)
class Flaky:
    """Offline in fixed windows each business day: what is ready in one goes out at its end."""

    windows: tuple[tuple[dt.time, dt.time], ...] = ((dt.time(10, 0), dt.time(11, 30)),)
    name: str = "flaky"

    @classmethod
    def create(cls, params: Mapping[str, Any], seed: int) -> Flaky:
        _no_unknown(params, {"windows"}, "flaky")
        raw = params.get("windows", [["10:00", "11:30"]])
        if not isinstance(raw, (list, tuple)) or len(raw) > WINDOWS_MAX:
            raise ValueError(f"profile parameter windows: a list of at most {WINDOWS_MAX} [start, end] pairs")
        windows = []
        for pair in raw:
            start, end = _tod(pair[0], "windows"), _tod(pair[1], "windows")
            if not start < end:
                raise ValueError(f"profile parameter windows: {pair!r} does not end after it starts")
            windows.append((start, end))
        return cls(tuple(windows))

    def release(self, kind: SendKind, ref: str, ready: dt.datetime, calendar: BusinessCalendar) -> dt.datetime:
        local = to_local(ready)
        if not calendar.is_business_day(local.date()):
            return ready
        for start, end in self.windows:
            if start <= local.time() < end:
                return at(local.date(), end)
        return ready

    def fault(self, kind: SendKind, index: int) -> Fault | None:
        return None


Factory = Callable[[Mapping[str, Any], int], BankProfile]
BUILTIN: Mapping[str, Callable[[Mapping[str, Any], int], Any]] = {
    "prompt": Prompt.create, "slow": Slow.create, "faulty": Faulty.create, "flaky": Flaky.create}


@functools.lru_cache(maxsize=4)
def _installed_on(path: tuple[str, ...]) -> tuple[EntryPoint, ...]:
    return tuple(entry_points(group=ENTRY_POINT_GROUP))


def _installed() -> tuple[EntryPoint, ...]:
    """The installed profiles' entry points, read once per import path: reading every distribution's
    metadata costs ~10 ms, and a world built with many banks (a conformance catalogue) asked once per
    bank. A distribution installed while the process runs on an unchanged path is not seen."""
    return _installed_on(tuple(sys.path))


def available_profiles() -> dict[str, str]:
    """Profile name → where it comes from ("module:attr" of the entry point, or builtin)."""
    found = {name: f"builtin {name}" for name in BUILTIN}
    for ep in _installed():
        found[ep.name] = ep.value
    return found


def load_profile(name: str, params: Mapping[str, Any] | None = None, seed: int = 1) -> BankProfile:
    """The profile `name` with `params`: an installed entry point first, else a built-in."""
    factory: Any = None
    for ep in _installed():
        if ep.name == name:
            factory = ep.load()
            break
    if factory is None:
        factory = BUILTIN.get(name)
    if factory is None:
        raise ValueError(f"no bank profile {name!r}; known: {', '.join(sorted(available_profiles()))}")
    profile = factory(dict(params or {}), seed)
    for method in ("release", "fault"):
        if not callable(getattr(profile, method, None)):
            raise ValueError(f"bank profile {name!r} has no {method}() (see bank_sim.profiles.BankProfile)")
    return profile  # type: ignore[no-any-return]
