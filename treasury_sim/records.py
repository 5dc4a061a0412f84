"""The treasury's typed records: a planned voucher, a receipt that came back, a statement checked,
a day's plan. `PlannedVoucher` and `DayPlan` are regenerated from the seed (never stored);
`Receipt` and `StatementCheck` are kept in the core's state (`treasury_sim.state`): msgspec
records, saved and restored by `sim.codec`."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, TypeVar

import msgspec

from messages.envelope import VoucherKey
from messages.factory import SALARY_SUBJECT, batch_voucher, payment_voucher_fields
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from sim.effects import SendVoucher
from treasury_sim.budget import RefusedRequest
from treasury_sim.clearing_quotas import Approved

__all__ = ["DayPlan", "PlannedVoucher", "Receipt", "SentRow", "StatementCheck", "by_whole_key", "voucher_id"]


def voucher_id(adm_div_code: str, st_year: str, vtcode: str, voucher_no: str) -> str:
    """A voucher's key as the treasury's logs keep it: "<AdmDivCode>/<StYear>/<VtCode>/<VoucherNo>" (each
    division's treasury numbers its vouchers afresh each year: two of one number are two vouchers)."""
    return f"{adm_div_code}/{st_year}/{vtcode}/{voucher_no}"


class _Sent(Protocol):
    """A record of a voucher the treasury sent, keyed by its division, year and number."""

    adm_div_code: str
    st_year: str

    @property
    def sent_at(self) -> dt.datetime: ...

    @property
    def key(self) -> str: ...


_S = TypeVar("_S", bound=_Sent)


def by_whole_key(records: Iterable[_S], adm_div_code: str) -> dict[str, _S]:
    """An old snapshot's records (kept by VoucherNo alone) by their whole key (`key`): one without a
    division was division `adm_div_code`'s (the configured one's, the only one the treasury core sent
    for), of the year it was sent (its VouDate's, the day sent, as `messages.factory` writes it)."""
    out: dict[str, _S] = {}
    for r in records:
        if not r.adm_div_code:
            r.adm_div_code, r.st_year = adm_div_code, str(r.sent_at.year)
        out[r.key] = r
    return out


@dataclass(slots=True)
class PlannedVoucher:
    day: dt.date
    send_at: dt.datetime
    vtcode: str
    voucher_no: str
    bank: str
    amount_fen: int
    unit: tuple[str, str, str, str]  # (SupDepCode, SupDepName, AgencyCode, AgencyName): one of `UNITS`
    late: bool  # sent after the clearing cutoff: the bank advances it
    details: int  # Detail lines
    adm_div_code: str
    seed: int  # the run's seed: with the day and VoucherNo, the seed of the voucher's own generator
    sent: bool = False
    refused: str | None = None  # the gateway refused it: its code
    fund_type: str = "1"  # FundTypeCode (the plain plan pays general public budget funds only)
    subject: tuple[str, str] | None = None  # (ExpFuncCode, ExpFuncName) of every detail; None: drawn
    project: tuple[str, str] | None = None  # (ProCode, ProName) of every detail; None: none named
    payees: int = 0  # a batch voucher (一次批量, 003 §26) of this many lines, each to its own payee; 0: a plain one
    direct: bool = False  # every line direct funds (直达资金, 001, 002): DirectFundFlag 1 on each Detail
    pay_acct: str = ""  # PayAcctNo: the registered zero-balance account it pays from ("": drawn)
    payee: tuple[str, str] | None = None  # (PayeeAcctNo, PayeeAcctName) of a registered account it pays; None: drawn

    @property
    def direct_fen(self) -> int:
        """What of it is direct funds: all of it, or nothing."""
        return self.amount_fen if self.direct else 0

    @property
    def id(self) -> str:
        """Its key as the treasury's logs keep it (`voucher_id`): its division, its day's year, VtCode, VoucherNo."""
        return voucher_id(self.adm_div_code, str(self.day.year), self.vtcode, self.voucher_no)

    @property
    def pay_type(self) -> str:
        return "11" if self.vtcode == "5201" else "12"

    @property
    def sup_dep(self) -> tuple[str, str]:
        return self.unit[0], self.unit[1]

    @property
    def approved(self) -> Approved:
        return Approved(self.bank, self.pay_type, self.fund_type, self.sup_dep, self.amount_fen)

    @property
    def data(self) -> bytes:
        """The voucher's bytes, rendered anew (the same bytes every time: the rest is drawn from the
        voucher's own seeded generator). A plan of 100,000 vouchers keeps these fields, ~200 bytes
        each, not ~1.8 KB of bytes each; a voucher is rendered when it is sent."""
        if self.payees:
            return self._batch_data()
        return build_voucher(self.vtcode, *self._fields())

    def _fields(self) -> tuple[dict[str, str], list[dict[str, str]]]:
        """A plain voucher's head and Detail lines, drawn as `data` renders them."""
        return payment_voucher_fields(voucher_no=self.voucher_no, vou_date=self.day, pay_bank_code=self.bank,
                                      amount_fen=self.amount_fen, adm_div_code=self.adm_div_code, vtcode=self.vtcode,
                                      details=self.details, unit=self.unit, fund_type_code=self.fund_type,
                                      subject=self.subject, project=self.project, direct=self.direct,
                                      pay_acct=self.pay_acct, payee=self.payee,
                                      rng=random.Random(f"{self.seed}:{self.day.isoformat()}:{self.voucher_no}"))

    def detail_lines(self) -> list[dict[str, str]]:
        """The Detail lines `data` carries (element name → text), drawn, not rendered and parsed."""
        if self.payees:
            return self.doc.details()
        return self._fields()[1]

    @property
    def agency_code(self) -> str:
        """The voucher's AgencyCode: its unit's."""
        return self.unit[2]

    def _batch_data(self) -> bytes:
        """A salary batch: `payees` lines (Detail Id D0001...), the amount split evenly (the rest on the
        last line), each to a synthetic personal account drawn from the voucher's own generator."""
        rng = random.Random(f"{self.seed}:{self.day.isoformat()}:{self.voucher_no}")
        share = self.amount_fen // self.payees
        lines = [(f"6299{rng.randrange(10**12):012d}", f"职工{i:03d}", "示例银行示例市分行", "",
                  share if i < self.payees else self.amount_fen - share * (self.payees - 1))
                 for i in range(1, self.payees + 1)]
        func, func_name = self.subject or SALARY_SUBJECT[:2]
        return batch_voucher(voucher_no=self.voucher_no, vou_date=self.day, pay_bank_code=self.bank, payees=lines,
                             adm_div_code=self.adm_div_code, unit=self.unit, fund_type_code=self.fund_type,
                             subject=(func, func_name, *SALARY_SUBJECT[2:]), pay_acct=self.pay_acct)

    @property
    def doc(self) -> VoucherDoc:
        """The voucher parsed (anew, from `data`)."""
        return parse_voucher(self.data)

    def sent_row(self) -> SentRow:
        """Its fields the run's end reads (`SentRow`), as a packed day's voucher gives them from its columns."""
        return SentRow(self.day, self.voucher_no, self.vtcode, self.bank, self.amount_fen, self.send_at, self.refused)


class SentRow(NamedTuple):
    """The fields of a sent `PlannedVoucher` the run's end reads (`TreasuryCore.iter_sent_rows`), by
    the same names: a tuple, where a packed day's voucher was a record of 21 fields made to be read."""

    day: dt.date
    voucher_no: str
    vtcode: str
    bank: str
    amount_fen: int
    send_at: dt.datetime
    refused: str | None


class Receipt(msgspec.Struct, frozen=True, gc=False):  # no cycles: one per voucher, never walked by the collector
    key: VoucherKey
    paid_date: str
    paid_fen: int
    serial: str
    received_at: dt.datetime
    return_reason: str | None = None


class StatementCheck(msgspec.Struct, frozen=True):
    day: dt.date
    begin_fen: int
    debit_fen: int
    credit_fen: int
    end_fen: int
    expected_begin_fen: int
    expected_debit_fen: int
    expected_credit_fen: int = 0
    detail_debit_fen: int = 0  # the D details added up
    detail_credit_fen: int = 0  # the C details added up

    @property
    def ok(self) -> bool:
        return (self.begin_fen == self.expected_begin_fen and self.debit_fen == self.expected_debit_fen
                and self.credit_fen == self.expected_credit_fen
                and self.end_fen == self.begin_fen + self.credit_fen - self.debit_fen
                and (self.detail_debit_fen, self.detail_credit_fen) == (self.debit_fen, self.credit_fen))


@dataclass(slots=True)
class DayPlan:
    # in send order: a list, or (a plain plan) `treasury_sim.packed_plan.PackedVouchers`, which makes
    # a new PlannedVoucher on every read (its `sent` / `refused` are the core's: `next_unsent` here)
    vouchers: Sequence[PlannedVoucher]
    quota_notices: list[SendVoucher] = field(default_factory=list)
    refused: list[RefusedRequest] = field(default_factory=list)  # requests refused for their budget (003 §52)
    _unsent: int = field(default=0, repr=False)

    @property
    def next_unsent(self) -> int:
        """vouchers[:next_unsent] are sent."""
        return self._unsent

    @next_unsent.setter
    def next_unsent(self, sent: int) -> None:
        self._unsent = sent
        if hasattr(self.vouchers, "sent_n"):  # packed: the vouchers it makes say whether they are sent
            self.vouchers.sent_n = sent
