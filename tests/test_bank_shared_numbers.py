"""A voucher is its key (AdmDivCode, StYear, VtCode, VoucherNo): two divisions, or a direct and an
authorized payment, may use the same VoucherNo (each treasury numbers its own vouchers; 004 part 3
§9: the bank answers each payment by its own voucher). A bank serving several divisions keeps each
payment's records its own: its receipt, its credit notice (7103), its payee (what a return copies),
its batch lines and its refund (2302) and refund notice (2203 / 7105), under its division. Before,
the credit notices, payee records and batches were kept by VoucherNo alone: the later payment's
overwrote the earlier's (one credit notice for two payments, the earlier one's return refused)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim.core import BankCore
from bank_sim.duties import DutiesConfig
from bank_sim.refunds import payee_bank_notice
from messages.factory import (
    DEFAULT_PROJECT,
    SUBJECTS,
    UNITS,
    authorized_quota_notice,
    batch_voucher,
    payment_voucher,
)
from messages.money import parse_fen
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from sim.archive import MemoryArchive
from sim.effects import SendVoucher
from tests.test_bank_duties import BANK, CAL, DAY, World, t
from tests.test_batches import _payees

HOME, OTHER = "990100", "990200"
NXT = CAL.next_business_day(DAY)
UNIT, SUBJECT = UNITS[0], SUBJECTS[0]


class _Wire(World):
    """The World, keeping what the bank sent the central bank too."""

    def __init__(self) -> None:
        self.to_pboc: list[SendVoucher] = []
        super().__init__(DutiesConfig())

    def apply(self, effects: list, now: dt.datetime) -> None:  # type: ignore[type-arg]
        self.to_pboc += [e for e in effects if isinstance(e, SendVoucher) and e.recipient_role == "pboc"]
        super().apply(effects, now)


def _world(archive: bool = False) -> _Wire:
    w = _Wire()
    if archive:
        w.bank.use_archive(MemoryArchive())
    for adm in (HOME, OTHER):
        w.quota(DAY, 10**9, adm_div_code=adm)
        w.quota(DAY, 10**9, "5106", adm_div_code=adm)
        quota = authorized_quota_notice(voucher_no=f"SQ7101{adm}", vou_date=DAY, pay_bank_code=BANK, adm_div_code=adm,
                                        lines=[(UNIT[2], UNIT[3], *SUBJECT, *DEFAULT_PROJECT, 10**8)])
        w.apply(w.bank.on_voucher(parse_voucher(quota), 0, t(DAY, "09:00")), t(DAY, "09:00"))
    return w


def _pay(w: World, adm: str, vtcode: str, no: str, fen: int, now: dt.datetime) -> VoucherDoc:
    data = payment_voucher(voucher_no=no, vou_date=now.date(), pay_bank_code=BANK, amount_fen=fen, adm_div_code=adm,
                           vtcode=vtcode, **({"unit": UNIT, "subject": SUBJECT} if vtcode == "8202" else {}))
    doc = parse_voucher(data)
    effects = w.bank.on_voucher(doc, 0, now)
    assert not [e for e in effects if isinstance(e, SendVoucher) and e.return_reason], f"{adm}/{vtcode}/{no} returned"
    w.apply(effects, now)
    return doc


def _return(w: World, paid: VoucherDoc, now: dt.datetime, seq: int, detail: dict[str, str] | None = None) -> None:
    """The payee's bank sends back the money of `paid` (of its batch line `detail`): a 2252."""
    payee = {} if detail is None else {f: detail[f] for f in ("PayeeAcctNo", "PayeeAcctName", "PayAmt")}
    no = f"ST0002{now:%Y%m%d}{seq:04d}"
    head = payee_bank_notice({**paid.head(), **payee}, no=no, today=now.date(), paid_day=DAY,
                             payee_bank=("999100000002", "示例银行乙分行"), reason="account-closed", serial=no)
    w.apply(w.bank.on_voucher(parse_voucher(build_voucher("2252", head)), 0, now), now)


def _sent(w: World, vtcode: str, flag: int = 0) -> Counter[tuple[str, str, int]]:
    """(AdmDivCode, the payment's VoucherNo, fen) of each `vtcode` sent to the treasury."""
    return Counter((s.head["AdmDivCode"], s.head.get("OriVoucherNo") or s.head["VoucherNo"], parse_fen(s.head["PayAmt"]))
                   for s in w.to_treasury if s.vtcode == vtcode and s.flag == flag)


def test_two_divisions_sharing_a_voucher_no_each_get_their_receipt_and_credit_notice() -> None:
    """Before: one 7103 (the later payment's, under its division) for the two payments."""
    w = _world()
    _pay(w, HOME, "5201", "ZZSAME001", 300_00, t(DAY, "10:00"))
    _pay(w, OTHER, "5201", "ZZSAME001", 200_00, t(DAY, "10:01"))
    w.tick(t(NXT, "12:00"))
    assert not w.alarms, w.alarms
    assert _sent(w, "5201", 1) == Counter({(HOME, "ZZSAME001", 300_00): 1, (OTHER, "ZZSAME001", 200_00): 1})
    assert _sent(w, "7103") == Counter({(HOME, "ZZSAME001", 300_00): 1, (OTHER, "ZZSAME001", 200_00): 1})


