"""What the treasury does with the agent bank's refund notices, reports and statements, pure.

| VtCode | from the bank                         | the treasury                                                    |
|--------|---------------------------------------|-----------------------------------------------------------------|
| 2203 / 7105 (2252) | refund notice of a direct / authorized payment (a payment came back; the bank sends it once the central bank accepted its 2302, so the refund is cleared) | restores the unit's quota for a refund of the same year; an earlier year's refund becomes a cross-year refund line (003 §36 "退回资金清算后"): the unit and year are the refunded payment's own (of the notice's division), and the refund counts against that division's statements only |
| 2206   | daily expenditure report              | recorded                                                        |
| 7103   | credit notice (财政资金直接支付入账通知书)             | passed on to the unit; not kept (`NOT_KEPT`)                    |
| 4004   | monthly expenditure report            | recorded                                                        |
| 7202   | reserve transfer detail list      | noted by month: what the reserve advanced, payment by payment |
| 7203   | clearing reserve account statement (清算备用金账户对账单) | signs it off with its receipt: XCheckResult 0 when BeginBalance + CreditAmt - DebitAmt = EndBalance, the movements add up to CreditAmt and DebitAmt, BeginBalance is the last statement's EndBalance, and the advances out (MoveType 2, 3) are the payments the month's 7202 lists named, fen for fen; else 1 with XCheckRemark naming the first break (004 part 3 §10(3)) |
| 7104   | a unit's statement (单位支出对账单)  | passes it to the unit and returns the unit's sign-off sheet (its receipt): XCheckResult 0 when PayAmt equals the unit's lines of the month's 3501 of its division (AdmDivCode), else 1 with XCheckRemark; one that comes before that 3501 is answered when the 3501 comes |
| 3501   | monthly statement (对账单)             | signs it off (对账签证) with its receipt: XCheckResult 0 when PayAmt equals what the bank's receipts for that month paid less the refunds it noticed that month, both of the statement's division (AdmDivCode) (the statement is net of refunds, 004 part 5 §2) and its DirectFundAmt (absent: 0.00) the direct funds (直达资金, 001, 002) of those receipts less the direct lines of those refunds, else 1 with XCheckRemark naming each break (never netted away) |

`BankInbox` keeps what arrived (when; a credit notice not, `NOT_KEPT`) and the quota restored by unit, with the
refunds' running totals the treasury's books check (`treasury_sim.books`: every fen refunded is
restored to a unit's quota or booked as a cross-year refund). A msgspec record, saved and restored
with the treasury core's state by `sim.codec`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import msgspec

from messages.business import direct_fund_fen
from messages.dates import format_ymd
from messages.envelope import VoucherKey
from messages.money import fen_to_str, parse_fen
from messages.voucher import VoucherDoc, parse_voucher
from sim.effects import Effect, SendVoucher
from treasury_sim.records import voucher_id

__all__ = ["HANDLED", "NOT_KEPT", "BankInbox", "quota_line_key"]

HANDLED = frozenset({"2203", "2252", "7105", "2206", "4004", "3501", "7103", "7104", "7202", "7203"})
# Notices and reports kept: a year of a few banks' days and refunds.
KEPT_MAX = 100_000
# What changes nothing here, so a redelivery is answered as the first delivery was (nothing): not
# kept in `received`. A credit notice (7103) is one a direct payment: its key text and slot were
# ~130 bytes each for the run, and at KEPT_MAX they pushed out the refund notices, whose
# redelivery must not restore a quota twice.
NOT_KEPT = frozenset({"7103"})
SIGNED = frozenset({"3501", "7104", "7203"})  # the statements the treasury signs off with its receipt
# Payments advanced from a reserve, as the 7202 lists named them, kept until the month's reserve
# statement is checked: a month of a few busy banks' advances; beyond it one more is not noted
# (and the statement shows a break, never a silent agreement).
LISTED_MAX = 200_000


def quota_line_key(agency: str, year: str, adm: str, home: str) -> str:
    """The key of unit `agency`'s line of budget year `year` of division `adm` in the quota restored
    and cross-year refund books: "<AgencyCode>/<year>" of the configured division (`home`; "": every
    division's, as before divisions were told apart), "<AgencyCode>/<year>/<AdmDivCode>" of another
    (two divisions' units may share an AgencyCode: their lines stay apart)."""
    return f"{agency}/{year}" if not home or adm == home or not adm else f"{agency}/{year}/{adm}"


class BankInbox(msgspec.Struct):
    received: dict[str, str] = msgspec.field(default_factory=dict)  # voucher key → ISO time it arrived
    # `quota_line_key` ("<AgencyCode>/<year>", another division's "/<AdmDivCode>" after) → fen
    quota_restored: dict[str, int] = msgspec.field(default_factory=dict)
    cross_year_refunds: dict[str, int] = msgspec.field(default_factory=dict)  # the same, of the year paid
    # "<AgencyCode>/<year paid>" → fen of the payments sent from that cross-year refund line (treasury_sim.budget)
    cross_year_paid: dict[str, int] = msgspec.field(default_factory=dict)
    # each statement signed off (3501, 7104, 7203) by its voucher key (`voucher_id`: "<AdmDivCode>/<StYear>/<VtCode>/
    # <VoucherNo>") → "0" or "1: remark": a bank numbers each division's statements alike (version 9: by VoucherNo
    # alone, so one division's sign-off replaced the other's; `keyed_sign_offs`)
    sign_offs: dict[str, str] = msgspec.field(default_factory=dict)
    # "<PayBankCode>/<notice VouDate>/<AdmDivCode>" → fen refunded: each division's refunds its own (a bank may
    # serve several; the division is the refunded payment's, the notice's AdmDivCode); version 5: no division
    refunded: dict[str, int] = msgspec.field(default_factory=dict)
    # "<PayBankCode>/<yyyyMM>" → {OriVoucherNo: fen} the 7202 lists of that month named
    reserve_listed: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)
    reserve_closing: dict[str, int] = msgspec.field(default_factory=dict)  # PayBankCode → last 7203's EndBalance
    # "<PayBankCode>/<BeginDate>/<AgencyCode>/<AdmDivCode>" → fen: the unit's lines of a division's 3501, for its
    # 7104 (two divisions may have units of one AgencyCode); version 5: no division
    by_unit: dict[str, int] = msgspec.field(default_factory=dict)
    # "<PayBankCode>/<notice VouDate>/<AdmDivCode>" → fen of direct funds (直达资金) refunded: the notices' lines
    # marked DirectFundFlag 1
    refunded_direct: dict[str, int] = msgspec.field(default_factory=dict)
    # "<PayBankCode>/<BeginDate>/<AdmDivCode>" → 1: the 3501s checked. A unit's statement (7104) of a month
    # whose 3501 has not come yet (deliveries may come out of order) waits in `units_waiting` for it
    # (version 11; was: signed off at once as "has no line of the unit"). Each bounded by KEPT_MAX, the
    # oldest month forgotten first (version 11 stopped noting 3501s there: every 7104 after waited for good)
    statements_in: dict[str, int] = msgspec.field(default_factory=dict)
    units_waiting: dict[str, list[bytes]] = msgspec.field(default_factory=dict)
    units_waiting_n: int = 0  # the 7104s in `units_waiting`, counted (version 12; was: summed per 7104)
    refunded_fen: int = 0  # `refunded` added up
    restored_fen: int = 0  # `quota_restored` added up
    cross_year_fen: int = 0  # `cross_year_refunds` added up

    def __post_init__(self) -> None:
        # a restored inbox forgets the oldest first, as the one that never stopped does: arrival order
        # (a snapshot keeps maps sorted by key)
        if self.received and list(self.received.values()) != sorted(self.received.values()):
            self.received = dict(sorted(self.received.items(), key=lambda kv: (kv[1], kv[0])))
        # the months, oldest first (a snapshot sorts them by bank first); the count of a version 11 one
        if len(self.statements_in) > 1:
            self.statements_in = dict(sorted(self.statements_in.items(), key=_by_month))
        if len(self.units_waiting) > 1:
            self.units_waiting = dict(sorted(self.units_waiting.items(), key=_by_month))
        self.units_waiting_n = sum(map(len, self.units_waiting.values()))

    def of_division(self, adm: str) -> None:
        """A version 5 snapshot's refunds (keyed by bank and day, no division) and units' statement
        lines (by bank, month and unit) as division `adm`'s: the configured one's, the only division
        whose payments the treasury then checked."""
        for book, parts in ((self.refunded, 2), (self.refunded_direct, 2), (self.by_unit, 3)):
            old = {k: fen for k, fen in book.items() if k.count("/") == parts - 1}
            for k, fen in old.items():
                del book[k]
                book[f"{k}/{adm}"] = book.get(f"{k}/{adm}", 0) + fen

    def keyed_sign_offs(self, adm: str) -> None:
        """A version 9 (or older) snapshot's sign-offs (by VoucherNo alone) keyed by the whole key: the
        statement of that number received last (`received`, in arrival order: its sign-off is the one
        kept), else, received too long ago to be kept, division `adm`'s (the configured one's) of a
        year and kind not known ("<adm>///<VoucherNo>")."""
        last: dict[str, str] = {}
        for key in self.received:
            adm_div, year, vtcode, rest = key.split("/", 3)
            if vtcode in SIGNED:
                last[rest.rsplit("/", 1)[0]] = voucher_id(adm_div, year, vtcode, rest.rsplit("/", 1)[0])
        self.sign_offs = {last.get(no, voucher_id(adm, "", "", no)): result for no, result in self.sign_offs.items()}

    def _signed(self, doc: VoucherDoc, result: str) -> None:
        self.sign_offs[voucher_id(doc.get("AdmDivCode"), doc.get("StYear"), doc.vtcode, doc.get("VoucherNo"))] = result

    def refunded_in(self, bank: str, begin: str, end: str, adm: str) -> int:
        """What `bank`'s refund notices of division `adm` dated begin..end (yyyyMMdd) brought back."""
        return _within(self.refunded, bank, begin, end, adm)

    def reserve_list(self, doc: VoucherDoc) -> None:
        """A reserve transfer detail list (7202): note what it says the reserve advanced."""
        listed = self.reserve_listed.setdefault(f"{doc.get('PayBankCode')}/{doc.get('TransferDate')[:6]}", {})
        # the lines as the parse keeps them (a list of a day's advances: no dict copied a line)
        for line in doc.detail_items():
            if sum(len(v) for v in self.reserve_listed.values()) >= LISTED_MAX:
                break
            no, amount = "", "0.00"
            for name, text in line:  # the last of a name, as a dict of the line would hold
                if name == "OriVoucherNo":
                    no = text
                elif name == "PayAmt":
                    amount = text
            listed[no] = listed.get(no, 0) + parse_fen(amount)

    def on_voucher(self, doc: VoucherDoc, now: dt.datetime, paid_in: Callable[[str, str, str], int],
                   paid_of: Callable[[VoucherDoc], tuple[str, str]],
                   direct_in: Callable[[str, str, str], int] | None = None, home: str = "") -> list[Effect]:
        """`home`: the treasury's configured division (AdmDivCode), whose quota lines are keyed by unit
        and year alone; another division's carry its AdmDivCode last (`quota_line_key`).
        `paid_in(bank, begin, end)`: what that bank's receipts paid in yyyyMMdd..yyyyMMdd (of the
        statement's division); `paid_of(notice)`: (AgencyCode, StYear) of the payment a refund notice
        names, of the notice's division ("" where not known: a 2252 does not name the unit);
        `direct_in(bank, begin, end)`: the direct funds (直达资金) of what `paid_in` counts (none if not given)."""
        if doc.vtcode in NOT_KEPT:
            return []
        key = str(VoucherKey(doc.get("AdmDivCode"), doc.get("StYear"), doc.vtcode, doc.get("VoucherNo"), 0))
        if key in self.received:
            return []
        if len(self.received) >= KEPT_MAX:
            self.received.pop(next(iter(self.received)))
        stamp = now.isoformat()
        last = next(reversed(self.received.values()), None)  # a batch's notices arrive at one time:
        self.received[key] = last if last == stamp else stamp  # one text for them, not one each
        if doc.vtcode in ("2203", "2252", "7105"):
            # the payment's own unit and budget year (003 §36: a refund of its year restores its quota)
            unit, paid_year = paid_of(doc)
            agency = doc.get("AgencyCode") or unit
            year = paid_year or doc.get("OriVouDate")[:4]
            fen = doc.amount_fen("PayAmt")
            k = quota_line_key(agency, year, doc.get("AdmDivCode"), home)
            if year == str(now.year):
                self.quota_restored[k] = self.quota_restored.get(k, 0) + fen
                self.restored_fen += fen
            else:
                self.cross_year_refunds[k] = self.cross_year_refunds.get(k, 0) + fen
                self.cross_year_fen += fen
            day = f"{doc.get('PayBankCode')}/{doc.get('VouDate')}/{doc.get('AdmDivCode')}"
            self.refunded[day] = self.refunded.get(day, 0) + fen
            self.refunded_fen += fen
            direct = direct_fund_fen(doc.details())
            if direct:
                self.refunded_direct[day] = self.refunded_direct.get(day, 0) + direct
            return []
        if doc.vtcode == "7202":
            self.reserve_list(doc)
            return []
        if doc.vtcode == "7203":
            return self._reserve_statement(doc, now)
        if doc.vtcode == "7104":
            return self._unit_statement(doc, now)
        if doc.vtcode != "3501":
            return []
        stated = doc.amount_fen("PayAmt", allow_negative=True)  # net of refunds
        bank, begin, end = doc.get("PayBankCode"), doc.get("BeginDate"), doc.get("EndDate")
        adm = doc.get("AdmDivCode")  # the division's statement: its own payments less its own refunds
        for d in doc.details():
            if len(self.by_unit) < KEPT_MAX:
                k = f"{bank}/{begin}/{d.get('AgencyCode')}/{adm}"
                self.by_unit[k] = self.by_unit.get(k, 0) + parse_fen(d.get("PayAmt", "0.00"), allow_negative=True)
        expected = paid_in(bank, begin, end) - _within(self.refunded, bank, begin, end, adm)
        # direct funds (直达资金, 001, 002) traced on their own: the statement's DirectFundAmt (absent: 0.00)
        # against the direct funds the receipts paid less the direct refunds noticed
        stated_direct = parse_fen(doc.get("DirectFundAmt") or "0.00", allow_negative=True)
        expected_direct = ((direct_in(bank, begin, end) if direct_in is not None else 0)
                           - _within(self.refunded_direct, bank, begin, end, adm))
        breaks = [msg for bad, msg in (
            (stated != expected, f"statement {fen_to_str(stated)}, receipts less refunds {fen_to_str(expected)}"),
            (stated_direct != expected_direct,
             f"DirectFundAmt {fen_to_str(stated_direct)}, direct funds the receipts paid less refunds "
             f"{fen_to_str(expected_direct)}"),
        ) if bad]
        x = {"XCheckResult": "1" if breaks else "0", "XCheckDate": format_ymd(now.date())}
        if breaks:
            x["XCheckRemark"] = "; ".join(breaks)
        self._signed(doc, x["XCheckResult"] + (f": {x['XCheckRemark']}" if breaks else ""))
        month = f"{bank}/{begin}/{adm}"
        if month not in self.statements_in:
            while len(self.statements_in) >= KEPT_MAX:
                self.statements_in.pop(next(iter(self.statements_in)))
            self.statements_in[month] = 1
        held = self.units_waiting.pop(month, [])
        self.units_waiting_n -= len(held)
        waiting = [self._unit_statement(parse_voucher(data), now) for data in held]
        return [SendVoucher("3501", 1, {**doc.head(), **x}, tuple(doc.details()), "bank", original=doc.data,
                            encoding=doc.encoding), *(e for effects in waiting for e in effects)]

    def direct_refunded(self, bank: str, begin: str, end: str, adm: str) -> int:
        """The direct funds refunded by `bank`'s notices of division `adm` dated begin..end (yyyyMMdd, inclusive)."""
        return _within(self.refunded_direct, bank, begin, end, adm)

    def _unit_statement(self, doc: VoucherDoc, now: dt.datetime) -> list[Effect]:
        """A unit's statement (7104): the unit's sign-off sheet, agreeing when it states what the
        bank's 3501 of the month gave that unit; before that 3501 came, nothing yet (it waits for it)."""
        month = f"{doc.get('PayBankCode')}/{doc.get('BeginDate')}/{doc.get('AdmDivCode')}"
        if month not in self.statements_in:
            while self.units_waiting_n >= KEPT_MAX:  # the oldest month's first forgotten: never answered
                oldest = next(iter(self.units_waiting))
                held = self.units_waiting[oldest]
                held.pop(0)
                self.units_waiting_n -= 1
                if not held:
                    del self.units_waiting[oldest]
            self.units_waiting.setdefault(month, []).append(doc.data)
            self.units_waiting_n += 1
            return []
        stated = doc.amount_fen("PayAmt", allow_negative=True)  # net, as the 3501
        expected = self.by_unit.pop(f"{doc.get('PayBankCode')}/{doc.get('BeginDate')}/{doc.get('AgencyCode')}/"
                                    f"{doc.get('AdmDivCode')}", None)
        x = {"XCheckResult": "0" if stated == expected else "1", "XCheckDate": format_ymd(now.date())}
        if stated != expected:
            x["XCheckRemark"] = (f"unit statement {fen_to_str(stated)}, the bank's statement (3501) "
                                 f"{'has no line of the unit' if expected is None else fen_to_str(expected)}")
        self._signed(doc, x["XCheckResult"] + (f": {x['XCheckRemark']}" if stated != expected else ""))
        return [SendVoucher("7104", 1, {**doc.head(), **x}, tuple(doc.details()), "bank", original=doc.data,
                            encoding=doc.encoding)]

    def _reserve_statement(self, doc: VoucherDoc, now: dt.datetime) -> list[Effect]:
        """Check a clearing reserve account statement (7203) and sign it off with the receipt."""
        bank = doc.get("PayBankCode")
        begin, credit, debit, end = (doc.amount_fen(f) for f in ("BeginBalance", "CreditAmt", "DebitAmt", "EndBalance"))
        moves = doc.details()
        advanced: dict[str, int] = {}
        for d in moves:
            if d.get("MoveType") in ("2", "3"):
                no = d.get("OriVoucherNo", "")
                advanced[no] = advanced.get(no, 0) + parse_fen(d.get("DebitAmt", "0.00"))
        listed = self.reserve_listed.pop(f"{bank}/{doc.get('BeginDate')[:6]}", {})
        last = self.reserve_closing.get(bank)
        breaks = [msg for bad, msg in (
            (begin + credit - debit != end, f"BeginBalance {fen_to_str(begin)} + CreditAmt {fen_to_str(credit)} - "
                                            f"DebitAmt {fen_to_str(debit)} is not EndBalance {fen_to_str(end)}"),
            (sum(parse_fen(d.get("CreditAmt", "0.00")) for d in moves) != credit,
             "the movements in do not add up to CreditAmt"),
            (last is not None and last != begin,
             f"BeginBalance {fen_to_str(begin)}, last statement's EndBalance {fen_to_str(last or 0)}"),
            (advanced != listed, f"advances {fen_to_str(sum(advanced.values()))} in {len(advanced)} payments, the "
                                 f"reserve lists (7202) {fen_to_str(sum(listed.values()))} in {len(listed)}"),
        ) if bad]
        self.reserve_closing[bank] = end
        x = {"XCheckResult": "1" if breaks else "0", "XCheckDate": format_ymd(now.date())}
        if breaks:
            x["XCheckRemark"] = breaks[0]
        self._signed(doc, x["XCheckResult"] + (f": {breaks[0]}" if breaks else ""))
        return [SendVoucher("7203", 1, {**doc.head(), **x}, tuple(doc.details()), "bank", original=doc.data,
                            encoding=doc.encoding)]


def _by_month(item: tuple[str, object]) -> tuple[str, str]:
    """A "<PayBankCode>/<BeginDate>/<AdmDivCode>" key's month first: the order statements come in."""
    return item[0].split("/", 2)[1], item[0]


def _within(by_day: dict[str, int], bank: str, begin: str, end: str, adm: str) -> int:
    """The fen of "<PayBankCode>/<yyyyMMdd>/<AdmDivCode>" keys of `bank` and division `adm` dated
    begin..end (inclusive)."""
    total = 0
    for k, fen in by_day.items():
        code, day, div = k.split("/", 2)
        if code == bank and div == adm and begin <= day <= end:
            total += fen
    return total
