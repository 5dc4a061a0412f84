"""Plain data for simulator snapshots: JSON-safe forms of dates, keys, transfers and sends.

A core's `snapshot()` is built from these (dates as ISO strings, amounts as int fen, bytes as
base64) and `load_snapshot()` reverses them exactly; the shell stores the result as JSON.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from business_time.clock import TZ
from ledger.model import Account, AccountFlags, Transfer
from messages.envelope import VoucherKey
from sim.effects import Alarm, Effect, OpenAccount, PostTransfer, Refusal, SendVoucher, WakeAt

__all__ = [
    "Lazy",
    "bytes_from_plain",
    "bytes_to_plain",
    "check_snapshot_header",
    "config_fingerprint",
    "date_from_plain",
    "date_to_plain",
    "datetime_from_plain",
    "datetime_to_plain",
    "dumps_plain",
    "effect_from_plain",
    "effect_to_plain",
    "key_from_plain",
    "key_to_plain",
    "refusal_from_plain",
    "refusal_to_plain",
    "send_from_plain",
    "send_to_plain",
    "transfer_from_plain",
    "transfer_to_plain",
]


def check_snapshot_header(data: Mapping[str, Any], core: str, version: int, fingerprint: str) -> None:
    """Refuse a snapshot of another kind of core, another format version or another config."""
    if data.get("core") != core or data.get("version") != version:
        raise ValueError(f"not a version {version} {core} snapshot: "
                         f"{data.get('core')!r} version {data.get('version')!r}")
    if data.get("config") != fingerprint:
        raise ValueError(f"the snapshot was taken with another config: {data.get('config')}")


def config_fingerprint(*configs: object) -> str:
    """What a snapshot was taken under: a core refuses to load one taken with another config."""
    return "; ".join(repr(c) for c in configs)


def date_to_plain(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def date_from_plain(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


def datetime_to_plain(when: dt.datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def datetime_from_plain(text: str | None) -> dt.datetime | None:
    """An aware ISO datetime, back in Asia/Shanghai (naive ones are refused)."""
    if text is None:
        return None
    when = dt.datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {text!r} in a snapshot")
    return when.astimezone(TZ)


def key_to_plain(key: VoucherKey) -> list[Any]:
    return [key.adm_div_code, key.st_year, key.vtcode, key.voucher_no, key.flag]


def key_from_plain(value: Sequence[Any]) -> VoucherKey:
    adm, year, vtcode, no, flag = value
    return VoucherKey(str(adm), str(year), str(vtcode), str(no), int(flag))


def bytes_to_plain(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def bytes_from_plain(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text.encode("ascii"), validate=True)


def transfer_to_plain(t: Transfer) -> dict[str, Any]:
    return {"id": t.id, "debit": t.debit_account, "credit": t.credit_account, "amount_fen": t.amount_fen,
            "kind": t.kind, "reference": t.reference, "day": date_to_plain(t.business_date), "note": t.note}


def transfer_from_plain(d: Mapping[str, Any]) -> Transfer:
    return Transfer(d["id"], d["debit"], d["credit"], int(d["amount_fen"]), d["kind"], d["reference"],
                    date_from_plain(d["day"]), d["note"])


def send_to_plain(e: SendVoucher) -> dict[str, Any]:
    return {"vtcode": e.vtcode, "flag": e.flag, "head": dict(e.head), "details": [dict(d) for d in e.details],
            "to": e.recipient_role, "return_reason": e.return_reason, "original": bytes_to_plain(e.original),
            "encoding": e.encoding, "data": bytes_to_plain(e.data)}


def send_from_plain(d: Mapping[str, Any]) -> SendVoucher:
    return SendVoucher(d["vtcode"], int(d["flag"]), dict(d["head"]), tuple(dict(x) for x in d["details"]), d["to"],
                       return_reason=d["return_reason"], original=bytes_from_plain(d["original"]),
                       encoding=d["encoding"], data=bytes_from_plain(d.get("data")))


def effect_to_plain(e: Effect) -> dict[str, Any]:
    if isinstance(e, SendVoucher):
        return {"send": send_to_plain(e)}
    if isinstance(e, PostTransfer):
        return {"transfer": transfer_to_plain(e.transfer)}
    if isinstance(e, OpenAccount):
        a = e.account
        return {"open": {"id": a.id, "name": a.name, "kind": a.kind, "flags": int(a.flags), "owner": a.owner}}
    if isinstance(e, WakeAt):
        return {"wake": datetime_to_plain(e.at)}
    return {"alarm": {"code": e.code, "message": e.message, "key": e.key}}


def effect_from_plain(d: Mapping[str, Any]) -> Effect:
    if "send" in d:
        return send_from_plain(d["send"])
    if "transfer" in d:
        return PostTransfer(transfer_from_plain(d["transfer"]))
    if "open" in d:
        a = d["open"]
        return OpenAccount(Account(a["id"], a["name"], a["kind"], AccountFlags(int(a["flags"])), a["owner"]))
    if "wake" in d:
        when = datetime_from_plain(d["wake"])
        assert when is not None
        return WakeAt(when)
    a = d["alarm"]
    return Alarm(a["code"], a["message"], a["key"])


def refusal_to_plain(r: Refusal) -> dict[str, Any]:
    return {"source": r.source, "code": r.code, "message": r.message,
            "dropped": [effect_to_plain(e) for e in r.dropped]}


def refusal_from_plain(d: Mapping[str, Any]) -> Refusal:
    return Refusal(d["source"], d["code"], d["message"], tuple(effect_from_plain(e) for e in d["dropped"]))


class Lazy:
    """A list of plain items made one at a time, each time it is read (`make()` gives an iterator).

    For the large lists of a core's stored snapshot (one item per payment of the day): `dumps_plain`
    encodes it item by item, so only one item's plain dict lives at a time, not the whole list's
    (at 100,000 vouchers the plain dicts of a bank's payments alone are hundreds of MB). Read as
    an iterable it gives the items anew; it equals a list of the same items."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Iterable[Any]]) -> None:
        self.make = make

    def __iter__(self) -> Iterator[Any]:
        return iter(self.make())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Lazy | list):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Lazy({list(self)!r})"


def _lazy_default(o: object) -> Any:
    if isinstance(o, Lazy):
        return list(o)
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def dumps_plain(data: Any) -> str:
    """Compact ASCII JSON of plain data, byte for byte `json.dumps(..., separators=(",", ":"))` of
    the same data with every `Lazy` read as a list. Dicts are encoded key by key and a `Lazy` item
    by item, so the transient memory is the text plus one item, not a second copy of the whole
    state as plain objects. ASCII (non-ASCII as \\u escapes): one of the names a voucher carries
    would make the whole multi-MB text 2 bytes a character, plus a UTF-8 copy for the database."""
    if isinstance(data, dict):
        return "{" + ",".join(f"{_dumps(str(k))}:{dumps_plain(v)}" for k, v in data.items()) + "}"
    if isinstance(data, Lazy):
        return "[" + ",".join(dumps_plain(item) for item in data) + "]"
    return _dumps(data)


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), default=_lazy_default)
