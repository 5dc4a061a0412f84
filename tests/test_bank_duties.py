"""The agent bank's duties after paying (bank_sim.duties): payee returns refunded to the central
bank and noticed to the treasury, reports, transfer times, behaviour profiles. The bank core and
the central bank core are wired by hand: every send of one is delivered, rendered and parsed, to
the other (the real voucher bytes, XSD-valid)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import sys
import textwrap
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim.core import BankConfig, BankCore, account_ids
from bank_sim.duties import DutiesConfig
from bank_sim.pending_credits import credit_of
from bank_sim.profiles import FAULTS, available_profiles, load_profile
from bank_sim.refunds import PayeeReturn, clearing_details
from bank_sim.sent_times import sent_when
from bank_sim.transfers import TransferConfig, arrival, route
from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig, at
from messages.envelope import VoucherKey
from messages.factory import (
    DEFAULT_PROJECT,
    SUBJECTS,
    UNITS,
    authorized_quota_notice,
    payment_voucher,
    quota_notice,
)
from messages.money import parse_fen
from messages.validate import validate_bytes
from messages.voucher import VoucherDoc, parse_voucher
from pboc_sim.core import PbocConfig, PbocCore, clearing_account
from sim.effects import Alarm, Effect, PostTransfer, SendVoucher

BANK = "999100000001"
CAL = BusinessCalendar.default()
DAY = dt.date(2026, 3, 16)


def t(day: dt.date, hhmm: str) -> dt.datetime:
    return at(day, dt.time.fromisoformat(hhmm))


def doc_of(send: SendVoucher) -> VoucherDoc:
    data = send.render()
    _, issues = validate_bytes(data, flag=send.flag)
    assert not issues or send.head.get("XAgentBusinessNo") == "", (send.vtcode, issues)  # faulty on purpose
    return parse_voucher(data)


class World:
    """A bank core and a central bank core, their sends delivered to each other at once."""

    def __init__(self, duties: DutiesConfig, *, reserve_fen: int = 10**10, divisions: tuple[str, ...] = ()) -> None:
        cc = ClockConfig()
        self.bank = BankCore(BANK, BankConfig(reserve_fen=reserve_fen, duties=duties, divisions=divisions), CAL, cc)
        self.pboc = PbocCore(PbocConfig(tsa_opening_fen=10**12, divisions=divisions), CAL, cc)
        self.books: dict[str, int] = {}
        self.to_treasury: list[SendVoucher] = []
        self.alarms: list[Alarm] = []
        self.now = t(DAY, "08:00")
        self.apply(self.bank.on_time(t(DAY, "08:00")), t(DAY, "08:00"))
        self.pboc.on_time(t(DAY, "08:00"))

    def apply(self, effects: list[Effect], now: dt.datetime) -> None:
        for e in effects:
            if isinstance(e, PostTransfer):
                tr = e.transfer
                self.books[tr.debit_account] = self.books.get(tr.debit_account, 0) - tr.amount_fen
                self.books[tr.credit_account] = self.books.get(tr.credit_account, 0) + tr.amount_fen
            elif isinstance(e, Alarm):
                self.alarms.append(e)
            elif isinstance(e, SendVoucher):
                if e.recipient_role == "treasury":
                    doc_of(e)
                    self.to_treasury.append(e)
                elif e.recipient_role == "pboc":
                    self.apply_pboc(self.pboc.on_voucher(doc_of(e), e.flag, now), now)

    def apply_pboc(self, effects: list[Effect], now: dt.datetime) -> None:
        for e in effects:
            if isinstance(e, PostTransfer):
                tr = e.transfer
                self.books[tr.debit_account] = self.books.get(tr.debit_account, 0) - tr.amount_fen
                self.books[tr.credit_account] = self.books.get(tr.credit_account, 0) + tr.amount_fen
            elif isinstance(e, SendVoucher) and e.recipient_role == "bank":
                self.apply(self.bank.on_voucher(doc_of(e), e.flag, now, e.return_reason), now)

    def tick(self, now: dt.datetime) -> None:
        """Every wake-up of the bank up to `now`, each at its own time (as the engine does)."""
        while (nxt := self.bank.next_event_after(self.now))[0] < now:
            self._step(nxt[0])
        self._step(now)

    def _step(self, now: dt.datetime) -> None:
        self.now = now
        self.pboc.on_time(now)
        self.apply(self.bank.on_time(now), now)

    def quota(self, day: dt.date, fen: int, vtcode: str = "5108", adm_div_code: str = "990100") -> None:
        """The treasury of `adm_div_code` notifies the central bank of the day's quota (each
        division its own: the central bank never pools them)."""
        data = quota_notice(voucher_no=f"QE{day:%Y%m%d}{vtcode}", clear_date=day, pay_bank_code=BANK,
                            amounts_by_unit=[("101", "示例市教育局", fen), ("102", "示例市卫生健康委员会", fen),
                                             ("103", "示例市交通运输局", fen)], vtcode=vtcode, adm_div_code=adm_div_code)
        self.pboc.on_voucher(parse_voucher(data), 0, t(day, "08:30"))

    def pay(self, no: str, fen: int, now: dt.datetime, *, payee_bank: str = "999100000027",
            project: tuple[str, str] | None = None, adm_div_code: str = "990100") -> VoucherDoc:
        data = payment_voucher(voucher_no=no, vou_date=now.date(), pay_bank_code=BANK, amount_fen=fen, project=project,
                               adm_div_code=adm_div_code)
        doc = parse_voucher(data)
        if payee_bank != "999100000027":
            data = data.replace(b"<PayeeAcctBankNo>999100000027<", f"<PayeeAcctBankNo>{payee_bank}<".encode())
            doc = parse_voucher(data)
        self.apply(self.bank.on_voucher(doc, 0, now), now)
        return doc


def test_a_returned_payment_is_refunded_by_2302_matched_to_the_payment_and_noticed_by_2203() -> None:
    back_at = t(CAL.next_business_day(DAY), "10:00")
    w = World(DutiesConfig(payee_returns=(PayeeReturn("ZZRET0001", back_at, "account-closed"),)))
    w.quota(DAY, 10_000_00)
    w.pay("ZZRET0001", 1_000_00, t(DAY, "10:00"))
    w.pay("ZZKEEP001", 500_00, t(DAY, "10:05"))
    w.tick(t(DAY, "17:00"))
    [request] = [f for f in w.bank.filings.values()]
    assert request.state == "accepted" and not w.alarms
    a = account_ids(BANK)
    assert w.books[a["pboc-clearing"]] == -1_500_00 and w.books[clearing_account(BANK)] == 1_500_00

    w.tick(back_at)
    [refund] = w.bank.duties.s.refunds.values()
    assert refund.state == "accepted", w.alarms
    refunds = f"bank:{BANK}:refunds"
    # the money went payees → zero-balance account → refunds → the clearing account, and the
    # central bank moved it from the bank's clearing account back to the TSA
    assert w.books[a["payees"]] == 1_500_00 - 1_000_00 and w.books[refunds] == 0
    assert w.books[a["zba-finance"]] == 0
    assert w.books[a["pboc-clearing"]] == -500_00 and w.books[clearing_account(BANK)] == 500_00
    assert w.books[a["pboc-clearing"]] + w.books[clearing_account(BANK)] == 0  # the mirror holds
    [notice] = [s for s in w.to_treasury if s.vtcode == "2203"]
    assert (notice.head["OriVtCode"], notice.head["OriVoucherNo"], notice.head["PayAmt"]) == (
        "5201", "ZZRET0001", "1000.00")
    assert notice.head["VouDate"] == f"{back_at:%Y%m%d}"  # within 1 working day: the same day
    # a second refund of the same payment would be refused: the central bank counted it
    assert w.pboc.cleared[("990100", str(DAY.year), "5201", "ZZRET0001", BANK)].refundable_fen == 0  # keyed by the clearing bank


def test_an_authorized_return_is_noticed_by_7105_not_2252() -> None:
    """004 part 3 §9(9): the authorized refund notice is 《财政资金授权支付退票通知书》 (the
    project's own VtCode 7105), not the payee bank's 2252; it carries the unit and the details."""
    back_at = t(DAY, "16:30")
    w = World(DutiesConfig(payee_returns=(PayeeReturn("SQRET0001", back_at, "wrong-account"),)))
    w.quota(DAY, 10_000_00, "5106")
    # the unit's authorized quota (7101) for the subject the 8202 draws on: without it the bank
    # returns the 8202 unpaid (no-unit-quota) and nothing would be refunded
    unit, subject = UNITS[0], SUBJECTS[0]
    quota_7101 = authorized_quota_notice(voucher_no="SQ7101RET1", vou_date=DAY, pay_bank_code=BANK, lines=[
        (unit[2], unit[3], subject[0], subject[1], *DEFAULT_PROJECT, 1_000_00)])
    w.apply(w.bank.on_voucher(parse_voucher(quota_7101), 0, t(DAY, "09:00")), t(DAY, "09:00"))
    assert w.bank.remaining_quota(unit[2])[unit[2]]["remaining"] == 1_000_00
    data = payment_voucher(voucher_no="SQRET0001", vou_date=DAY, pay_bank_code=BANK, amount_fen=300_00,
                           vtcode="8202", unit=unit, subject=subject)
    effects = w.bank.on_voucher(parse_voucher(data), 0, t(DAY, "10:00"))
    assert not [e for e in effects if isinstance(e, SendVoucher) and e.return_reason], "8202 returned unpaid"
    w.apply(effects, t(DAY, "10:00"))
    assert w.bank.remaining_quota(unit[2])[unit[2]]["remaining"] == 1_000_00 - 300_00
    w.tick(back_at)
    assert not [s for s in w.to_treasury if s.vtcode == "2252"]
    [notice] = [s for s in w.to_treasury if s.vtcode == "7105"]
    assert notice.head["OriVtCode"] == "8202" and notice.head["ReturnReasonCode"] == "02"
    assert (notice.head["PayTypeCode"], notice.head["AgencyCode"]) == ("12", unit[2])
    assert {d["ExpFuncCode"] for d in notice.details} == {subject[0]}
    assert sum(parse_fen(d["PayAmt"]) for d in notice.details) == 300_00
    doc_of(notice)  # valid against 7105.xsd


def test_an_authorized_refund_gives_the_quota_back_only_once_cleared() -> None:
    """003 §36 "退回资金清算后…恢复预算单位用款额度": the central bank refuses the first 2302
    (below-clearing-floor): no refund notice to the treasury, the unit's quota line stays spent.
    The next day's accepted clearing lets the bank file it again; accepted, the bank frees the
    quota line and only then sends the notice."""
    day1 = CAL.next_business_day(DAY)
    back_at = t(day1, "10:00")
    w = World(DutiesConfig(payee_returns=(PayeeReturn("SQRET0002", back_at, "account-closed"),)))
    w.pboc.config = dataclasses.replace(w.pboc.config, clearing_floor_fen=500_00)
    w.quota(DAY, 10_000_00, "5106")
    unit, subject = UNITS[0], SUBJECTS[0]
    quota_7101 = authorized_quota_notice(voucher_no="SQ7101RET2", vou_date=DAY, pay_bank_code=BANK, lines=[
        (unit[2], unit[3], subject[0], subject[1], *DEFAULT_PROJECT, 1_000_00)])
    w.apply(w.bank.on_voucher(parse_voucher(quota_7101), 0, t(DAY, "09:00")), t(DAY, "09:00"))
    data = payment_voucher(voucher_no="SQRET0002", vou_date=DAY, pay_bank_code=BANK, amount_fen=1_000_00,
                           vtcode="8202", unit=unit, subject=subject)
    w.apply(w.bank.on_voucher(parse_voucher(data), 0, t(DAY, "10:00")), t(DAY, "10:00"))
    w.tick(t(DAY, "17:00"))
    w.tick(back_at)
    [refused] = w.bank.duties.s.refunds.values()
    assert (refused.state, refused.code) == ("rejected", "below-clearing-floor")
    assert not [s for s in w.to_treasury if s.vtcode in ("2203", "2252", "7105")]  # nothing to restore on
    assert w.bank.remaining_quota(unit[2])[unit[2]]["remaining"] == 0  # the quota line is not freed
    snap = w.bank.snapshot()
    assert BankCore.restore(snap, BANK, w.bank.config, CAL, ClockConfig()).snapshot() == snap

    w.quota(day1, 10_000_00)
    w.pay("ZZDAY10001", 600_00, t(day1, "10:30"))
    w.tick(t(day1, "17:00"))
    [refund] = w.bank.duties.s.refunds.values()
    assert refund.state == "accepted" and refund.no != refused.no, w.alarms
    assert w.bank.duties.s.refiled == {refused.no: refund.no}
    assert w.bank.remaining_quota(unit[2])[unit[2]]["remaining"] == 1_000_00
    [notice] = [s for s in w.to_treasury if s.vtcode == "7105"]
    assert (notice.head["OriVoucherNo"], notice.head["PayAmt"], notice.head["VouDate"]) == (
        "SQRET0002", "1000.00", f"{day1:%Y%m%d}")


def test_a_return_waits_for_its_clearing() -> None:
    early = t(DAY, "11:00")  # before the day's clearing request was even filed
    w = World(DutiesConfig(payee_returns=(PayeeReturn("ZZRET0002", early),)))
    w.quota(DAY, 10_000_00)
    w.pay("ZZRET0002", 200_00, t(DAY, "10:00"))
    w.tick(t(DAY, "12:00"))
    assert not w.bank.duties.s.refunds  # not cleared yet: nothing to refund at the central bank
    w.tick(t(DAY, "17:00"))
    [refund] = w.bank.duties.s.refunds.values()
    assert refund.state == "accepted"
    assert not [c for c in w.bank.unbalanced_closes]


def test_the_2301_names_each_payment() -> None:
    details = clearing_details([("B2", ("101", "x"), 5), ("A1", ("101", "x"), 7), ("C3", ("100", "y"), 1)])
    assert [(d["VoucherNo"], d["SupDepCode"], d["PayAmt"]) for d in details] == [
        ("C3", "100", "0.01"), ("A1", "101", "0.07"), ("B2", "101", "0.05")]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 23 * 60), st.sampled_from(["999100000027", "999100300027", "888100000027", ""]))
def test_arrival_never_before_payment_and_routes(minute: int, payee: str) -> None:
    paid = at(DAY, dt.time(minute // 60, minute % 60))
    how = route(BANK, payee)
    when = arrival(paid, how, CAL, TransferConfig())
    assert when >= paid
    assert (how == "same-city") == (when == paid)
    if how == "other-city":
        assert when - paid == dt.timedelta(hours=2)
    if how == "other-bank":
        assert when.date() == CAL.next_business_day(DAY)


def test_receipt_says_when_the_money_arrives() -> None:
    w = World(DutiesConfig())
    w.quota(DAY, 10_000_00)
    w.pay("ZZARR0001", 100_00, t(DAY, "10:00"))
    w.pay("ZZARR0002", 100_00, t(DAY, "10:00"), payee_bank="888100000027")
    arrive = {s.head["VoucherNo"]: s.head["XArriveDate"] for s in w.to_treasury if s.flag == 1}
    assert arrive == {"ZZARR0001": "20260316", "ZZARR0002": "20260317"}


def test_reports_next_morning_and_month_end() -> None:
    day = dt.date(2026, 3, 31)
    w = World(DutiesConfig())
    w.tick(t(day, "08:00"))
    w.quota(day, 10_000_00)
    w.pay("ZZREP0001", 123_45, t(day, "10:00"))
    w.tick(t(day, "17:00"))
    w.tick(t(dt.date(2026, 4, 1), "09:30"))
    kinds = {s.vtcode: s for s in w.to_treasury if s.flag == 0}
    assert {"2206", "4004", "3501"} <= set(kinds)
    assert kinds["2206"].head["ReportDate"] == "20260331" and kinds["2206"].head["PayAmt"] == "123.45"
    assert kinds["3501"].head["BeginDate"] == "20260301" and kinds["3501"].head["EndDate"] == "20260331"


def test_the_daily_report_counts_what_was_cleared_net_of_refunds() -> None:
    """Issue 16 rule 8 (004 part 5 §2): the 2206 of a day counts the payments cleared that day
    less the refunds cleared back that day; the 3501 counts what was paid in the month, less
    refunds. Before: the 2206 counted by pay day, refunds never."""
    day, nxt = dt.date(2026, 3, 30), dt.date(2026, 3, 31)
    w = World(DutiesConfig(payee_returns=(PayeeReturn("ZZBACK001", t(nxt, "10:00"), "account-closed"),)))
    w.tick(t(day, "08:00"))
    w.quota(day, 10_000_00)
    w.pay("ZZBACK001", 300_00, t(day, "10:00"), project=("P2026A001", "示例项目"))
    w.tick(t(day, "16:05"))
    w.pay("ZZLATE001", 70_00, t(day, "16:10"))  # after the cutoff: advanced, cleared tomorrow morning
    w.tick(t(day, "17:00"))
    w.quota(nxt, 10_000_00)
    w.tick(t(dt.date(2026, 4, 1), "09:30"))
    reports = {s.head["ReportDate"]: s for s in w.to_treasury if s.vtcode == "2206" and s.head["ReportDate"] >= "20260330"}
    assert {d: r.head["PayAmt"] for d, r in reports.items()} == {"20260330": "300.00", "20260331": "-230.00"}
    [statement] = [s for s in w.to_treasury if s.vtcode == "3501"]
    assert statement.head["PayAmt"] == "70.00"  # 370.00 paid in March, 300.00 refunded
    assert {d.get("ProCode") for d in reports["20260330"].details} == {"P2026A001"}  # by project too
    assert {d.get("ProCode") for d in reports["20260331"].details} == {"P2026A001", None}


def test_a_quiet_business_day_gets_a_nil_daily_report() -> None:
    """Issue 16 rule 8: a day with nothing cleared still gets its 2206 (PayAmt 0.00, no Detail),
    valid against its XSD; a weekend day gets none. Before: no report at all."""
    w = World(DutiesConfig())  # from Monday DAY 08:00
    nxt_monday = DAY + dt.timedelta(days=7)
    w.tick(t(nxt_monday, "10:00"))
    nil = {s.head["ReportDate"]: s for s in w.to_treasury if s.vtcode == "2206"}
    assert sorted(nil) == [f"{d:%Y%m%d}" for d in (DAY + dt.timedelta(days=i) for i in range(5))]  # Mon-Fri
    assert all(s.head["PayAmt"] == "0.00" and s.details == () for s in nil.values())
    doc_of(nil[f"{DAY:%Y%m%d}"])  # the XSD takes it


def test_slow_profile_sends_receipts_after_the_11_00_deadline() -> None:
    w = World(DutiesConfig(profile="slow"))
    w.quota(DAY, 10_000_00)
    w.pay("ZZSLOW001", 100_00, t(DAY, "10:00"))
    assert not [s for s in w.to_treasury if s.flag == 1]
    w.tick(t(DAY, "17:00"))
    nxt = CAL.next_business_day(DAY)
    w.tick(t(nxt, "13:59"))
    assert not [s for s in w.to_treasury if s.flag == 1]
    w.tick(t(nxt, "14:00"))
    assert [s.head["VoucherNo"] for s in w.to_treasury if s.flag == 1] == ["ZZSLOW001"]
    assert _sent(w, "990100/2026/5201/ZZSLOW001/1") == t(nxt, "14:00")


def test_flaky_profile_holds_sends_in_its_offline_window() -> None:
    w = World(DutiesConfig(profile="flaky", profile_params=(("windows", (("10:00", "11:30"),)),)))
    w.quota(DAY, 10_000_00)
    w.pay("ZZFLAK001", 100_00, t(DAY, "10:15"))
    assert not [s for s in w.to_treasury if s.flag == 1]
    w.tick(t(DAY, "11:30"))
    assert [s.head["VoucherNo"] for s in w.to_treasury if s.flag == 1] == ["ZZFLAK001"]


def test_faulty_profile_spoils_then_corrects() -> None:
    w = World(DutiesConfig(profile="faulty"))
    w.quota(DAY, 10_000_00)
    for i in range(4):
        w.pay(f"ZZFAUL{i:03d}", 100_00, t(DAY, f"10:0{i}"))
    receipts = [s for s in w.to_treasury if s.flag == 1]
    # 1st: sealed with a broken signature (the shell breaks it); 2nd: XAgentBusinessNo empty;
    # 3rd: sent twice, the twin with another serial; 4th: clean
    assert "990100/2026/5201/ZZFAUL000/1" in w.bank.duties.s.corrupt
    assert receipts[1].head["XAgentBusinessNo"] == ""
    assert [r.head["VoucherNo"] for r in receipts].count("ZZFAUL002") == 2
    w.tick(t(DAY, "17:00"))
    probes = w.bank.duties.s.probes
    assert list(probes.values()) == ["over-quota"]  # the central bank refused the probe
    assert all(f.state == "accepted" for f in w.bank.filings.values())  # the real clearing went through
    assert not w.bank.unbalanced_closes


def test_profiles_are_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(FAULTS) == {"bad-signature", "missing-x-fields", "duplicate", "wrong-sum", "over-quota"}
    assert {"prompt", "slow", "faulty", "flaky"} <= set(available_profiles())
    # a user's profile, installed as a distribution of its own: a module and a .dist-info
    (tmp_path / "my_bank_profile.py").write_text(textwrap.dedent("""
        import datetime as dt
        class Sleepy:
            name = "sleepy"
            def __init__(self, params, seed):
                self.hours = int(params.get("hours", 3))
            def release(self, kind, ref, ready, calendar):
                return ready + dt.timedelta(hours=self.hours) if kind == "receipt" else ready
            def fault(self, kind, index):
                return None
    """), encoding="utf-8")
    info = tmp_path / "my_bank_profile-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-bank-profile\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[tgw.bank_profiles]\nsleepy = my_bank_profile:Sleepy\n",
                                           encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert available_profiles()["sleepy"] == "my_bank_profile:Sleepy"
    assert load_profile("sleepy", {"hours": 2}).release("receipt", "x", t(DAY, "10:00"), CAL) == t(DAY, "12:00")
    w = World(DutiesConfig(profile="sleepy", profile_params=(("hours", 1),)))
    w.quota(DAY, 10_000_00)
    w.pay("ZZSLEEP01", 100_00, t(DAY, "10:00"))
    w.tick(t(DAY, "11:00"))
    assert _sent(w, "990100/2026/5201/ZZSLEEP01/1") == t(DAY, "11:00")
    sys.modules.pop("my_bank_profile", None)


def test_installed_profiles_are_read_once_per_import_path(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    # Reading every distribution's metadata costs ~10 ms: a world of many banks reads it once, and a
    # new import path (a plugin made importable) is read again.
    import bank_sim.profiles as profiles
    reads: list[tuple[str, ...]] = []
    real = profiles.entry_points

    def counting(**kw: str) -> object:
        reads.append(tuple(sys.path))
        return real(**kw)

    monkeypatch.setattr(profiles, "entry_points", counting)
    profiles._installed_on.cache_clear()
    for seed in range(12):
        load_profile("slow", {}, seed)
        available_profiles()
    assert len(reads) == 1
    monkeypatch.syspath_prepend(str(tmp_path))
    load_profile("prompt")
    assert len(reads) == 2 and reads[1][0] == str(tmp_path)
    profiles._installed_on.cache_clear()


def test_unknown_profile_and_bad_params_are_refused() -> None:
    with pytest.raises(ValueError, match="no bank profile"):
        load_profile("nope")
    with pytest.raises(ValueError, match="unknown parameters"):
        load_profile("prompt", {"x": 1})
    with pytest.raises(ValueError, match="faults"):
        load_profile("faulty", {"faults": ["gremlins"]})


def test_snapshot_round_trip_keeps_duties() -> None:
    back_at = t(CAL.next_business_day(DAY), "10:00")
    w = World(DutiesConfig(payee_returns=(PayeeReturn("ZZSNAP001", back_at),), profile="slow"))
    w.quota(DAY, 10_000_00)
    w.pay("ZZSNAP001", 100_00, t(DAY, "10:00"))
    data = w.bank.snapshot()
    again = BankCore.restore(data, BANK, w.bank.config, CAL, ClockConfig())
    assert again.snapshot() == data
    assert again.duties.s.held and again.duties.s.payees


def test_a_held_send_is_neither_sent_nor_held_twice_and_a_redelivery_after_it_left_sends_it_again() -> None:
    w = World(DutiesConfig(profile="slow"))
    w.quota(DAY, 10_000_00)
    paid = w.pay("ZZHELD001", 100_00, t(DAY, "10:00"))
    key = "990100/2026/5201/ZZHELD001/1"
    s = w.bank.duties.s
    assert s.held_sends == {key} and _sent(w, key) is None and len(s.held) == 1
    w.apply(w.bank.on_voucher(paid, 0, t(DAY, "10:05")), t(DAY, "10:05"))  # redelivered while held
    assert len(s.held) == 1 and not [x for x in w.to_treasury if x.flag == 1]
    nxt = CAL.next_business_day(DAY)
    w.tick(t(nxt, "14:00"))
    assert key not in s.held_sends and _sent(w, key) == t(nxt, "14:00") and not s.seen
    w.apply(w.bank.on_voucher(paid, 0, t(nxt, "14:05")), t(nxt, "14:05"))  # after it left: the same again
    receipts = [x for x in w.to_treasury if x.flag == 1]
    assert len(receipts) == 2 and receipts[0] == receipts[1] and _sent(w, key) == t(nxt, "14:00")


def test_a_snapshot_that_kept_seen_loads_its_held_sends() -> None:
    """Snapshots of before kept `seen` (key → 1 sent, 0 held) beside `sent_at`."""
    w = World(DutiesConfig(profile="slow"))
    w.quota(DAY, 10_000_00)
    paid = w.pay("ZZHELD002", 100_00, t(DAY, "10:00"))
    key = "990100/2026/5201/ZZHELD002/1"
    state = msgspec.json.decode(w.bank.snapshot())
    sent = {f"{group.rsplit('/', 1)[0]}/{no}/{group.rsplit('/', 1)[1]}": 1
            for group, times in state["duties"]["sent"].items() for no in times}
    state["duties"] |= {"seen": {**sent, key: 0}, "held_sends": []}
    old = msgspec.json.encode(state)
    again = BankCore.restore(old, BANK, w.bank.config, CAL, ClockConfig())
    s = again.duties.s
    assert s.held_sends == {key} and not s.seen and all(sent_when(s.sent, VoucherKey.parse(k)) for k in sent)
    assert again.snapshot() == w.bank.snapshot()  # written as this version writes it
    replay = again.on_voucher(paid, 0, t(DAY, "10:05"))  # redelivered while held: not sent, not held again
    assert not [e for e in replay if isinstance(e, SendVoucher)] and len(s.held) == 1


def test_the_maps_a_day_fills_and_empties_give_their_tables_back() -> None:
    """A dict keeps its largest table when emptied: the credit notices waiting for the morning are
    one slot per payment of the day."""
    w = World(DutiesConfig())
    w.quota(DAY, 10_000_00)
    for i in range(40):
        w.pay(f"ZZMAPS{i:03d}", 1_00, t(DAY, "10:00"))
    s = w.bank.duties.s
    assert len(s.credits) == 40
    w.tick(t(CAL.next_business_day(DAY), "10:00"))
    assert len([x for x in w.to_treasury if x.vtcode == "7103"]) == 40
    assert sys.getsizeof(s.credits) == sys.getsizeof({})


def test_a_payment_holds_its_tally_lines_until_cleared_sharing_each_line() -> None:
    """The lines a paid payment adds to the expenditure reports wait on the payment itself until
    its clearing is accepted (not in a map by key text), each line the one tuple every payment
    naming it shares; once cleared the payment holds none."""
    w = World(DutiesConfig())
    w.quota(DAY, 10_000_00)
    for i in range(3):
        w.pay(f"ZZLINE{i:03d}", 1_00 + i, t(DAY, "10:00"))
    paid = list(w.bank.payments.values())
    assert not w.bank.duties.s.uncleared and all(p.uncleared for p in paid)
    lines = [line for p in paid for line in (p.uncleared or ())[0::2]]
    assert len(set(lines)) < len(lines) and all(a is b for a in lines for b in lines if a == b)
    assert [sum((p.uncleared or ())[1::2]) for p in paid] == [100, 101, 102]
    w.tick(t(DAY, "17:00"))
    assert [f.state for f in w.bank.filings.values()] == ["accepted"]
    assert all(p.uncleared is None for p in paid)
    [daily] = [x for x in (w.tick(t(CAL.next_business_day(DAY), "10:00")), w.to_treasury)[1] if x.vtcode == "2206"]
    assert daily.head["PayAmt"] == "3.03"


def test_a_version_4_snapshots_uncleared_lines_load_onto_their_payments() -> None:
    """Version 4 kept the payments by key text, the lines waiting for their clearing in
    `DutiesState.uncleared` by key text, and each payment's VtCode: it loads (the payments by
    VoucherNo, the lines onto them), is written as this version and gives the same expenditure
    report once cleared."""
    w = World(DutiesConfig())
    w.quota(DAY, 10_000_00)
    w.pay("ZZV4LINE1", 100_00, t(DAY, "10:00"))
    w.pay("ZZV4LINE2", 250_00, t(DAY, "10:05"))
    state = msgspec.json.decode(w.bank.snapshot())
    uncleared, by_text = {}, {}
    for p in state["payments"].values():  # version 4: by key text, the lines in the duties
        text = "/".join(str(part) for part in p["key"])
        flat = p.pop("uncleared")
        uncleared[text] = [[flat[i], flat[i + 1]] for i in range(0, len(flat), 2)]
        by_text[text] = p | {"vtcode": p["key"][2]}
    state["version"], state["payments"], state["duties"]["uncleared"] = 4, by_text, uncleared
    again = BankCore.restore(msgspec.json.encode(state), BANK, w.bank.config, CAL, ClockConfig())
    assert not again.duties.s.uncleared and again.snapshot() == w.bank.snapshot()
    assert list(again.state.payments) == ["ZZV4LINE1", "ZZV4LINE2"]
    assert [p.vtcode for p in again.payments.values()] == ["5201", "5201"]
    lines = [p.uncleared for p in again.payments.values()]
    assert lines == [p.uncleared for p in w.bank.payments.values()] and all(lines)
    shared = [line for flat in lines for line in (flat or ())[0::2]]
    assert all(a is b for a in shared for b in shared if a == b)  # each line shared again
    w2 = World(DutiesConfig())
    w2.bank, w2.now = again, w.now
    w2.pboc = PbocCore.restore(w.pboc.snapshot(), PbocConfig(tsa_opening_fen=10**12), CAL, ClockConfig())
    for x in (w, w2):
        x.tick(t(CAL.next_business_day(DAY), "10:00"))
    [daily, daily2] = [[s for s in x.to_treasury if s.vtcode == "2206"] for x in (w, w2)]
    assert daily == daily2 and daily[0].head["PayAmt"] == "350.00"


def test_tz() -> None:
    assert t(DAY, "10:00").tzinfo is TZ


def _payee_bank_notice(w: World, paid: VoucherDoc, now: dt.datetime, *, no: str = "ST0002202603170001",
                       amount: str | None = None) -> None:
    """The payee's bank (bank-b's code) tells the paying bank the money of `paid` came back (2252)."""
    from bank_sim.refunds import payee_bank_notice
    from messages.voucher import build_voucher

    head = payee_bank_notice(paid.head(), no=no, today=now.date(), paid_day=DAY,
                             payee_bank=("999100000002", "示例银行乙分行"), reason="account-closed", serial=no)
    if amount is not None:
        head["PayAmt"] = amount
    data = build_voucher("2252", head)
    assert validate_bytes(data, flag=0)[1] == []
    w.apply(w.bank.on_voucher(parse_voucher(data), 0, now), now)


def test_a_payee_bank_refund_notice_is_refunded_once_the_payment_is_cleared() -> None:
    """Before: the bank learnt of a return only from its own configuration (payee_returns); a 2252
    from the payee's bank was not handled, so a return could not reach a bank through the gateway."""
    w = World(DutiesConfig())
    w.quota(DAY, 10_000_00)
    paid = w.pay("ZZRET0003", 1_000_00, t(DAY, "10:00"))
    _payee_bank_notice(w, paid, t(DAY, "11:00"))  # before its clearing: it waits
    assert not w.bank.duties.s.refunds and not w.alarms
    w.tick(t(DAY, "17:00"))  # the 2301 accepted: now the 2302, and on its acceptance the 2203
    [refund] = w.bank.duties.s.refunds.values()
    assert (refund.voucher, refund.amount_fen, refund.state) == ("ZZRET0003", 1_000_00, "accepted"), w.alarms
    [notice] = [s for s in w.to_treasury if s.vtcode == "2203"]
    assert (notice.head["OriVoucherNo"], notice.head["PayAmt"], notice.head["ReturnReasonCode"]) == (
        "ZZRET0003", "1000.00", "01")
    _payee_bank_notice(w, paid, t(DAY, "17:05"), no="ST0002202603170002")  # told again: nothing moves twice
    assert len(w.bank.duties.s.refunds) == 1 and [a.code for a in w.alarms] == ["refund-unmatched"]


