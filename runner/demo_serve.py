"""`tgw demo --serve`: the demo world kept running at a chosen speed, with the dashboard open.

The one place in the project that waits on wall time, by design: every SERVE_TICK_S of wall time
the simulation engine runs up to `start + elapsed × speed` of simulated time, so a newcomer sees
the business day move in the browser (`/ui/`). The gateway's HTTP app is the real one
(`gateway.http_app.make_app`) over the demo's gateway; the bank scorecard is drawn up each
simulated hour and published to the dashboard (`gateway.ui.ScorecardBoard`). After the last
day the world stays up (the dashboard still answers) until the process is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

__all__ = ["SERVE_TICK_S", "SPEED_MAX", "serve_demo"]

SERVE_TICK_S = 0.5  # wall seconds between moves of the simulated clock: the page's clock moves this often
SPEED_MAX = 1_000_000.0  # a simulated week per wall second; faster is `tgw demo` without --serve


async def serve_demo(root: Path, *, seed: int, vouchers: int, days: int, start: dt.date, speed: float,
                     host: str, port: int, announce: Callable[[str, dict[str, str]], None],
                     stop: asyncio.Event | None = None, algorithm: str = "ecdsa") -> None:
    """Build the demo world under `root`, serve its gateway's HTTP app on host:port and run the
    days at `speed`× until `stop` is set (or the task is cancelled). `announce(url, tokens)` is
    called once the server listens, with every participant's bearer token by id."""
    from business_time.calendar import BusinessCalendar
    from gateway.http_app import make_app
    from gateway.ui import SCORECARD_KEY
    from runner.demo import build_world
    from runner.scorecard_feed import scorecard_of
    from treasury_sim.scorecard import render_json

    w = await build_world(root, seed=seed, vouchers=vouchers, days=days, start=start, algorithm=algorithm)
    app = make_app(w.gateway)
    runner = web.AppRunner(app, access_log=None)
    stop = stop or asyncio.Event()
    try:
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0]
        announce(f"http://{host}:{bound[1]}/ui/", {pid: p.token for pid, p in w.world.participants.items()})
        loop = asyncio.get_running_loop()
        sim_start, wall_start = w.clock.now(), loop.time()
        calendar = BusinessCalendar.default()
        published = ""
        await w.engine.start()
        while not stop.is_set():
            elapsed = loop.time() - wall_start
            target = min(sim_start + dt.timedelta(seconds=elapsed * speed), w.end)
            if target > w.clock.now():
                await w.engine.run_until(target)
            hour = f"{w.clock.now():%Y%m%d%H}"
            if hour != published:  # the scorecard once per simulated hour: it walks every duty event
                cards = scorecard_of(w.bcores, calendar, w.clock_config, as_of=w.clock.now())
                app[SCORECARD_KEY].publish(render_json(cards), w.clock.now().isoformat())
                published = hour
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SERVE_TICK_S)
    finally:
        await runner.cleanup()
        await w.close()
