"""A payee bank's refund notice (2252) at the paying bank: money comes back only for a payment the
bank paid, to that payment's payee, never more than it paid, and once (004 part 3 §8(5), §9(9):
the refund follows money that actually came back; 003 §35-36). The oracle of the property test
is that rule, written out again from the agreement, not read from `bank_sim.payee_refunds`."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim.duties import DutiesConfig
from bank_sim.refunds import payee_bank_notice
from bank_sim.slots import number_of
from messages.factory import payment_voucher
from messages.money import fen_to_str, parse_fen
from messages.validate import validate_bytes
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from tests.test_bank_duties import BANK, DAY, World, t
from tests.test_batches import _pay_batch

NXT = dt.date(2026, 3, 17)
OTHER_DIV = "990200"  # another administrative division paying through the same bank


def _pay(w: World, no: str, fen: int, now: dt.datetime, adm_div_code: str = "990100") -> VoucherDoc:
    doc = parse_voucher(payment_voucher(voucher_no=no, vou_date=now.date(), pay_bank_code=BANK, amount_fen=fen,
                                        adm_div_code=adm_div_code))
    w.apply(w.bank.on_voucher(doc, 0, now), now)
    return doc


def _notice(w: World, paid: VoucherDoc, now: dt.datetime, seq: int, *, amount: str | None = None,
            acct: str | None = None, adm_div_code: str | None = None) -> None:
    """The payee's bank tells the paying bank the money of `paid` came back (2252, notice `seq`)."""
    no = f"ST0002{now:%Y%m%d}{seq:04d}"
    head = payee_bank_notice(paid.head(), no=no, today=now.date(), paid_day=DAY,
                             payee_bank=("999100000002", "示例银行乙分行"), reason="account-closed", serial=no)
    head.update({k: v for k, v in (("PayAmt", amount), ("PayeeAcctNo", acct), ("AdmDivCode", adm_div_code))
                 if v is not None})
    data = build_voucher("2252", head)
    assert validate_bytes(data, flag=0)[1] == []
    w.apply(w.bank.on_voucher(parse_voucher(data), 0, now), now)


def _refunds(w: World) -> list[tuple[str, str, int]]:
    """(the payment's VoucherNo, the batch line, fen) of each refund."""
    return sorted((number_of(r.voucher), r.line, r.amount_fen) for r in w.bank.duties.s.refunds.values())


def test_a_notice_for_the_earlier_of_two_payments_sharing_a_voucher_no_refunds_it() -> None:
    """Two divisions reuse a VoucherNo: the notice names the earlier payment (100.00, division
    990200) by its number, division and kind. Before, the payee records were kept by VoucherNo (the
    later payment's overwrote it) and the refund took the last payment of the number: the notice was
    alarmed, nothing refunded. A payment's records are its own (its key): it is refunded, its 2302
    and notice under its division, the other payment untouched."""
    w = _Wire()
    w.quota(DAY, 10_000_00)
    w.quota(DAY, 10_000_00, adm_div_code=OTHER_DIV)
    first = _pay(w, "ZZDUP0001", 100_00, t(DAY, "10:00"), OTHER_DIV)
    _pay(w, "ZZDUP0001", 1_000_00, t(DAY, "10:05"))
    w.tick(t(DAY, "17:00"))
    payees = w.books.get(w.bank.accounts["payees"], 0)
    _notice(w, first, t(DAY, "17:05"), 1)
    w.tick(t(NXT, "17:00"))
    assert _refunds(w) == [("ZZDUP0001", "", 100_00)] and not w.alarms
    assert payees - w.books.get(w.bank.accounts["payees"], 0) == 100_00
    assert sorted(w.to_pboc) == [("2301", "990100"), ("2301", OTHER_DIV), ("2302", OTHER_DIV)]
    [notice] = [s for s in w.to_treasury if s.vtcode == "2203"]
    assert notice.head["AdmDivCode"] == OTHER_DIV and notice.head["PayAmt"] == "100.00"
    _notice(w, first, t(NXT, "17:05"), 2)  # told again: its money came back once
    assert [a.code for a in w.alarms] == ["refund-unmatched"]


