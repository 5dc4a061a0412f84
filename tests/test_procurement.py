"""Government procurement payments (政府采购, 003 §28; 004 part 4 §13; docs/payment-kinds.md): the
treasury's contract check with its cumulative bound, the gateway's completeness check, the bank's
checks on the voucher, the example bank's, and the scenarios both ways."""

from __future__ import annotations

import asyncio
import datetime as dt
import runpy
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bank_sim.returns import KNOWN_PAYEES, ReturnFacts, check_return
from messages.business import business_issues
from messages.catalog import get_catalog
from messages.errors import CODES
from messages.factory import payment_voucher
from messages.validate import validate_bytes
from messages.voucher import build_voucher, parse_voucher
from runner.scenario_file import ScenarioError, load_scenario, load_text
from runner.scenario_run import run_scenario
from treasury_sim.procurement import (
    Contract,
    ContractBook,
    ProcurementRequest,
    check,
    give_back,
    issue,
    request_of,
)

ROOT = Path(__file__).resolve().parent.parent
INSTALMENTS = ROOT / "scenarios" / "procurement-two-instalments-paid-third-over-contract-refused.yaml"
REFUSALS = ROOT / "scenarios" / "procurement-payee-not-the-supplier-refused.yaml"
SUPPLIER = "6222990000031801"
CONTRACT = Contract("HT-1", "101001", SUPPLIER, "示例供应商有限公司", 100_000_00)
ADVANCE_OK = Contract("HT-2", "101001", SUPPLIER, "示例供应商有限公司", 50_000_00, acceptance_required=False)


def _req(amount_fen: int, *, contract: str = "HT-1", unit: str = "101001", payee: str = SUPPLIER, flag: str = "1",
         vou_date: str = "20260310", accept_date: str = "20260310") -> ProcurementRequest:
    return ProcurementRequest(contract, unit, payee, amount_fen, flag, vou_date, accept_date if flag == "1" else "")


def _book() -> ContractBook:
    return ContractBook({"HT-1": CONTRACT, "HT-2": ADVANCE_OK})


# --- the treasury: its preset rules against the contract --------------------------------------------

@pytest.mark.parametrize(("req", "code", "element"), [
    (_req(1_00, contract="HT-9"), "procurement-contract-unknown", "/Voucher/ContractNo"),
    (_req(1_00, unit="102001"), "procurement-contract-unknown", "/Voucher/ContractNo"),  # another unit's
    (_req(1_00, payee="6222990000049999"), "procurement-payee-not-supplier", "/Voucher/PayeeAcctNo"),
    (_req(1_00, flag="2"), "procurement-before-acceptance", "/Voucher/ProcureFlag"),
    (_req(1_00, accept_date="20260311"), "procurement-before-acceptance", "/Voucher/AcceptDate"),
    (_req(100_000_01), "procurement-over-contract", "/Voucher/PayAmt"),
])
def test_the_treasury_refuses_naming_the_code_and_the_element(req: ProcurementRequest, code: str,
                                                              element: str) -> None:
    refused = check(_book(), req)
    assert refused is not None and (refused.code, refused.element) == (code, element)
    assert code in CODES


@pytest.mark.parametrize("req", [
    _req(100_000_00),  # the whole contract at once, on acceptance the same day
    _req(1_00, accept_date="20260309"),  # accepted before the request
    _req(50_000_00, contract="HT-2", flag="2"),  # an advance the contract allows
    _req(1_00, contract="HT-2", accept_date="20260320"),  # no acceptance required: its date decides nothing
])
def test_the_treasury_issues_what_the_contract_allows(req: ProcurementRequest) -> None:
    assert check(_book(), req) is None


def test_the_request_is_read_from_the_voucher_head_and_only_with_procureflag() -> None:
    head = {"ProcureFlag": "1", "ContractNo": "HT-1", "AgencyCode": "101001", "PayeeAcctNo": SUPPLIER,
            "VouDate": "20260310", "AcceptDate": "20260309"}
    assert request_of(head, 5_00) == ProcurementRequest("HT-1", "101001", SUPPLIER, 5_00, "1", "20260310", "20260309")
    assert request_of({**head, "ProcureFlag": ""}, 5_00) is None
    assert request_of({k: v for k, v in head.items() if k != "ProcureFlag"}, 5_00) is None


