"""Which payments a real bank's clearing request (2301) covers, as the wire shows it
(`runner.wire_mode.clearing_cover`, conformance mode). A payment is its voucher's key (AdmDivCode,
StYear, VtCode, VoucherNo); a 2301 is one division's and pay type's, its Detail/VoucherNo naming a
payment of that division and kind (the Detail names no year: of two years' of the number, the one
not covered yet, paid by the ClearDate). Before, the runner took a Detail's VoucherNo for every
payment so numbered: another division's payment of the number was covered by this division's
request (its mode, its filing, the central bank's verdict on it and the cleared books all wrong)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from business_time.clock import at
from runner.wire_mode import clearing_cover

HOME, OTHER = "990100", "990200"
DAYS = {"2025": dt.date(2025, 12, 30), "2026": dt.date(2026, 1, 6)}  # each year's payments paid on its day


@dataclass(frozen=True)
class _Filed:
    adm: str
    pay_type: str
    clear_date: dt.date
    filed_at: dt.datetime
    listed: tuple[str, ...]


def _paid(*keys: str) -> dict[str, tuple[str, dt.date, dt.datetime]]:
    out = {}
    for key in keys:
        day = DAYS[key.split("/")[1]]
        out[key] = (key.split("/")[2], day, at(day, dt.time(10)))
    return out


def _filed(adm: str, year: str, *listed: str) -> _Filed:
    return _Filed(adm, "11", DAYS[year], at(DAYS[year], dt.time(15, 30)), listed)


def test_a_detail_names_a_payment_of_its_request_s_division_only() -> None:
    paid = _paid(f"{OTHER}/2026/5201/Z1", f"{HOME}/2026/5201/Z1")
    assert clearing_cover([_filed(HOME, "2026", "Z1")], paid) == [[f"{HOME}/2026/5201/Z1"]]
    # without Details: its division's receipts of the day
    assert clearing_cover([_filed(OTHER, "2026")], paid) == [[f"{OTHER}/2026/5201/Z1"]]


def test_of_two_years_payments_of_a_number_a_detail_names_the_one_not_covered_paid_by_the_clear_date() -> None:
    paid = _paid(f"{HOME}/2025/5201/Z1", f"{HOME}/2026/5201/Z1")
    assert clearing_cover([_filed(HOME, "2025", "Z1"), _filed(HOME, "2026", "Z1")], paid) == [
        [f"{HOME}/2025/5201/Z1"], [f"{HOME}/2026/5201/Z1"]]
    assert clearing_cover([_filed(HOME, "2026", "Z1")], paid) == [[f"{HOME}/2026/5201/Z1"]]  # the last paid
    assert clearing_cover([_filed(HOME, "2026", "Z9")], paid) == [[f"{HOME}//5201/Z9"]]  # names none paid


def test_a_detail_naming_a_number_whose_two_years_are_covered_covers_none() -> None:
    """Both years' Z1 covered, a third Detail naming Z1 names a payment cleared already: the central
    bank refuses the request `already-cleared` (`pboc_sim.cleared.cleared_again`); the reading covered
    2026's Z1 a second time before."""
    paid = _paid(f"{HOME}/2025/5201/Z1", f"{HOME}/2026/5201/Z1")
    filed = [_filed(HOME, "2026", "Z1"), _filed(HOME, "2026", "Z1"), _filed(HOME, "2026", "Z1", "Z2")]
    assert clearing_cover(filed, paid) == [[f"{HOME}/2026/5201/Z1"], [f"{HOME}/2025/5201/Z1"],
                                           [f"{HOME}//5201/Z1", f"{HOME}//5201/Z2"]]


def test_what_a_refused_request_named_is_covered_by_the_next_and_a_number_named_twice_is_one_payment() -> None:
    """A request the central bank refused (over quota, say) cleared nothing: the bank's next one
    naming Z1 covers 2026's Z1, as the central bank takes it (it took 2025's before). Two Details of
    one number in a request are one payment (the central bank adds them up)."""
    paid = _paid(f"{HOME}/2025/5201/Z1", f"{HOME}/2026/5201/Z1")
    first, second = _filed(HOME, "2026", "Z1"), _filed(HOME, "2026", "Z1", "Z1")
    assert clearing_cover([first, second], paid, lambda f: f is first) == [
        [f"{HOME}/2026/5201/Z1"], [f"{HOME}/2026/5201/Z1"]]
    assert clearing_cover([first, second], paid) == [[f"{HOME}/2026/5201/Z1"], [f"{HOME}/2025/5201/Z1"]]


_PAYMENTS = st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from(["2025", "2026"]),
                               st.sampled_from(["Z1", "Z2", "Z3"]), st.booleans()),
                     min_size=1, max_size=10, unique_by=lambda p: p[:3])


@settings(max_examples=100, deadline=None)
@given(payments=_PAYMENTS, detailed=st.sets(st.tuples(st.sampled_from([HOME, OTHER]),
                                                       st.sampled_from(["2025", "2026"]))))
def test_each_payment_is_covered_by_its_own_division_s_request_as_if_alone(
        payments: list[tuple[str, str, str, bool]], detailed: set[tuple[str, str]]) -> None:
    """Oracle from the agreement (004 part 3 §8(7): each day's payments in that day's clearing
    request, one per division's treasury account; the attested 2301 Detail names "the payment
    voucher it clears"): each (division, day) with payments files one request, listing (when
    `detailed`) the numbers of those it chose, else with no Detail (covering them all). Each
    payment is covered by its own division's request of its day when listed (or the request lists
    none), by none otherwise: as if it were alone, though numbers collide across divisions and years."""
    paid = _paid(*(f"{adm}/{year}/5201/{no}" for adm, year, no, _ in payments))
    scopes = sorted({(adm, year) for adm, year, _, _ in payments}, key=lambda s: (DAYS[s[1]], s[0]))
    filed = [_filed(adm, year, *([no for a, y, no, listed in payments if (a, y) == (adm, year) and listed]
                                 if (adm, year) in detailed else []))
             for adm, year in scopes]
    filed = [f for f in filed if f.listed or (f.adm, str(f.clear_date.year)) not in detailed]
    cover = clearing_cover(filed, paid)
    by = {key: (f.adm, f.clear_date) for f, keys in zip(filed, cover, strict=True) for key in keys}
    for adm, year, no, listed in payments:
        key = f"{adm}/{year}/5201/{no}"
        own = (adm, year) not in detailed or listed
        assert by.get(key) == ((adm, DAYS[year]) if own else None), (key, by)
    assert set(by) <= set(paid)  # no request covers another's payment, nor a payment twice
    assert sum(len(k) for k in cover) == len(by)
