"""Authorized quotas (财政授权支付额度) as the agent bank keeps them: pure functions over plain data.

The treasury sends the bank an authorized quota notice (7101, monthly) with one line per (unit,
budget subject, project) of one budget year (StYear) and one fund type (FundTypeCode, 资金性质,
004 part 3 §9(2)); the bank tells each unit its quota arrived (7102, within 1 working day,
004 part 3 §9(2)) and pays the unit's authorized payments (8202) only within what is left of
it (§9(4), §13(3): an over-quota payment is the bank's own loss). Beyond it the voucher is
returned unpaid (`over-unit-quota`); a unit, subject or project with no line at all,
`no-unit-quota`.

**Matching a payment to the lines.** A payment draws only on the lines of its own StYear and
FundTypeCode: a December quota does not pay a January voucher, and one fund type's quota does
not pay another's (`no-unit-quota` naming the StYear and FundTypeCode). Each Detail of an 8202
names the unit (AgencyCode), the budget subject (ExpFuncCode) and, optionally, the project (ProCode). A detail with a ProCode
draws on that one line; a detail without one draws on the unit's lines of that subject, in
ProCode order (the first line's remainder first). A payment is paid whole or not at all: the
check (`draw`) either returns every line's share or the first shortfall, and changes nothing.

**Direct funds (直达资金, 001, 002).** A 7101 line marked `DirectFundFlag` 1 (the project's own
element) is a direct-funds line, for its whole life (a later notice marking it otherwise is
refused). An 8202 detail marked 1 draws only on direct-funds lines, one not marked only on the
others: a detail whose (unit, subject, project) has lines of the other kind only is returned
unpaid `direct-funds-mismatch`, naming DirectFundFlag. A carried line (7302) stays as it was.

**Year end (004 part 5 §6).** A cancellation notice (7301, 注销) takes each named line's amount
off the remaining quota of year StYear (`cancel`); a carry-forward notice (7302, 结转) moves it from
year ToYear - 1 to the same line of year ToYear (`carry`), where it is next year's quota. Either
is refused whole (nothing changes) if a line is missing or the amount exceeds its remaining
quota. The bank confirms each and tells each unit (7102 with OriVtCode 7301 / 7302: the
注销到账通知单 / 结转到账通知单 of the seed, which gives them no code of their own).

**Reduction during the year (额度追减, 003 §22).** A quota reduction notice (7106, the project's
own code) takes each named line's amount off what the bank may still pay of it (`reduce`,
`QuotaLine.reduced_fen`): never below what is already paid, so a line missing or an amount above
its remaining quota refuses the notice whole, naming the line. A refund cleared later gives the
paid amount back to the line as before: remaining = granted - reduced - spent (net of cleared
refunds) - closed, never negative.

**Divisions.** A bank may serve several divisions (AdmDivCode), each with its own treasury and
its own units: a line belongs to the division of the notice that granted it, and a payment draws
only on its own division's lines (two divisions' units may share an AgencyCode).

The book maps `(division, year, fund type, agency, subject, project)` to a `QuotaLine`: a plain dict, or
the bank core's `QuotaBook`, the same mapping kept under text keys so the snapshot codec
(`sim.codec`) saves it as it is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, overload

import msgspec

from messages.dates import format_ymd
from messages.money import fen_to_str, parse_fen

__all__ = [
    "QUOTA_LINES_MAX",
    "LineKey",
    "QuotaBook",
    "QuotaLine",
    "Shortfall",
    "arrival_notice_prefix",
    "arrival_notices",
    "cancel",
    "carry",
    "direct_keys",
    "draw",
    "grant",
    "is_direct",
    "notice_lines",
    "reduce",
    "release",
    "remaining_by_division",
    "remaining_by_unit",
    "spend",
]

# Lines one bank keeps: a big city has a few thousand units, each with a handful of subjects
# and projects. A notice that would take the book past this is refused as invalid.
QUOTA_LINES_MAX = 200_000

LineKey = tuple[str, str, str, str, str, str]  # (AdmDivCode, StYear, FundTypeCode, AgencyCode, ExpFuncCode, ProCode)
NoticeLine = tuple[LineKey, tuple[str, str, str], int]  # (key, (agency, subject, project names), fen)


class QuotaLine(msgspec.Struct):
    agency_name: str
    subject_name: str
    project_name: str
    granted_fen: int = 0
    spent_fen: int = 0
    notices: list[str] = msgspec.field(default_factory=list)  # VoucherNo of the 7101s / 7302s that granted it
    closed_fen: int = 0  # taken off at year end: cancelled (7301) or carried to the next year (7302)
    reduced_fen: int = 0  # taken off during the year by quota reduction notices (7106, 额度追减, 003 §22)
    # direct funds (直达资金, 001, 002): the 7101 that opened the line marked it DirectFundFlag 1 (the
    # project's own element); only payments marked the same draw on it (`draw`)
    direct: bool = False

    @property
    def remaining_fen(self) -> int:
        return self.granted_fen - self.spent_fen - self.closed_fen - self.reduced_fen


class Book(Protocol):
    """What the functions here need of a book: a mapping of line keys to lines."""

    def __getitem__(self, key: LineKey, /) -> QuotaLine: ...
    def __setitem__(self, key: LineKey, line: QuotaLine, /) -> None: ...
    def __contains__(self, key: object, /) -> bool: ...
    def __iter__(self) -> Iterator[LineKey]: ...
    def __len__(self) -> int: ...
    def get(self, key: LineKey, /) -> QuotaLine | None: ...
    def items(self) -> Iterable[tuple[LineKey, QuotaLine]]: ...
    def values(self) -> Iterable[QuotaLine]: ...


_SEP = "\x1f"  # a control character XML text cannot hold: no code contains it


def _text(key: LineKey) -> str:
    return _SEP.join(key)


def _key(text: str) -> LineKey:
    adm, year, fund, agency, subject, project = text.split(_SEP)
    return adm, year, fund, agency, subject, project


class QuotaBook(msgspec.Struct):
    """The bank's book: a mapping of line keys to lines, kept as `lines` under the key's parts joined by U+001F."""

    lines: dict[str, QuotaLine] = msgspec.field(default_factory=dict)

    def __getitem__(self, key: LineKey) -> QuotaLine:
        return self.lines[_text(key)]

    def __setitem__(self, key: LineKey, line: QuotaLine) -> None:
        self.lines[_text(key)] = line

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and len(key) == 6 and _SEP.join(map(str, key)) in self.lines

    def __iter__(self) -> Iterator[LineKey]:
        return (_key(k) for k in self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    @overload
    def get(self, key: LineKey, /) -> QuotaLine | None: ...
    @overload
    def get(self, key: LineKey, default: QuotaLine, /) -> QuotaLine: ...
    def get(self, key: LineKey, default: QuotaLine | None = None, /) -> QuotaLine | None:
        return self.lines.get(_text(key), default)

    def items(self) -> Iterator[tuple[LineKey, QuotaLine]]:
        return ((_key(k), line) for k, line in self.lines.items())

    def values(self) -> Iterable[QuotaLine]:
        return self.lines.values()


@dataclass(frozen=True, slots=True)
class Shortfall:
    code: str  # no-unit-quota | over-unit-quota | direct-funds-mismatch
    message: str


def notice_lines(adm: str, year: str, fund_type: str, details: Sequence[Mapping[str, str]]) -> list[NoticeLine]:
    """The lines of a 7101's (7301's, 7302's) DetailList for division `adm`, budget year `year` and
    fund type `fund_type`: (key, (agency name, subject name, project name), fen)."""
    return [((adm, year, fund_type, d.get("AgencyCode", ""), d.get("ExpFuncCode", ""), d.get("ProCode", "")),
             (d.get("AgencyName", ""), d.get("ExpFuncName", ""), d.get("ProName", "")), parse_fen(d.get("PayAmt", "")))
            for d in details]


def is_direct(d: Mapping[str, str]) -> bool:
    """A Detail marked direct funds (直达资金, 001, 002): DirectFundFlag 1, the project's own element."""
    return d.get("DirectFundFlag") == "1"


