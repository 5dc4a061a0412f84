"""A small Chrome DevTools Protocol driver for the dashboard's browser tests (Debian's headless
`chromium`, aiohttp's websocket client; nothing downloaded). Waits are on DOM conditions, polled
within a bounded timeout, never fixed sleeps."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

START_TIMEOUT_S = 120  # a cold Chromium start on a loaded 2-core machine
WAIT_TIMEOUT_S = 30  # one DOM condition: a page renders in well under a second
POLL_S = 0.05


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self.errors: list[str] = []  # uncaught page exceptions and console errors
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self._pending:
                fut = self._pending.pop(data["id"])
                if "error" in data:
                    fut.set_exception(RuntimeError(str(data["error"])))
                else:
                    fut.set_result(data.get("result", {}))
            elif data.get("method") == "Runtime.exceptionThrown":
                self.errors.append(str(data["params"]["exceptionDetails"].get("exception", {}).get("description")))

    async def send(self, method: str, **params: Any) -> Any:
        mid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[mid] = fut
        await self.ws.send_str(json.dumps({"id": mid, "method": method, "params": params}))
        async with asyncio.timeout(WAIT_TIMEOUT_S):
            return await fut

    async def eval(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait(self, expression: str, what: str = "") -> Any:
        """The value of `expression` once truthy; fails after WAIT_TIMEOUT_S naming `what`."""
        try:
            async with asyncio.timeout(WAIT_TIMEOUT_S):
                while True:  # false while the page is still loading (no body yet) too
                    value = await self.eval(f"(() => {{ try {{ return ({expression}); }} catch (e) {{ return false; }} }})()")
                    if value:
                        return value
                    await asyncio.sleep(POLL_S)
        except TimeoutError:
            body = await self.eval("document.body ? document.body.innerText.slice(0, 2000) : ''")
            raise AssertionError(f"timed out waiting for {what or expression}; page errors: {self.errors}; "
                                 f"page text: {body}") from None

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def type(self, selector: str, text: str) -> None:
        """Focus the field and type into it as a keyboard would (Input.insertText)."""
        await self.wait(f"!!document.querySelector({json.dumps(selector)})", selector)
        await self.eval(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.focus(); e.value = ''; }})()")
        await self.send("Input.insertText", text=text)

    async def click(self, selector: str) -> None:
        await self.wait(f"!!document.querySelector({json.dumps(selector)})", selector)
        await self.eval(f"document.querySelector({json.dumps(selector)}).click()")

    async def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode((await self.send("Page.captureScreenshot", format="png"))["data"])
        await asyncio.to_thread(_write, path, data)
        return data


@asynccontextmanager
async def chromium(profile: Path, *, width: int = 1280, height: int = 900) -> AsyncIterator[Page]:
    """A headless Chromium and its first page. Skips where Chromium is missing (fails under
    TGW_REQUIRE_SERVICES, as in CI)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("TGW_REQUIRE_SERVICES"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's package)")
        pytest.skip("chromium is not installed")
    proc = await asyncio.create_subprocess_exec(
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
        "--remote-debugging-port=0", "--remote-allow-origins=*", f"--user-data-dir={profile}",
        f"--window-size={width},{height}", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stderr is not None
        port = None
        async with asyncio.timeout(START_TIMEOUT_S):
            while port is None:
                line = (await proc.stderr.readline()).decode(errors="replace")
                if not line:
                    raise AssertionError("chromium exited before it listened for DevTools")
                m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
                port = int(m.group(1)) if m else None
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as resp:
                targets = await resp.json()
            page_ws = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
            async with session.ws_connect(page_ws, max_msg_size=64 * 1024 * 1024) as ws:
                page = Page(ws)
                await page.send("Page.enable")
                await page.send("Runtime.enable")
                await page.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                                deviceScaleFactor=1, mobile=False)
                try:
                    yield page
                finally:
                    page._reader.cancel()
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
