"""`treasury_sim.scorecard.scorecard` hands each card's `score_month` only its own events (grouped by
bank and month once) against the old definition, which handed every card every event (kept here as
the oracle): the same cards, stages carried alike."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, to_local
from treasury_sim.scorecard import DUTY_KINDS, RULES, DutyEvent, ScoringRules, score_month, scorecard
from treasury_sim.scorecard.cards import BankMonth
from treasury_sim.scorecard.duties import Incident, bank_sizes, month_of
from treasury_sim.scorecard.stages import carry

CAL = BusinessCalendar.default()
BANKS = ["999100000001", "999100000002", "999100000003"]
START = dt.datetime(2026, 1, 5, tzinfo=TZ)
MINUTES = 300 * 24 * 60


def old_scorecard(events: Iterable[DutyEvent], calendar: BusinessCalendar, rules: ScoringRules = RULES, *,
                  large_banks: frozenset[str] = frozenset(), as_of: dt.datetime | None = None,
                  incidents: Iterable[Incident] = (),
                  volumes: Mapping[str, tuple[int, int]] | None = None) -> list[BankMonth]:
    events, incidents = list(events), list(incidents)
    large = set(large_banks) | {b for b, size in bank_sizes(volumes or {}).items() if size == "large"}
    keys = sorted({(e.bank, *month_of(e)) for e in events}
                  | {(i.bank, to_local(i.at).year, to_local(i.at).month) for i in incidents})
    cards: list[BankMonth] = []
    carried: dict = {}
    for bank, year, month in keys:
        card = score_month(events, bank, year, month, calendar, rules, as_of=as_of, incidents=incidents,
                           size="large" if bank in large else "small", before=carried.get(bank, {}))
        carried[bank] = carry(carried.get(bank, {}), card)
        cards.append(card)
    return cards


events = st.lists(st.builds(
    lambda bank, kind, due_min, delay, accurate, faulty, complained: DutyEvent(
        bank, kind, "x", START + dt.timedelta(minutes=due_min),
        None if delay is None else START + dt.timedelta(minutes=due_min + delay), accurate, faulty, complained),
    st.sampled_from(BANKS), st.sampled_from(DUTY_KINDS), st.integers(0, MINUTES),
    st.one_of(st.none(), st.integers(-3 * 24 * 60, 20 * 24 * 60)), st.booleans(), st.booleans(),
    st.one_of(st.none(), st.booleans())), max_size=60)
incidents = st.lists(st.builds(
    lambda bank, kind, minute: Incident(bank, kind, "v", START + dt.timedelta(minutes=minute)),
    st.sampled_from(BANKS), st.sampled_from(["lost-voucher", "account-without-notice"]), st.integers(0, MINUTES)),
    max_size=4)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events, incidents, st.one_of(st.none(), st.integers(0, MINUTES + 30 * 24 * 60)),
       st.frozensets(st.sampled_from(BANKS), max_size=2))
def test_the_cards_are_the_old_ones(duties: list[DutyEvent], happened: list[Incident], as_of: int | None,
                                    large: frozenset[str]) -> None:
    when = None if as_of is None else START + dt.timedelta(minutes=as_of)
    assert (scorecard(iter(duties), CAL, as_of=when, incidents=happened, large_banks=large)
            == old_scorecard(duties, CAL, as_of=when, incidents=happened, large_banks=large))
