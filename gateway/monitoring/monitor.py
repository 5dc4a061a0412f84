"""What the gateway calls: screen admitted payment vouchers, and release or reject holds.

`screen` runs after the pure pipeline and before the journal (ARCHITECTURE step 6): each
payment voucher (the catalogue's `applies_to`, originals only) is evaluated; a block becomes a
refusal (`monitor-blocked`), a hold is kept in `mon_holds` instead of being journaled
(`monitor-held`), notice and warning go on with a trace event. Its window row, hold and
decisions are written in the journal's own transaction (`Journal.record(extra=...)`).

Two envelopes screened at the same moment do not see each other's payments in a window (the
rows land when their commit does); payments inside one envelope do.

`screen(claim=True)`, an envelope of one payment that needs no history: the payment is screened as
if its key were new, without reading the store, and its window row is the commit's claim
(`Screened.claim`, `Journal.record(claim=...)`). The upsert changes a row exactly when the key is
new or was blocked, the two cases where that verdict is the one a read would give; no row changed
(`ClaimLost`: the key passed, was flagged or held before) and nothing of it was written, and the
caller screens it again with `claim=False`, which reads the key's row. One read fewer per envelope
(a reader read after every commit, bench/results/http-cpu-4.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from business_time.calendar import if_known
from gateway.journal import TRACE_INSERT, ClaimLost, Journal, now_us
from gateway.monitoring.engine import Checks, History, HistoryNeeds, Hit, LineNeeds, PaymentFacts, outcome_of
from gateway.monitoring.rules import Catalogue
from gateway.monitoring.store import (
    DECISION_INSERT,
    HOLD_DECIDE,
    HOLD_INSERT,
    PAYMENT_UPSERT,
    Hold,
    MonitorStore,
    Prior,
    at_us,
)
from gateway.pipeline import Admitted, Refused
from messages.envelope import VoucherKey, parse_envelope
from messages.errors import InputError, Issue
from messages.voucher import parse_voucher

__all__ = ["Held", "HoldStateError", "Monitor", "Screened"]

Extra = list[tuple[str, list[tuple[Any, ...]]]]


@dataclass(frozen=True, slots=True)
class Held:
    """A payment kept for review: answered `held` with code monitor-held (or, once a treasury
    officer rejected it, `rejected` with monitor-rejected)."""

    key: VoucherKey
    issue: Issue


@dataclass(slots=True)
class Screened:
    outcomes: list[Admitted | Refused | Held]
    extra: Extra
    # (PAYMENT_UPSERT, the payment's row) when it was screened without reading its key (`screen`):
    # the journal's claim, which must change a row; not among `extra`.
    claim: tuple[str, tuple[Any, ...]] | None = None


class HoldStateError(Exception):
    """The hold was decided already (released or rejected)."""


def _key_str(key: VoucherKey) -> str:
    return f"{key.adm_div_code}/{key.st_year}/{key.vtcode}/{key.voucher_no}"


class Monitor:
    def __init__(self, catalogue: Catalogue, store: MonitorStore, *,
                 is_business_day: Callable[[dt.date], bool] | None = None) -> None:
        self.catalogue = catalogue
        self.store = store
        self._is_business_day = is_business_day
        self._journal: Journal | None = None
        self._wake: Callable[[], None] = lambda: None
        self._ids: Callable[[], str] | None = None
        self._deciding = asyncio.Lock()  # one release / reject at a time in this process
        self._needs: tuple[Catalogue, HistoryNeeds, LineNeeds, Checks] | None = None

    def attach(self, journal: Journal, wake: Callable[[], None]) -> None:
        """The gateway's journal (holds released are journaled there) and its deliverer's wake-up."""
        self._journal = journal
        self._wake = wake

    async def start(self) -> None:
        await self.store.init_schema()

    def _business_day(self, day: dt.date) -> bool | None:
        """Whether `day` is a business day; None when the calendar does not know it (the
        non-business-day rule then says so: the calendar never guesses, and neither does it)."""
        is_business_day = self._is_business_day
        if is_business_day is None:
            return True
        known = if_known(lambda: is_business_day(day))
        return None if isinstance(known, InputError) else known

    # ------------------------------------------------------------------ screening

    def _catalogue_needs(self) -> tuple[Catalogue, HistoryNeeds, LineNeeds, Checks]:
        cat = self.catalogue
        if self._needs is None or self._needs[0] is not cat:  # the catalogue is data: follow a new one
            self._needs = (cat, HistoryNeeds.of(cat), LineNeeds.of(cat), Checks(cat))
        return self._needs

    def _history_needs(self) -> HistoryNeeds:
        return self._catalogue_needs()[1]

    async def screen(self, outcomes: Sequence[Admitted | Refused], business: dt.datetime, *,
                     claim: bool = False, shares: Callable[[str], bool] | None = None,
                     business_text: str | None = None) -> Screened:
        """Verdicts and the rows to write with them. `claim`: a single payment that needs no
        history is screened without reading its key; its row comes back as `Screened.claim`
        (module doc). `shares(recipient)`: whether that recipient takes the parsed voucher
        in-process (then its lines are read by the walk it reads them by: `PaymentFacts.from_doc`).
        `business_text`: `business.isoformat()` when the caller made it already (~6K instructions)."""
        cat = self.catalogue
        applies = cat.applies_to
        todo = {id(o) for o in outcomes
                if isinstance(o, Admitted) and o.body.flag == 0 and o.body.vtcode in applies}
        if not todo:
            return Screened(list(outcomes), [])
        at_text = business.isoformat() if business_text is None else business_text
        wall, business_us = now_us(), at_us(business)
        needs = self._history_needs()  # apart: a test narrows it
        _, _, line_needs, checks = self._catalogue_needs()
        business_day = self._business_day(business.date())
        # What the store holds for every key screened here, in one read (a payment that also needs
        # its history reads its key again with it, in `screen_reads`); none for a claim.
        claim = claim and len(todo) == 1 and self.store.claims
        priors = {} if claim else await self.store.priors(
            [o.key for o in outcomes if isinstance(o, Admitted) and id(o) in todo])
        claimed: tuple[str, tuple[Any, ...]] | None = None
        pending: list[tuple[str, str, dt.datetime, int]] = []  # (payee, payer, at, fen) screened in this call
        payments: list[tuple[Any, ...]] = []
        holds: list[tuple[Any, ...]] = []
        decisions: list[tuple[Any, ...]] = []
        trace: list[tuple[Any, ...]] = []
        out: list[Admitted | Refused | Held] = []
        for o in outcomes:
            if id(o) not in todo:
                out.append(o)
                continue
            assert isinstance(o, Admitted)
            key = o.key
            # The pipeline's parse in this process (`doc`), or what a worker read of its parse
            # (`screening`); a hold released, or a worker's voucher it could not read: parse here.
            doc, plain = o.doc, o.screening
            if doc is None and plain is None:
                try:
                    doc = parse_voucher(o.body.voucher)
                except InputError:  # the pipeline parsed it a moment ago; never expected
                    out.append(o)
                    continue
            shared = shares is not None and o.recipient is not None and shares(o.recipient)
            if doc is not None:
                facts = PaymentFacts.from_doc(_key_str(key), doc, at=business, business_day=business_day,
                                              shared=shared, needs=line_needs)
            else:
                assert plain is not None
                facts = PaymentFacts.from_plain(_key_str(key), plain, at=business, business_day=business_day,
                                                shared=shared, needs=line_needs)
            payee, payer, fen = facts.payee_acct, facts.payer_acct, facts.amount_fen
            # The store is read for what can change this payment's verdict (`HistoryNeeds`): the
            # key's prior screening always; the payee's and the pair's past only for the amounts
            # the rules that look back consider, in the same single query.
            seen = bool(pending) and any(p[0] == payee for p in pending)  # no generator for the lone payment
            want_seen, want_recent = needs.payee_seen(fen) and not seen, needs.recent(fen)
            recent: list[tuple[dt.datetime, int]] = []
            if want_seen or want_recent:
                since = business - dt.timedelta(hours=needs.window_hours) if want_recent and needs.window_hours else None
                prior, seen_before, recent = await self.store.screen_reads(key, payee, payer, since)
                seen = seen or seen_before
            else:
                prior = priors.get((key.adm_div_code, key.st_year, key.vtcode, key.voucher_no))
            if prior is not None and prior.outcome != "block":
                out.append(await self._again(o, prior))
                continue
            earlier = [(at, amount) for p_payee, p_payer, at, amount in pending
                       if p_payee == payee and p_payer == payer] if pending else []
            earlier += recent
            hits = checks.evaluate(facts, History(seen, tuple(earlier)))
            outcome, top = outcome_of(hits)
            hold_id = self._new_hold_id() if outcome == "hold" else None
            k = (key.adm_div_code, key.st_year, key.vtcode, key.voucher_no)
            row = (*k, o.digest, payer, payee, fen, business_us, outcome, hold_id, o.sender, o.recipient or "")
            if claim and not (want_seen or want_recent):  # screened unread: the row is the commit's claim
                claimed = (PAYMENT_UPSERT, row)
            else:
                payments.append(row)
            if outcome != "block":
                pending.append((payee, payer, business, fen))
            decisions.extend(self._decision_rows(k, at_text, wall, hits, o.sender))
            if outcome == "block" and top is not None:
                issue = Issue("monitor-blocked", f"blocked by monitoring rule {top.rule_id} (catalogue "
                              f"{cat.version}): {top.reason}", None, "@VoucherNo")
                out.append(Refused(key, (issue,)))
            elif outcome == "hold" and top is not None and hold_id is not None:
                holds.append((hold_id, *k, top.rule_id, top.grade, fen, payee, o.sender,
                              o.recipient or "", at_text, o.digest, o.payload))
                trace.append((*key, None, "monitor-held", o.sender, wall, at_text,
                              f"hold {hold_id}: {top.rule_id}: {top.reason}"))
                out.append(Held(key, self._held_issue(hold_id, top)))
            else:
                for h in hits:
                    trace.append((*key, None, "monitor-flagged", o.sender, wall, at_text,
                                  f"{h.grade}: {h.rule_id}: {h.reason}"))
                out.append(o)
        extra: Extra = [(PAYMENT_UPSERT, payments), (DECISION_INSERT, decisions)]
        if holds:
            extra.append((HOLD_INSERT, holds))
        if trace:
            extra.append((TRACE_INSERT, trace))
        return Screened(out, extra, claimed)

    def _decision_rows(self, k: tuple[str, ...], at_text: str, wall: int, hits: list[Hit], who: str) -> list[tuple[Any, ...]]:
        version = self.catalogue.version
        if not hits:
            return [(*k, at_text, wall, None, version, None, "passed", "monitor", f"no rule fired; sent by {who}")]
        done = {"notice": "flagged", "warning": "flagged", "hold": "held", "block": "blocked"}
        return [(*k, at_text, wall, h.rule_id, version, h.grade, done[h.grade], "monitor", h.reason) for h in hits]

    def _new_hold_id(self) -> str:
        if self._journal is not None:
            return f"h{self._journal.ids.new()}"
        return f"h{now_us():013x}"

    @staticmethod
    def _held_issue(hold_id: str, top: Hit) -> Issue:
        return Issue("monitor-held", f"held for review as {hold_id} by monitoring rule {top.rule_id}: {top.reason}; "
                     "a treasury officer releases or rejects it", None, "@VoucherNo")

    async def _again(self, o: Admitted, prior: Prior) -> Admitted | Refused | Held:
        """A key screened before: a held voucher is answered as held again (same bytes) or as a
        conflict; one that passed goes on to the journal, which answers duplicate or conflict."""
        if prior.outcome != "hold" or prior.hold_id is None:
            return o
        hold = await self.store.hold(prior.hold_id)
        if prior.digest != o.digest or prior.sender != o.sender or hold is None:
            return Refused(o.key, (Issue("duplicate-conflict", f"voucher {o.key} is held for review with other "
                                         "content or from another sender", None, "@VoucherNo"),))
        if hold.status == "released":
            return o  # journaled on release: the journal answers duplicate with its message id
        if hold.status == "rejected":
            return Refused(o.key, (Issue("monitor-rejected", f"hold {hold.id} was rejected by {hold.decided_by}: "
                                         f"{hold.reason}", None, "@VoucherNo"),))
        return Held(o.key, Issue("monitor-held", f"held for review as {hold.id} by monitoring rule {hold.rule_id}; "
                                 "a treasury officer releases or rejects it", None, "@VoucherNo"))

    # ------------------------------------------------------------------ release / reject

    async def _undecided(self, hold_id: str) -> Hold | None:
        """The hold, still to be decided; None if there is no such hold."""
        hold = await self.store.hold(hold_id)
        if hold is not None and hold.status != "held":
            raise HoldStateError(f"hold {hold_id} was {hold.status} already")
        return hold

    async def release(self, hold_id: str, *, who: str, reason: str, at: dt.datetime) -> Hold | None:
        """Journal the held voucher for its bank as if it had just passed; None if no such hold."""
        if self._journal is None:
            raise RuntimeError("the monitor is not attached to a journal")
        async with self._deciding:
            hold = await self._undecided(hold_id)
            if hold is None:
                return None
            body = parse_envelope(hold.payload).bodies[0]
            admitted = Admitted(body, hold.sender, hold.recipient, hold.digest, hold.payload)
            at_text, k = at.isoformat(), hold.key[:4]
            extra: Extra = [
                (DECISION_INSERT, [(*k, at_text, now_us(), hold.rule_id, self.catalogue.version, hold.grade,
                                    "released", who, reason)]),
                (TRACE_INSERT, [(*hold.key, None, "monitor-released", hold.sender, now_us(), at_text,
                                 f"hold {hold_id} released by {who}: {reason}")]),
            ]
            # The hold's own update is the claim: another worker on this database may have decided
            # it since it was read here, and then no second decision, trace or voucher is written.
            try:
                await self._journal.record([admitted], business_time=at_text, extra=extra,
                                           claim=(HOLD_DECIDE, (hold_id, "released", who, at_text, reason)))
            except ClaimLost:
                raise HoldStateError(f"hold {hold_id} was decided meanwhile") from None
            self._wake()
            return await self.store.hold(hold_id)

    async def reject(self, hold_id: str, *, who: str, reason: str, at: dt.datetime) -> Hold | None:
        """The voucher never reaches the bank; its trace shows `monitor-rejected`."""
        async with self._deciding:
            hold = await self._undecided(hold_id)
            if hold is None:
                return None
            at_text, k = at.isoformat(), hold.key[:4]
            async with self.store.db.transaction() as tx:
                changed = await tx.execute(HOLD_DECIDE, hold_id, "rejected", who, at_text, reason)
                if changed == 0:
                    raise HoldStateError(f"hold {hold_id} was decided meanwhile")
                await tx.execute(DECISION_INSERT, *k, at_text, now_us(), hold.rule_id, self.catalogue.version,
                                 hold.grade, "rejected", who, reason)
                await tx.execute(TRACE_INSERT, *hold.key, None, "monitor-rejected", hold.sender, now_us(), at_text,
                                 f"monitor-rejected: hold {hold_id} rejected by {who}: {reason}")
            return await self.store.hold(hold_id)


MONITOR_OFF = "off"
MONITOR_DEFAULT = "default"


def build_monitor(db: Any, rules: str | None = MONITOR_DEFAULT, *, clock: Any = None) -> Monitor | None:
    """The gateway's monitor: `rules` is "default" (the bundled catalogue), "off" (None: no
    monitoring) or a catalogue file; a catalogue that is not valid is `config-invalid`. The
    non-business-day rule asks `clock.calendar` (read at each call: a reloaded calendar counts)."""
    from gateway.monitoring.rules import CatalogueError, default_catalogue, load_catalogue

    if rules == MONITOR_OFF:
        return None
    try:
        catalogue = default_catalogue() if rules in (None, MONITOR_DEFAULT) else load_catalogue(str(rules))
    except CatalogueError as exc:
        raise InputError("config-invalid", f"monitoring rules {exc}") from None
    except OSError as exc:
        raise InputError("io-unreadable", f"monitoring rules {rules}: {exc.strerror or exc}") from None
    business_day = None
    if getattr(clock, "calendar", None) is not None:
        def business_day(day: dt.date) -> bool:
            return bool(clock.calendar.is_business_day(day))
    return Monitor(catalogue, MonitorStore(db), is_business_day=business_day)