def direct_keys(adm: str, year: str, fund_type: str, details: Sequence[Mapping[str, str]]) -> frozenset[LineKey]:
    """The lines of a 7101's DetailList it marks direct funds (DirectFundFlag 1)."""
    return frozenset(k for (k, _, _), d in zip(notice_lines(adm, year, fund_type, details), details, strict=True)
                     if is_direct(d))


def _where(key: LineKey) -> str:
    _, year, fund, unit, subject, project = key  # the division is the notice's or payment's own
    return (f"StYear {year}, FundTypeCode {fund}, unit {unit}, subject {subject}"
            + (f", project {project}" if project else ""))


def grant(book: Book, notice_no: str, lines: Iterable[NoticeLine], direct: Collection[LineKey] = ()) -> str | None:
    """Add a notice's lines to the book (a second notice for a line adds to it); the lines in
    `direct` are direct funds (直达资金). Returns why the notice is refused (nothing added) or None:
    a line repeated, or marked otherwise than the line the bank holds (a line is direct funds or
    not for its whole life)."""
    lines = list(lines)
    keys = [k for k, _, _ in lines]
    if len(set(keys)) != len(keys):
        return "a (unit, subject, project) appears twice in the notice"
    if len(set(keys) | set(book)) > QUOTA_LINES_MAX:
        return f"the bank would keep more than {QUOTA_LINES_MAX} quota lines"
    for key in keys:
        held = book.get(key)
        if held is not None and held.direct != (key in direct):
            return (f"Detail DirectFundFlag {int(key in direct)} for {_where(key)}, a line the bank holds "
                    f"{'as' if held.direct else 'as not'} direct funds")
    for key, names, fen in lines:
        line = book.get(key)
        if line is None:
            line = book[key] = QuotaLine(*names, direct=key in direct)
        line.granted_fen += fen
        line.notices.append(notice_no)
    return None