def test_two_divisions_sharing_a_batch_number_bounce_each_its_own_line() -> None:
    """Two batch direct payments of one VoucherNo, one per division, the same payees: a line
    returned for each is refunded from its own batch, under its division. Before, the batch kept
    by VoucherNo was the later's: the earlier's line was not found (alarmed)."""
    w = _world()
    batches = {}
    for adm, fens, hhmm in ((OTHER, [100_00, 200_00], "10:00"), (HOME, [300_00, 400_00], "10:01")):
        data = batch_voucher(voucher_no="GZSAME001", vou_date=DAY, pay_bank_code=BANK, payees=_payees(fens),
                             adm_div_code=adm)
        batches[adm] = doc = parse_voucher(data)
        w.apply(w.bank.on_voucher(doc, 0, t(DAY, hhmm)), t(DAY, hhmm))
    w.tick(t(DAY, "17:00"))
    _return(w, batches[OTHER], t(NXT, "09:00"), 1, batches[OTHER].details()[1])
    _return(w, batches[HOME], t(NXT, "09:01"), 2, batches[HOME].details()[0])
    w.tick(t(NXT, "17:00"))
    assert not w.alarms, w.alarms
    assert sorted((s.head["AdmDivCode"], s.head["PayAmt"]) for s in w.to_pboc if s.vtcode == "2302") == [
        (HOME, "300.00"), (OTHER, "200.00")]
    assert _sent(w, "2203") == Counter({(HOME, "GZSAME001", 300_00): 1, (OTHER, "GZSAME001", 200_00): 1})


def test_shared_numbers_survive_a_restart_with_an_archive() -> None:
    """The records of two payments sharing a VoucherNo, taken through a snapshot and an archive,
    stay each its own (the archive's key holds no NUL: a database's text cannot)."""
    w = _world(archive=True)
    archive = w.bank._ctx.archive
    assert isinstance(archive, MemoryArchive)
    first = _pay(w, OTHER, "5201", "ZZSAME002", 200_00, t(DAY, "10:00"))
    _pay(w, HOME, "5201", "ZZSAME002", 300_00, t(DAY, "10:01"))
    w.tick(t(DAY, "17:00"))
    assert all("\x00" not in key for _, key in archive.records)
    w.bank = BankCore.restore(w.bank.snapshot(), BANK, w.bank.config, CAL, w.bank.clock_config)
    w.bank.use_archive(archive)
    _return(w, first, t(NXT, "09:00"), 1)
    w.tick(t(NXT, "17:00"))
    assert not w.alarms, w.alarms
    assert _sent(w, "7103") == Counter({(HOME, "ZZSAME002", 300_00): 1, (OTHER, "ZZSAME002", 200_00): 1})
    assert _sent(w, "2203") == Counter({(OTHER, "ZZSAME002", 200_00): 1})


# --- property: whatever shares a VoucherNo, every payment's outcomes are its own ---

_KEYS = [(adm, vtcode, no) for adm in (HOME, OTHER) for vtcode in ("5201", "8202") for no in ("ZZCOL0001", "ZZCOL0002")]


@settings(max_examples=30, deadline=None)
@given(payments=st.lists(st.tuples(st.sampled_from(_KEYS), st.integers(1, 900_00), st.booleans()),
                         min_size=1, max_size=8, unique_by=lambda p: p[0]))
def test_every_payment_s_receipt_credit_notice_and_refund_are_its_own(
        payments: list[tuple[tuple[str, str, str], int, bool]]) -> None:
    """Oracle from the agreement, not the code: every payment is answered by its own receipt
    (004 part 3 §9(3)), a direct payment's payee credited by its own 7103 (§9(8)) under its
    division, and a payment its payee's bank returns (a 2252 naming its number, division and kind,
    its payee and amount) refunded once by a 2302 of its amount under its division and noticed to
    its treasury (2203 direct, 7105 authorized: §8(5), §9(9)); nothing for a payment not returned."""
    w = _world()
    docs = [_pay(w, adm, vtcode, no, fen, t(DAY, "10:00") + dt.timedelta(minutes=i))
            for i, ((adm, vtcode, no), fen, _) in enumerate(payments)]
    w.tick(t(DAY, "17:00"))
    for i, ((_, _, _), _, back) in enumerate(payments):
        if back:
            _return(w, docs[i], t(NXT, "09:00") + dt.timedelta(minutes=i), i + 1)
    w.tick(t(CAL.next_business_day(NXT), "12:00"))
    assert not w.alarms, w.alarms
    for vtcode in ("5201", "8202"):
        assert _sent(w, vtcode, 1) == Counter((adm, no, fen) for (adm, v, no), fen, _ in payments if v == vtcode)
    assert _sent(w, "7103") == Counter((adm, no, fen) for (adm, v, no), fen, _ in payments if v == "5201")
    refunds = Counter((s.head["AdmDivCode"], s.head["OriVtCode"], s.head["OriVoucherNo"], parse_fen(s.head["PayAmt"]))
                      for s in w.to_pboc if s.vtcode == "2302")
    assert refunds == Counter((adm, v, no, fen) for (adm, v, no), fen, back in payments if back)
    for vtcode, notice in (("5201", "2203"), ("8202", "7105")):
        assert _sent(w, notice) == Counter((adm, no, fen) for (adm, v, no), fen, back in payments
                                           if back and v == vtcode), notice
