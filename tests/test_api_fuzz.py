"""Property-based fuzzing of the HTTP API from its own OpenAPI document (schemathesis).

A real gateway (DevWorld, SQLite in a temporary directory, a simulated business clock) serves
the aiohttp app on 127.0.0.1 from a background thread; schemathesis reads `/openapi.json` from
it and sends a bounded number of generated requests per operation, authenticated as a
participant. Whatever the input: never a 5xx, and every 4xx is JSON with a stable `code`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import Phase as _Phase  # noqa: E402

MAX_EXAMPLES = 25


class _LiveGateway:
    """The gateway and its HTTP listener on an event loop of their own, in a thread."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = ""
        self.token = ""
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="fuzz-gateway", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the fuzz gateway did not start")
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        from gateway_helpers import serving

        from business_time.calendar import BusinessCalendar
        from business_time.clock import ClockConfig
        from gateway.clock import BusinessClock
        from gateway.service import Gateway
        from runner.world import DevWorld
        from storage.db import open_database

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        world = DevWorld.create(self.root / "world")
        self.token = world.treasury.token
        db = await open_database(str(self.root / "gw.db"))
        clock = BusinessClock.simulated(BusinessCalendar.default(), ClockConfig.from_dict({}),
                                        dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))))
        gateway = Gateway(db=db, registry=world.registry(), certs=world.certs(), clock=clock)
        await gateway.start()
        try:
            async with serving(gateway) as self.url:
                self._ready.set()
                await self._stop.wait()
        finally:
            await gateway.stop()
            await db.close()


@pytest.fixture(scope="module")
def live_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_LiveGateway]:
    live = _LiveGateway(tmp_path_factory.mktemp("fuzz"))
    live.start()
    yield live
    live.stop()


def _schema() -> Any:
    # The very document the server serves at /openapi.json (a test below checks they agree),
    # loaded at collection time: schemathesis' from_fixture does not work with pytest 9.
    from gateway.openapi import openapi_document

    return schemathesis.openapi.from_dict(openapi_document())


schema = _schema()


def test_the_fuzzed_document_is_the_served_one(live_gateway: _LiveGateway) -> None:
    import json
    import urllib.request

    from gateway.openapi import openapi_document

    with urllib.request.urlopen(f"{live_gateway.url}/openapi.json", timeout=10) as resp:
        served = json.load(resp)
    assert served == json.loads(json.dumps(openapi_document()))


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck),
          phases=[_Phase.explicit, _Phase.generate])
def test_api_never_5xx_and_every_4xx_is_coded(case: Any, live_gateway: _LiveGateway) -> None:
    if (case.method, case.path) in _STREAMS:
        pytest.skip("an endless event stream (tests/test_ui_api.py reads it)")
    # Long polls would only make the run slow: the fuzzer may ask for wait=60.
    if case.query and "wait" in case.query:
        case.query["wait"] = "0"
    headers = {"Authorization": f"Bearer {live_gateway.token}"}
    response = case.call(base_url=live_gateway.url, headers=headers, timeout=30)
    status = response.status_code
    assert status < 500, f"{case.method} {case.formatted_path} -> {status}: {response.text[:500]}"
    if 400 <= status < 500:
        try:
            body = response.json()
        except ValueError:
            pytest.fail(f"{case.method} {case.formatted_path} -> {status} without a JSON body: {response.text[:200]}")
        assert isinstance(body, dict), body
        # POST /v1/messages answers a wholly refused envelope 400 with its per-voucher results
        # (the documented shape): the code is the result's.
        codes = [body.get("code")] if "results" not in body else [r.get("code") for r in body["results"]]
        assert codes and all(isinstance(c, str) and c for c in codes), \
            f"{case.method} {case.formatted_path} -> {status} without a code: {body!r}"


# Every check schemathesis has, the ones the test above leaves out included (status codes and
# content types the spec does not list, response bodies against their schema, data the schema
# refuses being accepted, data it allows being refused...), over positive and negative data.
# Issue 9: the inbox's 400 was undocumented and `wait` over its maximum was clamped, not refused.
strict_schema = _schema()
strict_schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE,
                                              schemathesis.GenerationMode.NEGATIVE])
# One exception, by nature: POST /v1/messages takes "a string" that must also be a signed MOF
# envelope, which no JSON schema can say; schema-valid random text is rightly refused (400 with
# per-voucher codes, documented), so `positive_data_acceptance` cannot hold there.
# The dashboard's server-sent events never end: a fuzzed request would only time out.
_STREAMS = {("GET", "/v1/events")}
# POST /v1/sim/faults names a participant of the registry (and a voucher key "alone", without
# vtcode/flag beside it): schema-valid ids the registry does not have are rightly a coded 400.
# GET /v1/clock: the fuzzer's "unknown query property" case sometimes reaches the URL without the
# property (a generator artifact: the gateway refuses every unknown parameter, see
# tests/test_clock_api.py), so its refusal check is left to that test.
# GET /v1/sim/idle likewise names a participant of the registry.
_NOT_EXPRESSIBLE = {("POST", "/v1/messages"): ["positive_data_acceptance"],
                    ("GET", "/v1/clock"): ["negative_data_rejection"],
                    ("POST", "/v1/sim/faults"): ["positive_data_acceptance"],
                    ("GET", "/v1/sim/idle"): ["positive_data_acceptance"]}


@strict_schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck),
          phases=[_Phase.explicit, _Phase.generate])
def test_api_conforms_to_its_spec_under_every_check(case: Any, live_gateway: _LiveGateway) -> None:
    if (case.method, case.path) in _STREAMS:
        pytest.skip("an endless event stream (tests/test_ui_api.py reads it)")
    if case.query and "wait" in case.query and case.query["wait"] not in (None, ""):
        try:
            if 0 < float(case.query["wait"]) <= 60:
                case.query["wait"] = "0"  # in range: a long poll would only make the run slow
        except (TypeError, ValueError):
            pass
    from schemathesis.checks import CHECKS, load_all_checks

    load_all_checks()
    skipped = set(_NOT_EXPRESSIBLE.get((case.method, case.path), ()))
    checks = [c for c in CHECKS.get_all() if c.__name__ not in skipped]
    case.call_and_validate(base_url=live_gateway.url, headers={"Authorization": f"Bearer {live_gateway.token}"},
                           timeout=30, checks=checks)