def _under(book: Book, prefix: tuple[str, str, str, str, str]) -> list[tuple[LineKey, QuotaLine]]:
    """The lines of `book` of (division, year, fund type, unit, subject), with their keys, sorted by key. A
    `QuotaBook`'s keys are matched as joined text, split only when they match (splitting every line
    of the book on every 8202 detail was ~30 us a payment)."""
    if isinstance(book, QuotaBook):
        head = _SEP.join(prefix) + _SEP
        return sorted((_key(text), line) for text, line in book.lines.items() if text.startswith(head))
    return sorted((k, line) for k, line in book.items() if k[:5] == prefix)  # keys unique: lines never compared


def draw(book: Book, agency: str, details: Sequence[Mapping[str, str]],
         year: str, fund_type: str, adm: str) -> dict[LineKey, int] | Shortfall:
    """What each line would give to pay these details of one unit's payment of division `adm` (its
    AdmDivCode), budget year `year` (its StYear) and fund type `fund_type` (its FundTypeCode), or
    the first shortfall. Pure: the
    book is not changed (`spend` does that). Each line is looked up once a detail; what the lines
    had left is added up only for a shortfall's message."""
    taken: dict[LineKey, int] = {}
    for d in details:
        subject, project = d.get("ExpFuncCode", ""), d.get("ProCode", "")
        want = parse_fen(d.get("PayAmt", ""))
        unit = d.get("AgencyCode") or agency
        if project:
            key = (adm, year, fund_type, unit, subject, project)
            found = book.get(key)
            candidates = [(key, found)] if found is not None else []
        else:
            candidates = _under(book, (adm, year, fund_type, unit, subject))
        if not candidates:
            where = f"StYear {year}, FundTypeCode {fund_type}, unit {unit}, subject {subject}" + \
                (f", project {project}" if project else "")
            return Shortfall("no-unit-quota", f"no authorized quota for {where}")
        direct = is_direct(d)
        same = [(k, line) for k, line in candidates if line.direct == direct]
        if not same:  # direct funds only from direct-funds lines, ordinary money never from them (001, 002)
            return Shortfall("direct-funds-mismatch", (
                f"Detail DirectFundFlag {int(direct)} ({'direct funds' if direct else 'not direct funds'}) "
                f"for {_where((adm, year, fund_type, unit, subject, project))}: the unit's quota "
                f"{'line there is' if len(candidates) == 1 else 'lines there are'} "
                f"{'not ' if direct else ''}direct funds (直达资金)"))
        left = want
        for key, line in same:
            available = line.remaining_fen - taken.get(key, 0)
            share = min(left, max(available, 0))
            if share:
                taken[key] = taken.get(key, 0) + share
                left -= share
            if left == 0:
                break
        if left:
            # what the lines had left before this detail: its own shares (all of what was available) back
            available_total = sum(max(line.remaining_fen - taken.get(key, 0), 0) for key, line in same) + want - left
            where = f"StYear {year}, FundTypeCode {fund_type}, unit {unit}, subject {subject}" + \
                (f", project {project}" if project else "")
            return Shortfall("over-unit-quota", f"Detail PayAmt {fen_to_str(want)} exceeds the remaining authorized quota "
                                                f"{fen_to_str(available_total)} of {where}")
    return taken