@given(amount=st.integers(min_value=1, max_value=10**11),
       requests=st.lists(st.tuples(st.integers(min_value=1, max_value=10**11), st.booleans()), max_size=30))
def test_what_is_issued_on_a_contract_never_passes_its_amount_and_only_what_would_is_refused(
        amount: int, requests: list[tuple[int, bool]]) -> None:
    """The cumulative bound (003 §28, the treasury's preset rule): each request is refused exactly
    when, with what was issued before and not given back, it would pass the contract amount; a
    voucher whose money never left (gateway refusal, returned unpaid) gives its amount back."""
    book = ContractBook({"HT-1": Contract("HT-1", "101001", SUPPLIER, "示例供应商有限公司", amount)})
    issued: list[int] = []
    for fen, never_left in requests:
        before = sum(issued)
        refused = issue(book, _req(fen))
        assert (refused is not None) == (before + fen > amount)
        if refused is None:
            issued.append(fen)
            if never_left:  # the bank returned it unpaid: its amount is the contract's again
                give_back(book, "HT-1", fen)
                issued.pop()
        else:
            assert refused.code == "procurement-over-contract"
        assert book.issued_fen.get("HT-1", 0) == sum(issued) <= amount


def test_giving_back_more_than_was_issued_is_a_defect() -> None:
    book = _book()
    assert issue(book, _req(10_00)) is None
    with pytest.raises(ValueError):
        give_back(book, "HT-1", 10_01)


def test_a_contract_of_no_amount_is_refused() -> None:
    with pytest.raises(ValueError):
        Contract("HT-0", "101001", SUPPLIER, "示例供应商有限公司", 0)


# --- the gateway: the documents are named ----------------------------------------------------------

PROCUREMENT_HEAD = {"ProcureFlag": "1", "ContractNo": "HT-1", "SupplierAcctNo": SUPPLIER,
                    "SupplierName": "示例供应商有限公司", "AcceptDocNo": "YS-1", "AcceptDate": "20260310",
                    "PayeeAcctNo": SUPPLIER, "PayeeAcctName": "示例供应商有限公司"}


def _voucher(**head: str) -> bytes:
    doc = parse_voucher(payment_voucher(voucher_no="CG2026031000001", vou_date=dt.date(2026, 3, 10),
                                        pay_bank_code="999100000001", amount_fen=60_000_00))
    fields = {k: v for k, v in {**doc.head(), **head}.items() if v != ""}
    return build_voucher("5201", fields, doc.details())


@pytest.mark.parametrize("missing", ["ContractNo", "SupplierAcctNo", "SupplierName", "AcceptDocNo", "AcceptDate"])
def test_the_gateway_refuses_a_procurement_payment_on_acceptance_without_a_document(missing: str) -> None:
    data = _voucher(**{**PROCUREMENT_HEAD, missing: ""})
    issues = business_issues(parse_voucher(data), get_catalog().get("5201"), 0)
    assert [(i.code, i.path) for i in issues] == [("procurement-documents-missing", f"/Voucher/{missing}")]


def test_the_gateway_passes_a_complete_one_an_advance_without_acceptance_and_a_plain_payment() -> None:
    complete = _voucher(**PROCUREMENT_HEAD)
    assert validate_bytes(complete, flag=0)[1] == []
    advance = _voucher(**{**PROCUREMENT_HEAD, "ProcureFlag": "2", "AcceptDocNo": "", "AcceptDate": ""})
    assert validate_bytes(advance, flag=0)[1] == []
    assert validate_bytes(_voucher(), flag=0)[1] == []
    # an advance still names its contract
    bare = _voucher(**{**PROCUREMENT_HEAD, "ProcureFlag": "2", "ContractNo": "", "AcceptDocNo": "", "AcceptDate": ""})
    assert [i.code for i in validate_bytes(bare, flag=0)[1]] == ["procurement-documents-missing"]


def test_an_unknown_procureflag_is_the_schemas() -> None:
    assert [i.code for i in validate_bytes(_voucher(**{**PROCUREMENT_HEAD, "ProcureFlag": "3"}), flag=0)[1]] == [
        "xsd-invalid"]


