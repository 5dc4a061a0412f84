"""aiohttp's own error responses, in the gateway's coded JSON shape and without echoing the request.

aiohttp answers a request its parser refuses (a header line over 8,190 bytes, broken chunked
encoding, a bad method or header character) before any middleware runs, from
`RequestHandler.handle_error`, in plain text that quotes the offending bytes: an `Authorization`
header over the limit came back in the 400 body, bearer token included, and the same text went
to the log with the traceback. aiohttp offers no public hook for these responses (aio-libs/aiohttp
#3287 is open), so `CodedErrorsRequestHandler` overrides `handle_error`: every such answer is
`{"code", "message"}` with a code from `messages.errors.CODES` and a fixed message chosen by the
kind of error, never the parser's text, and the log names the kind, never the bytes.
`gateway.http_limits.GuardedRequestHandler` (what `tgw up` serves with) derives from it.
"""

from __future__ import annotations

from http import HTTPStatus

import structlog
from aiohttp import http_exceptions, web
from aiohttp.web_request import BaseRequest

from gateway import metrics
from gateway.log_tally import LogTally

__all__ = ["CLIENT_GONE", "CodedErrorsRequestHandler", "protocol_error_body"]

log = structlog.get_logger("tgw.http")

# A client that went away before its request was read or answered (aborted upload, closed tab,
# a killed process): its business, not a server error. Counted (tgw_http_client_disconnects_total)
# and logged once per interval with a count; never a 500 with a traceback.
CLIENT_GONE = LogTally("http.client_disconnected", level="info", logger=log)

# What the parser refused, in words that quote nothing from the request. Checked in order: the
# first class the exception is an instance of wins (LineTooLong is a BadHttpMessage, so first).
_MESSAGES: tuple[tuple[type[BaseException], str], ...] = (
    (http_exceptions.LineTooLong, "the request line or a header is longer than the server accepts "
                                  "(8,190 bytes); nothing of it was read"),
    (http_exceptions.TransferEncodingError, "the chunked transfer encoding of the body is malformed"),
    (http_exceptions.ContentLengthError, "the body is shorter or longer than its Content-Length"),
    (http_exceptions.BadHttpMethod, "the request line does not start with an HTTP method"),
    (http_exceptions.BadStatusLine, "the request line is not METHOD TARGET HTTP/1.x"),
    (http_exceptions.InvalidHeader, "a header name or value holds characters HTTP does not allow"),
    (http_exceptions.InvalidURLError, "the request target is not a valid URL"),
    (http_exceptions.BadHttpMessage, "the request is not well-formed HTTP/1.1"),
)


def protocol_error_body(status: int, exc: BaseException | None) -> tuple[str, str]:
    """(code, message) for an error aiohttp raised itself; the message never quotes the request."""
    if status >= 500:
        if status in (HTTPStatus.SERVICE_UNAVAILABLE, HTTPStatus.GATEWAY_TIMEOUT):
            return "unavailable", "the gateway could not answer in time; retry later"
        return "internal-error", "an unexpected failure inside the gateway while handling the request"
    if status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
        return "too-large", "the request is larger than the server accepts"
    for kind, message in _MESSAGES:
        if isinstance(exc, kind):
            return "bad-request", message
    return "bad-request", f"the request was refused ({status} {_phrase(status)})"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


class CodedErrorsRequestHandler(web.RequestHandler):
    """`web.RequestHandler` whose own error answers are coded JSON and quote nothing of the request."""

    def handle_error(self, request: BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        # `message` and str(exc) may quote request bytes (a bearer token in an oversized header):
        # neither reaches the client or the log. Our own failures (5xx) keep their traceback.
        kind = type(exc).__name__ if exc is not None else None
        if isinstance(exc, ConnectionResetError):  # aiohttp's "Connection lost" while reading the body
            metrics.HTTP_CLIENT_DISCONNECTS.inc()
            CLIENT_GONE.note(peer=request.remote, method=request.method, path=request.path)
            resp = web.Response(status=499)  # nobody reads it; the connection is gone
            resp.force_close()
            return resp
        if status >= 500:
            log.error("http.request_failed", status=status, error=kind, exc_info=exc)
        else:
            log.info("http.protocol_error", status=status, error=kind, peer=request.remote)
        if request.writer.output_size > 0:  # as aiohttp: part of a response went out, the connection is broken
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        code, text = protocol_error_body(status, exc)
        resp = web.json_response({"code": code, "message": text}, status=status)
        resp.force_close()
        return resp
