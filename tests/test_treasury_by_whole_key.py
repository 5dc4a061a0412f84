"""`treasury_sim.records.by_whole_key`: an old snapshot's records, kept by VoucherNo alone, by their
whole key. The account notice log (version 7) and the year-end notices (version 8) both load through it."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from business_time.clock import TZ
from treasury_sim.account_notices import AccountNoticeLog, NoticeRecord
from treasury_sim.records import by_whole_key
from treasury_sim.year_end import QuotaLedger, YearEndNotice


def _notice(no: str, sent: dt.datetime, adm: str = "", year: str = "") -> NoticeRecord:
    return NoticeRecord(no, "990000000071", "open", "1", f"62{no}", sent, adm_div_code=adm, st_year=year)


def _year_end(no: str, sent: dt.datetime, adm: str = "", year: str = "") -> YearEndNotice:
    return YearEndNotice("7301", no, "990000000071", "1", str(sent.year - 1), 1_00, sent, sent,
                         adm_div_code=adm, st_year=year)


JAN = dt.datetime(2031, 1, 6, 9, tzinfo=TZ)
DEC = dt.datetime(2030, 12, 31, 16, tzinfo=TZ)


def test_a_record_without_a_division_is_the_configured_one_s_of_the_year_it_was_sent() -> None:
    old, kept = _notice("N1", DEC), _notice("N2", JAN, "770100", "2031")
    assert by_whole_key([old, kept], "990100") == {"990100/2030/7601/N1": old, "770100/2031/7601/N2": kept}
    assert (old.adm_div_code, old.st_year) == ("990100", "2030")
    assert (kept.adm_div_code, kept.st_year) == ("770100", "2031")  # a division of its own stays


def test_both_logs_load_an_old_snapshot_through_it() -> None:
    log = AccountNoticeLog({"N1": _notice("N1", DEC), "N2": _notice("N2", JAN)})
    log.keyed("990100")
    assert sorted(log.records) == ["990100/2030/7601/N1", "990100/2031/7601/N2"]
    ledger = QuotaLedger(notices={"Y1": _year_end("Y1", JAN)})
    ledger.keyed("990100")
    assert list(ledger.notices) == ["990100/2031/7301/Y1"]


_records = st.lists(st.tuples(st.sampled_from(["A1", "A2", "B7"]),
                              st.datetimes(dt.datetime(2029, 1, 1), dt.datetime(2032, 12, 31)),
                              st.sampled_from(["", "990100", "770100"])), max_size=8)


@settings(max_examples=200, deadline=None)
@given(_records, st.sampled_from(["990100", "550100"]))
def test_each_record_is_under_the_key_its_division_and_year_make(records: list[tuple[str, dt.datetime, str]],
                                                                  adm: str) -> None:
    # the oracle: the key written out from each record's own (or filled in) division and year
    made = [_year_end(no, sent.replace(tzinfo=TZ), own, str(sent.year) if own else "") for no, sent, own in records]
    expected = {f"{own or adm}/{sent.year}/7301/{no}": r for (no, sent, own), r in zip(records, made, strict=True)}
    assert by_whole_key(made, adm) == expected