def spend(book: Book, taken: Mapping[LineKey, int]) -> None:
    for key, fen in taken.items():
        book[key].spent_fen += fen


def release(book: Book, taken: Mapping[LineKey, int]) -> None:
    """Give back what `spend` took (the payment was not made after all)."""
    for key, fen in taken.items():
        if key in book:
            book[key].spent_fen -= fen


def _closable(book: Book, lines: Sequence[NoticeLine]) -> str | None:
    """Why these year-end lines cannot be closed (a line missing or short), or None."""
    keys = [k for k, _, _ in lines]
    if len(set(keys)) != len(keys):
        return "a (unit, subject, project) appears twice in the notice"
    for key, _, fen in lines:
        line = book.get(key)
        if line is None:
            return f"no authorized quota line for {_where(key)}"
        if not 0 < fen <= line.remaining_fen:
            return (f"Detail PayAmt {fen_to_str(fen)} is not within the remaining quota "
                    f"{fen_to_str(line.remaining_fen)} of {_where(key)}")
    return None


def cancel(book: Book, lines: Sequence[NoticeLine]) -> str | None:
    """A cancellation notice (7301): take each line's amount off its remaining quota. Returns why
    the notice is refused (nothing changed) or None."""
    refused = _closable(book, lines)
    if refused is None:
        for key, _, fen in lines:
            book[key].closed_fen += fen
    return refused


def reduce(book: Book, lines: Sequence[NoticeLine]) -> str | None:
    """A quota reduction notice (7106, 额度追减, 003 §22): take each line's amount off what the bank
    may still pay of it, never below what is paid. Returns why the notice is refused (a line
    missing, or an amount above its remaining quota, named; nothing changed) or None."""
    refused = _closable(book, lines)
    if refused is None:
        for key, _, fen in lines:
            book[key].reduced_fen += fen
    return refused


def carry(book: Book, notice_no: str, to_year: str, lines: Sequence[NoticeLine]) -> str | None:
    """A carry-forward notice (7302): move each line's amount (lines of the old year) to the same
    (division, fund type, unit, subject, project) of `to_year`. Returns why it is refused or None."""
    refused = _closable(book, lines)
    if refused is None:
        moved = [((key[0], to_year, *key[2:]), names, fen) for key, names, fen in lines]
        if len({k for k, _, _ in moved} | set(book)) > QUOTA_LINES_MAX:
            return f"the bank would keep more than {QUOTA_LINES_MAX} quota lines"
        for key, _, fen in lines:
            book[key].closed_fen += fen
        was_direct = {(key[0], to_year, *key[2:]): book[key].direct for key, _, _ in lines}
        for key, names, fen in moved:
            line = book.get(key)
            if line is None:
                line = book[key] = QuotaLine(*names, direct=was_direct[key])
            line.granted_fen += fen
            line.notices.append(notice_no)
    return refused


def remaining_by_unit(book: Book) -> dict[str, dict[str, int]]:
    """{agency: {"granted": fen, "spent": fen, "remaining": fen}}: what the demo report shows."""
    out: dict[str, dict[str, int]] = {}
    for (_, _, _, agency, _, _), line in sorted(book.items()):
        row = out.setdefault(agency, {"granted": 0, "spent": 0, "remaining": 0})
        row["granted"] += line.granted_fen - line.reduced_fen
        row["spent"] += line.spent_fen
        row["remaining"] += line.remaining_fen
    return out


