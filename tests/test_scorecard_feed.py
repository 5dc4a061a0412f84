"""The credit notice (7103) a bank sends after a direct payment, and the scorecard fed from what
the bank cores actually did (runner.scorecard_feed): a prompt bank is on time, a slow one is
late and flagged at three late in a month, a faulty one has its faults counted."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim.duties import DutiesConfig
from bank_sim.sent_times import sent_when
from business_time.clock import ClockConfig
from messages.envelope import VoucherKey
from messages.validate import validate_bytes
from runner.scorecard_feed import bank_events, scorecard_of, volumes
from tests.test_bank_duties import CAL, DAY, World, t
from treasury_sim.scorecard import Incident

CC = ClockConfig()


def three_days(duties: DutiesConfig) -> World:
    """Three payments a day on three business days, then the days after (reports go out)."""
    w = World(duties)
    day = DAY
    for n in range(3):
        w.tick(t(day, "08:00"))
        w.quota(day, 10_000_00)
        for i in range(3):
            w.pay(f"ZZSC{n}{i:05d}", (n + 1) * 100_00 + i, t(day, f"10:0{i}"))
        w.tick(t(day, "17:00"))
        day = CAL.next_business_day(day)
    for _ in range(4):
        w.tick(t(day, "17:00"))
        day = CAL.next_business_day(day)
    return w


def test_a_direct_payment_gets_its_credit_notice_the_next_morning() -> None:
    w = World(DutiesConfig())
    w.quota(DAY, 10_000_00)
    doc = w.pay("ZZCRED001", 345_67, t(DAY, "10:00"))
    w.tick(t(DAY, "17:00"))
    assert not [s for s in w.to_treasury if s.vtcode == "7103"]
    nxt = CAL.next_business_day(DAY)
    w.tick(t(nxt, "09:30"))
    [notice] = [s for s in w.to_treasury if s.vtcode == "7103"]
    _, issues = validate_bytes(notice.render(), flag=0)
    assert not issues
    assert notice.head["OriVoucherNo"] == "ZZCRED001" and notice.head["CreditDate"] == "20260316"
    assert notice.head["PayAmt"] == "345.67" and notice.head["PayeeAcctNo"] == doc.get("PayeeAcctNo")
    assert sent_when(w.bank.duties.s.sent, VoucherKey("990100", str(nxt.year), "7103", "RZZZCRED001", 0)) == t(nxt, "09:30")
    w.tick(t(CAL.next_business_day(nxt), "17:00"))
    assert len([s for s in w.to_treasury if s.vtcode == "7103"]) == 1  # once


def test_a_prompt_bank_is_on_time_in_every_duty() -> None:
    w = three_days(DutiesConfig())
    events = bank_events("bank-a", w.bank, CAL, CC)
    kinds = {e.kind for e in events}
    assert {"payment", "receipt", "credit-notice", "clearing", "daily-report"} <= kinds
    due = [e for e in events if e.due <= w.now]  # the month's reports are due in April: pending
    assert all(e.done is not None and e.done <= e.due and e.accurate and not e.faulty for e in due), [
        e for e in due if e.done is None or e.done > e.due or not e.accurate or e.faulty]
    cards = scorecard_of({"bank-a": w.bank}, CAL, CC, as_of=w.now)
    assert cards and all(card.score == card.max_points and not card.flagged for card in cards)


def test_a_slow_bank_is_late_and_flagged() -> None:
    w = three_days(DutiesConfig(profile="slow"))
    events = bank_events("bank-a", w.bank, CAL, CC)
    late = [e for e in events if e.kind == "receipt" and e.done is not None and e.done > e.due]
    assert len(late) == 9
    credit = [e for e in events if e.kind == "credit-notice"]
    assert credit and all(e.done is not None and e.done > e.due for e in credit)
    card = scorecard_of({"bank-a": w.bank}, CAL, CC, as_of=w.now)[0]
    assert (card.year, card.month) == (2026, 3)
    assert card.flagged and any(f.startswith("feedback") for f in card.flags)
    assert card.score < card.max_points - 20
    prompt = scorecard_of({"bank-a": three_days(DutiesConfig()).bank}, CAL, CC, as_of=w.now)[0]
    assert card.score < prompt.score


def test_a_faulty_bank_has_its_faults_counted() -> None:
    # no gateway here: the central bank refuses the probe over the quota (the gateway's own
    # refusals are fed by the scenario runs: scenarios/bank-profile-faulty-*.yaml)
    w = three_days(DutiesConfig(profile="faulty", profile_params=(("faults", ("over-quota",)),)))
    events = bank_events("bank-a", w.bank, CAL, CC)
    faulty = [e for e in events if e.faulty or not e.accurate]
    assert [e.kind for e in faulty] == ["clearing"]
    assert w.bank.duties.s.probes and all(code == "over-quota" for code in w.bank.duties.s.probes.values())
    card = scorecard_of({"bank-a": w.bank}, CAL, CC, as_of=w.now)[0]
    assert card.score < card.max_points


def test_duties_not_done_yet_are_pending_not_late() -> None:
    w = World(DutiesConfig())
    w.quota(DAY, 10_000_00)
    w.pay("ZZPEND001", 100_00, t(DAY, "10:00"))
    w.tick(t(DAY, "17:00"))
    card, april = scorecard_of({"bank-a": w.bank}, CAL, CC, as_of=t(DAY, "17:00"))
    assert (april.month, april.late, april.score) == (4, 0, april.max_points)  # the month's reports: pending
    assert card.late == 0 and card.score == card.max_points
    assert {line.kind: line.pending for line in card.lines}["receipt"] == 0  # sent at once
    assert {line.kind: line.pending for line in card.lines}["daily-report"] == 1


def test_tgw_demo_prints_the_scorecard() -> None:
    from tgw.demo import render_text
    from treasury_sim.scorecard import render_json

    w = three_days(DutiesConfig(profile="slow"))
    cards = render_json(scorecard_of({"bank-a": w.bank}, CAL, CC, as_of=w.now))
    report = {"run": {"seed": 1, "vouchers_per_day": 3, "days": [], "replenishment_day": "", "elapsed_s": 0},
              "days": [], "balances": {}, "invariants": {}, "ok": True, "scorecard": cards}
    text = render_text(report)
    assert "Bank scorecard: bank-a 2026-03" in text and "FLAGGED" in text
    assert "! feedback:" in text and "receipt" in text


def test_each_banks_size_comes_from_what_it_paid_in_the_run() -> None:
    big, small = three_days(DutiesConfig()), World(DutiesConfig())
    small.quota(DAY, 10_000_00)
    small.pay("ZZSMALL01", 1_00, t(DAY, "10:00"))
    small.tick(t(DAY, "17:00"))
    assert volumes({"bank-a": big.bank, "bank-b": small.bank}) == {
        "bank-a": (sum((n + 1) * 100_00 + i for n in range(3) for i in range(3)), 9), "bank-b": (1_00, 1)}
    cards = scorecard_of({"bank-a": big.bank, "bank-b": small.bank}, CAL, CC, as_of=big.now)
    assert {(c.bank, c.size) for c in cards} == {("bank-a", "large"), ("bank-b", "small")}


def test_incidents_reach_the_card_through_the_feed() -> None:
    w = three_days(DutiesConfig())
    lost = [Incident("bank-a", "lost-voucher", f"ZZSC0{i:05d}", t(DAY, "12:00")) for i in range(4)]
    card = scorecard_of({"bank-a": w.bank}, CAL, CC, as_of=w.now, incidents=lost)[0]
    assert card.incidents == {"lost-voucher": 4} and card.stages == {"custody": 1}


def test_the_cards_drawn_bank_by_bank_are_those_of_one_call_over_every_banks_events() -> None:
    from runner.scorecard_feed import duty_events
    from treasury_sim.scorecard import scorecard

    big, slow = three_days(DutiesConfig()), three_days(DutiesConfig(profile="slow"))
    cores = {"bank-b": slow.bank, "bank-a": big.bank}
    incidents = [Incident("bank-a", "lost-voucher", "ZZSC000000", t(DAY, "12:00")),
                 Incident("bank-z", "lost-voucher", "ZZSC000001", t(DAY, "12:00"))]  # a bank with no core
    whole = scorecard(duty_events(cores, CAL, CC), CAL, as_of=big.now, incidents=incidents, volumes=volumes(cores))
    cards = scorecard_of(cores, CAL, CC, as_of=big.now, incidents=incidents)
    assert [c.bank for c in cards] == sorted(c.bank for c in cards)
    assert {"bank-a", "bank-b", "bank-z"} == {c.bank for c in cards}
    assert cards == whole


def test_each_payment_duty_is_due_when_due_time_says_though_worked_out_once_per_anchor() -> None:
    """`bank_events` works a due time out once per (kind, anchor): each event still carries the
    `due_time` of its own payment (three payments a day share an arrival minute or a day)."""
    from treasury_sim.scorecard import due_time

    w = three_days(DutiesConfig())
    events = {(e.kind, e.ref): e for e in bank_events("bank-a", w.bank, CAL, CC)}
    paid = [p for p in w.bank.payments.values() if p.day is not None]
    assert len(paid) == 9
    for p in paid:
        assert events[("payment", str(p.key))].due == due_time("payment", p.received_at, CAL, CC)
        assert events[("receipt", str(p.key._replace(flag=1)))].due == due_time("receipt", p.day, CAL, CC)


def _old_index(sent_at: dict[str, dt.datetime]) -> dict[tuple[str, str, int], dt.datetime]:
    """The index `bank_events` built before `_Sent` (every key split, the last of the same three wins)."""
    out: dict[tuple[str, str, int], dt.datetime] = {}
    for key, when in sent_at.items():
        _adm, _year, vtcode, no, flag = key.split("/", 4)
        out[(vtcode, no, int(flag))] = when
    return out


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["990100", "990200"]), st.sampled_from(["2026", "2027"]),
                          st.sampled_from(["5201", "7103", "7102"]), st.sampled_from(["A1", "A2", "DZ1"]),
                          st.sampled_from(["0", "1", "01"]), st.integers(0, 10**6)), max_size=12),
       st.booleans())
def test_sent_reads_as_the_old_index(keys: list[tuple[str, str, str, str, str, int]], one_year: bool) -> None:
    from runner.scorecard_feed import _Sent

    t0 = dt.datetime(2026, 3, 16, tzinfo=dt.UTC)
    sent_at: dict[str, dt.datetime] = {}  # sent in time order, the first time kept (as `mark_sent`)
    for i, (adm, year, vt, no, flag, _s) in enumerate(keys):
        if not one_year or adm == "990100":
            key = "/".join((adm, "2026" if one_year else year, vt, no, "1" if one_year and flag == "01" else flag))
            sent_at.setdefault(key, t0 + dt.timedelta(seconds=i))
    sent: dict[str, dict[str, dt.datetime]] = {}  # as `DutiesState.sent` keeps them
    for key, when in sent_at.items():
        adm, year, vt, rest = key.split("/", 3)
        no, flag = rest.rsplit("/", 1)
        sent.setdefault(f"{adm}/{year}/{vt}/{flag}", {})[no] = when
    old, new = _old_index(sent_at), _Sent(sent)
    if one_year and sent_at:  # a run within a year builds no index
        assert new.prefix is not None and not new.index
    assert dict(new.items()) == old
    for vt in ("5201", "7103", "7102"):
        for no in ("A1", "A2", "DZ1", "B"):
            for flag in (0, 1):
                assert new.get((vt, no, flag)) == old.get((vt, no, flag))
                assert ((vt, no, flag) in new) == ((vt, no, flag) in old)
                for adm in ("990100", "990200"):  # one division's sends alone: the last sent of them
                    mine = [when for key, when in sent_at.items() if key.startswith(f"{adm}/")
                            and key.split("/")[2:] in ([vt, no, str(flag)], [vt, no, f"0{flag}"])]
                    assert new.of(adm, (vt, no, flag)) == max(mine, default=None)


def test_scorecard_of_holds_one_bank_s_duties_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import weakref

    import runner.scorecard_feed as feed

    class Events(list[Any]):  # a list that can be watched
        pass

    made: list[weakref.ref[Events]] = []

    def events_of(bank: str, core: Any, calendar: Any, clock: Any) -> Events:
        assert all(r() is None for r in made), "the previous bank's duties are still held"
        made.append(weakref.ref(events := Events()))
        return events

    monkeypatch.setattr(feed, "bank_events", events_of)
    monkeypatch.setattr(feed, "scorecard", lambda events, *args, **kwargs: [])
    cores = {bank: SimpleNamespace(payments={}) for bank in ("bank-a", "bank-b", "bank-c")}
    assert scorecard_of(cores, CAL, CC, as_of=dt.datetime(2026, 3, 16, 17, tzinfo=dt.UTC)) == [] and len(made) == 3