@pytest.mark.parametrize("case", ["no-such-payment", "other-amount"])
def test_a_payee_bank_refund_notice_naming_no_payment_of_ours_is_alarmed_and_moves_nothing(case: str) -> None:
    w = World(DutiesConfig())
    w.quota(DAY, 10_000_00)
    paid = w.pay("ZZRET0004", 1_000_00, t(DAY, "10:00"))
    w.tick(t(DAY, "17:00"))
    before = dict(w.books)
    if case == "no-such-payment":
        other = parse_voucher(payment_voucher(voucher_no="ZZNONE001", vou_date=DAY, pay_bank_code=BANK,
                                              amount_fen=1_000_00))
        _payee_bank_notice(w, other, t(DAY, "17:05"))
    else:
        _payee_bank_notice(w, paid, t(DAY, "17:05"), amount="999.99")
    assert not w.bank.duties.s.refunds and w.books == before
    assert [a.code for a in w.alarms] == ["refund-unmatched"]


class _CountedPayments(dict):  # type: ignore[type-arg]
    """The bank's payments, counting the scans of all of them."""

    scans = 0

    def values(self):  # type: ignore[no-untyped-def]
        _CountedPayments.scans += 1
        return super().values()


def _day_of_scans(returns: tuple[PayeeReturn, ...]) -> tuple[World, int]:
    """Two payments, cleared by 17:00; how many times the bank went through all its payments."""
    w = World(DutiesConfig(payee_returns=returns))
    w.quota(DAY, 10_000_00)
    st = w.bank._st
    st.payments = _CountedPayments(st.payments)
    _CountedPayments.scans = 0
    w.pay("ZZRET0003", 300_00, t(DAY, "10:00"))
    w.pay("ZZKEEP003", 200_00, t(DAY, "10:05"))
    w.tick(t(DAY, "17:00"))
    [request] = w.bank.filings.values()
    assert request.state == "accepted" and not w.alarms  # the clearing receipt came, before the return
    return w, _CountedPayments.scans


