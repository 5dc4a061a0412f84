"""`tgw up`'s log is JSON lines, every line (issue 14): libraries that log through the standard
`logging` module (aiomqtt, paho, asyncpg, aiohttp, asyncio, `warnings`) go through structlog's
renderer too, and aiomqtt's per-publish "pending publish calls" warning is not set off by the
number of publishes the gateway keeps in flight on purpose."""

from __future__ import annotations

import asyncio
import json
import logging
import warnings
from collections.abc import Iterator

import pytest
import structlog

from client.mqtt import MqttClientTransport
from client.wire import PUBLISH_IN_FLIGHT_MAX
from gateway.logs import configure_logging
from gateway.mqtt_adapter import MqttAdapter


@pytest.fixture
def json_logging() -> Iterator[None]:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    logging.captureWarnings(False)  # an earlier test's configure_logging: install ours over pytest's recorder
    try:
        configure_logging(json=True, level="INFO")
        yield
    finally:
        structlog.configure(**saved)
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
        root.setLevel(level)
        logging.captureWarnings(False)


def _lines(err: str) -> list[dict[str, object]]:
    lines = err.splitlines()
    assert lines, "nothing was logged"
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    return out


def test_every_line_is_json_whoever_logs_it(json_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    structlog.get_logger("tgw.test").warning("ours", n=1)
    logging.getLogger("mqtt").warning("There are %d pending publish calls.", 99)  # aiomqtt's logger
    try:
        raise ConnectionResetError("connection was closed in the middle of operation")
    except ConnectionResetError:
        logging.getLogger("asyncpg.pool").exception("multi\nline\nmessage")  # a traceback with it
    logging.getLogger("aiohttp.server").error("Error handling request")
    logging.getLogger("quiet.lib").debug("below the level")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a library's warning", UserWarning, stacklevel=1)

    async def lost_future() -> None:
        loop = asyncio.get_running_loop()
        loop.call_exception_handler({"message": "Future exception was never retrieved",
                                     "exception": RuntimeError("boom")})

    asyncio.run(lost_future())
    lines = _lines(capsys.readouterr().err)
    by_event = {str(line["event"]).split("\n")[0]: line for line in lines}
    assert by_event["ours"]["n"] == 1
    assert by_event["There are 99 pending publish calls."]["logger"] == "mqtt"
    assert by_event["There are 99 pending publish calls."]["level"] == "warning"
    tb = by_event["multi"]
    assert tb["logger"] == "asyncpg.pool" and "ConnectionResetError" in str(tb["exception"])
    assert "Traceback" in str(tb["exception"])  # the traceback is inside the line, not after it
    assert by_event["Error handling request"]["level"] == "error"
    assert any("a library's warning" in str(line["event"]) for line in lines)
    assert any(line.get("logger") == "asyncio" and "boom" in str(line.get("exception")) for line in lines)
    assert "below the level" not in json.dumps(lines)
    assert all("timestamp" in line and "level" in line for line in lines)


def test_configuring_twice_adds_no_second_handler(json_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True, level="INFO")
    logging.getLogger("mqtt").warning("once")
    assert len(_lines(capsys.readouterr().err)) == 1


async def test_the_publishes_kept_in_flight_do_not_set_off_aiomqtts_warning() -> None:
    """Before: aiomqtt's threshold (10) was below the 64 publishes the gateway and the SDK keep in
    flight by design, so nearly every push logged "There are N pending publish calls."."""
    adapter = MqttAdapter(None, host="127.0.0.1", port=1, username="u", password="p")  # type: ignore[arg-type]
    transport = MqttClientTransport("127.0.0.1", 1, username="u", password="p", participant_id="bank-a")
    for client in (adapter._make_client(), transport._make_client()):
        assert client.pending_calls_threshold >= PUBLISH_IN_FLIGHT_MAX