def test_a_correct_notice_for_the_later_payment_sharing_a_voucher_no_is_refunded_in_full() -> None:
    """The other direction: a payee bank naming the payment the bank keeps under that VoucherNo
    (its division, kind, payee and amount) is honoured, even though another division used the
    number before, and though its StYear is the year it writes the notice, not the payment's."""
    w = World(DutiesConfig())
    w.quota(DAY, 10_000_00)
    w.quota(DAY, 10_000_00, adm_div_code=OTHER_DIV)
    _pay(w, "ZZDUP0002", 100_00, t(DAY, "10:00"), OTHER_DIV)
    last = _pay(w, "ZZDUP0002", 1_000_00, t(DAY, "10:05"))
    w.tick(t(DAY, "17:00"))
    _notice(w, last, t(DAY, "17:05"), 1)
    assert _refunds(w) == [("ZZDUP0002", "", 1_000_00)] and not w.alarms


def test_a_notice_naming_another_payee_moves_nothing() -> None:
    """A notice for the payment's amount but from an account it never paid is not its money."""
    w = World(DutiesConfig())
    w.quota(DAY, 10_000_00)
    w.quota(DAY, 10_000_00, adm_div_code=OTHER_DIV)
    paid = _pay(w, "ZZACC0001", 1_000_00, t(DAY, "10:00"))
    w.tick(t(DAY, "17:00"))
    before = dict(w.books)
    _notice(w, paid, t(DAY, "17:05"), 1, acct="9999000000000001")
    assert _refunds(w) == [] and w.books == before and [a.code for a in w.alarms] == ["refund-unmatched"]
    _notice(w, paid, t(DAY, "17:10"), 2)  # its own payee: refunded
    assert _refunds(w) == [("ZZACC0001", "", 1_000_00)]


# --- property: whatever notices arrive, what comes back is what the agreement allows ---

@dataclasses.dataclass(frozen=True)
class Target:
    """What a notice names: a payment (by its doc), a batch line (1-based) or nothing paid."""

    name: str
    line: int = 0


TARGETS = [Target("whole"), Target("batch", 1), Target("batch", 2), Target("batch", 3),
           Target("shadowed"), Target("shadowing"), Target("never-paid"),
           Target("shadowing-other-div")]  # the later payment's payee and amount, the earlier's division


@settings(max_examples=60, deadline=None)
@given(notices=st.lists(st.tuples(st.sampled_from(TARGETS),
                                  st.sampled_from(["right", "right", "right", "one-fen-more", "one-fen-less"]),
                                  st.sampled_from([True, True, False])), min_size=1, max_size=10))
