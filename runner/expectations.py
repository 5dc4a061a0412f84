"""Expectations as a pure evaluation: (scenario expectation, observed run) → pass / fail.

`evaluate(expectations, observed)` returns one `Outcome` per expectation, in order, each with
what was expected, what happened and, for an expectation about one voucher, that voucher's
trace link and events. Nothing here reads a clock or a database: the runner fills
`runner.observed.Observed` and calls this.

Deadlines (`by:`): an event counts only if it happened at or before the deadline: the
gateway's answer at send, a receipt's arrival, a clearing request's filing (for `includes`) or
its answer (for `state`), a message journaled (for `count`). `before:` is strictly before, as the
agreement's deadlines read ("16:00前": a 2301 filed at 16:00:00 is late, and the central bank
refuses it). Without either the end of the run is the deadline. Balances are read at the close of `close_of` (or at the end of the run).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from messages.envelope import VoucherKey
from messages.money import fen_to_str
from runner.observed import LevelVerdict, Observed, SentVoucher, TraceEvent, Verdict, trace_path
from runner.reconcile import PAYMENT_VTCODES
from runner.scenario_file import Expectation
from treasury_sim.scorecard import BankMonth, DutyLine

__all__ = ["EVIDENCE_MAX", "Outcome", "evaluate", "evaluate_one"]

EVIDENCE_MAX = 50  # evidence lines kept per outcome: a report reader reads the first few; the rest are counted


@dataclass(frozen=True, slots=True)
class Outcome:
    expectation: Expectation
    ok: bool
    expected: str
    actual: str
    voucher: str | None = None  # the scenario id of the voucher it is about
    voucher_key: str | None = None
    trace_link: str = ""
    trace: tuple[TraceEvent, ...] = ()
    # what the expectation looked at, one line each (the messages a count counted, the bank's
    # clearing requests with their trace links), at most EVIDENCE_MAX: shown with a failure
    evidence: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.expectation.name


_INSTANT = dt.timedelta(microseconds=1)  # the finest step of a time here


def _t(when: dt.datetime | None) -> str:
    return "-" if when is None else f"{when:%Y-%m-%d %H:%M:%S}"


def _verdicts(v: SentVoucher, by: dt.datetime, who: str | None) -> list[Verdict]:
    return [x for x in v.verdicts if x.at <= by and (who is None or x.who == who)]


def _describe(verdicts: Iterable[Verdict]) -> str:
    parts = [f"{'ok' if x.ok else x.code} by {x.who} ({x.participant}) at {_t(x.at)}" + (
        f": {x.message}" if x.message and not x.ok else "") for x in verdicts]
    return "; ".join(parts) or "no answer"


def evaluate_one(e: Expectation, o: Observed) -> Outcome:
    by = e.by or o.end
    upto = by - _INSTANT if e.by and e.strict else by  # the last instant that counts
    deadline = f"before {_t(by)}" if e.by and e.strict else f"by {_t(by)}"
    p = e.params
    v = o.by_id(e.voucher) if e.voucher else None

    def out(ok: bool, expected: str, actual: str, evidence: Sequence[str] = ()) -> Outcome:
        return Outcome(e, ok, expected, actual, e.voucher, v.key if v else None, v.trace_link if v else "",
                       v.trace if v else (), _bounded(evidence))

    if e.voucher and v is None:
        return out(False, f"voucher {e.voucher} sent", "it was never sent (a step before it failed?)")
    if e.kind in ("accepted", "rejected"):
        assert v is not None
        who = p.get("who")
        seen = _verdicts(v, upto, who)
        everything = _describe(v.verdicts)
        if e.kind == "accepted":
            status = p.get("status")
            ok = bool(seen) and all(x.ok for x in seen) and (
                status is None or any(x.who == "gateway" and x.status == status for x in seen))
            return out(ok, f"accepted by {who or 'everyone who answered'} {deadline}"
                       + (f", the gateway's status {status}" if status else ""),
                       everything + ("; gateway status " + (", ".join(x.status or "?" for x in v.verdicts
                                                                      if x.who == "gateway") or "none")
                                     if status else ""))
        ok = any(not x.ok and x.code == p["code"] for x in seen)
        return out(ok, f"rejected {p['code']} by {who or 'anyone'} {deadline}", everything)
    if e.kind == "monitor":
        from runner.monitor_steps import monitor_outcome

        assert v is not None
        return out(*monitor_outcome(p, v))
    if e.kind == "account_feed":  # the bank's daily feed (7602) against the treasury's payments (runner.account_feed)
        from runner.account_feed import feed_outcome

        return out(*feed_outcome(p, o))
    if e.kind == "card_detail":  # the card bank's repayment detail (7701) against the voucher (runner.card_repayments)
        from runner.card_repayments import card_outcome

        return out(*card_outcome(p, o))
    if e.kind == "account_notice":  # carried out within the agreement's 3 working days (runner.account_steps)
        from runner.account_steps import notice_outcome

        return out(*notice_outcome(p, o))
    if e.kind == "receipt":
        assert v is not None
        receipts = [r for r in o.receipts if r.voucher_no == v.voucher_no and r.vtcode == v.vtcode] if v.reached else []
        if p.get("none"):
            early = [r for r in receipts if r.received_at <= upto]
            return out(not early, f"no receipt {deadline}",
                       "; ".join(f"receipt from {r.sender} at {_t(r.received_at)}" for r in early) or "none")
        in_time = [r for r in receipts if r.received_at <= upto and ("from" not in p or r.sender == p["from"])]
        want = dict(p.get("fields") or {})
        if "XPayAmt" not in want and v.flag == 0 and v.vtcode in PAYMENT_VTCODES:
            want["XPayAmt"] = fen_to_str(v.amount_fen)  # a receipt pays what the voucher says, to the fen
        present = tuple(p.get("present") or ())
        expected = f"a receipt{' from ' + p['from'] if 'from' in p else ''} {deadline}" + (
            f" with {', '.join(f'{k}={val}' for k, val in want.items())}" if want else "") + (
            f", {', '.join(present)} present and non-empty" if present else "")
        if not v.reached:
            by_treasury = next((x for x in v.verdicts if x.who == "treasury" and not x.ok), None)
            return out(False, expected, f"the treasury refused it ({by_treasury.code}): it was never issued"
                       if by_treasury is not None else "the gateway refused this submission: it never reached a bank")
        if not receipts:
            return out(False, expected, "no receipt arrived")
        for r in in_time:
            if (all(r.fields.get(k) == val for k, val in want.items()) and r.return_reason is None
                    and all((r.fields.get(k) or "").strip() for k in present)):
                return out(True, expected, f"from {r.sender} at {_t(r.received_at)}")
        r = (in_time or receipts)[0]
        got = ", ".join([f"{k}={r.fields.get(k, '(absent)')}" for k in want]
                        + [f"{k}={(r.fields.get(k) or '').strip() or '(absent or empty)'}" for k in present])
        return out(False, expected, f"receipt from {r.sender} at {_t(r.received_at)}" + (f" with {got}" if got else "")
                   + (f", returned: {r.return_reason}" if r.return_reason else ""))
    if e.kind == "clearing":
        assert v is not None
        clear_type = {"normal": 0, "replenishment": 1}.get(p.get("clear_type", ""))
        own = v.key.rsplit("/", 1)[0]  # by its key where the request says it: not another division's number
        adm, _, vtcode, no = own.split("/", 3)
        # or the key without a year: the request's division names the number, no receipt of it known (yet)
        named = (own, f"{adm}//{vtcode}/{no}")
        listing = [c for c in o.clearings if v.reached and (any(k in c.keys for k in named) if c.keys
                                                            else v.voucher_no in c.payments)
                   and (v.bank is None or c.bank == v.bank)]
        covering = [c for c in listing if (clear_type is None or c.clear_type == clear_type) and c.filed_at <= upto]
        state = p.get("state")
        desc = "; ".join(f"{c.voucher_no} ({'replenishment' if c.clear_type else 'normal'}, filed {_t(c.filed_at)}, "
                         f"{c.state}{' ' + (c.code or '') if c.state == 'rejected' else ''})"
                         for c in listing) or ("in no clearing request" if v.reached
                                            else "in none: the gateway refused this submission")
        what = f"{'a' if p['includes'] else 'no'} {p.get('clear_type', '')} clearing request".replace("  ", " ")
        expected = f"{what} covering {v.voucher_no} filed {deadline}" + (f", {state}" if state else "")
        filed = _bank_clearings(o, v)
        if not p["includes"]:
            return out(not covering, expected, desc, filed)
        if state is None:
            return out(bool(covering), expected, desc, filed)
        ok = any(c.state == state and (state == "pending" or (c.answered_at is not None and c.answered_at <= upto))
                 for c in covering)
        return out(ok, expected, desc, filed)
    if e.kind == "balance":
        owner = o.participants.get(p["owner"], p["owner"])
        day = p.get("close_of")
        book = (o.closes.get(day, {}) if day is not None else o.balances).get(owner)
        where = f"at the close of {day}" if day is not None else "at the end of the run"
        expected = f"{p['owner']} {p['account']} = {p['equals']} {where}"
        if book is None:
            return out(False, expected, f"no books of {p['owner']} {where}")
        account = _account(book, p["account"])
        if account is None:
            return out(False, expected, f"no account {p['account']!r}; {p['owner']} has {', '.join(sorted(book))}")
        fen = book[account]
        return out(fen == p["equals_fen"], expected, f"{account} = {fen_to_str(fen)}")
    if e.kind == "zero_balance_at_close":
        day = p.get("day")
        days = [day] if day is not None else sorted(o.closes)
        bad = []
        for d in days:
            books = o.closes.get(d)
            if books is None:
                bad.append(f"{d}: no close observed")
                continue
            bad += [f"{d} {owner}:{acct} = {fen_to_str(fen)}" for owner, accounts in books.items()
                    for acct, fen in accounts.items() if f"{owner}:{acct}" in o.zero_balance_accounts and fen != 0]
        return out(not bad and bool(days), f"every zero-balance account 0.00 at {'the close of ' + str(day) if day else 'every close'}",
                   "; ".join(bad[:10]) or f"{len(days)} closes, all zero")
    if e.kind == "invariants":
        only = set(p.get("only") or ())
        checked = [i for i in o.invariants if not only or i.name in only]
        missing = sorted(only - {i.name for i in o.invariants})
        failed = [i for i in checked if not i.ok]
        return out(not failed and not missing and bool(checked), "the money invariants hold"
                   + (f" ({', '.join(sorted(only))})" if only else ""),
                   "; ".join([f"{i.name}: {i.detail}" for i in failed] + [f"{m}: not checked" for m in missing])
                   or f"{len(checked)} invariants hold")
    if e.kind == "reconciliation":
        rec = o.reconciliation
        if rec is None:
            return out(False, "a reconciliation", "the run produced none")
        actual = "; ".join(f"{b.cause} {b.day or ''} [{', '.join(b.vouchers[:5])}]: {b.detail}"
                           for b in rec.breaks[:10]) or "clean"
        if p.get("clean"):
            return out(rec.clean, "reconciliation clean", actual)
        wanted = sorted((b["cause"], tuple(sorted(_nos(o, b.get("vouchers", []))))) for b in p["breaks"])
        # a break listed without vouchers matches any break of that cause
        found = {(b.cause, () if (b.cause, ()) in wanted else tuple(sorted(b.vouchers))) for b in rec.breaks}
        return out(found == set(wanted), "exactly these breaks: " + ("; ".join(f"{c} {list(vs)}" for c, vs in wanted)
                                                               or "none"), actual)
    if e.kind == "refund":
        assert v is not None
        adm = v.key.split("/", 1)[0]  # another division's refund of the number is not its
        refunds = [r for r in o.refunds if v.reached and r.voucher_no == v.voucher_no and r.returned_at <= upto
                   and (v.bank is None or r.bank == v.bank) and not (r.adm and adm and r.adm != adm)]
        state, code, refund_fen = p.get("state"), p.get("code"), p.get("amount_fen")
        expected = f"a refund request (2302) for {v.voucher_no} {deadline}" + (f", {state}" if state else "") + (
            f" with {code}" if code else "") + (f" of {fen_to_str(refund_fen)}" if refund_fen is not None else "")
        desc = "; ".join(f"{r.refund_no} {fen_to_str(r.amount_fen)} returned {_t(r.returned_at)}: {r.state}"
                         + (f" {r.code}" if r.code else "") + (f", notice {r.notice_no}" if r.notice_no else "")
                         for r in refunds) or "no refund request"
        if p.get("none"):
            return out(not refunds, f"no refund request (2302) for {v.voucher_no} {deadline}", desc)
        ok = any((state is None or r.state == state) and (code is None or r.code == code)
                 and (refund_fen is None or r.amount_fen == refund_fen) for r in refunds)
        return out(ok, expected, desc)
    if e.kind == "refused":
        mine = [(key, code) for bank, key, code in o.bank_refusals if bank == p["bank"]
                and ("vtcode" not in p or VoucherKey.parse(key).vtcode == p["vtcode"])
                and ("flag" not in p or VoucherKey.parse(key).flag == int(p["flag"]))
                and ("adm" not in p or VoucherKey.parse(key).adm_div_code == p["adm"])]
        what = f"a {p.get('vtcode', '')} of {p['bank']}".replace("  ", " ") + (f" for {p['adm']}" if "adm" in p else "")
        return out(any(code == p["code"] for _, code in mine), f"{what} refused {p['code']}",
                   "; ".join(f"{key}: {code}" for key, code in mine[:10]) or "nothing of it refused")
    if e.kind == "scorecard":
        month = p.get("month")
        cards = [c for c in o.scorecard if c.bank == p["bank"]
                 and (month is None or f"{c.year:04d}-{c.month:02d}" == month)]
        if not cards:
            return out(False, f"a scorecard of {p['bank']}" + (f" for {month}" if month else ""),
                       "none: " + (", ".join(sorted({f"{c.bank} {c.year:04d}-{c.month:02d}" for c in o.scorecard}))
                                   or "no duties were scored"))
        return out(*_scorecard(cards, p))
    if e.kind == "reports_match":
        reports = [r for r in o.reports if r.bank == p["bank"] and r.received_at <= upto
                   and ("vtcode" not in p or r.vtcode == p["vtcode"]) and ("adm" not in p or r.adm == p["adm"])]
        title = {"2206": "daily report", "4004": "monthly report", "3501": "statement"}
        desc = "; ".join(f"{title[r.vtcode]} {r.voucher_no} ({r.begin}-{r.end}) PayAmt {fen_to_str(r.stated_fen)}, "
                         f"receipts {fen_to_str(r.books_fen)}"
                         + (f", DirectFundAmt {fen_to_str(r.direct_stated_fen)}, direct funds of the receipts "
                            f"{fen_to_str(r.direct_books_fen)}" if r.direct_stated_fen or r.direct_books_fen else "")
                         + ("" if r.agrees else " DIFFERS")
                         for r in reports[:20]) or "none arrived"
        return out(bool(reports) and all(r.agrees for r in reports),
                   f"every {title.get(p.get('vtcode', ''), 'report and statement')} of {p['bank']} {deadline} "
                   "states what its receipts paid in its period, and the direct funds among it", desc)
    if e.kind == "report_subject":
        reports = [r for r in o.reports if r.bank == p["bank"] and r.vtcode == p["vtcode"] and r.received_at <= upto
                   and ("adm" not in p or r.adm == p["adm"])]
        total = sum(r.subjects.get(p["subject"], 0) for r in reports)
        return out(bool(reports) and total == p["equals_fen"],
                   f"the {p['vtcode']}s of {p['bank']} {deadline} show {p['equals']} under subject {p['subject']}",
                   "; ".join(f"{r.voucher_no} ({r.begin}-{r.end}): "
                             + (", ".join(f"{k} {fen_to_str(f)}" for k, f in sorted(r.subjects.items()) if f) or "no lines")
                             for r in reports[:20]) or "none arrived")
    if e.kind == "report_direct_funds":
        reports = [r for r in o.reports if r.bank == p["bank"] and r.vtcode == p["vtcode"] and r.received_at <= upto
                   and ("adm" not in p or r.adm == p["adm"])]
        total = sum(r.direct_stated_fen for r in reports)
        return out(bool(reports) and total == p["equals_fen"],
                   f"the {p['vtcode']}s of {p['bank']} {deadline} state {p['equals']} of direct funds (DirectFundAmt)",
                   "; ".join(f"{r.voucher_no} ({r.begin}-{r.end}): DirectFundAmt {fen_to_str(r.direct_stated_fen)}, "
                             f"direct funds of the receipts {fen_to_str(r.direct_books_fen)}" for r in reports[:20])
                   or "none arrived")
    if e.kind == "signoff":
        return out(*_signoff(o, p, _nos(o, p.get("vouchers", []))))
    if e.kind == "unit_quota":
        owner = "treasury" if p["owner"] == "treasury" else p["owner"]
        book = o.unit_quotas.get(owner)  # "<AgencyCode>/<AdmDivCode>" → fen
        of = f"{p['unit']}" + (f" of {p['adm']}" if "adm" in p else "")
        expected = f"{of}'s authorized quota left at {p['owner']} = {p['equals']} at the end of the run"
        if book is None:
            return out(False, expected, f"no quota books of {p['owner']}")
        # a division's unit its own line; without `adm` every division's unit of the code, added up
        left_fen = [f for k, f in book.items() if k.split("/")[0] == p["unit"]
                and ("adm" not in p or k.split("/")[-1] == p["adm"])]
        if not left_fen:
            return out(False, expected, f"no quota of {of}; {p['owner']} has "
                       + (", ".join(f"{u} {fen_to_str(f)}" for u, f in sorted(book.items())) or "none"))
        return out(sum(left_fen) == p["equals_fen"], expected, fen_to_str(sum(left_fen)))
    if e.kind == "year_end":
        return out(*_year_end(o, p))
    if e.kind == "quota_restored":
        lines = (o.cross_year_left if p.get("left") else o.cross_year_refunds) if p.get("cross_year") \
            else o.quota_restored
        restored = {k: f for k, f in lines.items() if k.split("/")[0] == p["unit"]  # "<unit>/<year>/<AdmDivCode>"
                and ("year" not in p or k.split("/")[1] == p["year"]) and ("adm" not in p or k.split("/")[-1] == p["adm"])}
        kind = "cross-year refund lines" if p.get("cross_year") else "quota restored"
        return out(sum(restored.values()) == p["equals_fen"], f"the treasury's {kind} of {p['unit']}"
                   + (f" of {p['adm']}" if "adm" in p else "") + (f" ({p['year']})" if "year" in p else "")
                   + f" = {p['equals']}",
                   "; ".join(f"{k} {fen_to_str(f)}" for k, f in sorted(restored.items())) or "none")
    if e.kind == "clearings_sum":
        clear_type = {"normal": 0, "replenishment": 1}.get(p.get("clear_type", ""))
        day = p["day"]
        cleared = [c for c in o.clearings if c.bank == p["bank"] and c.clear_date == day and c.state == "accepted"
                and c.answered_at is not None and c.answered_at <= upto
                and (clear_type is None or c.clear_type == clear_type)]
        total = sum(c.cleared_fen for c in cleared)
        return out(total == p["equals_fen"], f"{p['bank']}'s accepted {p.get('clear_type', '')} clearing requests "
                   f"of {day} clear {p['equals']} {deadline}".replace("  ", " "),
                   f"{fen_to_str(total)}: " + (", ".join(f"{c.voucher_no} {fen_to_str(c.cleared_fen)}" for c in cleared) or "none"))
    if e.kind == "budget_refused":
        refused = [r for r in o.budget_refusals if r.at <= upto and ("code" not in p or r.code == p["code"])
                   and ("unit" not in p or r.unit == p["unit"])]
        n = len(refused)
        ok = n == p["equals"] if "equals" in p else (n >= p.get("at_least", 0) and n <= p.get("at_most", n))
        what = ", ".join(f"{k.replace('_', ' ')} {p[k]}" for k in ("equals", "at_least", "at_most") if k in p)
        return out(ok, f"requests refused {p.get('code', 'for their budget')}: {what}", f"{n} refused",
                   [f"{r.request_no} of {r.unit}: {r.code}, {fen_to_str(r.amount_fen)} at {_t(r.at)}" for r in refused])
    if e.kind == "count":
        msgs = [m for m in o.messages if m.vtcode == p["vtcode"] and m.at <= upto
                and (not m.adm or not o.divisions or m.adm in o.divisions)  # the scenario's divisions' only
                and ("flag" not in p or m.flag == p["flag"])
                and ("sender" not in p or m.sender == p["sender"])
                and ("recipient" not in p or m.recipient == p["recipient"])]
        n = len(msgs)
        ok = (("equals" not in p or n == p["equals"]) and ("at_least" not in p or n >= p["at_least"])
              and ("at_most" not in p or n <= p["at_most"]))
        bounds = ", ".join(f"{k.replace('_', ' ')} {p[k]}" for k in ("equals", "at_least", "at_most") if k in p)
        where = "".join(f" {k} {p[k]}" for k in ("flag", "sender", "recipient") if k in p)
        return out(ok, f"{bounds} messages of VtCode {p['vtcode']}{where} {deadline}", f"{n}",
                   [f"{_t(m.at)}  {m.vtcode} flag {m.flag}  {m.sender} -> {m.recipient}"
                    + (f"  {m.voucher_no}" if m.voucher_no else "") for m in msgs])
    raise ValueError(f"unknown expectation kind {e.kind!r}")


def _bounded(lines: Sequence[str]) -> tuple[str, ...]:
    if len(lines) <= EVIDENCE_MAX:
        return tuple(lines)
    return (*lines[:EVIDENCE_MAX], f"... and {len(lines) - EVIDENCE_MAX} more")


def _bank_clearings(o: Observed, v: SentVoucher) -> list[str]:
    """Every clearing request the payment's bank filed, with its answer and trace link: a failed
    `clearing` expectation shows what the bank did file, not only what covers the payment."""
    adm = v.key.split("/", 1)[0]
    return [f"{c.voucher_no}  {'replenishment' if c.clear_type else 'normal'} {c.pay_type}  ClearDate {c.clear_date:%Y%m%d}"
            f"  filed {_t(c.filed_at)}  {fen_to_str(c.amount_fen)}  {c.state}"
            + (f" {c.code or ''}: {c.reason or ''}" if c.state == "rejected" else "")
            + f"  covers {', '.join(c.payments) or 'no named payment'}"
            + f"  trace: {trace_path(f'{adm}/{c.filed_at.year:04d}/2301/{c.voucher_no}')}"
            for c in sorted(o.clearings, key=lambda c: (c.filed_at, c.voucher_no))
            if v.bank is None or c.bank == v.bank]


def _signoff(o: Observed, p: Mapping[str, Any], nos: Sequence[str]) -> tuple[bool, str, str, list[str]]:
    """The monthly sign-off verdicts of a month and level (runner.monthly_signoff). Looking for
    agreement (agreed: true, verdict: agreed, signed_off: true alone): every verdict selected must
    hold it; looking for a difference: at least one."""
    rows = [v for v in o.signoffs if v.month == p["month"] and v.level == p["level"]
            and ("bank" not in p or v.bank == p["bank"]) and ("unit" not in p or v.unit == p["unit"])
            and ("adm" not in p or v.adm == p["adm"])]
    verdict = p.get("verdict", "agreed" if p.get("agreed") is True else None)
    looks_for_break = any(k in p for k in ("cause", "off_by", "vouchers")) or p.get("agreed") is False or (
        verdict not in (None, "agreed")) or p.get("signed_off") is False

    def holds(v: LevelVerdict) -> bool:
        if verdict is not None and v.verdict != verdict:
            return False
        if p.get("agreed") is False and v.verdict == "agreed":
            return False
        if "signed_off" in p and v.signed_off is not p["signed_off"]:
            return False
        if not any(k in p for k in ("cause", "off_by", "vouchers")):
            return True
        return any(("cause" not in p or b.cause == p["cause"])
                   and ("off_by_fen" not in p or (b.expected_fen is not None and b.actual_fen is not None
                                                  and abs(b.actual_fen - b.expected_fen) == p["off_by_fen"]))
                   and set(nos) <= set(b.vouchers) for b in v.breaks)

    def line(v: LevelVerdict) -> str:
        who = " ".join(x for x in (v.bank, f"division {v.adm}" if v.adm else "", f"unit {v.unit}" if v.unit else "")
                       if x)
        signed = {True: "signed off", False: f"not signed off ({v.sign_remark})", None: "no sign-off"}[v.signed_off]
        return (f"{v.month} {v.level} {who}: {v.verdict}{' (late)' if v.late else ''}, {signed}, books "
                f"{fen_to_str(v.books_fen)}, stated {'-' if v.stated_fen is None else fen_to_str(v.stated_fen)}"
                + "".join(f"; {b.cause} [{', '.join(b.vouchers[:5])}]: {b.detail}" for b in v.breaks[:5]))

    wants = [f"{p['level']} {p['month']}" + (f" {p['bank']}" if "bank" in p else "") + (
        f" division {p['adm']}" if "adm" in p else "") + (f" unit {p['unit']}" if "unit" in p else "")]
    wants += [f"{k} {p[k]}" for k in ("agreed", "verdict", "signed_off", "cause", "off_by") if k in p]
    wants += [f"a break naming {', '.join(nos)}"] if nos else []
    expected = ("some verdict: " if looks_for_break else "every verdict: ") + ", ".join(wants)
    if not rows:
        have = sorted({f"{v.month} {v.level}" for v in o.signoffs})
        return False, expected, "no such verdict; the run has " + (", ".join(have) or "none"), []
    ok = any(holds(v) for v in rows) if looks_for_break else all(holds(v) for v in rows)
    lines = [line(v) for v in rows]
    return ok, expected, "; ".join(lines[:5]) + (f" (and {len(lines) - 5} more)" if len(lines) > 5 else ""), lines


def _scorecard(cards: Sequence[BankMonth], p: Mapping[str, Any]) -> tuple[bool, str, str]:
    """Whether some month of the bank's (or the month asked for) meets every bound."""
    wants = []
    if "flagged" in p:
        wants.append("flagged" if p["flagged"] else "not flagged")
    for key, word in (("min_score", "score >="), ("max_score", "score <="), ("late_at_least", "late >="),
                      ("faulty_at_least", "faulty/errors >="), ("stage", "stage =")):
        if key in p:
            wants.append(f"{word} {p[key]}")
    duty = p.get("duty")
    for key in ("on_time", "late"):
        if key in p:
            wants.append(f"{duty or 'all duties'} {key.replace('_', ' ')} = {p[key]}")

    def lines(card: BankMonth) -> list[DutyLine]:
        return [line for line in card.lines if duty is None or line.kind == duty]

    def holds(card: BankMonth) -> bool:
        faulty = sum(line.faulty + line.errors for line in card.lines)
        return (("flagged" not in p or card.flagged == p["flagged"])
                and ("min_score" not in p or card.score >= p["min_score"])
                and ("max_score" not in p or card.score <= p["max_score"])
                and ("late_at_least" not in p or card.late >= p["late_at_least"])
                and ("faulty_at_least" not in p or faulty >= p["faulty_at_least"])
                and ("stage" not in p or card.stage == p["stage"])
                and ("on_time" not in p or sum(x.on_time for x in lines(card)) == p["on_time"])
                and ("late" not in p or sum(x.late for x in lines(card)) == p["late"]))

    actual = "; ".join(
        f"{c.year:04d}-{c.month:02d} score {c.score}/{c.max_points}, late {c.late}, "
        f"faulty/errors {sum(x.faulty + x.errors for x in c.lines)}"
        + (f", {duty} on time {sum(x.on_time for x in lines(c))} late {sum(x.late for x in lines(c))}" if duty else "")
        + (f", flagged ({'; '.join(c.flags)})" if c.flagged else ", not flagged") + f", stage {c.stage}"
        for c in cards)
    return any(holds(c) for c in cards), f"scorecard of {cards[0].bank}: " + (", ".join(wants) or "drawn up"), actual


