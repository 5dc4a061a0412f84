"""An agent bank written only against the client SDK: what a bank team's system does, in one file.

It is the system under test in the conformance suite's own tests (`tests/test_conformance.py`,
`docs/conformance.md`): it connects to a gateway over HTTP with its own certificate (its seal
signs what it sends) and token, and uses only `client.GatewayClient` for the wire,
`messages/` to read and build vouchers, and `business_time/` for the Chinese working-day calendar
(a bank has its own; this one is the project's). Its books are in memory: a real bank keeps them
in its core banking system.

The rules are the agent-bank agreement's (../shared/DOMAIN.md, "The clock"), as the simulated
bank (`bank_sim`) follows them:

* a payment voucher (5201 direct, 8202 authorized) for this bank, received on a business day
  before its own clearing cut (15:30), is paid at once from the zero-balance account and joins
  that day's clearing request; received later but before the close (17:00), it is paid at once
  as an advance from the clearing reserve; otherwise (after the close, on a holiday, reserve
  short) it is paid at 09:00 on the next business day. Each payment goes back to the treasury as
  the receipt: the voucher with XPayDate, XPayAmt and XAgentBusinessNo filled;
* at 15:30 it files one clearing request (2301, ClearType 0) per pay type and fund type for the
  day's payments, one Detail per payment naming it (Detail/VoucherNo); at 08:45 on the next
  business day one ClearType 1 request (reserve replenishment) for the previous day's advances;
* the central bank's answer (the 2301 receipt) makes the reserve whole or is logged as refused.

**Business time is the gateway's.** The bank never reads the wall clock: it asks the gateway
(`client.clock()`), and once it has done everything due up to a time it waits on the clock
(`client.clock(after=that time, wait_s=...)`): against a simulated clock that is how the
conformance runner knows the bank has caught up. Deliveries are acked after what they caused has
been sent.

Deliberately wrong variants, for the conformance suite's own tests (each fails the expectations it
should): `--late-receipts` (receipts go out at 11:30 the next business day, after the deadline),
`--wrong-xfields` (XPayAmt one fen short, XPayDate a day late), `--over-quota` (each normal
clearing request asks 1,000,000.00 more than was paid).

    python examples/sdk_bank.py --url http://127.0.0.1:8470 --id bank-a --bank-code 999100000001 \\
        --key world/keys/bank-a.key --cert world/keys/bank-a.pem --token "$BANK_A_TOKEN"
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from business_time.calendar import BusinessCalendar
from business_time.clock import at, replenishment_day
from client import Delivery, GatewayClient
from messages.envelope import encode_envelope, parse_envelope
from messages.money import fen_to_str, parse_fen
from messages.sealing import seal_as_role, voucher_body
from messages.signing import KeySigner
from messages.voucher import VoucherDoc, build_voucher, fill_receipt, parse_voucher

FILING = dt.time(15, 30)  # the bank's own clearing cut, before the central bank's 16:00
REPLENISH = dt.time(8, 45)  # inside the central bank's replenishment window (08:30-10:00)
OPEN = dt.time(9, 0)  # vouchers held overnight are paid then
CLOSE = dt.time(17, 0)  # the bank's transfer system closes
LATE = dt.time(11, 30)  # --late-receipts: after the 11:00 receipts deadline
CLOCK_WAIT_S = 25.0  # one long-poll on the clock; the loop polls again
INBOX_WAIT_S = 25.0  # one long-poll on the inbox
SEND_BATCH_MAX = 100  # vouchers in one envelope: well under the gateway's envelope size limit
PAY_TYPE = {"5201": "11", "8202": "12"}
OVER_QUOTA_FEN = 1_000_000_00


@dataclass
class Payment:
    doc: VoucherDoc
    amount_fen: int
    mode: str  # clearing, advance, defer
    day: dt.date | None = None  # the day it was paid
    receipt: bytes | None = None
    filing: str | None = None


@dataclass
class Filing:
    clear_type: int
    amount_fen: int
    state: str = "pending"


@dataclass
class Bank:
    bank_id: str
    code: str
    name: str
    reserve_fen: int
    late_receipts: bool = False
    wrong_xfields: bool = False
    over_quota: bool = False
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar.default)
    payments: dict[str, Payment] = field(default_factory=dict)  # by the original's voucher key
    filings: dict[str, Filing] = field(default_factory=dict)
    held_receipts: list[tuple[dt.date, bytes]] = field(default_factory=list)  # --late-receipts
    cursor: dt.datetime | None = None  # everything due up to here is done
    serial: int = 0

    # ---- time: the day's schedule, caught up to `now` -----------------------------------------

    def on_time(self, now: dt.datetime) -> list[tuple[bytes, int]]:
        """(voucher bytes, flag) to send for everything due up to `now`."""
        out: list[tuple[bytes, int]] = []
        if self.cursor is None:
            self.cursor = now
            return out
        day = self.cursor.date()
        while day <= now.date():
            if self.calendar.is_business_day(day):
                for when, what in sorted([(REPLENISH, "replenish"), (OPEN, "open"), (LATE, "late"),
                                          (FILING, "file"), (CLOSE, "close")]):
                    t = at(day, when)
                    if self.cursor < t <= now:
                        self.cursor = t
                        out += self._event(what, t)
            day += dt.timedelta(days=1)
        self.cursor = max(self.cursor, now)
        return out

    def _event(self, what: str, t: dt.datetime) -> list[tuple[bytes, int]]:
        if what == "open":
            return [r for p in self.payments.values() if p.mode == "defer" and p.day is None
                    for r in self._pay(p, t)]
        if what == "file":
            due = [(k, p) for k, p in self.payments.items() if p.mode != "advance" and p.day == t.date() and not p.filing]
            return self._file(due, 0, t.date(), t)
        if what == "replenish":
            due = [(k, p) for k, p in self.payments.items() if p.mode == "advance" and p.day is not None
                   and not p.filing and replenishment_day(p.day, self.calendar) == t.date()]
            out = []
            for day in sorted({p.day for _, p in due if p.day is not None}):
                out += self._file([(k, p) for k, p in due if p.day == day], 1, day, t)
            return out
        if what == "late":
            late = [r for d, r in self.held_receipts if d < t.date()]
            self.held_receipts = [(d, r) for d, r in self.held_receipts if d >= t.date()]
            return [(r, 1) for r in late]
        return []

    # ---- deliveries --------------------------------------------------------------------------

    def on_delivery(self, doc: VoucherDoc, flag: int, reason: str | None, now: dt.datetime) -> list[tuple[bytes, int]]:
        out = self.on_time(now)
        key = f"{doc.get('AdmDivCode')}/{doc.get('StYear')}/{doc.vtcode}/{doc.get('VoucherNo')}"
        if flag == 0 and doc.vtcode in PAY_TYPE:
            known = self.payments.get(key)
            if known is not None:  # delivered again (at least once): the same receipt again, if paid
                return out + ([(known.receipt, 1)] if known.receipt and not self.late_receipts else [])
            if doc.get("PayBankCode") != self.code:
                log(f"not ours: {key} is for bank {doc.get('PayBankCode')}")
                return out
            amount = parse_fen(doc.get("PayAmt"))
            business = self.calendar.is_business_day(now.date())
            if business and now.time() < FILING:
                mode = "clearing"
            elif business and now.time() < CLOSE and amount <= self.reserve_fen:
                mode = "advance"
            else:
                mode = "defer"
            payment = Payment(doc, amount, mode)
            self.payments[key] = payment
            return out + (self._pay(payment, now) if mode != "defer" else [])
        if flag == 1 and doc.vtcode == "2301":
            filing = self.filings.get(doc.get("VoucherNo"))
            if filing is None or filing.state != "pending":
                return out
            if reason is None and parse_fen(doc.get("XClearAmt") or "0.00") == filing.amount_fen:
                filing.state = "accepted"
                if filing.clear_type == 1:
                    self.reserve_fen += filing.amount_fen
            else:
                filing.state = "rejected"
                log(f"clearing request {doc.get('VoucherNo')} refused: {reason}")
            return out
        log(f"not handled: VtCode {doc.vtcode} flag {flag}")
        return out

    # ---- paying and clearing -----------------------------------------------------------------

    def _pay(self, p: Payment, now: dt.datetime) -> list[tuple[bytes, int]]:
        p.day = now.date()
        if p.mode == "advance":
            self.reserve_fen -= p.amount_fen
        self.serial += 1
        paid_amt, paid_day = p.amount_fen, p.day
        if self.wrong_xfields:
            paid_amt, paid_day = p.amount_fen - 1, p.day + dt.timedelta(days=1)
        p.receipt = fill_receipt(p.doc, {"XPayDate": f"{paid_day:%Y%m%d}", "XPayAmt": fen_to_str(paid_amt),
                                         "XAgentBusinessNo": f"YH{self.code[-4:]}{p.day:%Y%m%d}{self.serial:08d}"})
        if self.late_receipts:
            self.held_receipts.append((p.day, p.receipt))
            return []
        return [(p.receipt, 1)]

    def _file(self, due: list[tuple[str, Payment]], clear_type: int, clear_date: dt.date,
              now: dt.datetime) -> list[tuple[bytes, int]]:
        groups: dict[tuple[str, str, str], list[Payment]] = {}
        for _, p in due:
            groups.setdefault((PAY_TYPE[p.doc.vtcode], p.doc.get("FundTypeCode"), p.doc.get("FundTypeName")),
                              []).append(p)
        out = []
        for (pay_type, fund_code, fund_name), group in sorted(groups.items(), key=lambda g: g[0]):
            self.serial += 1
            no = f"HK{self.code[-4:]}{now:%Y%m%d}{self.serial:05d}"
            details = [{"Id": f"D{i:04d}", "VoucherNo": p.doc.get("VoucherNo"), "SupDepCode": p.doc.get("SupDepCode"),
                        "SupDepName": p.doc.get("SupDepName"), "PayAmt": fen_to_str(p.amount_fen)}
                       for i, p in enumerate(group, start=1)]
            total = sum(p.amount_fen for p in group)
            if self.over_quota and clear_type == 0:
                details.append({"Id": f"D{len(details) + 1:04d}", "SupDepCode": group[0].doc.get("SupDepCode"),
                                "SupDepName": group[0].doc.get("SupDepName"), "PayAmt": fen_to_str(OVER_QUOTA_FEN)})
                total += OVER_QUOTA_FEN
            head = {"Id": f"V2301{no}", "AdmDivCode": group[0].doc.get("AdmDivCode"), "StYear": str(now.year),
                    "VouDate": f"{now:%Y%m%d}", "VoucherNo": no, "PayBankCode": self.code, "PayBankName": self.name,
                    "ClearDate": f"{clear_date:%Y%m%d}", "PayTypeCode": pay_type, "FundTypeCode": fund_code,
                    "FundTypeName": fund_name, "UrgentFlag": "0", "ClearType": str(clear_type),
                    "PayAmt": fen_to_str(total)}
            self.filings[no] = Filing(clear_type, total)
            for p in group:
                p.filing = no
            out.append((build_voucher("2301", head, details), 0))
        return out


def log(text: str) -> None:
    print(f"sdk_bank: {text}", file=sys.stderr, flush=True)


class Runner:
    """The bank's two loops over one client: the clock and the inbox, one at a time on the books."""

    def __init__(self, bank: Bank, client: GatewayClient, signer: KeySigner) -> None:
        self.bank, self.client, self.signer = bank, client, signer
        self.lock = asyncio.Lock()

    async def send(self, vouchers: list[tuple[bytes, int]]) -> None:
        for i in range(0, len(vouchers), SEND_BATCH_MAX):
            bodies = [seal_as_role(voucher_body(v, flag=flag), self.signer, "bank")
                      for v, flag in vouchers[i:i + SEND_BATCH_MAX]]
            for r in await self.client.send(encode_envelope(bodies)):
                if not r.ok:
                    log(f"refused {r.voucher}: {r.code}: {r.message}")

    async def clock_loop(self) -> None:
        after: str | None = None
        while True:
            view = await (self.client.clock(after=after, wait_s=CLOCK_WAIT_S) if after else self.client.clock())
            if view["now"] == after:  # the long-poll timed out: the clock did not move
                continue
            async with self.lock:
                await self.send(self.bank.on_time(dt.datetime.fromisoformat(view["now"])))
            after = view["now"]  # done with everything due up to here: wait on the clock

    async def inbox_loop(self) -> None:
        while True:
            items: list[Delivery] = await self.client.receive(timeout_s=INBOX_WAIT_S)
            if not items:
                continue
            async with self.lock:
                now = dt.datetime.fromisoformat((await self.client.clock())["now"])
                out: list[tuple[bytes, int]] = []
                for item in items:
                    [body] = parse_envelope(item.envelope).bodies
                    out += self.bank.on_delivery(parse_voucher(body.voucher), body.flag, body.return_reason, now)
                await self.send(out)
                await self.client.ack(*items)  # after what they caused has been sent

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self.clock_loop())
            group.create_task(self.inbox_loop())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="the gateway, e.g. http://127.0.0.1:8470")
    p.add_argument("--id", required=True, help="this bank's participant id, e.g. bank-a")
    p.add_argument("--bank-code", required=True, help="this bank's 12-digit code (PayBankCode)")
    p.add_argument("--name", default="示例银行", help="this bank's name (PayBankName of its clearing requests)")
    p.add_argument("--key", required=True, help="this bank's private key (PEM)")
    p.add_argument("--cert", required=True, help="its certificate (PEM): the SN the gateway checks the seal with")
    p.add_argument("--token", help="bearer token (or --secrets FILE with {id: {token}}, e.g. a world's secrets.json)")
    p.add_argument("--secrets", help="JSON file with this bank's token under its id")
    p.add_argument("--reserve", default="20000000.00", help="the clearing reserve (yuan, default 20000000.00)")
    p.add_argument("--late-receipts", action="store_true", help="wrong on purpose: receipts the next day at 11:30")
    p.add_argument("--wrong-xfields", action="store_true", help="wrong on purpose: XPayAmt short, XPayDate late")
    p.add_argument("--over-quota", action="store_true", help="wrong on purpose: clearing requests ask too much")
    args = p.parse_args(argv)
    if args.token:
        token = args.token
    elif args.secrets:
        token = json.loads(Path(args.secrets).read_text())[args.id]["token"]
    else:
        p.error("give --token or --secrets")
    bank = Bank(args.id, args.bank_code, args.name, parse_fen(args.reserve), args.late_receipts, args.wrong_xfields,
                args.over_quota)
    signer = KeySigner.from_files(args.key, args.cert)

    async def go() -> None:
        async with GatewayClient.http(args.url, token=token, participant_id=args.id) as client:
            await Runner(bank, client, signer).run()

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
