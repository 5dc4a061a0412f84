"""The dashboard's read endpoints (/v1/search, /v1/overview, /v1/dlq, /v1/scorecard, /v1/events, /v1/me)
and the static pages: what each participant may see is decided on the server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from gateway_helpers import payment, receipt_of, running_gateway
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.http_app import make_app
from gateway.service import Gateway
from gateway.ui import SCORECARD_KEY
from gateway.ui_index import SearchQuery, index_fields
from messages.envelope import encode_envelope
from runner.world import DevWorld


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DevWorld:
    return DevWorld.create(tmp_path_factory.mktemp("world"))


@dataclass
class Ui:
    gw: Gateway
    client: TestClient
    world: DevWorld
    sent: dict[str, str]  # voucher no → bank id

    def auth(self, pid: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.world.participants[pid].token}"}

    async def get(self, path: str, pid: str) -> tuple[int, Any]:
        resp = await self.client.get(path, headers=self.auth(pid))
        return resp.status, await resp.json()


@pytest.fixture
async def ui(world: DevWorld, db: Any) -> AsyncIterator[Ui]:
    async with running_gateway(world, db) as gw:
        client = TestClient(TestServer(make_app(gw)))
        await client.start_server()
        sent: dict[str, str] = {}
        tid = world.treasury.id
        for i, (bank, fen) in enumerate([("bank-a", 100_00), ("bank-a", 250_00), ("bank-b", 900_00)]):
            voucher = payment(world, bank=bank, amount_fen=fen, voucher_no=f"UI{i:06d}")
            resp = await client.post("/v1/messages", data=world.envelope([voucher], sender=tid),
                                     headers={"Authorization": f"Bearer {world.participants[tid].token}"})
            assert resp.status == 200, await resp.text()
            sent[f"UI{i:06d}"] = bank
            if i == 0:  # bank-a pays the first and sends the receipt back
                resp = await client.post("/v1/messages", data=world.envelope([receipt_of(voucher)], sender=bank, flag=1),
                                         headers={"Authorization": f"Bearer {world.participants[bank].token}"})
                assert resp.status == 200, await resp.text()
        try:
            yield Ui(gw, client, world, sent)
        finally:
            await client.close()


async def test_a_bank_searches_only_its_own_vouchers(ui: Ui) -> None:
    status, body = await ui.get("/v1/search?limit=50", "bank-a")
    assert status == 200
    nos = {(r["voucher_no"], r["flag"]) for r in body["items"]}
    assert nos == {("UI000000", 0), ("UI000000", 1), ("UI000001", 0)}
    # by number, another bank's voucher is simply not there
    status, body = await ui.get("/v1/search?no=UI000002", "bank-a")
    assert (status, body["items"]) == (200, [])
    status, body = await ui.get("/v1/search?no=UI000002", "bank-b")
    assert [r["amount_fen"] for r in body["items"]] == [900_00]


async def test_the_treasury_searches_its_region_by_amount_payee_status(ui: Ui) -> None:
    tid = ui.world.treasury.id
    status, body = await ui.get("/v1/search?min_fen=20000&max_fen=90000", tid)
    assert status == 200
    assert sorted(r["voucher_no"] for r in body["items"]) == ["UI000001", "UI000002"]
    status, body = await ui.get("/v1/search?payee=%E6%B5%8B%E8%AF%95&status=receipted", tid)  # "测试"
    assert [r["voucher_no"] for r in body["items"]] == ["UI000000"]
    assert body["items"][0]["payee"] == "测试供应商有限公司"
    status, body = await ui.get("/v1/search?date=2026-03-16&limit=2", tid)
    assert len(body["items"]) == 2 and body["next"] is not None
    status, page2 = await ui.get(f"/v1/search?date=2026-03-16&limit=2&after={body['next']}", tid)
    assert len(page2["items"]) == 2 and page2["next"] is None  # three originals and one receipt


@pytest.mark.parametrize(("query", "parameter"), [
    ("min_fen=1.5", "min_fen"), ("max_fen=-1", "max_fen"), ("date=2026-13-01", "date"), ("status=gone", "status"),
    ("limit=0", "limit"), ("limit=201", "limit"), ("after=x", "after"), ("colour=red", "colour"),
    ("no=" + "9" * 65, "no"), ("no=1&no=2", "no")])
async def test_bad_search_parameters_are_named(ui: Ui, query: str, parameter: str) -> None:
    status, body = await ui.get(f"/v1/search?{query}", "bank-a")
    assert (status, body["code"], body["parameter"]) == (400, "bad-request", parameter)


async def test_overview_groups_the_day_by_bank_and_type(ui: Ui) -> None:
    status, body = await ui.get("/v1/overview?date=2026-03-16", ui.world.treasury.id)
    assert status == 200
    by = {(g["bank"], g["vtcode"], g["flag"]): (g["count"], g["amount_fen"]) for g in body["groups"]}
    assert by == {("bank-a", "5201", 0): (2, 350_00), ("bank-a", "5201", 1): (1, 100_00),
                  ("bank-b", "5201", 0): (1, 900_00)}
    assert body["banks"]["bank-a"]["paid_fen"] == 100_00
    assert body["banks"]["bank-a"]["advances_outstanding_fen"] == 100_00
    assert body["totals"] == {"count": 4, "amount_fen": 1250_00}
    status, body = await ui.get("/v1/overview?date=2026-03-16", "bank-b")
    assert {g["bank"] for g in body["groups"]} == {"bank-b"}
    status, body = await ui.get("/v1/overview?date=16.03.2026", "bank-b")
    assert (status, body["parameter"]) == (400, "date")


async def test_trace_of_another_banks_voucher_is_404(ui: Ui) -> None:
    adm = ui.world.adm_div_code
    status, _ = await ui.get(f"/v1/trace/{adm}/2026/5201/UI000002", "bank-a")
    assert status == 404
    status, body = await ui.get(f"/v1/trace/{adm}/2026/5201/UI000002", "bank-b")
    assert status == 200 and body["events"]


async def test_dead_letters_are_the_treasurys_and_replay_stays_in_its_region(ui: Ui) -> None:
    tid = ui.world.treasury.id
    [row] = await ui.gw.db.fetch("SELECT m.id FROM gw_messages m WHERE m.voucher_no = 'UI000002'")
    async with ui.gw.db.transaction() as tx:
        await tx.execute("UPDATE gw_outbox SET state = 'dead', last_error = 'test' WHERE message_id = $1", row[0])
    status, body = await ui.get("/v1/dlq", tid)
    assert status == 200 and [d["id"] for d in body["items"]] == [row[0]]
    for bank in ("bank-a", "bank-b"):  # a bank: not even that the queue exists
        status, _ = await ui.get("/v1/dlq", bank)
        assert status == 404
        resp = await ui.client.post("/v1/dlq/replay", json={"ids": [row[0]]}, headers=ui.auth(bank))
        assert resp.status == 404
    resp = await ui.client.post("/v1/dlq/replay", json={"ids": "x"}, headers=ui.auth(tid))
    assert resp.status == 400
    resp = await ui.client.post("/v1/dlq/replay", json={"ids": [row[0], "nope"]}, headers=ui.auth(tid))
    assert (resp.status, await resp.json()) == (200, {"replayed": 1})
    status, body = await ui.get("/v1/dlq", tid)
    assert body["items"] == []


async def test_scorecard_absent_then_published_and_scoped(ui: Ui) -> None:
    tid = ui.world.treasury.id
    status, body = await ui.get("/v1/scorecard", tid)
    assert (status, body["available"]) == (200, False)
    code_a = ui.world.participants["bank-a"].bank_codes[0]
    code_b = ui.world.participants["bank-b"].bank_codes[0]
    ui.client.app[SCORECARD_KEY].publish([{"bank": code_a, "score": 90}, {"bank": code_b, "score": 70}], "2026-03-16")
    _, body = await ui.get("/v1/scorecard", tid)
    assert len(body["cards"]) == 2
    _, body = await ui.get("/v1/scorecard", "bank-b")
    assert body["cards"] == [{"bank": code_b, "score": 70}]


async def test_every_data_endpoint_needs_a_token(ui: Ui) -> None:
    for path in ("/v1/me", "/v1/search", "/v1/overview", "/v1/dlq", "/v1/scorecard", "/v1/events"):
        resp = await ui.client.get(path)
        assert resp.status == 401, path


async def test_pages_are_served_with_a_strict_policy(ui: Ui) -> None:
    resp = await ui.client.get("/ui/")
    assert resp.status == 200 and "app.js" in await resp.text()
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    for name in ("app.js", "app.css", "i18n.json"):
        assert (await ui.client.get(f"/ui/{name}")).status == 200
    for name in ("..%2Fui.py", "nope.js", "%2E%2E"):
        assert (await ui.client.get(f"/ui/{name}")).status == 404


async def test_events_stream_new_vouchers_the_participant_may_see(ui: Ui) -> None:
    import asyncio

    resp = await ui.client.get("/v1/events", headers=ui.auth("bank-b"))
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    tid = ui.world.treasury.id
    for bank, no in (("bank-a", "EV000001"), ("bank-b", "EV000002")):
        voucher = payment(ui.world, bank=bank, voucher_no=no)
        await ui.client.post("/v1/messages", data=ui.world.envelope([voucher], sender=tid), headers=ui.auth(tid))
    seen = b""
    async with asyncio.timeout(30):
        while b"EV000002" not in seen:
            chunk = await resp.content.readany()
            assert chunk, "the stream ended"
            seen += chunk
    assert b"event: voucher" in seen and b"EV000001" not in seen
    resp.close()


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(st.sampled_from(["no", "unit", "payee", "min_fen", "max_fen", "date", "status", "limit",
                                        "after", "x"]), st.text(max_size=30)))
def test_search_query_parse_never_crashes(params: dict[str, str]) -> None:
    from multidict import MultiDict

    q = SearchQuery.parse(MultiDict(params))
    if isinstance(q, SearchQuery):
        assert 1 <= q.limit <= 200 and q.after >= 0
        assert q.min_fen is None or q.min_fen >= 0
    else:
        assert q[0] in params


def test_index_fields_of_a_non_voucher_are_blank() -> None:
    assert index_fields(b"<nope/>") == ("", "", "", 0, "")


def test_every_label_the_pages_use_is_in_both_languages() -> None:
    import json
    import re
    from importlib import resources

    ui_dir = resources.files("gateway").joinpath("static", "ui")
    labels = json.loads(ui_dir.joinpath("i18n.json").read_text(encoding="utf-8"))
    assert set(labels["zh"]) == set(labels["en"])
    js = ui_dir.joinpath("app.js").read_text(encoding="utf-8")
    html = ui_dir.joinpath("index.html").read_text(encoding="utf-8")
    used = set(re.findall(r'\bt\("([a-z_.]+)"\)', js)) | set(re.findall(r'data-i18n="([a-z_.]+)"', html))
    used |= set(re.findall(r'\[\["?([a-z_]+\.[a-z_]+)"', js)) | set(re.findall(r'\["([a-z_]+\.[a-z_]+)"(?:, "num")?\]', js))
    missing = sorted(k for k in used if k not in labels["zh"])
    assert used and not missing, missing


async def test_a_treasury_traces_any_voucher_of_its_region_only(ui: Ui) -> None:
    from gateway.participants import Participant

    adm = ui.world.adm_div_code
    # a second treasury desk of the region (not a party to the voucher), and one of another region
    desk = Participant(id="treasury-desk", role="treasury", name="desk", adm_div_codes=(adm,))
    elsewhere = Participant(id="treasury-other", role="treasury", name="other", adm_div_codes=("990200",))
    events = await ui.gw.trace(desk, adm, "2026", "5201", "UI000002")
    assert events is not None and [e["step"] for e in events][:4] == ["validated", "verified", "authorized",
                                                                      "journaled"]
    assert await ui.gw.trace(elsewhere, adm, "2026", "5201", "UI000002") is None
    assert await ui.gw.trace(desk, adm, "2026", "5201", "NOSUCH") is None


async def test_the_index_picks_up_a_late_row_and_shares_the_table(ui: Ui) -> None:
    from gateway.ui_index import VoucherIndex

    first, second = VoucherIndex(ui.gw.db, ui.gw.registry), VoucherIndex(ui.gw.db, ui.gw.registry)
    await first.catch_up()
    assert await second.catch_up() == 0  # another process's rows: skipped, no conflict
    # a lower sequence that committed after a higher one was indexed (several writers on PostgreSQL)
    [row] = await ui.gw.db.fetch("SELECT min(seq) FROM gw_ui_vouchers")
    async with ui.gw.db.transaction() as tx:
        await tx.execute("DELETE FROM gw_ui_vouchers WHERE seq = $1", row[0])
    assert await first.catch_up() == 1
    [count] = await ui.gw.db.fetch("SELECT COUNT(*), COUNT(DISTINCT seq) FROM gw_ui_vouchers")
    assert count[0] == count[1] == 4


async def test_overview_counts_what_the_central_bank_cleared_not_what_was_filed(ui: Ui) -> None:
    """Before: `cleared_fen` summed the clearing requests as filed, a refused one included, so a
    bank whose 300.00 request the central bank refused showed 300.00 cleared. Cleared is the sum of
    the accepted receipts' XClearAmt; what was filed is shown apart, labelled as such."""
    from messages.voucher import fill_receipt, parse_voucher

    w, pboc = ui.world, ui.world.pboc.id
    code = w.participants["bank-a"].bank_codes[0]

    def request(no: str, amount: str) -> bytes:
        return w.voucher("2301", {
            "Id": f"V{no}", "StYear": "2026", "VouDate": "20260316", "VoucherNo": no, "PayBankCode": code,
            "PayBankName": "示例银行甲分行", "ClearDate": "20260316", "PayTypeCode": "11", "FundTypeCode": "1",
            "FundTypeName": "一般公共预算资金", "UrgentFlag": "0", "ClearType": "0", "PayAmt": amount,
        }, [{"Id": "D1", "SupDepCode": "101", "SupDepName": "示例局", "PayAmt": amount}])

    async def post(envelope: bytes, sender: str) -> None:
        resp = await ui.client.post("/v1/messages", data=envelope, headers=ui.auth(sender))
        assert resp.status == 200, await resp.text()

    accepted, refused = request("HKUI000001", "100.00"), request("HKUI000002", "300.00")
    await post(w.envelope([accepted, refused], sender="bank-a"), "bank-a")
    ok = fill_receipt(parse_voucher(accepted), {"XClearDate": "20260316", "XClearAmt": "100.00",
                                                "XPbocSerialNo": "RH0000000001"})
    reason = "over-quota: PayAmt 300.00 exceeds the remaining quota 0.00"
    no = fill_receipt(parse_voucher(refused), {"XClearDate": "20260316", "XClearAmt": "0.00",
                                               "XPbocSerialNo": "RJ0000000001", "XReturnReason": reason})
    await post(encode_envelope([w.sealed(ok, sender=pboc, flag=1),
                                w.sealed(no, sender=pboc, flag=1, return_reason=reason)]), pboc)
    for pid in (w.treasury.id, "bank-a"):
        status, body = await ui.get("/v1/overview?date=2026-03-16", pid)
        assert status == 200
        a = body["banks"]["bank-a"]
        assert (a["clearing_filed_fen"], a["cleared_fen"]) == (400_00, 100_00), a
        assert a["advances_outstanding_fen"] == 0  # paid 100.00, cleared 100.00
    status, body = await ui.get("/v1/search?vtcode=2301&no=HKUI000002", "bank-a")
    assert [(r["flag"], r["amount_fen"]) for r in body["items"]] == [(0, 300_00), (1, 0)]
    # a table indexed before (version 1: the receipt's PayAmt) is indexed again once when opened
    from gateway.ui_index import VoucherIndex

    async with ui.gw.db.transaction() as tx:
        await tx.execute("UPDATE gw_ui_vouchers SET amount_fen = 30000 WHERE vtcode = '2301' AND flag = 1 "
                         "AND voucher_no = 'HKUI000002'")
        await tx.execute("DELETE FROM gw_ui_meta")
    await VoucherIndex(ui.gw.db, ui.gw.registry).catch_up()
    [[fen]] = await ui.gw.db.fetch("SELECT amount_fen FROM gw_ui_vouchers WHERE vtcode = '2301' AND flag = 1 "
                                   "AND voucher_no = 'HKUI000002'")
    assert fen == 0


@pytest.mark.parametrize("name", ["min_fen", "limit", "after"])
def test_a_superscript_digit_is_a_bad_parameter_not_a_crash(name: str) -> None:
    """Before: "²" passed str.isdigit() and int() raised ValueError (a 500)."""
    from multidict import MultiDict

    assert SearchQuery.parse(MultiDict({name: "²"}))[0] == name
