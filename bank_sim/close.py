"""The bank system close (17:00) of a business day: cover from the clearing reserve what missed
the clearing time (an advance after the fact, Alarm clearing-escalated; beyond the reserve, from the
bank's own funds), alarm what waits for
the treasury's quota (clearing-held), send the day's reserve list (7202, `bank_sim.advances`; in pages of RESERVE_LIST_LINES_MAX)
and account feed (7602, `bank_sim.account_feed`), the official-card repayment details (7701,
`bank_sim.official_cards`), and check the zero-balance accounts stand at zero.
"""

from __future__ import annotations

import datetime as dt

from bank_sim import account_feed, official_cards
from bank_sim.accounts import open_account, transfer
from bank_sim.advances import RESERVE_LIST_VTCODE, Advanced, reserve_detail_list
from bank_sim.filings import reserve_paid, unfiled_clearing, unreplenished
from bank_sim.pay_acct import pay_acct_text
from bank_sim.state import BankState, Ctx, Payment
from messages.money import fen_to_str
from sim.effects import Alarm, Effect, SendVoucher

__all__ = ["RESERVE_LIST_LINES_MAX", "close", "next_reserve_page", "reserve_list"]

# Payments in one reserve detail list (7202), one call's page: more of a day go in further lists, a
# microsecond apart (`BankState.reserve_more`), as the clearing requests do (`bank_sim.filings`).
RESERVE_LIST_LINES_MAX = 2_000


def close(ctx: Ctx, st: BankState, day: dt.date) -> list[Effect]:
    st.closes.append(day)
    effects: list[Effect] = (_cover(ctx, st, day) + reserve_list(ctx, st, day) + account_feed.feed(ctx, st, day)
                             + official_cards.details_due(ctx, st, day))
    _filed_accounts_go(st, day)
    for account in sorted(st.zero_at_close):
        balance = st.balances.get(account, 0)
        if balance != 0:
            st.unbalanced_closes.append((day, account, balance))
            effects.append(Alarm("zero-balance-not-zero", f"zero-balance account {account} stands at "
                                 f"{fen_to_str(balance)} at the close of {day}"))
    return effects


def _cover(ctx: Ctx, st: BankState, day: dt.date) -> list[Effect]:
    """At the close: the day's payments from a zero-balance account whose clearing missed the
    cutoff are made whole from the reserve (Alarm clearing-escalated); the next morning's
    replenishment asks for them like any advance. One the reserve left cannot cover is made whole
    from the bank's own funds (`_front`). Payments held for the treasury's quota are not: Alarm
    clearing-held (004 part 3 第四条, `bank_sim.clearing`)."""
    # the clearing payments no request has filed (`filings.unfiled_clearing`: its index, not every payment kept)
    unfiled = [p for p in unfiled_clearing(st)
               if p.day is not None and p.day <= day and not p.covered and p.refused is None]
    left = [p for p in unfiled if p.held is None and p.day == day]
    effects: list[Effect] = [
        Alarm("clearing-held", f"payment {p.key} ({fen_to_str(p.amount_fen)}, paid {p.day}) is not cleared: "
              f"refused {p.held}, it waits for the treasury's quota and is filed again at the next clearing "
              "round; the clearing reserve is not used", str(p.key))
        for p in sorted(unfiled, key=lambda p: str(p.key)) if p.held is not None]
    for p in sorted(left, key=lambda p: str(p.key)):
        if p.amount_fen > st.reserve_balance_fen:
            effects += _front(ctx, st, p, day)
            continue
        p.covered = True
        reserve_paid(st)[st.slot(p)] = None  # for the reserve list below and the next morning's replenishment
        st.reserve_balance_fen -= p.amount_fen
        effects.append(transfer(st, f"bank:{ctx.bank_code}:cover:{p.key}", ctx.accounts["reserve"], p.account,
                                p.amount_fen, "reserve-cover", str(p.key), day))
        effects.append(Alarm("clearing-escalated", f"payment {p.key} ({fen_to_str(p.amount_fen)}) missed the "
                             "clearing time today: made whole from the clearing reserve", str(p.key)))
    for p in unfiled:  # the day's not covered: in no reserve list (its only reader), their PayAcctNo goes
        if p.day == day and not p.covered:
            p.pay_acct = ""
    return effects


