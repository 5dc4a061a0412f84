"""The ledger on both backends: idempotency, conflicts, atomic batches, no overdraft, invariants."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ledger.model import Account, AccountFlags, Transfer, TransferStatus
from ledger.store import Ledger, LedgerCorrupt
from messages.errors import InputError

NO_OVERDRAFT = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
ZERO = AccountFlags.ZERO_AT_CLOSE
DAY = dt.date(2025, 9, 29)


async def _ledger(db: Any) -> Ledger:
    ledger = await Ledger.open(db)
    await ledger.open_account(Account("tsa", "treasury single account", "tsa"))  # may go negative
    await ledger.open_account(Account("reserve", "clearing reserve", "clearing-reserve", NO_OVERDRAFT, "103"))
    await ledger.open_account(Account("fzb", "finance zero-balance", "finance-zero-balance", ZERO, "103"))
    await ledger.open_account(Account("payee", "payee", "external"))
    return ledger


def tr(tid: str, debit: str, credit: str, amount_fen: int, **kw: Any) -> Transfer:
    return Transfer(tid, debit, credit, amount_fen, kw.pop("kind", "test"), business_date=DAY, **kw)


# --- model -------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda: Transfer("t", "a", "a", 1, "k"),
    lambda: Transfer("", "a", "b", 1, "k"),
    lambda: Transfer(" t", "a", "b", 1, "k"),
    lambda: Transfer("t", "a", "b", 1, ""),
    lambda: Transfer("t", "a", "b", 1, "k", business_date=dt.datetime(2025, 1, 1)),
    lambda: Account("a", "n", "k", AccountFlags(3)),
    lambda: Account("a", "n", "k", 64),  # type: ignore[arg-type]
    lambda: Account("a\n", "n", "k"),
])
def test_model_refuses_invalid(make: Any) -> None:
    with pytest.raises(InputError) as info:
        make()
    assert info.value.code == "ledger-invalid"


@pytest.mark.parametrize("amount", [0, -1, 10**18, True, 1.5])
def test_transfer_amount_checked(amount: Any) -> None:
    with pytest.raises(InputError, match="bad-amount"):
        Transfer("t", "a", "b", amount, "k")


# --- store -------------------------------------------------------------------------------------


async def test_open_account_idempotent_and_conflicting(db: Any) -> None:
    ledger = await _ledger(db)
    assert await ledger.open_account(Account("reserve", "clearing reserve", "clearing-reserve", NO_OVERDRAFT, "103")) \
        is False
    with pytest.raises(InputError) as info:
        await ledger.open_account(Account("reserve", "clearing reserve", "clearing-reserve", AccountFlags.NONE, "103"))
    assert info.value.code == "duplicate-conflict"
    assert (await ledger.account("reserve")).flags == NO_OVERDRAFT
    await Ledger.open(db)  # opening again keeps the tables


async def test_transfers_idempotent_conflicts_and_history(db: Any) -> None:
    ledger = await _ledger(db)
    fund = tr("fund-1", "tsa", "reserve", 10_000, reference="CLR-1")
    assert await ledger.transfer(fund) == TransferStatus.CREATED
    assert await ledger.transfer(fund) == "exists"
    assert await ledger.balance("reserve") == 10_000 and await ledger.balance("tsa") == -10_000
    with pytest.raises(InputError) as info:
        await ledger.transfer(replace(fund, amount_fen=10_001))
    assert info.value.code == "duplicate-conflict"
    with pytest.raises(InputError, match="duplicate-conflict"):
        await ledger.transfer(replace(fund, note="other"))
    assert await ledger.transfer_many([tr("pay-1", "reserve", "payee", 2_500), fund,
                                       tr("pay-1", "reserve", "payee", 2_500)]) == ["created", "exists", "exists"]
    assert await ledger.balance("reserve") == 7_500
    history = await ledger.history("reserve")
    assert [(h.transfer.id, h.change_fen) for h in history] == [("pay-1", -2_500), ("fund-1", 10_000)]
    assert history[0].seq > history[1].seq and history[1].transfer == fund
    assert [h.transfer.id for h in await ledger.history("reserve", limit=1)] == ["pay-1"]
    assert await ledger.get_transfer("fund-1") == fund and await ledger.get_transfer("nope") is None
    assert await ledger.balances() == {"fzb": 0, "payee": 2_500, "reserve": 7_500, "tsa": -10_000}
    assert await ledger.check_invariants() == 4
    assert await ledger.transfer_many([]) == []


async def test_overdraft_refused_atomically_in_a_batch(db: Any) -> None:
    ledger = await _ledger(db)
    await ledger.transfer(tr("fund", "tsa", "reserve", 1_000))
    batch = [tr("a", "reserve", "payee", 600), tr("b", "tsa", "fzb", 5), tr("c", "reserve", "payee", 500)]
    with pytest.raises(InputError) as info:
        await ledger.transfer_many(batch)
    assert info.value.code == "ledger-overdraft" and "reserve" in str(info.value)
    assert await ledger.balance("reserve") == 1_000 and await ledger.balance("fzb") == 0
    assert await ledger.get_transfer("a") is None
    # Batch order counts: an inflow earlier in the batch funds a payment after it.
    assert await ledger.transfer_many([tr("fund-2", "tsa", "reserve", 100), *batch]) == ["created"] * 4
    assert await ledger.balance("reserve") == 0
    await ledger.check_invariants()


async def test_unknown_account_and_conflict_inside_batch(db: Any) -> None:
    ledger = await _ledger(db)
    with pytest.raises(InputError) as info:
        await ledger.transfer(tr("x", "tsa", "nowhere", 1))
    assert info.value.code == "ledger-unknown-account"
    with pytest.raises(InputError, match="ledger-unknown-account"):
        await ledger.balance("nowhere")
    with pytest.raises(InputError, match="duplicate-conflict"):
        await ledger.transfer_many([tr("y", "tsa", "payee", 1), tr("y", "tsa", "payee", 2)])
    assert await ledger.balances() == {"fzb": 0, "payee": 0, "reserve": 0, "tsa": 0}


async def test_zero_at_close_and_caller_transaction(db: Any) -> None:
    ledger = await _ledger(db)
    async with db.transaction() as tx:
        await ledger.transfer(tr("pay", "fzb", "payee", 700), tx=tx)
        # A refusal inside the caller's transaction writes nothing and leaves it usable.
        with pytest.raises(InputError, match="ledger-overdraft"):
            await ledger.transfer(tr("over", "reserve", "payee", 1), tx=tx)
        assert await ledger.balance("fzb", tx=tx) == -700
    assert await ledger.accounts_not_zero() == [("fzb", -700)]
    await ledger.transfer(tr("clear", "tsa", "fzb", 700))
    assert await ledger.accounts_not_zero() == []
    # A caller's transaction that fails takes the transfer with it.
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await ledger.transfer(tr("lost", "tsa", "payee", 1), tx=tx)
            raise RuntimeError("caller failed after the transfer")
    assert await ledger.get_transfer("lost") is None
    await ledger.check_invariants()


async def test_check_invariants_detects_tampering(db: Any) -> None:
    ledger = await _ledger(db)
    await ledger.transfer(tr("fund", "tsa", "reserve", 1_000))
    async with db.transaction() as tx:
        await tx.execute("UPDATE ledger_accounts SET credits_fen = credits_fen + 1 WHERE id = 'reserve'")
    with pytest.raises(LedgerCorrupt):
        await ledger.check_invariants()


async def test_concurrent_transfers_never_overdraw(db: Any) -> None:
    ledger = await _ledger(db)
    await ledger.transfer(tr("fund", "tsa", "reserve", 1_000))
    attempts = 40  # 40 x 100 fen against a 1,000 fen balance: exactly 10 can succeed

    async def pay(i: int) -> bool:
        try:
            # Two accounts per batch, locked in id order whatever the order in the transfer.
            pair = ("payee", "reserve") if i % 2 else ("reserve", "payee")
            t = Transfer(f"pay-{i}", "reserve", "payee", 100, "test", note=",".join(pair))
            await ledger.transfer(t)
            return True
        except InputError as exc:
            assert exc.code == "ledger-overdraft"
            return False

    results = await asyncio.gather(*(pay(i) for i in range(attempts)))
    assert sum(results) == 10
    assert await ledger.balance("reserve") == 0
    await ledger.check_invariants()


async def test_concurrent_opposite_transfers_do_not_deadlock(db: Any) -> None:
    ledger = await _ledger(db)
    await ledger.transfer(tr("fund", "tsa", "reserve", 1_000_000))

    async def move(i: int) -> None:
        if i % 2:
            await ledger.transfer_many([tr(f"o-{i}", "reserve", "payee", 10), tr(f"b-{i}", "payee", "tsa", 10)])
        else:
            await ledger.transfer_many([tr(f"o-{i}", "tsa", "payee", 10), tr(f"b-{i}", "payee", "reserve", 10)])

    await asyncio.wait_for(asyncio.gather(*(move(i) for i in range(40))), timeout=30)
    await ledger.check_invariants()
    assert await ledger.balance("payee") == 0


# --- random workloads against a model ----------------------------------------------------------

ACCOUNT_IDS = ["a0", "a1", "a2", "a3"]
TRANSFER_IDS = [f"t{i}" for i in range(12)]  # few ids: retries and conflicting reuse are common

transfers = st.builds(
    lambda tid, pair, amount, kind: Transfer(tid, pair[0], pair[1], amount, kind),
    st.sampled_from(TRANSFER_IDS),
    st.permutations(ACCOUNT_IDS).map(lambda p: (p[0], p[1])),
    st.integers(min_value=1, max_value=500),
    st.sampled_from(["pay", "clear"]),
)
workloads = st.tuples(
    st.lists(st.sampled_from([AccountFlags.NONE, NO_OVERDRAFT, AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS]),
             min_size=len(ACCOUNT_IDS), max_size=len(ACCOUNT_IDS)),
    st.lists(st.lists(transfers, min_size=1, max_size=4), min_size=1, max_size=15),
)


def _model_apply(batch: list[Transfer], flags: dict[str, AccountFlags], applied: dict[str, Transfer],
                 balances: dict[str, int]) -> tuple[str | None, list[str]]:
    """What the ledger must do with a batch: (error code or None, statuses); updates the model."""
    seen: dict[str, Transfer] = {}
    new_balances = dict(balances)
    statuses = []
    for t in batch:
        earlier = applied.get(t.id) or seen.get(t.id)
        if earlier is not None and earlier != t:
            return "duplicate-conflict", []
        if earlier is not None:
            statuses.append("exists")
            continue
        seen[t.id] = t
        statuses.append("created")
    for t in batch:
        if t.id not in seen or seen[t.id] is not t:
            continue
        new_balances[t.debit_account] -= t.amount_fen
        new_balances[t.credit_account] += t.amount_fen
        if flags[t.debit_account] & NO_OVERDRAFT and new_balances[t.debit_account] < 0:
            return "ledger-overdraft", []
        if flags[t.credit_account] & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS and new_balances[t.credit_account] > 0:
            return "ledger-overdraft", []
    applied.update(seen)
    balances.update(new_balances)
    return None, statuses


async def _run_workload(db: Any, workload: tuple[list[AccountFlags], list[list[Transfer]]]) -> None:
    account_flags, batches = workload
    ledger = await Ledger.open(db)
    async with db.transaction() as tx:  # each example starts from an empty ledger
        await tx.execute("DELETE FROM ledger_transfers")
        await tx.execute("DELETE FROM ledger_accounts")
    flags = dict(zip(ACCOUNT_IDS, account_flags, strict=True))
    # A source account with no limit funds the others now and then.
    await ledger.open_account(Account("src", "source", "test"))
    for aid, f in flags.items():
        await ledger.open_account(Account(aid, aid, "test", f))
    flags["src"] = AccountFlags.NONE
    balances = dict.fromkeys(flags, 0)
    applied: dict[str, Transfer] = {}
    for i, batch in enumerate(batches):
        if i % 3 == 0:
            batch = [Transfer(f"fund-{i}", "src", "a0", 300, "fund"), *batch]
        expected_error, expected_statuses = _model_apply(batch, flags, applied, balances)
        event(f"batch: {expected_error or 'applied'}")
        try:
            statuses = await ledger.transfer_many(batch)
        except InputError as exc:
            assert exc.code == expected_error, (exc, batch)
        else:
            assert expected_error is None, (expected_error, batch)
            assert statuses == expected_statuses
        assert await ledger.balances() == balances
        assert sum(balances.values()) == 0
        rows = await db.fetch("SELECT COUNT(*), COUNT(DISTINCT id) FROM ledger_transfers")
        assert tuple(rows[0]) == (len(applied), len(applied))  # nothing applied twice
        await ledger.check_invariants()


_WORKLOAD_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
@settings(max_examples=100, **_WORKLOAD_SETTINGS)  # type: ignore[arg-type]
@given(workload=workloads)
async def test_random_workloads_sqlite(db: Any, workload: Any) -> None:
    await _run_workload(db, workload)


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
@settings(max_examples=25, **_WORKLOAD_SETTINGS)  # type: ignore[arg-type]
@given(workload=workloads)
async def test_random_workloads_postgres(db: Any, workload: Any) -> None:
    await _run_workload(db, workload)
