"""Scenario worlds with several divisions (`world.divisions`, docs/scenarios.md "Divisions").

A scenario world held one division (AdmDivCode 990100): no end-to-end scenario could show two
divisions' treasuries paying through one bank. Now the world names its divisions and the banks
serving each (the registry's adm_div_codes, by which the gateway routes); `send` and `quota` steps
take `adm` (default: the first division); the automatic quota notices are per division. A step
naming a division the world does not have, or a bank for a division it does not serve, is refused
with `scenario-unknown-division`, naming the element.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from messages.money import parse_fen
from runner.observed import Observed
from runner.scenario_file import ScenarioError, load_text
from runner.scenario_run import run_scenario
from runner.world import DevWorld
from tests.two_divisions import HOME, OTHER, UNITS, world_yaml


def _issues(text: str) -> list[tuple[str, str, str]]:
    """(code, path after the line, message) of each problem of a scenario's text; [] if it loads."""
    try:
        load_text(text, "d.yaml")
    except ScenarioError as exc:
        return [(i.code, (i.path or "").split(": ", 1)[1], i.message) for i in exc.issues]
    return []


_TWO = """scenario: d
world:
  start: "2026-03-10"
  divisions:
    - {code: "990100"}
    - {code: "990200", banks: [bank-a]}
"""


@pytest.mark.parametrize(("step", "where"), [
    ('send: {id: v, adm: "990300", template: direct-payment, bank: bank-a, amount: "1.00"}', "steps[0].send.adm"),
    ('quota: {adm: "990300", bank: bank-a, pay_type: direct, amount: "1.00"}', "steps[0].quota.adm"),
    ('batch: {vouchers: [{id: v, adm: "990300", template: direct-payment, bank: bank-a, amount: "1.00"}]}',
     "steps[0].batch.vouchers[0].adm"),
    ('account: {adm: "990300", action: open, bank: bank-a, type: fiscal-special, number: "9999000000008001", '
     'approval: CK1}', "steps[0].account.adm"),
    ('suspend: {adm: "990300", bank: bank-a, unit: "101001", reason: x}', "steps[0].suspend.adm"),
    # bank-b does not serve 990200
    ('send: {id: v, adm: "990200", template: direct-payment, bank: bank-b, amount: "1.00"}', "steps[0].send.adm"),
    ('quota: {adm: "990200", bank: bank-b, pay_type: direct, amount: "1.00"}', "steps[0].quota.adm"),
])
def test_a_step_naming_a_division_the_world_lacks_is_a_coded_error_naming_the_element(step: str, where: str) -> None:
    [(code, path, message)] = _issues(_TWO + f"steps:\n  - at: \"10:00\"\n    {step}\nexpect:\n  - invariants: {{}}\n")
    assert (code, path) == ("scenario-unknown-division", where)
    assert ("990300" in message and "990100, 990200" in message) or "bank-b" in message, message
    lines = ScenarioError("d.yaml", [(5, where, message)], {0: code}).lines()
    assert lines == [f"d.yaml:5: {where}: {message} (scenario-unknown-division)"]


def test_tgw_scenario_validate_says_the_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from tgw import main

    bad = tmp_path / "bad.yaml"
    bad.write_text(_TWO + 'steps:\n  - at: "10:00"\n    send: {id: v, adm: "990300", template: direct-payment, '
                   'bank: bank-a, amount: "1.00"}\nexpect:\n  - invariants: {}\n', encoding="utf-8")
    assert main(["scenario", "validate", str(bad)]) == 2
    assert capsys.readouterr().err.strip() == (f"{bad}:9: steps[0].send.adm: no division '990300' in world.divisions; "
                                               "known: 990100, 990200 (scenario-unknown-division)")
    assert main(["scenario", "validate", "--format", "json", str(bad)]) == 2
    [error] = json.loads(capsys.readouterr().out)["files"][0]["errors"]
    assert (error["code"], error["line"]) == ("scenario-unknown-division", 9)


def test_a_step_of_a_division_the_world_has_loads_with_its_adm() -> None:
    text = _TWO + """steps:
  - at: "10:00"
    send: {id: v, adm: "990200", template: direct-payment, bank: bank-a, amount: "1.00"}
  - at: "10:01"
    send: {id: w, template: direct-payment, bank: bank-b, amount: "1.00"}
  - at: "10:02"
    quota: {id: q, adm: "990200", bank: bank-a, pay_type: direct, amount: "1.00"}
expect:
  - invariants: {}
"""
    s = load_text(text, "d.yaml")
    assert [spec.adm for st_ in s.steps for spec in st_.sends] == [OTHER, ""]  # "": the world's first
    assert s.steps[2].quota["adm"] == OTHER
    assert [(d.code, d.banks) for d in s.world.divisions] == [(HOME, ("bank-a", "bank-b")), (OTHER, ("bank-a",))]
    assert s.world.divisions_of("bank-b") == (HOME,) and s.world.divisions_of("bank-a") == (HOME, OTHER)
    # a world without divisions: one, 990100, every bank's (as before)
    one = load_text("scenario: d\nworld: {start: \"2026-03-10\"}\nexpect:\n  - invariants: {}\n", "d.yaml")
    assert [(d.code, d.banks) for d in one.world.divisions] == [(HOME, ("bank-a", "bank-b"))]


