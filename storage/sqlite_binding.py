"""SQLite parameters of type bytes and None bound without a failed protocol lookup each.

`sqlite3` binds int, float, str and bytearray as they are; any other value, bytes and None
included, first goes through its adaptation protocol: no adapter registered for the type, so it
looks up `__adapt__` on its PrepareProtocol class, which fails with a formatted AttributeError
message, then `__conform__` on the value, and binds the value itself. A journaled voucher binds
about seven such values (digests, payloads, empty columns): ~14K instructions an envelope
(callgrind; bench/results/http-cpu-5.md). An adapter that hands back the very value found in
the adapter table ends the lookup there: what is bound is the same object as before.

Registered for the whole process on import (`storage.db` imports this module). bytes and None
are not among the types whose adapters make sqlite3 adapt every value (int, float, str,
bytearray); a subclass of bytes is looked up by its own type, and goes the long way as before.
"""

from __future__ import annotations

import sqlite3

__all__ = ["same_none"]

# `dict.get` of an empty dict, for None: C code that returns None, as `bytes(value)` returns the
# very bytes object it is given (exact type): no Python frame per value bound.
_EMPTY: dict[object, None] = {}
same_none = _EMPTY.get

sqlite3.register_adapter(bytes, bytes)
sqlite3.register_adapter(type(None), same_none)
