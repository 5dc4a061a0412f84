"""What the central bank checks (issue 11): a refund (2302) matches a cleared payment of that
bank, no movement takes a bank's clearing account below its floor, and urgent clearing is
accepted inside the urgent window only. Synthetic vouchers at hand-picked and generated times."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_pboc_core import (
    ADM,
    BANK,
    BANK2,
    OPENING_FEN,
    Books,
    assert_valid,
    clearing,
    make,
    quota,
    reason_code,
    receipt,
    refund,
    send,
    t,
)

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from messages.errors import CODES
from messages.voucher import VoucherDoc
from pboc_sim.core import (
    REFUND_RULES,
    TSA_ACCOUNT,
    PbocConfig,
    PbocCore,
    PostTransfer,
    SendVoucher,
    clearing_account,
)
from pboc_sim.state import SEP, SNAPSHOT_VERSION
from sim.effects import Refusal


@pytest.fixture(scope="module")
def calendar() -> BusinessCalendar:
    return BusinessCalendar.default()


def _core(calendar: BusinessCalendar, config: PbocConfig, start: dt.datetime) -> tuple[PbocCore, Books]:
    core = PbocCore(config, calendar, ClockConfig())
    books = Books()
    books.apply(core.on_time(start))
    return core, books


def _refunded(effects: Sequence[object]) -> tuple[SendVoucher, list[PostTransfer], list[SendVoucher]]:
    """(the 2302 receipt, the transfers, the 7403 advices) of one refund's effects."""
    sends = [e for e in effects if isinstance(e, SendVoucher)]
    [r] = [e for e in sends if e.flag == 1]
    return r, [e for e in effects if isinstance(e, PostTransfer)], [e for e in sends if e.vtcode == "7403"]


def _refused(effects: Sequence[object], code: str) -> SendVoucher:
    r, posts, advices = _refunded(effects)
    assert reason_code(r) == code, r.return_reason
    assert not posts and not advices, "a refused refund moved money or advised the treasury"
    assert r.head["XRefundAmt"] == "0.00" and r.recipient_role == "bank"
    assert_valid(r)
    return r


# ---------------------------------------------------------------- the case


def test_refund_for_a_voucher_never_paid_is_refused_and_nothing_moves(calendar: BusinessCalendar) -> None:
    """Issue 11: a hand-made 2302 of 1,000,000.00 for a voucher number never paid was accepted,
    credited the TSA and left the bank's clearing account at -1,000,000.00."""
    core, books = make(calendar, t("2026-03-16", "08:00"))
    doc = refund("2026-03-16", "1000000.00", ori_vtcode="5201", ori_no="NEVERPAID0001")
    r = _refused(send(core, books, doc, t("2026-03-16", "10:00")), "refund-unmatched")
    assert "NEVERPAID0001" in (r.return_reason or "")
    assert books.balances[TSA_ACCOUNT] == OPENING_FEN
    assert books.balances[clearing_account(BANK)] == 0
    assert core.clearing_balances.get(BANK, 0) == 0 and core.tsa_balance_fen == OPENING_FEN
    books.apply(core.on_time(t("2026-03-16", "17:00")))  # and the day's statement shows no credit
    [st7401] = [s for s in books.sent if s.vtcode == "7401"]
    assert st7401.head["CreditAmt"] == "0.00" and st7401.details == ()


def test_refund_codes_are_registered() -> None:
    for rule in REFUND_RULES:
        assert rule.code in CODES


# ---------------------------------------------------------------- matching


def _day_with_clearing(calendar: BusinessCalendar, amount: str, **kw: object) -> tuple[PbocCore, Books, VoucherDoc]:
    core, books = make(calendar, t("2026-03-16", "08:00"))
    bank = str(kw.get("bank", BANK))
    send(core, books, quota("2026-03-16", amount, bank=bank), t("2026-03-16", "09:00"))
    doc = clearing("2026-03-16", amount, **kw)  # type: ignore[arg-type]
    assert receipt(send(core, books, doc, t("2026-03-16", "10:00"))).return_reason is None
    return core, books, doc