def test_a_return_not_due_yet_scans_no_payments_and_still_goes_at_its_time() -> None:
    """A return planned for the next business day (the demo plans its returns at the start) made
    every clearing receipt and every duties wake-up of the days before scan all the bank's
    payments; only the returns already due look their payments up, and the return still goes."""
    back_at = t(CAL.next_business_day(DAY), "10:00")
    _, without = _day_of_scans(())
    w, with_return = _day_of_scans((PayeeReturn("ZZRET0003", back_at, "account-closed"),))
    assert with_return == without
    assert not w.bank.duties.s.refunds
    w.tick(back_at)
    [refund] = w.bank.duties.s.refunds.values()
    assert refund.state == "accepted", w.alarms
    assert [s.head["OriVoucherNo"] for s in w.to_treasury if s.vtcode == "2203"] == ["ZZRET0003"]


def test_credit_notices_go_in_pages_and_the_other_reports_after_the_last(monkeypatch: pytest.MonkeyPatch) -> None:
    """A day's credit notices (7103) are made CREDIT_NOTICES_PER_CALL per duties call, the rest a
    microsecond later, in the same order as all at once; the daily report (2206) follows the last page."""
    from bank_sim import reporting

    monkeypatch.setattr(reporting, "CREDIT_NOTICES_PER_CALL", 2)
    day = dt.date(2026, 3, 16)
    w = World(DutiesConfig())
    w.tick(t(day, "08:00"))
    w.quota(day, 10_000_00)
    for i in range(5):
        w.pay(f"ZZPAGE{i:04d}", 100 + i, t(day, "10:00"))
    w.tick(t(day, "17:00"))
    before = len(w.to_treasury)
    w.tick(t(dt.date(2026, 3, 17), "10:00"))  # each page at its own wake-up, a microsecond apart
    morning = [s for s in w.to_treasury[before:] if s.flag == 0]
    notices = [s.head["OriVoucherNo"] for s in morning if s.vtcode == "7103"]
    assert notices == [f"ZZPAGE{i:04d}" for i in range(5)]
    vtcodes = [s.vtcode for s in morning]
    assert vtcodes.index("2206") > max(i for i, v in enumerate(vtcodes) if v == "7103")
    assert not w.bank.state.duties.credits and not w.bank.state.duties.credits_more


