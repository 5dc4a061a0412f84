"""The scripted treasury's stand-in (`runner.scenario_run._NullCore`) keeps what each payment's
receipt paid by the payment's key (AdmDivCode, StYear, VtCode, VoucherNo): two divisions' (or
years') payments of one number are two, and a division's report (2206) is checked against its own
division's payments (004 part 3 §10). Before, they were kept by VoucherNo: the second receipt of a
number was dropped, and a report was checked against every division's payments."""

from __future__ import annotations

import datetime as dt

from business_time.clock import at
from messages.voucher import VoucherDoc, build_voucher, parse_voucher
from runner.scenario_run import _NullCore

BANK = "999100000001"
HOME, OTHER = "990100", "990200"
DAY = dt.date(2026, 3, 25)
NOW = at(DAY, dt.time(12))


def _receipt(adm: str, year: str, no: str, fen: int, agency: str) -> VoucherDoc:
    head = {"AdmDivCode": adm, "StYear": year, "VoucherNo": no, "PayBankCode": BANK, "AgencyCode": agency,
            "XPayDate": f"{DAY:%Y%m%d}", "XPayAmt": f"{fen // 100}.{fen % 100:02d}"}
    return parse_voucher(build_voucher("5201", head, [{"Id": "D1", "PayAmt": head["XPayAmt"]}]))


def test_each_division_s_and_year_s_payment_of_one_number_is_kept_and_reported_apart() -> None:
    core = _NullCore()
    for adm, year, fen, agency in ((HOME, "2026", 100_00, "101"), (OTHER, "2026", 30_00, "201"),
                                   (HOME, "2025", 7_00, "102")):
        core.on_voucher(_receipt(adm, year, "ZZ1", fen, agency), 1, NOW)
    assert sorted(fen for _, _, fen, _ in core.paid.values()) == [7_00, 30_00, 100_00]
    assert core.agency_of("ZZ1", f"{OTHER}/2026/5201/ZZ1") == "201"
    for adm, stated in ((HOME, 107_00), (OTHER, 30_00)):
        report = build_voucher("2206", {"AdmDivCode": adm, "StYear": "2026", "VoucherNo": f"RB{adm}",
                                        "PayBankCode": BANK, "ReportDate": f"{DAY:%Y%m%d}",
                                        "PayAmt": f"{stated // 100}.00"}, [])
        core.on_voucher(parse_voucher(report), 0, NOW)
    assert [(r[5], r[6], r[11]) for r in core.reports] == [(107_00, 107_00, HOME), (30_00, 30_00, OTHER)]
