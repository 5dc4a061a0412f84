"""Snapshot encode/decode time and size of the central bank core after a 10,000-voucher day.

Not a test: prints figures (issue 16). `python -m bench.pboc_snapshot [N]` (N clearing requests, default
10,000, each naming one payment; 1 refund in 100; then the day's close). Works with the dict
snapshot (`stored_snapshot` + `dumps_plain`, as the store writes it) and the bytes one."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable

from business_time.calendar import BusinessCalendar
from business_time.clock import TZ, ClockConfig
from messages.voucher import build_voucher, parse_voucher
from pboc_sim.core import PbocConfig, PbocCore

ADM, BANK, DAY = "990100", "999100000001", dt.date(2026, 3, 16)


def at(hh: int, mm: int, ss: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hh, mm, ss), tzinfo=TZ)


def head(no: str, **kw: str) -> dict[str, str]:
    return {"Id": f"V{no}", "AdmDivCode": ADM, "StYear": "2026", "VouDate": "20260316", "VoucherNo": no,
            "PayBankCode": BANK, "PayBankName": "测试银行", "PayTypeCode": "11", "FundTypeCode": "1",
            "FundTypeName": "一般公共预算资金", **kw}


def day(n: int) -> PbocCore:
    core = PbocCore(PbocConfig(tsa_opening_fen=10**14), BusinessCalendar.default(), ClockConfig())
    core.on_time(at(8, 0))
    total = f"{n * 100}.00"
    core.on_voucher(parse_voucher(build_voucher("5108", head("QE1", ClearDate="20260316", PayAmt=total),
                                                [{"Id": "D1", "SupDepCode": "101", "SupDepName": "测试局",
                                                  "PayAmt": total}])), 0, at(8, 30))
    for i in range(n):
        no = f"HK{i:08d}"
        doc = parse_voucher(build_voucher("2301", head(no, ClearDate="20260316", UrgentFlag="0", ClearType="0",
                                                       PayAmt="100.00"),
                                          [{"Id": "D1", "VoucherNo": f"ZF{i:08d}", "SupDepCode": "101",
                                            "SupDepName": "测试局", "PayAmt": "100.00"}]))
        core.on_voucher(doc, 0, at(9, 0) + dt.timedelta(seconds=i * 2))
        if i % 100 == 0:
            ref = parse_voucher(build_voucher("2302", head(
                f"TK{i:08d}", OriVtCode="5201", OriVoucherNo=f"ZF{i:08d}", OriVouDate="20260316",
                AgencyCode="101001", AgencyName="测试单位", PayeeAcctNo="99990000000009999",
                PayeeAcctName="测试收款人", PayeeAcctBankName="测试支行", PayAcctNo="99901000000000099",
                PayAcctName="测试零余额账户", ReturnReasonCode="02", ReturnReasonName="收款账户已销户",
                PayAmt="10.00")))
            core.on_voucher(ref, 0, at(9, 0) + dt.timedelta(seconds=i * 2 + 1))
    core.on_time(at(17, 0))
    return core


def best(fn: Callable[[], object], rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    core = day(n)
    new = PbocCore(core.config, core.calendar, core.clock_config)
    data = core.snapshot()
    enc = best(core.snapshot)
    dec = best(lambda: new.load_snapshot(data))
    print(f"{n} clearing requests: snapshot {len(data):,} bytes, encode {enc * 1000:.1f} ms, "
          f"decode {dec * 1000:.1f} ms (best of 5)")


if __name__ == "__main__":
    main()