def test_notices_never_return_more_than_was_paid_and_only_to_its_payee(
        notices: list[tuple[Target, str, bool]]) -> None:
    w = World(DutiesConfig())
    w.quota(DAY, 100_000_00)
    w.quota(DAY, 100_000_00, adm_div_code=OTHER_DIV)
    docs = {"whole": _pay(w, "ZZPROP001", 1_000_00, t(DAY, "10:00")),
            "batch": _pay_batch(w, "GZPROP001", [300_00, 300_00, 200_00], t(DAY, "10:01")),
            "shadowed": _pay(w, "ZZPROP002", 400_00, t(DAY, "10:02"), OTHER_DIV),
            "shadowing": _pay(w, "ZZPROP002", 500_00, t(DAY, "10:03")),
            "never-paid": parse_voucher(payment_voucher(voucher_no="ZZPROP003", vou_date=DAY, pay_bank_code=BANK,
                                                        amount_fen=700_00))}
    w.tick(t(DAY, "17:00"))
    payees_before = w.books.get(w.bank.accounts["payees"], 0)
    # the oracle: a notice is honoured iff it names a payment the bank paid (its number, division and
    # kind: the earlier and later of two sharing a VoucherNo are each their own), from that payment's
    # (or line's) payee account, for exactly what was paid to it, and that money has not come back yet
    expected: list[tuple[str, str, int]] = []
    by_payment: dict[str, int] = {}
    back: set[tuple[str, int]] = set()
    for seq, (target, amount, right_payee) in enumerate(notices, start=1):
        doc = docs[target.name.removesuffix("-other-div")]
        paid = doc.details()[target.line - 1] if target.line else doc.head()
        fen = parse_fen(paid["PayAmt"]) + {"right": 0, "one-fen-more": 1, "one-fen-less": -1}[amount]
        acct = paid["PayeeAcctNo"] if right_payee else "9999000000000001"
        _notice(w, doc, t(NXT, "09:00") + dt.timedelta(minutes=seq), seq, amount=fen_to_str(fen), acct=acct,
                adm_div_code=OTHER_DIV if target.name.endswith("-other-div") else None)
        honoured = (target.name in ("whole", "batch", "shadowed", "shadowing") and amount == "right" and right_payee
                    and (target.name, target.line) not in back)
        if honoured:
            back.add((target.name, target.line))
            expected.append((doc.get("VoucherNo"), f"D{target.line:04d}" if target.line else "", fen))
            by_payment[target.name] = by_payment.get(target.name, 0) + fen
    assert _refunds(w) == sorted(expected)
    assert all(r.state == "accepted" for r in w.bank.duties.s.refunds.values()), w.alarms
    # per payment, never more back than it paid
    for name, fen in by_payment.items():
        assert fen <= parse_fen(docs[name].get("PayAmt"))
    assert payees_before - w.books.get(w.bank.accounts["payees"], 0) == sum(f for *_, f in expected)
    assert len(w.alarms) == len(notices) - len(expected)


# --- the refund is filed under the payment's division, not the bank's configured one ---

class _Wire(World):
    """The World, keeping what the bank sent the central bank too."""

    def __init__(self) -> None:
        self.to_pboc: list[tuple[str, str]] = []
        super().__init__(DutiesConfig())

    def apply(self, effects: list, now: dt.datetime) -> None:  # type: ignore[type-arg]
        from sim.effects import SendVoucher

        self.to_pboc += [(e.vtcode, e.head.get("AdmDivCode", "")) for e in effects
                         if isinstance(e, SendVoucher) and e.recipient_role == "pboc"]
        super().apply(effects, now)


@pytest.mark.parametrize("division", ["990100", OTHER_DIV])
def test_a_two_division_bank_files_the_refund_and_its_notice_under_the_payments_division(division: str) -> None:
    """Before: the 2301, the 2302 and the 2203 carried the bank's configured AdmDivCode (990100)
    whatever the payment's: a 990200 payment was cleared, and its refund filed and noticed, under
    990100, whose treasury never paid it. The refund goes back by the original channel (003 §35
    "原渠道退回": the clearing of that division) and the notice to the treasury that paid it (004
    part 3 §8(5), §9(9)); so the payment is cleared under its division in the first place."""
    w = _Wire()
    w.quota(DAY, 10_000_00)
    w.quota(DAY, 10_000_00, adm_div_code=OTHER_DIV)
    paid = _pay(w, f"ZZDIV{division[-3:]}1", 1_000_00, t(DAY, "10:00"), division)
    w.tick(t(DAY, "17:00"))
    _notice(w, paid, t(NXT, "09:00"), 1)
    w.tick(t(NXT, "17:00"))
    assert _refunds(w) == [(paid.get("VoucherNo"), "", 1_000_00)]
    assert w.to_pboc == [("2301", division), ("2302", division)]
    [notice] = [s for s in w.to_treasury if s.vtcode == "2203"]
    assert notice.head["AdmDivCode"] == division and notice.head["OriVoucherNo"] == paid.get("VoucherNo")
