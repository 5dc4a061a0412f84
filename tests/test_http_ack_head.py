"""`response_bytes` (its head around the length and the date made once per status, fields and
close) writes what it wrote when it joined every line for every answer (the oracle below)."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from aiohttp.http import SERVER_SOFTWARE
from hypothesis import given, settings
from hypothesis import strategies as st

import gateway.http_ack as http_ack

DATE = "Mon, 07 Dec 2026 03:27:19 GMT"


def _old_response_bytes(status: int, body: bytes, fields: tuple[tuple[str, str], ...], *, close: bool = False) -> bytes:
    head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    head += [f"{k}: {v}" for k, v in fields]
    head += [f"Content-Length: {len(body)}", f"Date: {DATE}", f"Server: {SERVER_SOFTWARE}"]
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + body


TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)


@settings(max_examples=300)
@given(st.sampled_from([200, 400, 401, 403, 404, 408, 413, 429, 500, 503, 504]),
       st.lists(st.tuples(TEXT.filter(bool), TEXT), max_size=4).map(tuple), st.booleans(), st.binary(max_size=300))
def test_the_answer_is_byte_for_byte_as_before(status: int, fields: tuple[tuple[str, str], ...], close: bool,
                                               body: bytes) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(http_ack, "rfc822_formatted_time", lambda: DATE)
        assert http_ack.response_bytes(status, body, fields, close=close) == _old_response_bytes(
            status, body, fields, close=close)
        assert http_ack.response_bytes(status, body, fields, close=close) == _old_response_bytes(  # now kept
            status, body, fields, close=close)
    assert len(http_ack._heads) <= http_ack.HEADS_MAX  # bounded, however many field sets were asked for