def test_refund_of_a_clearing_up_to_what_it_cleared(calendar: BusinessCalendar) -> None:
    core, books, cleared = _day_with_clearing(calendar, "100.00")
    r, posts, [advice] = _refunded(send(core, books, refund("2026-03-16", "60.00", ori=cleared),
                                        t("2026-03-16", "11:00")))
    assert r.return_reason is None and r.head["XRefundAmt"] == "60.00" and len(posts) == 1
    assert advice.head["PayAmt"] == "60.00"
    r = _refused(send(core, books, refund("2026-03-16", "40.01", ori=cleared), t("2026-03-16", "11:01")),
                 "refund-exceeds-payment")
    assert "40.00" in (r.return_reason or "")  # says what is left
    assert receipt(send(core, books, refund("2026-03-16", "40.00", ori=cleared),
                        t("2026-03-16", "11:02"))).return_reason is None
    _refused(send(core, books, refund("2026-03-16", "0.01", ori=cleared), t("2026-03-16", "11:03")),
             "already-refunded")
    assert books.balances[clearing_account(BANK)] == 0
    assert books.balances[TSA_ACCOUNT] == OPENING_FEN


def test_refund_of_a_payment_named_in_the_clearing_details(calendar: BusinessCalendar) -> None:
    core, books, cleared = _day_with_clearing(calendar, "100.00", payments=[("ZF0001", "60.00"), ("ZF0002", "40.00")])
    assert receipt(send(core, books, refund("2026-03-16", "60.00", ori_no="ZF0001"),
                        t("2026-03-16", "11:00"))).return_reason is None
    _refused(send(core, books, refund("2026-03-16", "0.01", ori_no="ZF0001"), t("2026-03-16", "11:01")),
             "already-refunded")
    _refused(send(core, books, refund("2026-03-16", "40.01", ori_no="ZF0002"), t("2026-03-16", "11:02")),
             "refund-exceeds-payment")
    # the 2301 that cleared both has 40.00 left: a refund naming it counts against the payments too
    _refused(send(core, books, refund("2026-03-16", "40.01", ori=cleared), t("2026-03-16", "11:03")),
             "refund-exceeds-payment")
    assert receipt(send(core, books, refund("2026-03-16", "40.00", ori=cleared),
                        t("2026-03-16", "11:04"))).return_reason is None
    # so ZF0002's money came back already (through the 2301): it is not refunded twice
    _refused(send(core, books, refund("2026-03-16", "40.00", ori_no="ZF0002"), t("2026-03-16", "11:05")),
             "already-refunded")
    assert books.balances[clearing_account(BANK)] == 0


@pytest.mark.parametrize(("change", "expect_in_reason"), [
    # another bank's clearing is not this bank's to refund, nor to learn of: unmatched, naming none
    ({"bank": BANK2}, f"nothing was cleared under 5201 ZF0001 (AdmDivCode {ADM}, year 2026) for PayBankCode {BANK2}"),
    ({"pay_type": "12", "ori_vtcode": "8202"}, "nothing was cleared under 8202"),  # a 5201's number as 8202
    ({"pay_type": "12"}, "cleared as PayTypeCode 11"),  # the right voucher, the wrong pay type
    ({"ori_vtcode": "5108"}, "neither a payment voucher"),
    ({"ori_no": "ZF9999"}, "nothing was cleared under 5201 ZF9999"),
])
def test_refund_must_name_what_that_bank_cleared(calendar: BusinessCalendar, change: dict[str, str],
                                                 expect_in_reason: str) -> None:
    core, books, _ = _day_with_clearing(calendar, "100.00", payments=[("ZF0001", "100.00")])
    if change.get("bank") == BANK2:  # BANK2 has a clearing account with money in it: not enough
        send(core, books, quota("2026-03-16", "100.00", bank=BANK2), t("2026-03-16", "09:00"))
        send(core, books, clearing("2026-03-16", "100.00", bank=BANK2), t("2026-03-16", "10:00"))
    kw = {"ori_no": "ZF0001", **change}
    r = _refused(send(core, books, refund("2026-03-16", "10.00", **kw), t("2026-03-16", "11:00")),  # type: ignore[arg-type]
                 "refund-unmatched")
    assert expect_in_reason in (r.return_reason or "")