def test_clearing_requests_go_in_pages_of_at_most_filing_payments_max(monkeypatch: pytest.MonkeyPatch) -> None:
    """More payments due than FILING_PAYMENTS_MAX: several 2301s, a page per call a microsecond
    apart, all cleared, each naming its payments."""
    from bank_sim import filings

    monkeypatch.setattr(filings, "FILING_PAYMENTS_MAX", 2)
    w = World(DutiesConfig())
    w.quota(DAY, 10_000_00)
    for i in range(5):
        w.pay(f"ZZFIL{i:04d}", 100_00 + i, t(DAY, "10:00"))
    w.tick(t(DAY, "17:00"))
    paid = {p.key for p in w.bank.state.payments.values() if p.mode == "clearing"}
    made = [f for f in w.bank.state.filings.values() if f.clear_type == 0]
    assert len(paid) == 5 and len(made) >= 3 and all(len(f.payments) <= 2 for f in made)
    assert {str(k) for f in made for k in f.payments} == {str(k) for k in paid}
    assert all(f.state == "accepted" for f in made) and not w.bank.state.filings_more
    assert not [c for c in w.bank.unbalanced_closes]


def _sent(w: World, key: str) -> dt.datetime | None:
    """When the bank's send `key` (its text) left, or None."""
    return sent_when(w.bank.duties.s.sent, VoucherKey.parse(key))


