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

from gateway.service_types import SubmitResult
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
    summary = {"accepted": 0, "duplicate": 0, "rejected": 0}
    held = 0
    for r in results:
        if r.status in summary:
            summary[r.status] += 1
        elif r.status == "held":
            held += 1
    if held:  # monitoring (docs/monitoring.md): only when there is one
        summary["held"] = held
    body: dict[str, Any] = {"results": [r.as_dict() for r in results], "summary": summary}
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


def response_bytes(status: int, body: bytes, fields: tuple[tuple[str, str], ...], *, close: bool = False) -> bytes:
    """An answer as aiohttp writes it: `fields` in order, then Content-Length, Date, Server, and
    `Connection: close` when the connection ends after it."""
    head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    head += [f"{k}: {v}" for k, v in fields]
    head += [f"Content-Length: {len(body)}", f"Date: {rfc822_formatted_time()}", f"Server: {SERVER_SOFTWARE}"]
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + body


def json_answer(status: int, value: Any, *, before: tuple[tuple[str, str], ...] = (),
                 after: tuple[tuple[str, str], ...] = (), close: bool = False) -> bytes:
    """`web.json_response(value, status, headers=before)` with `after` set on it later."""
    return response_bytes(status, json.dumps(value).encode("utf-8"),
                          (*before, ("Content-Type", JSON_CONTENT_TYPE), *after), close=close)