def test_a_rejected_clearing_cannot_be_refunded(calendar: BusinessCalendar) -> None:
    core, books = make(calendar, t("2026-03-16", "08:00"))
    send(core, books, quota("2026-03-16", "10.00"), t("2026-03-16", "09:00"))
    over = clearing("2026-03-16", "10.01", payments=[("ZF0001", "10.01")])
    assert reason_code(receipt(send(core, books, over, t("2026-03-16", "10:00")))) == "over-quota"
    _refused(send(core, books, refund("2026-03-16", "10.01", ori=over), t("2026-03-16", "11:00")), "refund-unmatched")
    _refused(send(core, books, refund("2026-03-16", "10.01", ori_no="ZF0001"), t("2026-03-16", "11:00")),
             "refund-unmatched")


def test_a_refused_refund_redelivered_gets_the_same_answer(calendar: BusinessCalendar) -> None:
    core, books, cleared = _day_with_clearing(calendar, "10.00")
    doc = refund("2026-03-16", "10.01", ori=cleared)
    first = send(core, books, doc, t("2026-03-16", "11:00"))
    again = send(core, books, doc, t("2026-03-16", "16:00"))
    assert receipt(first) == receipt(again) and reason_code(receipt(first)) == "refund-exceeds-payment"


def test_a_refund_the_books_refused_can_be_made_again(calendar: BusinessCalendar) -> None:
    core, books, cleared = _day_with_clearing(calendar, "10.00")
    doc = refund("2026-03-16", "10.00", ori=cleared)
    effects = core.on_voucher(doc, 0, t("2026-03-16", "11:00"))  # not applied: the books refuse it
    dropped = tuple(e for e in effects if isinstance(e, (PostTransfer, SendVoucher)))
    books.apply(core.on_refused(Refusal("ledger", "ledger-overdraft", "synthetic", dropped), t("2026-03-16", "11:00")))
    assert core.clearing_balances[BANK] == 1000 and core.cleared[(ADM, cleared.get("StYear"), "2301", cleared.get("VoucherNo"), BANK)].refunded_fen == 0
    # the same money can still come back, once
    assert receipt(send(core, books, refund("2026-03-16", "10.00", ori=cleared),
                        t("2026-03-16", "11:05"))).return_reason is None
    _refused(send(core, books, refund("2026-03-16", "10.00", ori=cleared), t("2026-03-16", "11:06")),
             "already-refunded")


def test_a_clearing_the_books_refused_cannot_be_refunded(calendar: BusinessCalendar) -> None:
    core, books = make(calendar, t("2026-03-16", "08:00"))
    send(core, books, quota("2026-03-16", "10.00"), t("2026-03-16", "09:00"))
    doc = clearing("2026-03-16", "10.00", payments=[("ZF0001", "10.00")])
    effects = core.on_voucher(doc, 0, t("2026-03-16", "10:00"))
    dropped = tuple(e for e in effects if isinstance(e, (PostTransfer, SendVoucher)))
    books.apply(core.on_refused(Refusal("ledger", "ledger-overdraft", "synthetic", dropped), t("2026-03-16", "10:00")))
    assert core.clearing_balances[BANK] == 0 and not core.cleared
    _refused(send(core, books, refund("2026-03-16", "10.00", ori_no="ZF0001"), t("2026-03-16", "11:00")),
             "refund-unmatched")


def test_matching_survives_a_snapshot(calendar: BusinessCalendar) -> None:
    core, books, cleared = _day_with_clearing(calendar, "100.00", payments=[("ZF0001", "100.00")])
    send(core, books, refund("2026-03-16", "30.00", ori_no="ZF0001"), t("2026-03-16", "11:00"))
    after = PbocCore.restore(core.snapshot(), core.config, calendar, core.clock_config)
    assert after.snapshot() == core.snapshot()
    for c in (core, after):
        over = c.on_voucher(refund("2026-03-16", "70.01", ori=cleared), 0, t("2026-03-16", "11:30"))
        assert reason_code(receipt(over)) == "refund-exceeds-payment"
    assert after.clearing_balances == core.clearing_balances == {BANK: 7000}


