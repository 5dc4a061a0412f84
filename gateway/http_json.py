"""JSON request bodies with a size and a nesting bound, read before `json.loads` sees them.

`request.json()` reads up to the app's body limit (the 32 MiB of an envelope) and hands it to
`json.loads`, whose recursion a body of 100,000 `[` turned into a RecursionError and a 500.
Every JSON body the gateway takes (`POST /v1/inbox/ack`, `POST /v1/clock`) is small and flat;
`read_json` refuses a larger one with a coded 413 and a deeper one with a coded 400.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

__all__ = ["JSON_BODY_BYTES_MAX", "JSON_DEPTH_MAX", "JsonBodyError", "json_depth", "read_json"]

# The largest JSON body: an ack of ACK_IDS_MAX (1,000) message ids of ~40 characters is ~45 KiB;
# 256 KiB leaves room for spacing and longer ids, and is nothing to hold.
JSON_BODY_BYTES_MAX = 256 * 1024
# The deepest JSON body: {"ids": [...]} is 2 levels, {"advance_to": ...} 1; 8 is generous, and far
# from the thousand levels at which `json.loads` runs out of stack.
JSON_DEPTH_MAX = 8

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class JsonBodyError(ValueError):
    """A JSON body refused before parsing: `status` and `code` for the coded answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in `text` (brackets inside strings do not count)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


async def read_json(request: web.Request, *, bytes_max: int = JSON_BODY_BYTES_MAX,
                    depth_max: int = JSON_DEPTH_MAX) -> Any:
    """The request's JSON body, or JsonBodyError (too large, too deep); json.JSONDecodeError
    or UnicodeDecodeError (ValueErrors) if it is not JSON."""
    if request.content_length is not None and request.content_length > bytes_max:
        raise JsonBodyError(413, "too-large", f"the JSON body is {request.content_length} bytes; "
                                              f"the limit is {bytes_max}")
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > bytes_max:
            raise JsonBodyError(413, "too-large", f"the JSON body exceeds {bytes_max} bytes")
        chunks.append(chunk)
    text = b"".join(chunks).decode("utf-8")  # UnicodeDecodeError: a ValueError, "not JSON"
    if text.count("[") + text.count("{") > depth_max and json_depth(text) > depth_max:
        raise JsonBodyError(400, "bad-request", f"the JSON body nests deeper than {depth_max} levels")
    return json.loads(text)
