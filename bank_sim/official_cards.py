"""Official-card repayments (公务卡还款, 003 §30): the bank's side.

Official spending a unit's staff paid by official card (公务卡) is repaid from the unit's
zero-balance account to the cards, by an authorized payment voucher (8202) with CardRepayFlag 1
whose every Detail names the card it repays (CardNo, CardHolderName: the project's own elements;
the gateway refuses a repayment with a line that names no card, `card-repay-incomplete`). The
project takes the agent bank to be the card-issuing bank too (004 part 1 二(二): "代理银行作为公务卡
发卡银行"): it pays the voucher like any 8202 (one receipt, one line in the day's clearing) and
credits each card its line.

The issuing bank reports "零余额账户向公务卡账户的划款信息" to the treasury (004 part 1 二(二)3): at the
close of the day it paid a repayment it sends its repayment transfer detail (VtCode 7701,
`detail_voucher`): VoucherNo `GK<bank4><yyyymmdd><seq4>` (seq: the bank's running count of
7701s), OriVoucherNo the repayment, one Detail per card credited. The treasury matches it against
the voucher's card lines (`treasury_sim.official_cards`). A repayment the ledger refused (not
paid after all) is not reported.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from bank_sim.state import BankState, CardRepayment, Ctx, Payment
from messages.dates import format_ymd
from messages.money import fen_to_str, parse_fen
from messages.voucher import VoucherDoc
from sim.effects import Effect, SendVoucher

__all__ = ["CARD_DETAIL_VTCODE", "detail_voucher", "details_due", "is_repayment", "on_paid"]

CARD_DETAIL_VTCODE = "7701"


def is_repayment(doc: VoucherDoc) -> bool:
    return doc.vtcode == "8202" and doc.get("CardRepayFlag") == "1"


def on_paid(st: BankState, p: Payment, doc: VoucherDoc, details: Sequence[Mapping[str, str]]) -> None:
    """Payment `p` was just paid: keep its cards if it is an official-card repayment (`details`: the doc's)."""
    if not is_repayment(doc) or p.day is None:
        return
    lines = [(d["CardNo"], d["CardHolderName"], parse_fen(d["PayAmt"])) for d in details]
    st.card_repayments[st.slot(p)] = CardRepayment(p.key.voucher_no, str(p.key), p.day, doc.get("AdmDivCode"),
                                                         p.agency, lines)


def detail_voucher(no: str, day: dt.date, bank: tuple[str, str], r: CardRepayment,
                   ) -> tuple[dict[str, str], tuple[dict[str, str], ...]]:
    """The head and details of repayment detail `no` (7701) for repayment `r`, credited on `day`."""
    head = {"Id": f"V{CARD_DETAIL_VTCODE}{no}", "AdmDivCode": r.adm_div_code, "StYear": str(day.year),
            "VouDate": format_ymd(day), "VoucherNo": no, "TransDate": format_ymd(day), "OriVtCode": "8202",
            "OriVoucherNo": r.voucher_no, "AgencyCode": r.agency[0], "AgencyName": r.agency[1] or r.agency[0],
            "PayBankCode": bank[0], "PayBankName": bank[1], "PayAmt": fen_to_str(sum(x[2] for x in r.lines))}
    details = tuple({"Id": f"D{n:04d}", "CardNo": card, "CardHolderName": holder, "PayAmt": fen_to_str(fen)}
                    for n, (card, holder, fen) in enumerate(r.lines, start=1))
    return head, details


def details_due(ctx: Ctx, st: BankState, day: dt.date) -> list[Effect]:
    """At the close of `day`: a 7701 for each repayment paid that day or before and not reported."""
    effects: list[Effect] = []
    for no, r in sorted(st.card_repayments.items(), key=lambda kv: (kv[1].day, kv[0])):
        if r.day > day:
            continue
        del st.card_repayments[no]
        p = st.payment_named(r.key)
        if p is None or p.refused is not None or p.day is None:
            continue
        st.card_detail_seq += 1
        head, details = detail_voucher(f"GK{ctx.bank_code[-4:]}{format_ymd(day)}{st.card_detail_seq:04d}", day,
                                       (ctx.bank_code, ctx.config.bank_name), r)
        effects.append(SendVoucher(CARD_DETAIL_VTCODE, 0, head, details, "treasury"))
    return effects
