"""The treasury's authorized quota lines and its year end (年终结余处理, 004 part 5 §6), pure.

**The lines.** Every authorized quota notice (7101) the treasury sends grants lines, each of one
budget year, fund type, bank, unit (AgencyCode), budget subject (ExpFuncCode) and project
(ProCode; a payment detail without one draws on the default project's line, the one its 7101
named). An authorized payment (8202) sent spends its lines (`spend`); one the gateway refused,
the bank returned unpaid, or a refund of the same year gave back, releases them (`release`).
So, line by line, `left = granted - spent - cancelled - carried`, the bank's own reckoning
(docs/quotas.md) seen from the treasury.

**Year end.** 004 part 5 §6: "支付中心根据授权支付用款计划结余资金对需要结转的计划编制...结转核定表...
对不需要结转的授权支付用款计划由支付中心进行注销" (step 2), "编制授权支付额度注销通知单交代理银行确认" (step 4),
"结转成功的授权支付用款计划结转后,成为下年的授权支付用款计划...编制授权支付额度结转通知单,并送代理银行"
(step 7). The seed names the order (cancel, then carry) and the year's end, no day or hour: the
treasury's config says when (`TreasuryConfig.year_end_on`, `year_end_time`; by default the
year's last business day at 17:30, after the banks' systems close and after its own last
voucher). Then `close_year` takes every line of the year with something left: a line whose
subject is in `year_end_carry_subjects` carries forward (7302: the same line of the next year
is granted what was left), any other is cancelled (7301); one notice of each per bank and fund
type, each line's amount exactly what is left of it, to the fen. A line with nothing left is
named in neither (the bank refuses a zero line).

**Confirmation.** The bank confirms each notice with its receipt (flag 1, XConfirmDate): kept in
`notices`, by the notice's key (AdmDivCode, StYear, VtCode, VoucherNo: `treasury_sim.records.voucher_id`):
a receipt (or a refusal) of another division's, year's or VtCode's voucher of the same number is not
this notice's. One not confirmed by its deadline (`year_end_confirm_days` business days later, at
`year_end_time`) is flagged once: an alarm `year-end-unconfirmed` naming the notice.

**What came back after the year closed** (a payment of the year returned unpaid or refunded
after its notices went out) is not noticed again: it lapses with the year (`lapsed_fen`).

The books (`treasury_sim.books`, rule `year-end-balanced`) hold, for every closed year,
`granted = spent + cancelled + carried + lapsed` to the fen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from messages.dates import format_ymd
from messages.factory import year_end_notice
from messages.money import fen_to_str, parse_fen
from messages.voucher import parse_voucher
from sim.effects import Alarm, Effect, SendVoucher
from sim.flat import paired
from treasury_sim.config import TreasuryConfig, YearEnd
from treasury_sim.records import by_whole_key, voucher_id

__all__ = [
    "LINES_MAX",
    "Drawn",
    "QuotaLedger",
    "QuotaLine",
    "YearEndNotice",
    "YearTotals",
    "close",
    "granted",
    "line_key",
    "month_lines",
    "overdue_alarms",
    "summary",
    "year_end_due",
]

# Lines the treasury keeps: a big city's few thousand units, a handful of subjects and projects
# each, a few banks and fund types, two years. A grant beyond it is a bug, not a city.
LINES_MAX = 400_000

# What a payment draws, flat: line key, fen, line key, fen, ... (`sim.flat.paired` reads it in pairs).
# The core keeps one for each 8202 of the month: a (key, fen) tuple a line was ~56 bytes more a line.
Drawn = tuple[Any, ...]


def line_key(year: str, fund_type: str, bank: str, agency: str, subject: str, project: str) -> str:
    return f"{year}/{fund_type}/{bank}/{agency}/{subject}/{project}"


class QuotaLine(msgspec.Struct):
    names: tuple[str, str, str]  # (AgencyName, ExpFuncName, ProName)
    granted_fen: int = 0
    spent_fen: int = 0
    cancelled_fen: int = 0
    carried_fen: int = 0
    lapsed_fen: int = 0  # came back after its year closed

    @property
    def left_fen(self) -> int:
        return self.granted_fen - self.spent_fen - self.cancelled_fen - self.carried_fen - self.lapsed_fen


class YearTotals(msgspec.Struct):
    granted_fen: int = 0
    spent_fen: int = 0
    cancelled_fen: int = 0
    carried_fen: int = 0
    lapsed_fen: int = 0  # came back after the year closed (returned unpaid, refunded): lapses with the year
    closed: bool = False

    def balanced(self) -> bool:
        return self.granted_fen == self.spent_fen + self.cancelled_fen + self.carried_fen + self.lapsed_fen


class YearEndNotice(msgspec.Struct):
    vtcode: str  # 7301 | 7302
    voucher_no: str
    bank: str  # PayBankCode
    fund_type: str
    year: str  # the budget year closed
    amount_fen: int
    sent_at: dt.datetime
    deadline: dt.datetime  # the bank confirms by then
    confirmed_at: dt.datetime | None = None
    flagged: bool = False  # `year-end-unconfirmed` raised
    refused: str | None = None  # the gateway's code, if it refused the send
    # the notice's division and StYear (its key's; a version 8 snapshot's notices: set when loaded, `keyed`)
    adm_div_code: str = ""
    st_year: str = ""

    @property
    def key(self) -> str:
        """Its key (`voucher_id`): the one its receipt names."""
        return voucher_id(self.adm_div_code, self.st_year, self.vtcode, self.voucher_no)


Closing = tuple[str, str, str, list[tuple[str, QuotaLine, int]]]  # (vtcode, bank, fund type, [(key, line, fen)])


class QuotaLedger(msgspec.Struct):
    lines: dict[str, QuotaLine] = msgspec.field(default_factory=dict)  # `line_key` → line
    years: dict[str, YearTotals] = msgspec.field(default_factory=dict)  # budget year → its totals
    # the notice's key (`YearEndNotice.key`) → the notice (a version 8 snapshot's: VoucherNo → it, `keyed`)
    notices: dict[str, YearEndNotice] = msgspec.field(default_factory=dict)

    def keyed(self, adm_div_code: str) -> None:
        """A version 8 (or older) snapshot's notices (keyed by VoucherNo alone) keyed by the whole key
        (`by_whole_key`: they were division `adm_div_code`'s, of the year each was sent)."""
        self.notices = by_whole_key(self.notices.values(), adm_div_code)

    def _year(self, key: str) -> YearTotals:
        year = key.split("/", 1)[0]
        totals = self.years.get(year)
        if totals is None:
            totals = self.years[year] = YearTotals()
        return totals

    def grant(self, key: str, names: tuple[str, str, str], fen: int) -> None:
        line = self.lines.get(key)
        if line is None:
            if len(self.lines) >= LINES_MAX:
                raise ValueError(f"the treasury would keep more than {LINES_MAX} authorized quota lines")
            line = self.lines[key] = QuotaLine(names)
        line.granted_fen += fen
        self._year(key).granted_fen += fen

    def spend(self, drawn: Drawn) -> None:
        for key, fen in paired(drawn):
            self.lines[key].spent_fen += fen
            self._year(key).spent_fen += fen

    def release(self, drawn: Drawn) -> None:
        """A payment not made after all (refused, returned unpaid) or refunded the same year: its
        lines get back what it drew; after its year closed, what came back lapses."""
        for key, fen in paired(drawn):
            line, totals = self.lines[key], self._year(key)
            line.spent_fen -= fen
            totals.spent_fen -= fen
            if totals.closed:  # the year's notices are out: no line of it is noticed again
                line.lapsed_fen += fen
                totals.lapsed_fen += fen

    def left(self, year: str) -> dict[tuple[str, str], list[tuple[str, QuotaLine]]]:
        """(bank, fund type) → [(key, line)] of the year's lines with something left, in key order."""
        out: dict[tuple[str, str], list[tuple[str, QuotaLine]]] = {}
        for key in sorted(self.lines):
            line = self.lines[key]
            y, fund, bank = key.split("/")[:3]
            if y == year and line.left_fen > 0:
                out.setdefault((bank, fund), []).append((key, line))
        return out

    def close_year(self, year: str, carry_subjects: Iterable[str]) -> list[Closing]:
        """Close `year`: every line with something left is cancelled, or carried to the next year
        when its subject is in `carry_subjects`. Returns (vtcode, bank, fund type, [(key, line,
        fen)]) per notice to send, 7301s first; the lines are booked (cancelled / carried, and the
        carried amount granted on the next year's same line)."""
        carry = frozenset(carry_subjects)
        notices: dict[tuple[str, str, str], list[tuple[str, QuotaLine, int]]] = {}
        for (bank, fund), lines in self.left(year).items():
            for key, line in lines:
                vtcode = "7302" if key.split("/")[4] in carry else "7301"
                notices.setdefault((vtcode, bank, fund), []).append((key, line, line.left_fen))
        totals = self._year(f"{year}/")
        for (vtcode, _, _), closing in notices.items():
            for key, line, fen in closing:
                if vtcode == "7301":
                    line.cancelled_fen += fen
                    totals.cancelled_fen += fen
                else:
                    line.carried_fen += fen
                    totals.carried_fen += fen
                    self.grant(str(int(year) + 1) + key[len(year):], line.names, fen)
        totals.closed = True
        return [(vt, bank, fund, lines) for (vt, bank, fund), lines in sorted(notices.items())]

    def confirmed(self, key: str, now: dt.datetime) -> bool:
        """The bank's receipt of the year-end notice of `key` (`voucher_id` of the receipt's AdmDivCode,
        StYear, VtCode, VoucherNo): True when it is one of ours (first confirmation kept)."""
        notice = self.notices.get(key)
        if notice is None:
            return False
        if notice.confirmed_at is None:
            notice.confirmed_at = now
        return True

    def refused(self, key: str, code: str) -> None:
        """The gateway refused the send of the year-end notice of `key` (`voucher_id`): noted (it stays
        unconfirmed, flagged at its deadline)."""
        notice = self.notices.get(key)
        if notice is not None:
            notice.refused = code

    def overdue(self, now: dt.datetime) -> list[YearEndNotice]:
        """Notices past their deadline, unconfirmed and not flagged yet: flagged now (once)."""
        out = [n for n in self.notices.values() if n.confirmed_at is None and not n.flagged and n.deadline <= now]
        for n in out:
            n.flagged = True
        return out

    def unbalanced(self) -> list[str]:
        """The closed years whose totals do not add up, each said."""
        return [f"{year}: granted {fen_to_str(t.granted_fen)}, spent {fen_to_str(t.spent_fen)} + cancelled "
                f"{fen_to_str(t.cancelled_fen)} + carried {fen_to_str(t.carried_fen)} + lapsed "
                f"{fen_to_str(t.lapsed_fen)}" for year, t in self.years.items() if t.closed and not t.balanced()]


MonthLines = dict[tuple[str, str], dict[tuple[str, str, str, str, str, str], int]]


def month_lines(vouchers: Iterable[tuple[str, str, str, str, Sequence[Mapping[str, str]]]],
                default_project: tuple[str, str]) -> tuple[MonthLines, dict[str, Drawn]]:
    """From (VoucherNo, year, bank, fund type, details) of a month's approved 8202s: the month's
    7101 lines by (bank, fund type) → {(AgencyCode, AgencyName, ExpFuncCode, ExpFuncName, ProCode,
    ProName): fen}, and what each voucher draws ((line key, fen), by the same line rule)."""
    lines: MonthLines = {}
    drawn: dict[str, list[Any]] = {}
    keys: dict[str, str] = {}
    for no, year, bank, fund, details in vouchers:
        mine = drawn.setdefault(no, [])
        for d in details:
            k = (d["AgencyCode"], d["AgencyName"], d["ExpFuncCode"], d["ExpFuncName"],
                 d.get("ProCode") or default_project[0], d.get("ProName") or default_project[1])
            by_line = lines.setdefault((bank, fund), {})
            fen = parse_fen(d["PayAmt"])
            by_line[k] = by_line.get(k, 0) + fen
            key = line_key(year, fund, bank, k[0], k[2], k[4])
            mine += (keys.setdefault(key, key), fen)  # one string per line, shared by its vouchers
    # kept all month by the core: a flat tuple each (`Drawn`), not a list with room to grow
    return lines, {no: tuple(flat) for no, flat in drawn.items()}




def summary(ledger: QuotaLedger, bank_ids: Mapping[str, str]) -> dict[str, object]:
    """The year ends as a report shows them: each closed year's books and its notices."""
    return {year: {"granted_fen": t.granted_fen, "spent_fen": t.spent_fen, "cancelled_fen": t.cancelled_fen,
                   "carried_fen": t.carried_fen, "lapsed_fen": t.lapsed_fen, "balanced": t.balanced(),
                   "notices": [{"vtcode": n.vtcode, "voucher_no": n.voucher_no, "bank": bank_ids.get(n.bank, n.bank),
                                "amount_fen": n.amount_fen, "sent_at": n.sent_at.isoformat(),
                                "confirmed_at": None if n.confirmed_at is None else n.confirmed_at.isoformat(),
                                "flagged": n.flagged} for n in ledger.notices.values() if n.year == year]}
            for year, t in sorted(ledger.years.items()) if t.closed}


def granted(ledger: QuotaLedger, sends: Iterable[Effect]) -> None:
    """Book the lines of the authorized quota notices (7101) among `sends` as granted."""
    for send in sends:
        if isinstance(send, SendVoucher) and send.vtcode == "7101" and send.flag == 0:
            h = send.head
            for d in send.details:
                ledger.grant(line_key(h["StYear"], h["FundTypeCode"], h["PayBankCode"], d["AgencyCode"],
                                      d["ExpFuncCode"], d["ProCode"]),
                             (d["AgencyName"], d["ExpFuncName"], d["ProName"]), parse_fen(d["PayAmt"]))


def close(ledger: QuotaLedger, year: int, at: dt.datetime, deadline: dt.datetime, carry_subjects: Iterable[str],
          adm_div_code: str, bank_names: Mapping[str, str]) -> list[Effect]:
    """The year end of `year` at `at`: its 7301s then its 7302s, one per bank and fund type with
    lines left, each booked as a notice the bank must confirm by `deadline`."""
    effects: list[Effect] = []
    for vtcode, bank, fund, lines in ledger.close_year(str(year), carry_subjects):
        no = f"{'ZX' if vtcode == '7301' else 'JZ'}{format_ymd(at.date())}{bank[-4:]}{fund}"
        rows = [(parts[3], line.names[0], parts[4], line.names[1], parts[5], line.names[2], fen)
                for key, line, fen in lines for parts in (key.split("/"),)]
        doc = parse_voucher(year_end_notice(vtcode=vtcode, voucher_no=no, vou_date=at.date(), pay_bank_code=bank,
                                            pay_bank_name=bank_names.get(bank, bank), lines=rows,
                                            adm_div_code=adm_div_code, fund_type_code=fund))
        notice = YearEndNotice(vtcode, no, bank, fund, str(year), sum(r[6] for r in rows), at, deadline,
                               adm_div_code=adm_div_code, st_year=doc.get("StYear"))
        ledger.notices[notice.key] = notice
        effects.append(SendVoucher(vtcode, 0, doc.head(), tuple(doc.details()), "bank", data=doc.data))
    return effects


def overdue_alarms(ledger: QuotaLedger, now: dt.datetime, adm_div_code: str) -> list[Effect]:
    """`year-end-unconfirmed` for each notice past its deadline with no confirmation (once each)."""
    return [Alarm("year-end-unconfirmed", f"bank {n.bank} did not confirm the year-end {n.vtcode} {n.voucher_no} "
                  f"({fen_to_str(n.amount_fen)} of {n.year}, fund type {n.fund_type}) by {n.deadline.isoformat()}",
                  f"{adm_div_code}/{n.year}/{n.vtcode}/{n.voucher_no}/0")
            for n in ledger.overdue(now)]


def year_end_due(ledger: QuotaLedger, config: TreasuryConfig, year_ends: Iterable[YearEnd], cursor: dt.datetime,
                 now: dt.datetime) -> list[Effect]:
    """What falls due in (cursor, now]: a year end's notices at its time, the alarms at its deadline."""
    effects: list[Effect] = []
    for ye in year_ends:
        if cursor < ye.at <= now:
            effects += close(ledger, ye.year, ye.at, ye.deadline, config.year_end_carry_subjects,
                             config.adm_div_code, dict(config.banks))
        if cursor < ye.deadline <= now:
            effects += overdue_alarms(ledger, now, config.adm_div_code)
    return effects