def _front(ctx: Ctx, st: BankState, p: Payment, day: dt.date) -> list[Effect]:
    """A payment whose clearing missed the cutoff and that the reserve (the treasury's money, never
    lent past its balance) cannot cover: the bank makes its zero-balance account whole from its own
    funds (at zero at the close, 003 §34) and is repaid the next business morning by a clearing of
    the day's quota (ClearType 1, ClearDate the pay day, `filings.file_fronted`). Alarm
    clearing-escalated: the bank missed the clearing time."""
    own = ctx.accounts["bank-own"]
    effects: list[Effect] = []
    if own not in st.opened:  # opened the first time it is needed: a bank that never fronts has none
        effects.append(open_account(st, ctx, own, "the bank's own funds (fronted payments)", "bank-own"))
    effects.append(transfer(st, f"bank:{ctx.bank_code}:front:{p.key}", own, p.account, p.amount_fen, "bank-front",
                            str(p.key), day))
    effects.append(Alarm("clearing-escalated", f"payment {p.key} ({fen_to_str(p.amount_fen)}) missed the clearing "
                         f"time today and the clearing reserve ({fen_to_str(st.reserve_balance_fen)}) cannot cover it: "
                         "made whole from the bank's own funds, cleared the next business morning", str(p.key)))
    return effects


def _filed_accounts_go(st: BankState, day: dt.date) -> None:
    """At the close of `day`: the PayAcctNo of the payments in the clearing requests filed that day
    and not accepted (an accepted one's went with its receipt, `reporting.on_cleared`) goes: after
    its day's close a payment is in no reserve list, the only reader (`reserve_list`). With the
    cover's and the list's own, every payment paid that day has let it go, as a walk of them all did."""
    for filing in reversed(st.filings.values()):  # in filing order: the day's last
        if filing.filed_at.date() < day:
            break
        if filing.clear_type == 0 and filing.state != "accepted":
            for k in filing.payments:
                p = st.payment(k)
                if p is not None:
                    p.pay_acct = ""


def reserve_list(ctx: Ctx, st: BankState, day: dt.date) -> list[Effect]:
    """A page of the day's clearing reserve detail list (7202) to the treasury, if the reserve paid
    anything: at most RESERVE_LIST_LINES_MAX payments, the first by key of those not listed yet; if
    more are left, `BankState.reserve_more` is the day and the next page goes a microsecond later
    (`bank_sim.schedule`). A list of a whole busy day was one voucher of ~10,000 Details at 100,000
    vouchers (megabytes built, enveloped, admitted and read at once: the day's peak of memory)."""
    reserve = ctx.accounts["reserve"]
    # the day's reserve payments not listed yet picked first, then sorted (the same order): sorting
    # every payment kept made a key text for each, ~4.5 MB at once for a bank of a 100,000-voucher
    # day. Picked from the payments the reserve paid and no replenishment filed yet
    # (`filings.unreplenished`: a day's are replenished the next business day, after its list), not
    # every payment kept, at each page. A listed payment's PayAcctNo goes with its page: this list
    # is its only reader (a zero-balance account number, kept to the end of a busy day otherwise);
    # the others' goes when their clearing is accepted (`reporting.on_cleared`), they are returned
    # (`payments._return`), or at their day's close (`_cover`, `_filed_accounts_go`, and here).
    listed: list[Payment] = []
    for p in unreplenished(st):
        if p.day != day or not p.pay_acct:
            continue
        if p.account != reserve and p.agency[0]:
            listed.append(p)
        else:
            p.pay_acct = ""
    listed.sort(key=lambda p: str(p.key))
    page = listed[:RESERVE_LIST_LINES_MAX]
    st.reserve_more = day if len(listed) > len(page) else None
    # one list per division of the page (the configured one first): each treasury keeps its own
    # reserve account's advances on record (004 part 3 §9(12) "报市财政局国库科和支付中心备案")
    c = ctx.config
    divisions: dict[str, list[Advanced]] = {c.adm_div_code: []}
    for p in page:
        divisions.setdefault(p.key.adm_div_code, []).append(
            Advanced(p.vtcode, p.key.voucher_no, p.agency[0], p.agency[1] or p.agency[0], pay_acct_text(p),
                     p.amount_fen, p.covered))
        p.pay_acct = ""
    effects: list[Effect] = []
    for adm, items in divisions.items():
        if not items:
            continue
        head, details = reserve_detail_list(day, len(st.reserve_lists) + 1, adm, ctx.bank_code, c.bank_name, items)
        st.reserve_lists.append(head["VoucherNo"])
        effects.append(SendVoucher(RESERVE_LIST_VTCODE, 0, head, details, "treasury"))
    return effects


def next_reserve_page(ctx: Ctx, st: BankState) -> list[Effect]:
    """The next page of the reserve list whose day `BankState.reserve_more` names (none: nothing)."""
    return reserve_list(ctx, st, st.reserve_more) if st.reserve_more is not None else []
