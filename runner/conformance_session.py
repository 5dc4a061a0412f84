"""One gateway for many scenarios in conformance mode (`tgw scenario run DIR --external ... --shared-gateway`).

Without it each scenario needs a fresh `tgw up` (the clock never goes back) and a fresh system
under test: most of a catalogue run was gateways and systems starting. With it, before each
scenario that applies, the runner resets the one test gateway (`POST /v1/sim/reset`,
gateway/sim_reset.py): every message, delivery, trace, hold and delivery fault is gone and the
simulated clock is back where it started, in a new `epoch`. The system under test stays up on its
connection and starts over when it sees the new epoch in `GET /v1/clock` (examples/sdk_bank.py).

What keeps one scenario from seeing another's (docs/conformance.md, "One gateway for the whole
catalogue"):

- the gateway holds nothing of the scenario before: its tables are emptied, and its message ids
  and inbox sequence only go on, so an id, an ack or an inbox cursor of before names nothing now;
- the runner's simulated participants are new for every scenario (their ledgers in the scenario's
  own directory), as before;
- the system under test has started over: it is waiting on the clock in the new epoch (a request
  parked from before the reset, or one that does not say its epoch, is not listed as waiting), and
  it sent nothing between the reset and the scenario's start (anything it sent then is of a
  scenario before: the scenario is reported in error, saying what came, and not run).

A system that cannot wait on the clock (`--quiet-window`) cannot say it started over: it runs
with a gateway per scenario.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from runner.conformance import ConformanceOptions, _Unresponsive
from runner.conformance_wait import IDLE_WAIT_S_MAX

__all__ = ["NotStartedOver", "SharedGateway"]



class NotStartedOver(_Unresponsive):
    """After a reset the system under test did not start over (or not in time)."""


@dataclass
class SharedGateway:
    """The one test gateway at `opts.url`, reset before each scenario that runs."""

    opts: ConformanceOptions
    resets: int = 0

    async def before(self, world: Any) -> None:
        """Reset the gateway, then wait until the system under test has started over."""
        base = self.opts.url.rstrip("/")
        treasury = world.participants[world.treasury.id].token
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {treasury}"}) as session:
            async with session.post(f"{base}/v1/sim/reset", json={}) as resp:
                view: dict[str, Any] = await resp.json(content_type=None)
                if resp.status != 200:
                    raise NotStartedOver(f"POST /v1/sim/reset at {base}: {resp.status} {view.get('code')}: "
                                         f"{view.get('message')} (a gateway per scenario: leave out --shared-gateway)")
            self.resets += 1
            await self._until_waiting(session, base, view)
        await self._nothing_sent_since(world, base)

    async def _until_waiting(self, session: aiohttp.ClientSession, base: str, reset: dict[str, Any]) -> None:
        """One long-poll of `GET /v1/sim/idle` (gateway/sim_idle.py): it answers once the system
        under test waits on the clock in the new epoch (nothing polls)."""
        ext, epoch, now = self.opts.external, reset.get("epoch"), reset["now"]
        deadline = time.monotonic() + self.opts.startup_s
        while True:
            wait = min(max(0.0, deadline - time.monotonic()), IDLE_WAIT_S_MAX)
            async with session.get(f"{base}/v1/sim/idle", params={"participant": ext, "wait": f"{wait:.3f}"}) as resp:
                view = await resp.json(content_type=None)
                if resp.status != 200:
                    raise NotStartedOver(f"GET /v1/sim/idle at {base}: {resp.status} {view.get('code')}: "
                                         f"{view.get('message')}")
            if view.get("epoch") != epoch:
                raise NotStartedOver(f"the gateway at {base} was reset again meanwhile (epoch {view.get('epoch')}, "
                                     f"not {epoch}): is another run using it?")
            if view.get("caught_up"):
                return
            if time.monotonic() >= deadline:
                raise NotStartedOver(f"after the gateway's reset (epoch {epoch}, clock {now}) {ext} did not wait on "
                                     f"the clock in the new epoch within {self.opts.startup_s:g} s: it must start "
                                     "over when GET /v1/clock shows a new epoch and wait with "
                                     "GET /v1/clock?after=...&epoch=... (docs/conformance.md)")

    async def _nothing_sent_since(self, world: Any, base: str) -> None:
        """Nothing is in anyone's inbox: the runner has sent nothing yet, so whatever is there the
        system under test sent after the reset, of a scenario before."""
        ext = self.opts.external
        async with aiohttp.ClientSession() as session:  # one connection for all: each asks as itself
            for member in world.participants.values():
                if member.id == ext or not member.token:
                    continue
                async with session.get(f"{base}/v1/inbox", params={"cursor": "0", "wait": "0"},
                                       headers={"Authorization": f"Bearer {member.token}"}) as resp:
                    body = await resp.json(content_type=None)
                came = [f"{m.get('voucher')} from {m.get('sender')}" for m in body.get("messages") or []]
                if came:
                    raise NotStartedOver(f"after the gateway's reset, before the scenario began, {member.id} was "
                                         f"sent {', '.join(came[:5])}{' ...' if len(came) > 5 else ''}: {ext} did "
                                         "not start over from fresh state")