def test_a_version_3_snapshot_keeps_its_send_times_by_key_text_and_loads_them() -> None:
    """Version 4 keeps send times by group and VoucherNo (`sent`); a version 3 snapshot kept them
    by key text (`sent_at`): it loads, every time where it was, the order kept, written as version 4."""
    w = World(DutiesConfig())
    w.quota(DAY, 10_000_00)
    w.pay("ZZSENT001", 100_00, t(DAY, "10:00"))
    w.pay("ZZSENT002", 200_00, t(DAY, "10:30"))
    w.tick(t(CAL.next_business_day(DAY), "10:00"))  # the credit notices (7103) and the daily report (2206)
    state = msgspec.json.decode(w.bank.snapshot())
    groups = state["duties"].pop("sent")
    flat = {f"{g.rsplit('/', 1)[0]}/{no}/{g.rsplit('/', 1)[1]}": when for g, times in groups.items()
            for no, when in times.items()}
    assert "990100/2026/5201/ZZSENT002/1" in flat and len(groups) >= 3
    state["version"], state["duties"]["sent_at"] = 3, flat
    again = BankCore.restore(msgspec.json.encode(state), BANK, w.bank.config, CAL, ClockConfig())
    s = again.duties.s
    assert not s.sent_at and all(sent_when(s.sent, VoucherKey.parse(k)) == dt.datetime.fromisoformat(v)
                                 for k, v in flat.items())
    assert again.snapshot() == w.bank.snapshot()
    assert {g: list(times) for g, times in s.sent.items()} == {g: list(times) for g, times in w.bank.duties.s.sent.items()}