@pytest.mark.parametrize(("divisions", "where", "says"), [
    ('[{code: "990100"}, {code: "990100"}]', "world.divisions[1].code", "named twice"),
    ('[{code: "990100"}, {code: "990200", banks: [bank-z]}]', "world.divisions[1].banks[0]", "no bank 'bank-z'"),
    ('[{code: "990100", banks: [bank-a]}]', "world.banks[1].id", "serves no division"),
    ('[{code: "99"}]', "world.divisions[0].code", "AdmDivCode"),
])
def test_world_divisions_are_checked(divisions: str, where: str, says: str) -> None:
    text = ("scenario: d\nworld:\n  start: \"2026-03-10\"\n  banks: [{id: bank-a, code: \"999100000001\"}, "
            f"{{id: bank-b, code: \"999100000002\"}}]\n  divisions: {divisions}\nexpect:\n  - invariants: {{}}\n")
    [(code, path, message)] = _issues(text)
    assert (code, path) == ("scenario-invalid", where) and says in message, message


def test_a_generated_treasury_plans_one_division() -> None:
    text = ("scenario: d\nworld:\n  start: \"2026-03-10\"\n  treasury: {profile: generated}\n"
            "  divisions: [{code: \"990100\"}, {code: \"990200\"}]\nexpect:\n  - invariants: {}\n")
    [(code, path, _)] = _issues(text)
    assert (code, path) == ("scenario-invalid", "world.divisions")


def test_the_world_s_registry_serves_each_division_by_the_banks_listed(tmp_path: Path) -> None:
    banks = (("bank-a", "999100000001", "甲"), ("bank-b", "999100000002", "乙"))
    w = DevWorld.create(tmp_path / "two", banks=banks, divisions=[(HOME, ("bank-a", "bank-b")), (OTHER, ("bank-a",))])
    codes = {p.id: p.adm_div_codes for p in w.registry()}
    assert codes == {f"treasury-{HOME}": (HOME, OTHER), f"pboc-{HOME}": (HOME, OTHER), "bank-a": (HOME, OTHER),
                     "bank-b": (HOME,)}
    reg = w.registry()
    assert reg.bank_for_code("999100000002", OTHER) is None and reg.bank_for_code("999100000001", OTHER) is not None
    assert [p.id for p in reg.serving("treasury", OTHER)] == [f"treasury-{HOME}"]
    default = DevWorld.create(tmp_path / "one", banks=banks)  # as before: one division, every participant's
    assert {p.id: p.adm_div_codes for p in default.registry()} == {pid: (HOME,) for pid in codes}


def test_conformance_mode_runs_a_scenario_of_divisions_only_in_a_world_serving_them(tmp_path: Path) -> None:
    from runner.conformance import applicability
    from runner.scenario_file import CATALOGUE_DIR, load_scenario

    s = load_scenario(CATALOGUE_DIR / "divisions-two-treasuries-one-bank-same-voucher-no.yaml")
    banks = (("bank-a", "999100000001", "甲"), ("bank-b", "999100000002", "乙"))
    one = DevWorld.create(tmp_path / "one", banks=banks)  # `tgw scenario world`'s: 990100 only
    reason, _ = applicability(s, "bank-b", one)
    assert reason is not None and f"does not serve division {OTHER}" in reason and f"treasury-{HOME}" in reason
    two = DevWorld.create(tmp_path / "two", banks=banks, divisions=[(HOME, ("bank-a", "bank-b")), (OTHER, ("bank-a",))])
    assert applicability(s, "bank-b", two)[0] is None


def test_a_division_s_account_notice_and_suspension_go_under_its_code_and_are_confirmed(tmp_path: Path) -> None:
    """The 7601 and 7501 of an `account` / `suspend` step with `adm` are that division's (the gateway
    routes them by it; the bank's confirmation comes back to it, and is the notice's by its key)."""
    text = _TWO + """  accounts:
    - {bank: bank-a, type: finance-zero-balance, number: "9999000000009001"}
steps:
  - at: "09:00"
    account: {id: n, adm: "990200", action: open, bank: bank-a, type: fiscal-special, number: "9999000000008001",
              approval: CK2026001}
  - at: "09:10"
    suspend: {id: z, adm: "990200", bank: bank-a, unit: "101001", reason: 审计}
  - at: "09:20"
    lift: {id: l, order: z}
expect:
  - account_notice: {notice: n}
  - count: {vtcode: "7501", flag: 1, sender: bank-a, equals: 2}
"""
    r = asyncio.run(run_scenario(load_text(text, "d.yaml"), tmp_path))
    assert r.error is None and r.observed is not None and not r.failed, [x.actual for x in r.outcomes if not x.ok]
    keys = {x.id: x.key for x in r.observed.sent}
    assert keys["n"].startswith(f"{OTHER}/2026/7601/") and keys["z"].startswith(f"{OTHER}/2026/7501/")
    assert keys["l"].startswith(f"{OTHER}/2026/7501/")  # the order's division lifts it


# --- the oracle: each division alone ---------------------------------------------------------------

DAY = dt.date(2026, 3, 31)  # a month's last business day: its statements (3501) and sign-offs follow
END = "2026-04-08 12:00"
SPECIAL = "9999000000008001"  # bank-a's registered fiscal special account: its movements are in bank-a's feeds
ACCOUNTS = "".join(f"    - {{bank: {b}, type: {t}, number: \"{n}\"{extra}}}\n" for b, t, n, extra in (
    ("bank-a", "finance-zero-balance", "9999000000009001", ""),
    ("bank-b", "finance-zero-balance", "9999000000009002", ""),
    ("bank-a", "fiscal-special", SPECIAL, ", name: 示例市财政专户, approval: CK2026001"),
    *((b, "unit-zero-balance", f"99990000000020{i}{j}", f', unit: "{u[0]}"')
      for i, b in enumerate(("bank-a", "bank-b")) for j, u in enumerate(UNITS.values()))))