# ---------------------------------------------------------------- the clearing floor


def test_a_refund_below_the_banks_floor_is_refused(calendar: BusinessCalendar) -> None:
    config = PbocConfig(tsa_opening_fen=OPENING_FEN, clearing_floors=((BANK, 50_00),))
    core, books = _core(calendar, config, t("2026-03-16", "08:00"))
    send(core, books, quota("2026-03-16", "100.00"), t("2026-03-16", "09:00"))
    cleared = clearing("2026-03-16", "100.00")
    send(core, books, cleared, t("2026-03-16", "10:00"))
    r = _refused(send(core, books, refund("2026-03-16", "50.01", ori=cleared), t("2026-03-16", "11:00")),
                 "below-clearing-floor")
    assert "below its floor 50.00" in (r.return_reason or "")
    assert receipt(send(core, books, refund("2026-03-16", "50.00", ori=cleared),
                        t("2026-03-16", "11:01"))).return_reason is None
    assert books.balances[clearing_account(BANK)] == 50_00
    assert config.clearing_floor(BANK) == 50_00 and config.clearing_floor(BANK2) == 0


@pytest.mark.parametrize("bad", [{"clearing_floor_fen": "0"}, {"clearing_floors": ((BANK, 1.5),)},
                                 {"clearing_floors": ((BANK, 1), (BANK, 2))}])