def test_send_times_beyond_the_bound_forget_the_oldest_of_any_group() -> None:
    from bank_sim.sent_times import mark_sent, sent_count
    from bank_sim.state import DutiesState

    s = DutiesState()
    keys = [VoucherKey("990100", "2026", vt, no, flag) for vt, no, flag in
            [("5201", "A1", 1), ("7103", "R1", 0), ("5201", "A2", 1), ("2206", "D1", 0)]]
    for i, key in enumerate(keys):
        mark_sent(s.sent, key, t(DAY, f"10:0{i}"), keep=3)
        mark_sent(s.sent, key, t(DAY, "10:30"), keep=3)  # sent again: the first time kept
    assert sent_count(s.sent) == 3
    assert [sent_when(s.sent, k) for k in keys] == [None, t(DAY, "10:01"), t(DAY, "10:02"), t(DAY, "10:03")]
    mark_sent(s.sent, keys[0], t(DAY, "10:09"), keep=3)  # forgotten, so new again: the oldest left goes
    assert sent_when(s.sent, keys[0]) == t(DAY, "10:09") and sent_when(s.sent, keys[1]) is None and sent_count(s.sent) == 3


def test_a_credit_notice_names_the_serial_of_its_payments_receipt() -> None:
    """A pending credit notice keeps its payment's serial number; the text is made with the notice."""
    w = World(DutiesConfig())
    w.quota(DAY, 10_000_00)
    w.pay("ZZSERIAL1", 100_00, t(DAY, "10:00"))
    [receipt] = [x for x in w.to_treasury if x.flag == 1]
    [pending] = w.bank.duties.s.credits.values()
    assert isinstance(pending, bytes) and isinstance(credit_of(pending, "ZZSERIAL1")["serial"], int)
    w.tick(t(CAL.next_business_day(DAY), "10:00"))
    [notice] = [x for x in w.to_treasury if x.vtcode == "7103"]
    assert notice.head["AgentBusinessNo"] == receipt.head["XAgentBusinessNo"]


