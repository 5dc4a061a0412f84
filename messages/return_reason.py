"""A refusal as the wire carries it: `Return_Reason` / `XReturnReason` is `"<code>: <text>"`.

One reading of that string for every party (banks, central bank, treasury, runner), instead of
each splitting it at the first colon on its own. The code is the registered one when it is
registered, else `unknown-code` with the whole string kept as the text: a code the project does
not know is never relabelled as another one (docs/wire.md §6).
"""

from __future__ import annotations

from dataclasses import dataclass

from messages.errors import CODES

__all__ = ["ReturnReason", "reason_code"]


@dataclass(frozen=True, slots=True)
class ReturnReason:
    code: str  # registered (messages.errors.CODES) or "unknown-code"
    text: str

    @classmethod
    def parse(cls, reason: str) -> ReturnReason:
        """`"over-quota: 12.00 above the day's quota"` → ReturnReason("over-quota", "12.00 above ...")."""
        head, sep, rest = reason.partition(":")
        code = head.strip()
        if sep and code in CODES:
            return cls(code, rest.strip())
        return cls("unknown-code", reason.strip())

    @classmethod
    def of(cls, code: str, text: str) -> ReturnReason:
        """A reason to send; `code` must be registered."""
        if code not in CODES:
            raise ValueError(f"unregistered return reason code {code!r}")
        return cls(code, text)

    def __str__(self) -> str:
        return f"{self.code}: {self.text}"


def reason_code(reason: str | None) -> str | None:
    """The code of a wire reason, None when there is no reason (the voucher was done)."""
    return None if reason is None or not reason.strip() else ReturnReason.parse(reason).code