def test_clearing_floor_config_is_checked(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        PbocConfig(**bad)  # type: ignore[arg-type]


_step = st.tuples(st.sampled_from(["clear", "refund", "refund-payment"]), st.sampled_from([BANK, BANK2]),
                  st.integers(1, 30_000), st.integers(0, 5))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(floors=st.tuples(st.integers(-20_000, 20_000), st.integers(-20_000, 20_000)),
       steps=st.lists(_step, max_size=30))
def test_no_movement_takes_a_clearing_account_below_its_floor(
        calendar: BusinessCalendar, floors: tuple[int, int], steps: list[tuple[str, str, int, int]]) -> None:
    floor = {BANK: floors[0], BANK2: floors[1]}
    config = PbocConfig(tsa_opening_fen=OPENING_FEN, clearing_floors=tuple(floor.items()))
    core, books = _core(calendar, config, t("2026-03-16", "08:00"))
    for bank in (BANK, BANK2):
        send(core, books, quota("2026-03-16", "10000.00", bank=bank), t("2026-03-16", "08:30"))
    docs: dict[str, list[VoucherDoc]] = defaultdict(list)
    refunded: dict[str, int] = defaultdict(int)
    now = t("2026-03-16", "09:00")
    for n, (kind, bank, fen, pick) in enumerate(steps):
        amount = f"{fen // 100}.{fen % 100:02d}"
        account = clearing_account(bank)
        before = books.balances[account]
        if kind == "clear":
            doc = clearing("2026-03-16", amount, bank=bank, payments=[(f"ZF{n:04d}", amount)])
            if receipt(send(core, books, doc, now)).return_reason is None:
                docs[bank].append(doc)
                assert books.balances[account] == before + fen
            continue
        ori = docs[bank][pick % len(docs[bank])] if docs[bank] else None
        if kind == "refund-payment" and ori is not None:
            doc = refund("2026-03-16", amount, bank=bank, ori_no=ori.details()[0]["VoucherNo"])
        else:
            doc = refund("2026-03-16", amount, bank=bank, ori=ori)
        r = receipt(send(core, books, doc, now))
        if r.return_reason is None:
            assert ori is not None
            refunded[ori.get("VoucherNo")] += fen
            assert refunded[ori.get("VoucherNo")] <= ori.amount_fen("PayAmt"), "refunded more than was cleared"
            assert books.balances[account] == before - fen >= floor[bank], "below the floor"
        else:
            assert books.balances[account] == before, "a refused refund moved money"
        assert books.balances[account] == core.clearing_balances.get(bank, 0)


# ---------------------------------------------------------------- the urgent window


@pytest.mark.parametrize(("hhmm", "urgent", "accepted"), [
    ("15:59", False, True), ("16:00", False, False), ("16:01", False, False),
    ("16:29", True, True), ("16:30", True, False), ("16:31", True, False),
])
def test_urgent_clearing_inside_the_window_only(calendar: BusinessCalendar, hhmm: str, urgent: bool,
                                                accepted: bool) -> None:
    core, books = make(calendar, t("2026-03-16", "08:00"))
    send(core, books, quota("2026-03-16", "100.00"), t("2026-03-16", "09:00"))
    r = receipt(send(core, books, clearing("2026-03-16", "10.00", urgent=urgent), t("2026-03-16", hhmm)))
    assert (r.return_reason is None) is accepted, r.return_reason
    if not accepted:
        assert reason_code(r) == "after-cutoff" and r.head["XClearAmt"] == "0.00"
    assert books.balances[clearing_account(BANK)] == (1000 if accepted else 0)


# Days around Spring Festival 2026: a make-up Saturday (02-14), the holiday (02-15..23), weekdays.
_WINDOW_DAYS = [dt.date(2026, 2, 9) + dt.timedelta(days=n) for n in range(21)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(day=st.sampled_from(_WINDOW_DAYS), seconds=st.integers(0, 24 * 3600 - 1), urgent=st.booleans())
def test_nothing_after_the_window_is_accepted(calendar: BusinessCalendar, day: dt.date, seconds: int,
                                             urgent: bool) -> None:
    start = dt.datetime.combine(day, dt.time(0), tzinfo=TZ)
    now = start + dt.timedelta(seconds=seconds)
    core, books = make(calendar, start)
    if calendar.is_business_day(day):
        send(core, books, quota(day.isoformat(), "100.00"), start)
    r = receipt(send(core, books, clearing(day.isoformat(), "10.00", urgent=urgent), now))
    cutoff = ClockConfig().urgent_cutoff if urgent else ClockConfig().clearing_cutoff
    in_window = calendar.is_business_day(day) and now.time() < cutoff
    assert (r.return_reason is None) is in_window, (now, urgent, r.return_reason)
    if not in_window:
        assert books.balances[clearing_account(BANK)] == 0


def _v8_key(key: str) -> str:
    """A version 9 cleared key as version 8 wrote it (no year)."""
    adm, _year, vtcode, no, bank = key.split(SEP)
    return SEP.join((adm, vtcode, no, bank))


def _as_version_8(snapshot: bytes) -> bytes:
    """`snapshot` as version 8 wrote it: what was cleared keyed without the year."""
    data = json.loads(snapshot)
    assert data["version"] == SNAPSHOT_VERSION
    del data["balances"]  # version 10's running sums: none before
    book = data["cleared_book"]
    book["entries"] = {_v8_key(k): [*e[:4], e[4] and _v8_key(e[4]), e[5]] for k, e in book["entries"].items()}
    for group in book["groups"].values():
        group[3] = [_v8_key(x) if isinstance(x, str) and SEP in x else x for x in group[3]]
    book["groups"] = {_v8_key(k): g for k, g in book["groups"].items()}
    book["index"] = {no: _v8_key(own) for no, own in book["index"].items()}
    for decision in data["decisions"].values():
        decision[4] = [_v8_key(x) if isinstance(x, str) and SEP in x else x for x in decision[4]]
    data["version"] = 8
    return json.dumps(data, ensure_ascii=False).encode()


def _as_version_6(snapshot: bytes) -> bytes:
    """`snapshot` as version 6 wrote it: every entry of what was cleared its own, under its key, and
    a decision's `matched` naming each by its key (version 7 keeps a 2301's new payments under it,
    named by VoucherNo)."""
    data = json.loads(_as_version_8(snapshot))
    assert data["version"] == 8
    data["quotas"] = {k.split(SEP, 1)[1]: v for k, v in data["quotas"].items()}  # no division before 8
    book = data.pop("cleared_book")
    entries: list[tuple[int, str, list[object]]] = [(e[5], k, e) for k, e in book["entries"].items()]
    for own, (vtcode, pay_type, seq, matched, _left) in book["groups"].items():
        adm, _, _, bank = own.split(SEP)
        for i in range(2, len(matched), 2):
            no = matched[i]
            if book["index"].get(no) == own:
                entries.append((seq, SEP.join((adm, vtcode, no, bank)), [bank, pay_type, matched[i + 1], 0, own, seq]))
    data["cleared"] = {k: [*e[:5], n] for n, (_, k, e) in enumerate(sorted(entries, key=lambda x: x[0]), 1)}
    for decision in data["decisions"].values():
        flat = decision[4]  # array-like Decision: transfers, xfields, return_reason, advice, matched, seq
        if flat and SEP in flat[0]:
            adm, _, _, bank = flat[0].split(SEP)
            vtcode = book["groups"].get(flat[0], ["5201"])[0]
            decision[4] = [x if not isinstance(x, str) or SEP in x else SEP.join((adm, vtcode, x, bank)) for x in flat]
    data["version"] = 6
    return json.dumps(data, ensure_ascii=False).encode()


def _as_version_5(snapshot: bytes) -> bytes:
    """`snapshot` as version 5 wrote it: as version 6, each decision's `matched` a list of (key, fen) pairs."""
    data = json.loads(_as_version_6(snapshot))
    data["version"] = 5
    for decision in data["decisions"].values():
        flat = decision[4]
        decision[4] = [[flat[i], flat[i + 1]] for i in range(0, len(flat), 2)]
    return json.dumps(data, ensure_ascii=False).encode()


def _cleared(core: PbocCore) -> dict[object, tuple[object, ...]]:
    """What was cleared, entry by entry (not its place in the order: `seq`)."""
    return {k: (c.bank, c.pay_type, c.cleared_fen, c.refunded_fen, c.clearing) for k, c in core.cleared.items()}


@pytest.mark.parametrize("older", [_as_version_5, _as_version_6, _as_version_8])
def test_an_older_snapshot_loads_and_a_refusal_after_it_undoes_the_same(calendar: BusinessCalendar,
                                                                        older: Callable[[bytes], bytes]) -> None:
    """Version 7 keeps a 2301's payments under it (named by VoucherNo in its decision's `matched`);
    a version 6 snapshot (every entry its own) and a version 5 one (`matched` in pairs) still load,
    are written back as the current version, and a books' refusal after it takes back exactly what it would have."""
    core, books = make(calendar, t("2026-03-16", "08:00"))
    send(core, books, quota("2026-03-16", "30.00"), t("2026-03-16", "09:00"))
    doc = clearing("2026-03-16", "30.00", payments=[("ZF0001", "10.00"), ("ZF0002", "20.00")])
    effects = core.on_voucher(doc, 0, t("2026-03-16", "10:00"))
    assert core.state.cleared.index and len(core.cleared) == 3  # the two payments under their 2301
    old = older(core.snapshot())
    assert f'"version":{SNAPSHOT_VERSION}'.encode() not in old.replace(b" ", b"")
    assert (b"cleared_book" not in old) is (older is not _as_version_8)
    after = PbocCore.restore(old, core.config, calendar, core.clock_config)
    assert _cleared(after) == _cleared(core) and len(_cleared(core)) == 3
    assert json.loads(after.snapshot())["version"] == SNAPSHOT_VERSION
    dropped = tuple(e for e in effects if isinstance(e, (PostTransfer, SendVoucher)))
    for c in (core, after):
        c.on_refused(Refusal("ledger", "ledger-overdraft", "synthetic", dropped), t("2026-03-16", "10:00"))
        assert not c.cleared
    assert _cleared(after) == _cleared(core) == {}