def test_a_version_3_snapshots_pending_credit_notices_load_and_are_sent_the_same() -> None:
    """Version 4 keeps a pending credit notice packed (bytes; base64 in a snapshot), its serial a
    number; version 3 kept the dict of its elements, the serial text: it loads and sends the same 7103."""
    w = World(DutiesConfig())
    w.quota(DAY, 10_000_00)
    w.pay("ZZCREDIT1", 100_00, t(DAY, "10:00"))
    [receipt] = [x for x in w.to_treasury if x.flag == 1]
    state = msgspec.json.decode(w.bank.snapshot())
    [(no, packed)] = state["duties"]["credits"].items()
    assert isinstance(packed, str)  # base64 text
    old = credit_of(base64.b64decode(packed), no) | {"serial": receipt.head["XAgentBusinessNo"]}
    state["version"], state["duties"]["credits"] = 3, {no: old}
    again = BankCore.restore(msgspec.json.encode(state), BANK, w.bank.config, CAL, ClockConfig())
    assert again.duties.s.credits == {no: old}
    morning = t(CAL.next_business_day(DAY), "10:00")
    sent = [[e for e in core.on_time(morning) if isinstance(e, SendVoucher) and e.vtcode == "7103"]
            for core in (w.bank, again)]
    assert sent[0] == sent[1] and len(sent[0]) == 1
    assert sent[0][0].head["AgentBusinessNo"] == receipt.head["XAgentBusinessNo"]