def _account(book: dict[str, int] | object, name: str) -> str | None:
    assert isinstance(book, dict)
    if name in book:
        return name
    hits = [a for a in book if a.endswith(":" + name)]
    return hits[0] if len(hits) == 1 else None


def _nos(o: Observed, ids: Sequence[str]) -> list[str]:
    out = []
    for i in ids:
        v = o.by_id(i)
        out.append(v.voucher_no if v else i)
    return out


def evaluate(expectations: Sequence[Expectation], observed: Observed) -> list[Outcome]:
    return [evaluate_one(e, observed) for e in expectations]


def _year_end(o: Observed, p: Mapping[str, Any]) -> tuple[bool, str, str]:
    """A `year_end` expectation: the generated treasury's notices of the year (of a bank), their
    sums, their confirmations and the year's books."""
    notices = [n for n in o.year_end if n.year == p["year"] and ("bank" not in p or n.bank == p["bank"])]
    totals = o.year_totals.get(p["year"])
    checks = []
    for key, vtcode in (("cancelled", "7301"), ("carried", "7302")):
        if key in p:
            checks.append(sum(n.amount_fen for n in notices if n.vtcode == vtcode) == p[f"{key}_fen"])
    if "balanced" in p:
        balanced = totals is not None and totals[5] and totals[0] == sum(totals[1:5])
        checks.append(balanced == p["balanced"])
    if "confirmed" in p:
        confirmed = bool(notices) and all(n.confirmed_at is not None and not n.flagged for n in notices)
        checks.append(confirmed if p["confirmed"] else any(n.flagged for n in notices))
    expected = f"year end {p['year']}" + (f" of {p['bank']}" if "bank" in p else "") + ": " + ", ".join(
        f"{k} {p[k]}" for k in ("cancelled", "carried", "balanced", "confirmed") if k in p)
    seen = "; ".join(f"{n.vtcode} {n.voucher_no} {n.bank} {fen_to_str(n.amount_fen)} "
                     + ("flagged unconfirmed" if n.flagged else "confirmed" if n.confirmed_at else "unconfirmed")
                     for n in notices) or "no notices"
    if totals is not None:
        seen += (f"; books {'closed' if totals[5] else 'open'}: granted {fen_to_str(totals[0])}, spent {fen_to_str(totals[1])}, "
                 f"cancelled {fen_to_str(totals[2])}, carried {fen_to_str(totals[3])}, lapsed {fen_to_str(totals[4])}")
    return bool(notices or totals) and all(checks), expected, seen