# --- the bank: what it sees on the voucher ---------------------------------------------------------

_BANK_HEAD = {**PROCUREMENT_HEAD, "PayeeAcctBankName": "示例银行高新支行", "AgencyCode": "101001", "SupDepCode": "101",
              "FundTypeCode": "1"}


def _bank(head: dict[str, str], pay_day: str = "20260310") -> tuple[str, str] | None:
    return check_return(ReturnFacts("999100000001", "5201", head, [{"ExpFuncCode": "2050203"}], dict(KNOWN_PAYEES),
                                    pay_day=pay_day))


@pytest.mark.parametrize(("change", "pay_day", "code"), [
    ({"PayeeAcctNo": "6222990000049999"}, "20260310", "procurement-payee-not-supplier"),
    ({"PayeeAcctName": "示例贸易有限公司"}, "20260310", "procurement-payee-not-supplier"),
    ({"SupplierAcctNo": "6222990000049999"}, "20260310", "procurement-payee-not-supplier"),
    ({}, "20260309", "procurement-before-acceptance"),  # accepted the day after it arrived
])
def test_the_bank_returns_unpaid_what_it_can_see_is_wrong(change: dict[str, str], pay_day: str, code: str) -> None:
    found = _bank({**_BANK_HEAD, **change}, pay_day)
    assert found is not None and found[0] == code


@pytest.mark.parametrize(("change", "pay_day"), [
    ({}, "20260310"), ({}, "20260311"),  # accepted that day or before
    ({"ProcureFlag": "2", "AcceptDate": "20260320"}, "20260310"),  # an advance: no acceptance to wait for
    ({"ProcureFlag": "", "PayeeAcctNo": "6222990000049999"}, "20260310"),  # not procurement: no supplier to match
])
def test_the_bank_pays_what_agrees_with_itself(change: dict[str, str], pay_day: str) -> None:
    assert _bank({**_BANK_HEAD, **change}, pay_day) is None


EXAMPLE_BANK: Any = runpy.run_path(str(ROOT / "examples" / "sdk_bank.py"), run_name="sdk_bank_procurement")["Bank"]


@pytest.mark.parametrize(("change", "today", "code"), [
    ({"PayeeAcctNo": "6222990000049999"}, dt.date(2026, 3, 10), "procurement-payee-not-supplier"),
    ({}, dt.date(2026, 3, 9), "procurement-before-acceptance"),
    ({}, dt.date(2026, 3, 10), None),
    ({"ProcureFlag": "2", "AcceptDate": "20260320"}, dt.date(2026, 3, 10), None),
])
def test_the_example_bank_makes_the_same_checks(change: dict[str, str], today: dt.date, code: str | None) -> None:
    doc = parse_voucher(_voucher(**{**PROCUREMENT_HEAD, **change}))
    found = EXAMPLE_BANK._procurement(doc, today)
    assert (found.split(":", 1)[0] if found else None) == code


_ACCTS = st.sampled_from(["6222990000031801", "6222990000049999"])
_NAMES = st.sampled_from(["示例供应商有限公司", "示例贸易有限公司"])
_DAYS = st.sampled_from(["20260309", "20260310", "20260311"])


@settings(max_examples=200, deadline=None)
@given(flag=st.sampled_from(["", "1", "2"]), payee=_ACCTS, supplier=_ACCTS, payee_name=_NAMES, supplier_name=_NAMES,
       accepted=_DAYS, today=_DAYS)
def test_the_simulated_and_the_example_bank_return_the_same_procurement_vouchers(
        flag: str, payee: str, supplier: str, payee_name: str, supplier_name: str, accepted: str, today: str) -> None:
    """Two banks written apart (bank_sim from its rule table, the example bank from docs/rules.md)
    agree on every procurement voucher: returned with the same code, or both paid."""
    head = {**_BANK_HEAD, "ProcureFlag": flag, "PayeeAcctNo": payee, "SupplierAcctNo": supplier,
            "PayeeAcctName": payee_name, "SupplierName": supplier_name, "AcceptDate": accepted}
    ours = _bank(head, today)
    doc = parse_voucher(_voucher(**{k: head[k] for k in PROCUREMENT_HEAD}))
    theirs = EXAMPLE_BANK._procurement(doc, dt.datetime.strptime(today, "%Y%m%d").date())
    assert (ours[0] if ours else None) == (theirs.split(":", 1)[0] if theirs else None)
    procurement = flag in ("1", "2")
    expected = ("procurement-payee-not-supplier" if procurement and (payee, payee_name) != (supplier, supplier_name)
                else "procurement-before-acceptance" if flag == "1" and accepted > today else None)
    assert (ours[0] if ours else None) == expected