def test_a_pending_credit_notice_packs_only_what_it_shows_and_a_version_4_record_sends_the_same() -> None:
    """Version 5 packs a pending credit notice's shown elements only (its number and day are its
    payment's VoucherNo and the 8 bytes before); a version 4 record (the day and number again, the
    payer's account, the payee's bank number, the year) loads and sends the same 7103."""
    from bank_sim.pending_credits import CREDIT_FIELDS, OLDER_CREDIT_FIELDS, notice_no

    w = World(DutiesConfig())
    w.quota(DAY, 10_000_00)
    doc = w.pay("ZZCRED4", 100_00, t(DAY, "10:00"))
    [(no, packed)] = w.bank.duties.s.credits.items()
    values = msgspec.msgpack.decode(packed[8:])
    assert no == "ZZCRED4" and len(values) == len(CREDIT_FIELDS) and doc.get("PayAcctName") not in values
    cr = credit_of(packed, no)
    older = [cr[f] if f in cr else doc.get(f) if f != "year" else "2026" for f in OLDER_CREDIT_FIELDS]
    assert cr["no"] == notice_no(no) == "RZZZCRED4" and cr["day"] == packed[:8].decode()
    state = msgspec.json.decode(w.bank.snapshot())
    state["version"] = 4
    state["duties"]["credits"] = {no: base64.b64encode(packed[:8] + msgspec.msgpack.encode(older)).decode()}
    again = BankCore.restore(msgspec.json.encode(state), BANK, w.bank.config, CAL, ClockConfig())
    assert credit_of(again.duties.s.credits[no], no) == {**cr, **dict(zip(OLDER_CREDIT_FIELDS, older, strict=True))}
    morning = t(CAL.next_business_day(DAY), "10:00")
    sent = [[e for e in core.on_time(morning) if isinstance(e, SendVoucher) and e.vtcode == "7103"]
            for core in (w.bank, again)]
    assert sent[0] == sent[1] and len(sent[0]) == 1 and sent[0][0].head["VoucherNo"] == "RZZZCRED4"
