"""`tgw demo --serve`: the demo world moves at a chosen speed with the dashboard served beside it."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import aiohttp
import pytest

from runner.demo_serve import serve_demo
from tgw import main

DAY = dt.date(2026, 3, 16)


async def test_the_day_moves_and_the_dashboard_answers(tmp_path: Path) -> None:
    announced: asyncio.Queue[tuple[str, dict[str, str]]] = asyncio.Queue()
    stop = asyncio.Event()
    task = asyncio.create_task(serve_demo(
        tmp_path, seed=3, vouchers=10, days=1, start=DAY, speed=36_000.0, host="127.0.0.1", port=0,
        announce=lambda url, tokens: announced.put_nowait((url, tokens)), stop=stop))
    try:
        async with asyncio.timeout(120):
            url, tokens = await announced.get()
        base = url.removesuffix("/ui/")
        treasury = next(pid for pid in tokens if pid.startswith("treasury"))
        auth = {"Authorization": f"Bearer {tokens[treasury]}"}
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as resp:
                assert resp.status == 200 and "app.js" in await resp.text()
            noon = dt.datetime.combine(DAY, dt.time(12, 0), dt.timezone(dt.timedelta(hours=8))).isoformat()
            # the simulated clock passes noon (polled within a bound: the demo's SimClock offers no
            # change notification, so GET /v1/clock's long-poll is not available over it)
            async with asyncio.timeout(120):
                while True:
                    async with session.get(f"{base}/v1/clock", headers=auth) as resp:
                        if dt.datetime.fromisoformat((await resp.json())["now"]) > dt.datetime.fromisoformat(noon):
                            break
                    await asyncio.sleep(0.2)
            async with session.get(f"{base}/v1/search", params={"date": DAY.isoformat(), "vtcode": "5201"},
                                   headers=auth) as resp:
                assert resp.status == 200 and (await resp.json())["items"]
            async with session.get(f"{base}/v1/scorecard", headers=auth) as resp:
                assert (await resp.json())["available"] is True
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


@pytest.mark.parametrize("argv", [["--speed", "0"], ["--speed", "nan"], ["--speed", "1e9"], ["--http", "8480"],
                                  ["--http", "127.0.0.1:99999"]])
def test_bad_serve_options_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--serve", "--quiet", *argv]) == 2
    assert "tgw demo:" in capsys.readouterr().err
