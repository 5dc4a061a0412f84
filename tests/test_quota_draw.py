"""`bank_sim.quotas.draw`: each line looked up once a detail, the shortfall's sum only when there is
one; the same shares and the same refusals as reading the book afresh at each step (the reference
below is the draw as it was written before)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim import quotas
from messages.money import fen_to_str, parse_fen

ADM = "990100"  # messages.factory.ADM_DIV_CODE: the configured division


def _reference(book: quotas.Book, agency: str, details: list[dict[str, str]], year: str,
               fund_type: str, adm: str) -> dict[quotas.LineKey, int] | quotas.Shortfall:
    taken: dict[quotas.LineKey, int] = {}
    for d in details:
        subject, project = d.get("ExpFuncCode", ""), d.get("ProCode", "")
        want = parse_fen(d.get("PayAmt", ""))
        unit = d.get("AgencyCode") or agency
        if project:
            key = (adm, year, fund_type, unit, subject, project)
            candidates = [key] if key in book else []
        else:
            candidates = sorted(k for k in book if k[:5] == (adm, year, fund_type, unit, subject))
        where = f"StYear {year}, FundTypeCode {fund_type}, unit {unit}, subject {subject}" + \
            (f", project {project}" if project else "")
        if not candidates:
            return quotas.Shortfall("no-unit-quota", f"no authorized quota for {where}")
        direct = quotas.is_direct(d)
        same = [k for k in candidates if book[k].direct == direct]
        if not same:
            return quotas.Shortfall("direct-funds-mismatch", "")
        available_total = sum(max(book[k].remaining_fen - taken.get(k, 0), 0) for k in same)
        left = want
        for key in same:
            share = min(left, max(book[key].remaining_fen - taken.get(key, 0), 0))
            if share:
                taken[key] = taken.get(key, 0) + share
                left -= share
            if left == 0:
                break
        if left:
            return quotas.Shortfall("over-unit-quota", f"Detail PayAmt {fen_to_str(want)} exceeds the remaining "
                                                       f"authorized quota {fen_to_str(available_total)} of {where}")
    return taken


_code = st.sampled_from(["001", "002"])
_adm = st.sampled_from(["990100", "990200"])  # two divisions: a payment draws on its own's lines only
_line = st.tuples(st.tuples(_adm, st.just("2026"), st.sampled_from(["1", "2"]), _code, _code, st.sampled_from(["", "P1", "P2"])),
                  st.integers(-50, 500), st.integers(0, 300), st.booleans())
_detail = st.fixed_dictionaries({"ExpFuncCode": _code, "PayAmt": st.integers(1, 400).map(fen_to_str)},
                                optional={"AgencyCode": _code, "ProCode": st.sampled_from(["P1", "P2"]),
                                          "DirectFundFlag": st.sampled_from(["0", "1"])})


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_line, max_size=12, unique_by=lambda line: line[0]), details=st.lists(_detail, min_size=1, max_size=4),
       plain=st.booleans(), fund=st.sampled_from(["1", "2"]), adm=_adm, agency=st.sampled_from(["001", "002", ""]))
def test_draw_gives_what_reading_the_book_at_each_step_gives(lines: list, details: list[dict[str, str]], plain: bool,
                                                             fund: str, adm: str, agency: str) -> None:
    book: quotas.Book = {} if plain else quotas.QuotaBook()  # type: ignore[assignment]
    for key, granted, spent, direct in lines:
        book[key] = quotas.QuotaLine("a", "s", "p", granted_fen=granted, spent_fen=spent, direct=direct)
    before = {k: (line.granted_fen, line.spent_fen) for k, line in book.items()}
    got, expected = quotas.draw(book, agency, details, "2026", fund, adm), _reference(book, agency, details, "2026", fund, adm)
    if isinstance(expected, quotas.Shortfall) and expected.code == "direct-funds-mismatch":
        assert isinstance(got, quotas.Shortfall) and got.code == expected.code
    else:
        assert got == expected
    assert {k: (line.granted_fen, line.spent_fen) for k, line in book.items()} == before  # pure


def test_a_shortfall_names_what_the_lines_had_left_before_the_detail() -> None:
    book = quotas.QuotaBook()
    book[(ADM, "2026", "1", "001", "201", "")] = quotas.QuotaLine("a", "s", "", granted_fen=300)
    book[(ADM, "2026", "1", "001", "201", "P1")] = quotas.QuotaLine("a", "s", "p", granted_fen=200, spent_fen=50)
    details = [{"ExpFuncCode": "201", "PayAmt": "1.00"}, {"ExpFuncCode": "201", "PayAmt": "9.00"}]
    short = quotas.draw(book, "001", details, "2026", "1", ADM)
    assert isinstance(short, quotas.Shortfall) and short.code == "over-unit-quota"
    assert "exceeds the remaining authorized quota 3.50 of" in short.message  # 300 + 150 - the first detail's 100