# (division, bank, VoucherNo, fen, authorized, into the special account, returned by the payee's bank)
_Payment = tuple[str, str, str, int, bool, bool, bool]
_PAYMENTS = st.lists(st.tuples(st.sampled_from([HOME, OTHER]), st.sampled_from(["bank-a", "bank-b"]),
                               st.sampled_from(["ZZDV0001", "ZZDV0002", "ZZDV0003"]), st.integers(1, 500_000_00),
                               st.booleans(), st.booleans(), st.booleans()),
                     min_size=1, max_size=6, unique_by=lambda p: (p[0], p[2]))


def _scenario(payments: list[_Payment], divisions: tuple[str, ...]) -> str:
    """The day's payments of `divisions` (each numbered by its own treasury, the numbers colliding)
    as a scenario of a world with those divisions."""
    steps, returns = [], {"bank-a": [], "bank-b": []}
    for i, (adm, bank, no, fen, authorized, real, returned) in enumerate(payments):
        if adm not in divisions:
            continue
        vid = f"p{i}"
        fields = (f", fields: {{PayeeAcctBankNo: \"999100000001\", PayeeAcctNo: \"{SPECIAL}\", "
                  "PayeeAcctName: 示例市财政专户}"
                  if real and bank == "bank-a" and not authorized else "")
        steps.append(f"  - at: \"{9 + i // 6:02d}:{i % 6 * 10:02d}\"\n    send: {{id: {vid}, adm: \"{adm}\", "
                     f"template: {'authorized' if authorized else 'direct'}-payment, bank: {bank}, "
                     f"unit: \"{UNITS[adm][0]}\", amount: \"{fen // 100}.{fen % 100:02d}\", voucher_no: {no}{fields}}}\n")
        if returned:
            returns[bank].append(f"{{voucher: {vid}, at: \"D+1 10:00\"}}")
    world = world_yaml(DAY, END, divisions=divisions, accounts=ACCOUNTS)
    for bank, code in (("bank-a", "999100000001"), ("bank-b", "999100000002")):
        world = world.replace(f"{{id: {bank}, code: \"{code}\"}}",
                              f"{{id: {bank}, code: \"{code}\", returns: [{', '.join(returns[bank])}]}}")
    return f"scenario: oracle\n{world}steps:\n{''.join(steps)}expect:\n  - invariants: {{}}\n"


def _run(text: str, root: Path) -> Observed:
    r = asyncio.run(run_scenario(load_text(text, "oracle.yaml"), root))
    assert r.error is None and r.observed is not None, r.error
    assert not r.failed, [x.actual for x in r.outcomes if not x.ok]
    return r.observed


def _books(o: Observed, adm: str) -> dict[str, Any]:
    """Division `adm`'s books of a run: what it was paid and told, by the banks and the central bank
    (its own statements: `PbocConfig.divisions`), nil reports (2206 of 0.00) and empty feeds (7602 of no line) too: a bank serving both divisions
    owes each the same from the same day (`BankConfig.divisions`)."""
    unit = UNITS[adm][0]
    return {
        "receipts": sorted((x.sender, x.vtcode, x.voucher_no, x.fields.get("XPayAmt"), x.fields.get("XPayDate"),
                            x.return_reason) for x in o.receipts if x.adm == adm and x.vtcode in ("5201", "8202")),
        "payments": sorted((p.bank, p.vtcode, p.voucher_no, p.amount_fen, p.mode, p.paid_day)
                           for p in o.payments if p.key.startswith(f"{adm}/")),
        "refunds": sorted((r.bank, r.voucher_no, r.amount_fen, r.state) for r in o.refunds if r.adm == adm),
        "reports": sorted((r.bank, r.vtcode, r.begin, r.end, r.stated_fen, r.books_fen, sorted(r.subjects.items()))
                          for r in o.reports if r.adm == adm),
        "feeds": sorted((k.rsplit("/", 1)[0], v[1], [b.code for b in v[2]])
                        for k, v in o.account_feeds.items() if k.endswith(f"/{adm}")),
        # the central bank's daily statements (7401) to the division: what moved (its balances start
        # from the opening balance where it is the world's first division, from 0 where another's)
        "statements": sorted((x.day, x.debit_fen, x.credit_fen, x.end_fen - x.begin_fen)
                             for x in o.statements if x.adm == adm),
        "signoffs": sorted((v.month, v.level, v.bank or "", v.unit or "", v.verdict, v.books_fen, v.stated_fen)
                           for v in o.signoffs if v.adm == adm),
        # by division and unit ("<unit>/<year>/<AdmDivCode>", "<unit>/<AdmDivCode>"): a unit of the
        # division's code in another division is another unit
        "quota_restored": {k: f for k, f in o.quota_restored.items() if k.startswith(f"{unit}/") and k.endswith(f"/{adm}")},
        "unit_quota": {owner: book.get(f"{unit}/{adm}") for owner, book in o.unit_quotas.items()},
        "quota_notices": sorted((x.sender, x.vtcode) for x in o.receipts if x.adm == adm and x.vtcode == "7101"),
    }