# --- the scenarios, simulated: both ways ------------------------------------------------------------

def _failed(text: str, tmp: Path) -> list[tuple[str, str]]:
    r = asyncio.run(run_scenario(load_text(text, "procurement.yaml", base=INSTALMENTS.parent), tmp))
    assert r.error is None
    return [(o.name, o.actual) for o in r.failed]


@pytest.mark.parametrize("path", [INSTALMENTS, REFUSALS], ids=["instalments", "refusals"])
def test_the_scenarios_hold(path: Path, tmp_path: Path) -> None:
    assert _failed(path.read_text(encoding="utf-8"), tmp_path) == []


@pytest.mark.parametrize("wrong", [
    ("code: procurement-over-contract, who: treasury", "code: procurement-over-contract, who: bank"),
    ('equals: "499900000.00"', 'equals: "499895000.00"'),  # the third paid too: it is not
    ("sender: treasury, equals: 2}", "sender: treasury, equals: 3}"),
])
def test_a_wrong_expectation_of_the_instalments_fails(wrong: tuple[str, str], tmp_path: Path) -> None:
    text = INSTALMENTS.read_text(encoding="utf-8")
    assert text.count(wrong[0]) == 1
    assert len(_failed(text.replace(*wrong), tmp_path)) == 1


def test_a_bigger_contract_pays_the_third_and_the_refusal_expectation_fails(tmp_path: Path) -> None:
    text = INSTALMENTS.read_text(encoding="utf-8").replace('amount: "100000.00"}', 'amount: "105000.00"}')
    failed = _failed(text, tmp_path)
    assert {name for name, _ in failed} >= {
        "the third would pass the contract amount; the treasury refuses it before issuing",
        "only the two instalments were ever issued"}, failed


@pytest.mark.parametrize("wrong", [
    ("code: procurement-payee-not-supplier, who: treasury", "code: procurement-payee-not-supplier, who: gateway"),
    ("code: procurement-documents-missing, who: gateway", "code: procurement-documents-missing, who: bank"),
    ('ProcureFlag: "2"}}', 'ProcureFlag: "1"}}'),
])
def test_a_wrong_expectation_of_the_refusals_fails(wrong: tuple[str, str], tmp_path: Path) -> None:
    text = REFUSALS.read_text(encoding="utf-8")
    assert text.count(wrong[0]) == 1
    assert len(_failed(text.replace(*wrong), tmp_path)) == 1


# --- the scenario file -----------------------------------------------------------------------------

def test_the_world_declares_its_contracts_and_the_template_pays_the_supplier() -> None:
    s = load_scenario(INSTALMENTS)
    [c] = s.world.contracts
    assert (c.number, c.unit, c.supplier_account, c.amount_fen, c.acceptance_required) == (
        "HT2026-0318", "101001", SUPPLIER, 100_000_00, True)
    first = s.steps[0].sends[0]
    assert (first.template, first.unit, first.contract, first.amount_fen) == ("procurement", "101001",
                                                                            "HT2026-0318", 60_000_00)
    assert {k: first.fields[k] for k in ("ProcureFlag", "SupplierAcctNo", "PayeeAcctNo", "AcceptDate")} == {
        "ProcureFlag": "1", "SupplierAcctNo": SUPPLIER, "PayeeAcctNo": SUPPLIER, "AcceptDate": "20260310"}
    second = s.steps[1].sends[0]
    assert second.fields["AcceptDate"] == "20260311"  # D+1


