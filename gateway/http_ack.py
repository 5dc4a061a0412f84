"""The answer to POST /v1/messages, made once for both paths that serve it: aiohttp's route
(`gateway.http_app.post_messages`) and the lean one in front of it (`gateway.http_fast`).

Both write the same status, body and Content-Type from here, so the two cannot drift apart; the
lean path writes the head as aiohttp would (`response_bytes`, compared byte for byte by
tests/test_http_fast.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import msgspec
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE

from gateway.service_types import SubmitResult, results_summary
from messages.signing import KeySigner

__all__ = ["JSON_CONTENT_TYPE", "XML_CONTENT_TYPE", "ack_answer", "json_answer", "response_bytes", "wants_xml"]

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
XML_CONTENT_TYPE = "application/xml"

# msgspec, not `web.json_response` (json.dumps, then the text encoded again): the ack is made
# for every envelope, and this is a few times cheaper for the same JSON value.
_JSON = msgspec.json.Encoder()


def wants_xml(accept: str) -> bool:
    """The client asked for the signed XML ack (`Accept: application/xml`) rather than JSON."""
    return "application/xml" in accept


def ack_answer(results: Sequence[SubmitResult], xml: bool, signer: KeySigner | None) -> tuple[int, bytes, str]:
    """(status, body, Content-Type) of the answer to one envelope's `results`: 400 when the whole
    envelope was refused (one result, no voucher), else 200; JSON unless `xml`."""
    whole_envelope_refused = len(results) == 1 and results[0].voucher is None
    status = 400 if whole_envelope_refused else 200
    if xml:
        return status, _signed_ack(results, signer), XML_CONTENT_TYPE
    body: dict[str, Any] = {"results": [r.as_dict() for r in results], "summary": results_summary(results)}
    if whole_envelope_refused and results[0].issues:
        # The whole envelope was refused: say why at the top level too, like every other 4xx.
        body["code"], body["message"] = results[0].issues[0].code, results[0].issues[0].message
    return status, _JSON.encode(body), JSON_CONTENT_TYPE


def _signed_ack(results: Sequence[SubmitResult], signer: KeySigner | None) -> bytes:
    """`<TGWAck>`: the per-voucher results, signed by the gateway's own key when it has one."""
    rows = "".join(
        f"<Result Voucher={quoteattr(r.voucher or '')} Status={quoteattr(r.status)} "
        f"Code={quoteattr(r.code or '')} MessageId={quoteattr(r.message_id or '')}>"
        f"{escape(r.issues[0].message if r.issues else '')}</Result>" for r in results)
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Ack>{rows}</Ack>\n'.encode()
    sig = ""
    if signer is not None:
        value = base64.b64encode(signer.sign(body)).decode()
        sig = f'<Signature SN="{signer.sn}">{value}</Signature>'
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<TGWAck><Ack>{base64.b64encode(body).decode()}</Ack>'
            f"<SignatureList>{sig}</SignatureList></TGWAck>\n").encode()


# The bytes on the wire, for the lean path (gateway.http_fast), which has no aiohttp response object.


# (status, fields, close) -> the answer's head before its Content-Length's digits and after its Date:
# the same few heads (200 and 400 acks, JSON or XML; the coded errors) for every request. Bounded:
# past HEADS_MAX (only a caller making ever new fields would get there) a head is made and not kept.
HEADS_MAX = 256
_heads: dict[tuple[int, tuple[tuple[str, str], ...], bool], tuple[bytes, bytes]] = {}


def _head_parts(status: int, fields: tuple[tuple[str, str], ...], close: bool) -> tuple[bytes, bytes]:
    key = (status, fields, close)
    parts = _heads.get(key)
    if parts is None:
        before = "".join([f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n", *(f"{k}: {v}\r\n" for k, v in fields),
                          "Content-Length: "])
        after = f"\r\nServer: {SERVER_SOFTWARE}" + ("\r\nConnection: close" if close else "") + "\r\n\r\n"
        parts = (before.encode("utf-8"), after.encode("utf-8"))
        if len(_heads) < HEADS_MAX:
            _heads[key] = parts
    return parts


def response_bytes(status: int, body: bytes, fields: tuple[tuple[str, str], ...], *, close: bool = False) -> bytes:
    """An answer as aiohttp writes it: `fields` in order, then Content-Length, Date, Server, and
    `Connection: close` when the connection ends after it. The head around the length and the
    date is made once per (status, fields, close) (`_head_parts`)."""
    before, after = _head_parts(status, fields, close)
    return b"".join((before, b"%d\r\nDate: " % len(body), rfc822_formatted_time().encode("utf-8"), after, body))


def json_answer(status: int, value: Any, *, before: tuple[tuple[str, str], ...] = (),
                 after: tuple[tuple[str, str], ...] = (), close: bool = False) -> bytes:
    """`web.json_response(value, status, headers=before)` with `after` set on it later."""
    return response_bytes(status, json.dumps(value).encode("utf-8"),
                          (*before, ("Content-Type", JSON_CONTENT_TYPE), *after), close=close)