# An example is three runs of about a second: no shrinking (minutes); the falsifying example is printed.
@settings(max_examples=8, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(payments=_PAYMENTS)
@example(payments=[(HOME, "bank-a", "ZZDV0001", 100_00, True, False, True),
                   (OTHER, "bank-a", "ZZDV0001", 200_00, True, False, True),
                   (HOME, "bank-a", "ZZDV0002", 300_00, False, True, False),
                   (OTHER, "bank-a", "ZZDV0002", 400_00, False, True, True),
                   (OTHER, "bank-b", "ZZDV0003", 500_00, False, False, False),
                   (HOME, "bank-b", "ZZDV0003", 600_00, True, False, True)])
def test_a_two_division_day_is_each_division_alone(payments: list[_Payment], tmp_path_factory: Any) -> None:
    """Oracle: each division's treasury deals with the banks for itself (000 五(二); the bank reports,
    states and feeds to each its own, 004 part 3 §10). A day of two divisions' payments through two
    banks, VoucherNos colliding across the divisions, some into a registered fiscal special account (the
    feed), some authorized (the unit's quota), some returned the next day by the payee's bank, run
    through the month's end (statements, sign-offs): each division's books (receipts, the banks'
    payments, refunds, reports, feeds, sign-offs, quota restored and left) are what a world of that
    division alone, given its payments alone, makes of them."""
    root = tmp_path_factory.mktemp("oracle")
    together = _run(_scenario(payments, (HOME, OTHER)), root / "both")
    for adm in {p[0] for p in payments}:
        alone = _run(_scenario(payments, (adm,)), root / adm)
        mine = _books(together, adm)
        assert mine["receipts"], adm  # the comparison is not of two empty books
        assert mine == _books(alone, adm), adm


# --- a run's verdicts on a voucher are its own key's, not its number's ------------------------------

def _two_sent() -> tuple[Any, ...]:
    """v1 (990100) and v3's number sent again by 990200 as `w`, both to bank-a: one VoucherNo, two keys."""
    import dataclasses

    from tests.scenario_fixtures import sent

    v1 = next(v for v in sent() if v.id == "v1")
    return v1, dataclasses.replace(v1, id="w", key=f"{OTHER}/2026/5201/{v1.voucher_no}/0")


def test_a_clearing_or_refund_of_another_division_s_payment_of_the_number_is_not_the_voucher_s() -> None:
    """Before, `clearing` and `refund` took any request naming the VoucherNo: 990100's payment was
    'cleared' by 990200's accepted request of the number, and 'refunded' by its refund."""
    import dataclasses

    from runner.expectations import evaluate
    from runner.observed import ClearingSeen, RefundSeen
    from runner.scenario_file import Expectation
    from tests.scenario_fixtures import CODES, D1, observed, t

    v1, w = _two_sent()
    no = v1.voucher_no
    clearings = (  # 990100's rejected, 990200's accepted
        ClearingSeen("bank-a", CODES["bank-a"], "HKA1", 0, "11", D1, t(D1, 15, 30), 100_00, (no,), "rejected",
                     "clearing-over-quota", answered_at=t(D1, 15, 30), keys=(f"{HOME}/2026/5201/{no}",)),
        ClearingSeen("bank-a", CODES["bank-a"], "HKA9", 0, "11", D1, t(D1, 15, 30), 100_00, (no,), "accepted",
                     cleared_fen=100_00, answered_at=t(D1, 15, 30), keys=(f"{OTHER}/2026/5201/{no}",)))
    refunds = (RefundSeen("bank-a", no, "TK1", 100_00, t(D1, 16, 0), "accepted", adm=OTHER, ori_year="2026"),)
    o = dataclasses.replace(observed(), sent=(v1, w), clearings=clearings, refunds=refunds)

    def ok(kind: str, voucher: str, **params: Any) -> bool:
        [got] = evaluate([Expectation(0, kind, {"voucher": voucher, **params}, None, "x", 0)], o)
        return got.ok

    assert not ok("clearing", "v1", includes=True, state="accepted")
    assert ok("clearing", "v1", includes=True, state="rejected")
    assert ok("clearing", "w", includes=True, state="accepted")
    assert not ok("refund", "v1") and ok("refund", "w", state="accepted")
    # a request or refund whose key is not known is matched by number, as before
    unknown = dataclasses.replace(o, clearings=tuple(dataclasses.replace(c, keys=()) for c in clearings),
                                  refunds=(dataclasses.replace(refunds[0], adm=""),))
    o = unknown
    assert ok("clearing", "v1", includes=True, state="accepted") and ok("refund", "v1")


def test_a_payment_is_paid_when_its_own_division_s_receipt_came() -> None:
    """Before, `paid_at` took the first receipt of the number: 990200's payment, paid at 10:05, was
    said paid at 10:00, when 990100's receipt of the number came."""
    from runner.observed import PaymentSeen, ReceiptSeen
    from runner.scenario_run import paid_at
    from tests.scenario_fixtures import CODES, D1, t

    receipts = [ReceiptSeen("ZZ1", "5201", "bank-a", t(D1, 10, 0), {}, adm=HOME, year="2026"),
                ReceiptSeen("ZZ1", "5201", "bank-a", t(D1, 10, 5), {}, adm=OTHER, year="2026")]

    def paid(adm: str) -> dt.datetime:
        p = PaymentSeen("bank-a", CODES["bank-a"], "ZZ1", "5201", 1_00, "clearing", t(D1, 10, 0), D1, None,
                        f"{adm}/2026/5201/ZZ1" if adm else "")
        return paid_at(p, receipts)

    assert paid(OTHER) == t(D1, 10, 5) and paid(HOME) == t(D1, 10, 0)
    assert paid("") == t(D1, 10, 0)  # a payment whose key is not known: by number, as before


# --- quota books by division and unit: two divisions' units of one AgencyCode are two ---------------------

def test_quota_restored_and_unit_quota_take_the_division_of_the_unit() -> None:
    """Both ways: each division's unit 101001 its own line; without `adm`, every division's added up.
    Before, the books were by AgencyCode alone: 990100's 101001 had 990200's refund restored."""
    import dataclasses

    from runner.expectations import evaluate
    from runner.scenario_file import Expectation
    from tests.scenario_fixtures import observed

    o = dataclasses.replace(observed(), quota_restored={f"101001/2026/{OTHER}": 600_00, f"101001/2026/{HOME}": 0},
                            unit_quotas={"bank-a": {f"101001/{OTHER}": 600_00, f"101001/{HOME}": 0}})

    def ok(kind: str, **params: Any) -> bool:
        p = {"unit": "101001", **params}
        p["equals_fen"] = int(p["equals"].replace(".", ""))
        [got] = evaluate([Expectation(0, kind, p, None, "x", 0)], o)
        return got.ok

    for kind, extra in (("quota_restored", {}), ("unit_quota", {"owner": "bank-a"})):
        assert ok(kind, adm=OTHER, equals="600.00", **extra) and not ok(kind, adm=OTHER, equals="0.00", **extra)
        assert ok(kind, adm=HOME, equals="0.00", **extra) and not ok(kind, adm=HOME, equals="600.00", **extra)
        assert ok(kind, equals="600.00", **extra)  # no division: every division's 101001 added up
    assert not ok("unit_quota", owner="bank-a", adm="990300", equals="0.00")  # no such division's unit: no line


def test_the_scenario_of_two_divisions_sharing_an_agency_code_holds(tmp_path: Path) -> None:
    from runner.scenario_file import CATALOGUE_DIR, load_scenario

    s = load_scenario(CATALOGUE_DIR / "divisions-shared-agency-code-refund-restores-own-quota.yaml")
    r = asyncio.run(run_scenario(s, tmp_path))
    assert r.error is None and r.observed is not None and not r.failed, [x.actual for x in r.outcomes if not x.ok]
    assert {k: f for k, f in r.observed.quota_restored.items() if k.startswith("101001/")} == {f"101001/2026/{OTHER}": 600_00}


# --- the treasury's quota books take a reduction (7106) off when its own key is confirmed ----------------

def _reductions(tmp: Path, cuts: dict[str, str]) -> str:
    """A world of the divisions of `cuts`, each with its 7101 of 1,000.00 for its unit at bank-a, then
    each its 7106 of `cuts[adm]` under one VoucherNo (refused by the bank above 1,000.00)."""
    vouchers = Path(__file__).resolve().parent.parent / "scenarios" / "vouchers"
    steps = []
    for i, (adm, cut) in enumerate(cuts.items()):
        for name, out in (("7101-unit-101001-2100201-1000.xml", f"7101-{adm}.xml"),
                          ("7106-unit-101001-reduce-500.xml", f"7106-{adm}-{cut}.xml")):
            xml = vouchers.joinpath(name).read_text(encoding="utf-8").replace("990100", adm).replace(
                "101001", UNITS[adm][0]).replace("示例市第一中学", UNITS[adm][1]).replace("500.00", cut)
            tmp.joinpath(out).write_text(xml, encoding="utf-8")
        steps += [(f"08:3{i}", f'quota: {{adm: "{adm}", bank: bank-a, pay_type: authorized, amount: "2000.00"}}'),
                  (f"08:4{i}", f"send: {{id: notice_{adm}, file: 7101-{adm}.xml}}"),
                  (f"11:0{i}", f"send: {{id: cut_{adm}, file: 7106-{adm}-{cut}.xml}}")]
    world = world_yaml(dt.date(2026, 3, 10), "2026-03-10 18:00", divisions=tuple(cuts))
    return ("scenario: cuts\n" + world.replace("  end:", "  treasury: {quota: manual}\n  end:") + "steps:\n"
            + "".join(f'  - at: "{at}"\n    {step}\n' for at, step in sorted(steps)) + "expect:\n  - invariants: {}\n")


@pytest.mark.parametrize(("other_reduces", "home_left", "other_left"), [
    ("1000.01", "500.00", "1000.00"),  # 990200's refused: before, 990100's confirmation of the number took it off
    ("300.00", "500.00", "700.00"),  # both confirmed: each division's taken off its own unit
])
def test_the_treasury_books_a_reduction_confirmed_under_its_own_key(other_reduces: str, home_left: str,
                                                                     other_left: str, tmp_path: Path) -> None:
    """Two divisions' 7106s of one VoucherNo are two: the treasury's books (`unit_quota` of owner
    treasury) take off only the reductions whose own key (AdmDivCode, StYear, VtCode, VoucherNo) the
    bank confirmed, never another division's confirmation of the number."""
    text = _reductions(tmp_path, {HOME: "500.00", OTHER: other_reduces})
    expect = "".join(f'  - unit_quota: {{owner: {owner}, unit: "{UNITS[adm][0]}", adm: "{adm}", equals: "{left}"}}\n'
                     for owner in ("treasury", "bank-a") for adm, left in ((HOME, home_left), (OTHER, other_left)))
    r = asyncio.run(run_scenario(load_text(text + expect, "cuts.yaml", base=tmp_path), tmp_path / "run"))
    assert r.error is None and r.observed is not None and not r.failed, [(x.expected, x.actual) for x in r.failed]
    confirmed = sorted((x.adm, x.voucher_no) for x in r.observed.receipts if x.vtcode == "7106")
    assert confirmed == [(HOME, "ZJ2026031000001")] + ([(OTHER, "ZJ2026031000001")] if other_left == "700.00" else [])
    # a false expectation fails: the refused reduction taken off the treasury's books (as before the fix)
    wrong = expect.replace(f'adm: "{OTHER}", equals: "{other_left}"', f'adm: "{OTHER}", equals: "-0.01"', 1)
    r = asyncio.run(run_scenario(load_text(text + wrong, "cuts.yaml", base=tmp_path), tmp_path / "wrong"))
    assert [x.actual for x in r.failed] and len(r.failed) == 1


# --- a refund expectation may say there was none ----------------------------------------------------------

def test_refund_none_is_true_only_where_the_voucher_s_own_key_has_no_refund() -> None:
    """`refund: {voucher, none: true}` (the idiom of `receipt`'s): no refund request (2302) for the
    voucher; another division's refund of the number is not its."""
    import dataclasses

    from runner.expectations import evaluate
    from runner.observed import RefundSeen
    from runner.scenario_file import Expectation
    from tests.scenario_fixtures import D1, observed, t

    v1, w = _two_sent()
    refunds = (RefundSeen("bank-a", v1.voucher_no, "TK1", 100_00, t(D1, 16, 0), "accepted", adm=OTHER, ori_year="2026"),)
    o = dataclasses.replace(observed(), sent=(v1, w), refunds=refunds)

    def ok(voucher: str, by: dt.datetime | None = None) -> bool:
        [got] = evaluate([Expectation(0, "refund", {"voucher": voucher, "none": True}, by, "x", 0)], o)
        return got.ok

    assert ok("v1") and not ok("w")  # w (990200's) was refunded; v1 (990100's, the same number) was not
    assert ok("w", by=t(D1, 15, 59)) and not ok("w", by=t(D1, 16, 0))  # none by a time before it: true


def test_refund_none_takes_no_state_code_or_amount() -> None:
    text = (_TWO + 'steps:\n  - at: "10:00"\n    send: {id: v, template: direct-payment, bank: bank-a, amount: "1.00"}\n'
            "expect:\n  - refund: {voucher: v, none: true, state: accepted}\n")
    [(code, path, message)] = _issues(text)
    assert (code, path) == ("scenario-invalid", "expect[0].refund.none") and "state" in message, message
    assert not _issues(text.replace(", state: accepted", ""))


@pytest.mark.parametrize(("voucher", "holds"), [("home", True), ("other", False)])
def test_refund_none_in_a_scenario_both_ways(voucher: str, holds: bool, tmp_path: Path) -> None:
    """The catalogue's shared-AgencyCode scenario refunds 990200's payment (`other`), not 990100's
    of the same number (`home`): a true "none" holds, a false one fails naming the refund."""
    from runner.scenario_file import CATALOGUE_DIR

    path = CATALOGUE_DIR / "divisions-shared-agency-code-refund-restores-own-quota.yaml"
    text = path.read_text(encoding="utf-8") + f"  - refund: {{voucher: {voucher}, none: true}}\n    by: \"D+1 23:59\"\n"
    r = asyncio.run(run_scenario(load_text(text, str(path), base=path.parent), tmp_path))
    assert r.error is None and r.observed is not None
    assert len(r.failed) == (0 if holds else 1), [(x.expected, x.actual) for x in r.failed]
    if not holds:
        [failed] = r.failed
        assert failed.expected.startswith("no refund request (2302) for ZZDIVSHR20260310 by "), failed.expected
        assert "600.00" in failed.actual and "accepted" in failed.actual, failed.actual


# --- `tgw scenario world --division`: a conformance world serving a scenario's divisions --------------------

def test_tgw_scenario_world_with_divisions_serves_the_scenario_s(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Before, `tgw scenario world` made a world of 990100 only: a conformance run of a divisions
    scenario was skipped for want of one serving 990200. `--division CODE[:BANK,...]` (repeatable;
    without banks, every bank) names the world's divisions, the first the treasury's and central bank's."""
    from runner.conformance import applicability
    from runner.scenario_file import CATALOGUE_DIR, load_scenario
    from tgw import main

    s = load_scenario(CATALOGUE_DIR / "divisions-two-treasuries-one-bank-same-voucher-no.yaml")
    assert main(["scenario", "world", str(tmp_path / "two"), "--division", HOME, "--division", f"{OTHER}:bank-a"]) == 0
    two = DevWorld.load(tmp_path / "two")
    assert {p.id: p.adm_div_codes for p in two.registry()} == {
        f"treasury-{HOME}": (HOME, OTHER), f"pboc-{HOME}": (HOME, OTHER), "bank-a": (HOME, OTHER), "bank-b": (HOME,)}
    assert applicability(s, "bank-b", two)[0] is None and applicability(s, "bank-a", two)[0] is None
    # a world of the other division first: its treasury is treasury-990200, not the scenario's
    assert main(["scenario", "world", str(tmp_path / "one"), "--division", OTHER]) == 0
    one = DevWorld.load(tmp_path / "one")
    assert {p.id: p.adm_div_codes for p in one.registry()}["bank-b"] == (OTHER,)
    reason = applicability(s, "bank-b", one)[0]
    assert reason is not None and "--division" in reason, reason
    capsys.readouterr()


@pytest.mark.parametrize(("args", "says"), [
    (["--division", "99"], "6 to 9 digits"),
    (["--division", HOME, "--division", HOME], "named twice"),
    (["--division", f"{HOME}:bank-z"], "no bank 'bank-z'"),
    (["--division", f"{HOME}:bank-a"], "bank-b serves no division"),
    (["--division", f"{HOME}:"], "no bank ''"),
])
def test_tgw_scenario_world_refuses_a_wrong_division_saying_why(args: list[str], says: str, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from tgw import main

    assert main(["scenario", "world", str(tmp_path / "w"), *args]) == 2
    err = capsys.readouterr().err
    assert says in err, err
    assert not (tmp_path / "w" / "participants.yaml").exists()


@pytest.mark.slow
def test_a_divisions_scenario_runs_in_conformance_mode_in_the_world_the_cli_makes(tmp_path: Path) -> None:
    """End to end: the world `tgw scenario world --division` makes serves the scenario's divisions
    at a real `tgw up`, so the scenario runs against the example bank as bank-a instead of being
    skipped, and both divisions' payments of one VoucherNo are accepted, each paid and cleared once.
    (The example bank states and feeds one division only: its per-division reports are not judged here.)"""
    from tests.conformance_helpers import run_against_the_example_bank
    from tgw import main

    assert main(["scenario", "world", str(tmp_path / "world"), "--division", HOME, "--division", f"{OTHER}:bank-a"]) == 0
    run = run_against_the_example_bank(DevWorld.load(tmp_path / "world"), tmp_path,
                                       "divisions-two-treasuries-one-bank-same-voucher-no",
                                       start="2026-03-30T08:00:00+08:00")
    suite = run.suite
    assert suite.get("errors") == "0" and suite.get("skipped") == "0" and int(suite.get("tests") or 0) >= 7
    payments = {f"[{i}]" for i in range(7)}  # accepted, not a duplicate, receipts, paid once each, cleared
    assert not {n: f for n, f in run.failures().items() if n.split(" ")[0] in payments}


def test_two_years_reductions_of_one_number_are_two_in_the_treasury_s_books() -> None:
    """The same rule across budget years (each year numbered afresh): 990100's 7106 ZJ1 of StYear
    2025 confirmed, its ZJ1 of 2026 refused: only 2025's is taken off (`_Run._treasury_quota`)."""
    import types

    from runner.observed import ReceiptSeen, Verdict
    from runner.scenario_run import _Run, _Sent
    from tests.scenario_fixtures import D1, t

    def notice(vtcode: str, year: str, no: str, amount: str = "500.00") -> _Sent:
        xml = Path(__file__).resolve().parent.parent.joinpath("scenarios", "vouchers", {
            "7101": "7101-unit-101001-2100201-1000.xml", "7106": "7106-unit-101001-reduce-500.xml"}[vtcode]).read_bytes()
        xml = xml.replace(b"<StYear>2026", f"<StYear>{year}".encode()).replace(b"500.00", amount.encode())
        gateway = Verdict("gateway", "gateway", True, None, "", t(D1, 10, 0), "accepted")
        return _Sent(types.SimpleNamespace(sender="treasury"), f"{HOME}/{year}/{vtcode}/{no}/0", vtcode, no, 0,
                     "bank-a", "999100000001", 0, t(D1, 10, 0), xml, [gateway])

    sent = {"n": notice("7101", "2026", "ED1"), "old": notice("7106", "2025", "ZJ1", "100.00"),
            "new": notice("7106", "2026", "ZJ1", "200.00")}
    receipts = [ReceiptSeen("ZJ1", "7106", "bank-a", t(D1, 11, 0),
                            {"AdmDivCode": HOME, "StYear": "2025", "VoucherNo": "ZJ1"}, adm=HOME)]
    run = types.SimpleNamespace(sent=sent, _home=HOME, tcore=types.SimpleNamespace(
        inbox=types.SimpleNamespace(quota_restored={})))
    run._by_division = lambda book: _Run._by_division(run, book)
    assert _Run._treasury_quota(run, receipts) == {f"101001/{HOME}": 1000_00 - 100_00}
    receipts.append(ReceiptSeen("ZJ1", "7106", "bank-a", t(D1, 11, 5),
                                {"AdmDivCode": HOME, "StYear": "2026", "VoucherNo": "ZJ1"}, adm=HOME))
    assert _Run._treasury_quota(run, receipts) == {f"101001/{HOME}": 1000_00 - 300_00}


_CUT = st.integers(1, 1500_00).map(lambda fen: f"{fen // 100}.{fen % 100:02d}")


# An example is three runs of about half a second: no shrinking; the falsifying example is printed.
@settings(max_examples=6, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(home=_CUT, other=_CUT)
@example(home="500.00", other="1000.01")
def test_each_division_s_reductions_are_booked_as_in_a_world_of_it_alone(home: str, other: str,
                                                                          tmp_path_factory: Any) -> None:
    """Oracle, each division alone: two divisions' 7106s under one VoucherNo, each within or above
    its unit's 1,000.00, leave each division's unit quota (the treasury's books and the bank's) and
    its confirmations as a world of that division alone does."""
    root = tmp_path_factory.mktemp("cuts")

    def books(cuts: dict[str, str], where: Path) -> dict[str, Any]:
        where.mkdir()
        r = asyncio.run(run_scenario(load_text(_reductions(where, cuts), "cuts.yaml", base=where), where / "run"))
        assert r.error is None and r.observed is not None and not r.failed, [x.actual for x in r.failed]
        o = r.observed
        return {adm: ({owner: book.get(f"{UNITS[adm][0]}/{adm}") for owner, book in o.unit_quotas.items()},
                      sorted(x.voucher_no for x in o.receipts if x.adm == adm and x.vtcode == "7106"))
                for adm in cuts}

    together = books({HOME: home, OTHER: other}, root / "both")
    for adm, cut in ((HOME, home), (OTHER, other)):
        assert together[adm] == books({adm: cut}, root / adm)[adm], adm
        left = parse_fen("1000.00") - (parse_fen(cut) if parse_fen(cut) <= parse_fen("1000.00") else 0)
        assert together[adm][0]["treasury"] == left, (adm, cut)


# --- a refused clearing request (2301) is filed under its own division -------------------------------------

def _over_quota(tmp: Path) -> str:
    """bank-a pays 990100's 50.00 (quota 1,000.00) and 990200's 300.00 (quota 100.00): the central bank
    accepts 990100's clearing request and refuses 990200's over the quota."""
    world = world_yaml(dt.date(2026, 3, 10), "2026-03-10 18:00")
    return ("scenario: refused-2301\n" + world.replace("  end:", "  treasury: {quota: manual}\n  end:") + "steps:\n"
            + f'  - at: "08:30"\n    quota: {{adm: "{HOME}", bank: bank-a, pay_type: direct, amount: "1000.00"}}\n'
            + f'  - at: "08:31"\n    quota: {{adm: "{OTHER}", bank: bank-a, pay_type: direct, amount: "100.00"}}\n'
            + f'  - at: "09:00"\n    send: {{id: home, adm: "{HOME}", template: direct-payment, bank: bank-a, '
              'amount: "50.00"}\n'
            + f'  - at: "09:10"\n    send: {{id: other, adm: "{OTHER}", template: direct-payment, bank: bank-a, '
              'amount: "300.00"}\n'
            + "expect:\n  - clearing: {voucher: home, includes: true, state: accepted}\n    by: \"16:00\"\n")


@pytest.mark.parametrize(("code", "holds"), [("over-quota", True), ("no-quota-notice", False)])
def test_a_refused_clearing_request_is_filed_under_its_own_division(code: str, holds: bool, tmp_path: Path) -> None:
    """`_Run._refusals` keyed every refused 2301 under the world's first division: 990200's refused
    request was reported as 990100's. Now its key carries its own AdmDivCode, and the `refused`
    verdict names it; a false expectation (another code) fails."""
    text = _over_quota(tmp_path) + f'  - refused: {{bank: bank-a, vtcode: "2301", code: {code}}}\n'
    r = asyncio.run(run_scenario(load_text(text, "refused.yaml", base=tmp_path), tmp_path / "run"))
    assert r.error is None and r.observed is not None
    refused = [(key.split("/")[0], c) for bank, key, c in r.observed.bank_refusals if "/2301/" in key]
    assert refused and set(refused) == {(OTHER, "over-quota")}, r.observed.bank_refusals
    assert len(r.failed) == (0 if holds else 1), [(x.expected, x.actual) for x in r.failed]
    [verdict] = [x for x in r.outcomes if x.expectation.kind == "refused"]
    assert f"{OTHER}/2026/2301/" in verdict.actual and f"{HOME}/2026/2301/" not in verdict.actual, verdict.actual


# --- a receipt expectation that is none takes nothing else -------------------------------------------------

_RECEIPT = (_TWO + 'steps:\n  - at: "10:00"\n    send: {id: v, template: direct-payment, bank: bank-a, amount: "1.00"}\n'
            "expect:\n  - receipt: {voucher: v, none: true}\n")


@pytest.mark.parametrize("extra", ["fields: {XPayAmt: \"1.00\"}", "from: bank-a", "present: [XAgentBusinessNo]"])
def test_receipt_none_takes_no_fields_from_or_present(extra: str) -> None:
    """`receipt: {voucher, none: true}` took `fields`, `from` and `present` and ignored them (as
    `refund`'s none refuses its state, code and amount): each is refused naming `none`."""
    assert not _issues(_RECEIPT)  # none alone loads
    assert not _issues(_RECEIPT.replace("none: true", "none: false, " + extra))  # a receipt that is expected
    [(code, path, message)] = _issues(_RECEIPT.replace("none: true", "none: true, " + extra))
    assert (code, path) == ("scenario-invalid", "expect[0].receipt.none"), (code, path)
    assert extra.split(":")[0] in message, message


# --- suspension orders: each division numbers its own, one's lift ends its own order only ---------------

@pytest.mark.parametrize(("wrong", "holds"), [("", True), ("false", False)])
def test_two_divisions_suspension_orders_of_one_number_scenario_both_ways(wrong: str, holds: bool,
                                                                          tmp_path: Path) -> None:
    """The catalogue's scenario: 990100 and 990200 each order bank-a to suspend their own unit 101001
    (both orders ZT202603100001, each division numbering its own); 990100's lift leaves 990200's in
    force. A false variant (990200's voucher paid after 990100's lift, as before orders were kept by
    their whole key) fails, naming that voucher."""
    from runner.scenario_file import CATALOGUE_DIR

    path = CATALOGUE_DIR / "divisions-suspension-orders-of-one-number-each-its-own.yaml"
    text = path.read_text(encoding="utf-8")
    if wrong:
        text += '  - receipt: {voucher: other-suspended, from: bank-a, fields: {XPayAmt: "70.00"}}\n'
    r = asyncio.run(run_scenario(load_text(text, str(path), base=path.parent), tmp_path))
    assert r.error is None and r.observed is not None
    assert len(r.failed) == (0 if holds else 1), [(x.expected, x.actual) for x in r.failed]
    orders = sorted((x.adm, x.fields.get("OrderNo")) for x in r.observed.receipts if x.vtcode == "7501"
                    and x.fields.get("SuspendAction") == "1")
    assert orders == [(HOME, "ZT202603100001"), (OTHER, "ZT202603100001")]
    if not holds:
        [failed] = r.failed
        assert "payment-suspended" in failed.actual, failed.actual