@pytest.mark.parametrize(("old", "new", "message"), [
    ("contract: HT2026-0318, amount: \"60000.00\"", "contract: HT-NONE, amount: \"60000.00\"",
     "send.contract: no contract 'HT-NONE' in world.contracts"),
    ('unit: "101001", supplier_account', 'unit: "999999", supplier_account', "no budget unit with agency '999999'"),
    ('amount: "100000.00"}', 'amount: "0.00"}', "a contract amount is more than 0.00"),
])
def test_a_bad_contract_or_procurement_send_is_refused_naming_the_field(old: str, new: str, message: str) -> None:
    text = INSTALMENTS.read_text(encoding="utf-8")
    assert text.count(old) == 1
    with pytest.raises(ScenarioError) as info:
        load_text(text.replace(old, new), "x.yaml")
    assert any(message in line for line in info.value.lines()), info.value.lines()


# --- against the example bank (examples/sdk_bank.py) as bank-a: both ways ---------------------------

@pytest.mark.slow
@pytest.mark.parametrize("flag", [None, "--pay-any-payee"])
@pytest.mark.parametrize("path", [INSTALMENTS, REFUSALS], ids=["instalments", "refusals"])
def test_the_scenarios_against_the_example_bank(path: Path, flag: str | None, tmp_path: Path) -> None:
    from runner.world import DevWorld
    from tests.test_conformance import _failures, _gateway_and_bank
    from tgw import main as tgw_main

    world = DevWorld.create(tmp_path / "world")
    junit = tmp_path / "junit.xml"
    with _gateway_and_bank(world, tmp_path / "procs", (flag,) if flag else ()) as url:
        code = tgw_main(["scenario", "run", str(path), "--external", "bank-a", "--url", url, "--world",
                         str(world.root), "--junit", str(junit), "--quiet"])
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "0"
    assert int(suite.get("tests") or 0) > int(suite.get("skipped") or 0) + 3  # run, not skipped whole
    failures = _failures(junit)
    if flag is None or path == INSTALMENTS:  # the instalments ask nothing of the bank's own checks
        assert failures == {} and code == 0, failures
    else:  # a bank that pays any payee fails the bank's check, and only it
        assert [n for n in failures] == [n for n in failures if "the bank returns unpaid" in n] != [], failures
        assert code == 1


# --- what never left gives its amount back to the contract (runner.procurement_steps) -------------

GIVE_BACK = '''
scenario: procurement-give-back
title: t
description: d
tags: [procurement]
world:
  start: 2026-03-10
  contracts:
    - {number: HT-9, unit: "101001", supplier_account: "6222990000090001", supplier_name: 示例供应商有限公司,
       amount: "1000.00"}
steps:
  - at: "10:00"
    send: {id: first, template: procurement, bank: bank-a, contract: HT-9, amount: "1000.00",
           acceptance: {doc: YS-9, date: "2026-03-10"}, fields: {FIRST}}
  - at: "11:00"
    send: {id: again, template: procurement, bank: bank-a, contract: HT-9, amount: "1000.00",
           acceptance: {doc: YS-9, date: "2026-03-10"}}
expect:
  - rejected: {voucher: first, code: CODE, who: WHO}
    by: "10:00"
  - receipt: {voucher: again, from: bank-a, fields: {XPayAmt: "1000.00"}}
    by: "16:00"
'''


@pytest.mark.parametrize(("first", "code", "who"), [
    ('StYear: "2025"', "styear-mismatch", "gateway"),  # refused at the gateway
    ('PayeeAcctBankNo: "999100000001"', "payee-account-unknown", "bank"),  # returned unpaid: not bank-a's account
])
def test_a_voucher_whose_money_never_left_gives_the_contract_its_amount_back(first: str, code: str, who: str,
                                                                             tmp_path: Path) -> None:
    text = GIVE_BACK.replace("FIRST", first).replace("CODE", code).replace("WHO", who)
    assert _failed(text, tmp_path) == []
    # a voucher that was paid does not: the same request again passes the contract amount
    paid = text.replace(f"fields: {{{first}}}", "fields: {}").replace(f"code: {code}, who: {who}",
                                                                        "code: procurement-over-contract, who: treasury")
    failed = _failed(paid, tmp_path / "paid")
    assert [a for _, a in failed][1:] == ["the treasury refused it (procurement-over-contract): it was never issued"]
    assert len(failed) == 2 and "procurement-over-contract by treasury" not in failed[0][1], failed
