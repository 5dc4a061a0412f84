"""Waiting for the system under test without polling: the test gateway's `GET /v1/sim/idle`.

After each move of the clock the conformance runner waits until the system under test has caught
up (runner/conformance.py, `_settle`). The gateway knows that first: every delivery to it acked,
it waiting on the clock at the current time in the current epoch. One long-poll of
`GET /v1/sim/idle` (gateway/sim_idle.py) answers as soon as that holds, with how many deliveries
wait for each participant, so the runner reads only the inboxes that have something. A gateway
without the endpoint (older than it) is waited on as before, by looking again every
`SETTLE_POLL_S`.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import aiohttp

__all__ = ["IDLE_WAIT_S_MAX", "GatewayIdle"]

IDLE_WAIT_S_MAX = 60.0  # the gateway's bound on one long-poll (CLOCK_WAIT_S_MAX); the runner asks again


class GatewayIdle:
    """`GET /v1/sim/idle` of the gateway at `url`, as the treasury (a test gateway lets only it ask)."""

    def __init__(self, url: str, token: str) -> None:
        self.url = f"{url.rstrip('/')}/v1/sim/idle"
        self._session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})
        self.calls = 0

    async def __aenter__(self) -> GatewayIdle:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._session.close()

    async def supported(self, participant: str) -> bool:
        """Whether the gateway has the endpoint (an older one answers 404 or 405)."""
        async with self._session.get(self.url, params={"participant": participant, "wait": "0"}) as resp:
            return resp.status == 200

    async def wait(self, participant: str, wait_s: float) -> dict[str, Any]:
        """What holds for `participant` once it has caught up, or after `wait_s` seconds."""
        wait = min(max(0.0, wait_s), IDLE_WAIT_S_MAX)
        self.calls += 1
        async with self._session.get(self.url, params={"participant": participant, "wait": f"{wait:.3f}"}) as resp:
            body: dict[str, Any] = await resp.json(content_type=None)
            if resp.status != 200:
                raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status,
                                                  message=f"{body.get('code')}: {body.get('message')}")
        return body