def remaining_by_division(book: Book) -> dict[tuple[str, str], int]:
    """{(AdmDivCode, AgencyCode): remaining fen}: `remaining_by_unit`'s remaining, each division's unit its own."""
    out: dict[tuple[str, str], int] = {}
    for (adm, _, _, agency, _, _), line in book.items():
        out[(adm, agency)] = out.get((adm, agency), 0) + line.remaining_fen
    return out


def arrival_notice_prefix(ori_no: str, ori_year: str, year: int, *, adm: str = "", vtcode: str = "7101") -> str:
    """What the 7102s answering the 7101 (or 7301 / 7302 / 7106, `vtcode`) `ori_no` of division `adm`
    and budget year `ori_year` begin with when sent under StYear `year` (the day they went): "DZ" and
    its number when it is of that year and 16 characters at most (as ever: the default day's digests
    hold); else "DY", its year and the first 24 hex digits (upper case) of the SHA-256 of the notice's
    whole key "<AdmDivCode>/<StYear>/<VtCode>/<VoucherNo>": two budget years' notices of one number
    answered in one calendar year, and two long numbers alike in their last 16 characters (which
    "<last 16>" made one), get 7102s of their own keys (AdmDivCode, StYear, VtCode, VoucherNo; the
    gateway refuses a key twice). At most 2 + 16 (DZ) or 2 + 4 + 24 (DY) characters, the unit's
    4-digit sequence after: "V7102" and it within the XSD's 42."""
    this_year = ori_year in ("", str(year))
    if this_year and len(ori_no) <= _DZ_MAX:
        return f"DZ{ori_no}"
    st_year = str(year) if this_year else ori_year
    whole = f"{adm}/{st_year}/{vtcode}/{ori_no}".encode()
    return f"DY{st_year[-4:]}{hashlib.sha256(whole).hexdigest()[:_DY_DIGITS].upper()}"


# The longest 7101 number a DZ 7102 number holds whole.
_DZ_MAX = 16
# Hex digits of a DY 7102 number's digest: 96 bits, no two notices' alike in practice.
_DY_DIGITS = 24


def arrival_notices(notice: Mapping[str, str], lines: Sequence[NoticeLine],
                    today: dt.date, bank_code: str, bank_name: str) -> list[tuple[dict[str, str], tuple[dict[str, str], ...]]]:
    """The quota arrival notices (7102, 财政授权支付额度到账通知书) for one 7101: one per unit, with
    the elements 004 part 3 §9(2) names (fund type, unit, date, subject code and name, project
    code and name, amount). For a 7301 / 7302 the same notice tells the unit what was cancelled /
    carried forward (OriVtCode names which). Returns (head, details) pairs."""
    by_unit: dict[str, list[NoticeLine]] = {}
    for line in lines:
        by_unit.setdefault(line[0][3], []).append(line)
    out = []
    prefix = arrival_notice_prefix(notice.get("VoucherNo", ""), notice.get("StYear", ""), today.year,
                                   adm=notice.get("AdmDivCode", ""), vtcode=notice.get("VtCode") or "7101")
    for i, (agency, unit_lines) in enumerate(sorted(by_unit.items()), start=1):
        no = f"{prefix}{i:04d}"
        total = sum(fen for _, _, fen in unit_lines)
        head = {
            "Id": f"V7102{no}", "AdmDivCode": notice.get("AdmDivCode", ""), "StYear": str(today.year),
            "VouDate": format_ymd(today), "VoucherNo": no, "FundTypeCode": notice.get("FundTypeCode", ""),
            "FundTypeName": notice.get("FundTypeName", ""), "AgencyCode": agency, "AgencyName": unit_lines[0][1][0],
            "ArriveDate": format_ymd(today), "PayBankCode": bank_code, "PayBankName": bank_name,
            "OriVtCode": notice.get("VtCode") or "7101", "OriVoucherNo": notice.get("VoucherNo", ""), "PayAmt": fen_to_str(total),
        }
        details = tuple({"Id": f"D{j:04d}", "ExpFuncCode": key[4], "ExpFuncName": names[1], "ProCode": key[5],
                         "ProName": names[2], "PayAmt": fen_to_str(fen)}
                        for j, (key, names, fen) in enumerate(unit_lines, start=1))
        out.append((head, details))
    return out
