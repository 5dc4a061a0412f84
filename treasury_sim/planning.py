"""The day's plan (pure, seeded) and the quota notices made from it.

`plan_day` draws a day's approved vouchers from `random.Random(f"{seed}:{day}")` (bank, 5201 or
8202, amount, unit, send time) in send order, and the day's 5108 / 5106 clearing quota notices:
the exact sum of the day's approved vouchers by first-level unit (`treasury_sim.clearing_quotas`).
`authorized_quotas` gives, on the first run day of a month, each bank's 7101 for the month's
approved 8202 plan; `clearing_quota` renders one 5108 / 5106 (also a supplementary one).
"""

from __future__ import annotations

import datetime as dt
import random
import zlib
from collections.abc import Callable, Iterable, Sequence

from business_time.clock import ClockConfig, at
from messages.dates import format_ymd
from messages.factory import DEFAULT_PROJECT, UNITS, authorized_quota_notice, quota_notice
from messages.money import fen_to_str
from messages.voucher import parse_voucher
from sim.effects import Effect, SendVoucher
from treasury_sim.clearing_quotas import QUOTA_VTCODE, direct_totals, notice_lines
from treasury_sim.config import TreasuryConfig
from treasury_sim.packed_plan import PackedVouchers, pack
from treasury_sim.records import DayPlan, PlannedVoucher
from treasury_sim.year_end import Drawn, month_lines

__all__ = ["authorized_quotas", "clearing_quota", "direct_draw", "plan_day", "quota_notices", "slots"]


def plan_day(config: TreasuryConfig, clock_config: ClockConfig, day: dt.date) -> DayPlan:
    """The day's vouchers in send order and its clearing quota notices: the same on every run."""
    c = config
    rng = random.Random(f"{c.seed}:{day.isoformat()}")
    regular_slots = slots(day, c.window_start, c.window_end, c.slot_minutes)
    late_slots = slots(day, clock_config.clearing_cutoff, c.late_end, c.slot_minutes)
    vouchers = []
    for i in range(1, c.vouchers_per_day + 1):
        bank = rng.choice(c.banks)[0]
        vtcode = "8202" if rng.randrange(100) < c.authorized_share_pct else "5201"
        late = rng.randrange(100) < c.late_share_pct
        send_at = rng.choice(late_slots if late else regular_slots)
        amount = rng.randint(c.amount_min_fen, c.amount_max_fen)
        no = f"{'ZZ' if vtcode == '5201' else 'SQ'}{format_ymd(day)}{i:05d}"
        details = rng.randint(1, 3)
        vouchers.append(PlannedVoucher(day, send_at, vtcode, no, bank, amount, rng.choice(UNITS), late, details,
                                       c.adm_div_code, c.seed,
                                       direct=vtcode == "5201" and direct_draw(c.seed, no) < c.direct_share_pct))
    vouchers.sort(key=lambda v: (v.send_at, v.voucher_no))
    # kept all day: in columns (`treasury_sim.packed_plan`), ~22 bytes a voucher, not ~350 as objects
    packed = pack(day, c.adm_div_code, c.seed, vouchers)
    return DayPlan(vouchers if packed is None else packed, quota_notices(config, day, vouchers))


def direct_draw(seed: int, voucher_no: str) -> int:
    """0..99 from the run's seed and a voucher number, drawing no number from the plan's generator:
    below `direct_share_pct`, the voucher is direct funds (直达资金)."""
    return zlib.crc32(f"{seed}:direct:{voucher_no}".encode()) % 100


def quota_notices(config: TreasuryConfig, day: dt.date, vouchers: Iterable[PlannedVoucher]) -> list[SendVoucher]:
    """The day's clearing quota notices: per bank, pay type and fund type, the exact sum of its
    approved vouchers by first-level unit, with the direct funds among them (DirectFundAmt)."""
    vouchers = list(vouchers)
    direct = direct_totals((v.approved, v.direct_fen) for v in vouchers)
    return [clearing_quota(config, f"QE{format_ymd(day)}{bank[-4:]}{pay_type}{fund_type}", day, bank, pay_type,
                           fund_type, lines, direct.get((bank, pay_type, fund_type), 0))
            for (bank, pay_type, fund_type), lines in notice_lines(v.approved for v in vouchers).items()]


def clearing_quota(config: TreasuryConfig, no: str, day: dt.date, bank: str, pay_type: str, fund_type: str,
                   lines: list[tuple[str, str, int]], direct_fen: int = 0) -> SendVoucher:
    """One 5108 (direct) / 5106 (authorized) clearing quota notice to the central bank; with
    `direct_fen`, the direct funds of it (DirectFundAmt, the project's own element)."""
    vtcode = QUOTA_VTCODE[pay_type]
    qdoc = parse_voucher(quota_notice(voucher_no=no, clear_date=day, pay_bank_code=bank, amounts_by_unit=lines,
                                      adm_div_code=config.adm_div_code, vtcode=vtcode, fund_type_code=fund_type))
    head = qdoc.head() if not direct_fen else {**qdoc.head(), "DirectFundAmt": fen_to_str(direct_fen)}
    return SendVoucher(vtcode, 0, head, tuple(qdoc.details()), "pboc")


def authorized_quotas(config: TreasuryConfig, days: Iterable[dt.date], day: dt.date,
                      plan_of: Callable[[dt.date], DayPlan],
                      drawn: dict[str, Drawn] | None = None) -> list[Effect]:
    """On the first run day of each month, per bank, the month's authorized quota notice (7101):
    a line per (unit, budget subject, project) of the month's approved 8202 plan, its exact sum (004
    part 5 §2: made from the approved plan, no margin) plus `authorized_unspent_pct` of it the units
    will leave unspent (0 by default), one notice per fund type; a detail without ProCode on the
    default project (it draws on any project of its subject). `plan_of(day)`: that day's plan;
    `drawn`, when given, is filled with what each 8202 draws of the lines (`treasury_sim.year_end`)."""
    month = [d for d in days if (d.year, d.month) == (day.year, day.month)]
    if not month or month[0] != day:
        return []
    lines, taken = month_lines(((v.voucher_no, str(v.day.year), v.bank, v.fund_type, v.detail_lines())
                                for d in month for v in _authorized(plan_of(d).vouchers)), DEFAULT_PROJECT)
    if drawn is not None:
        drawn.update(taken)
    effects: list[Effect] = []
    for (bank, fund_type), by_line in sorted(lines.items()):
        doc = parse_voucher(authorized_quota_notice(
            voucher_no=f"ED{day:%Y%m}{bank[-4:]}" + ("" if fund_type == "1" else fund_type), vou_date=day,
            pay_bank_code=bank, adm_div_code=config.adm_div_code, fund_type_code=fund_type,
            lines=[(*k, fen + fen * config.authorized_unspent_pct // 100) for k, fen in sorted(by_line.items())]))
        effects.append(SendVoucher("7101", 0, doc.head(), tuple(doc.details()), "bank", data=doc.data))
    return effects


def _authorized(vouchers: Sequence[PlannedVoucher]) -> Iterable[PlannedVoucher]:
    """The 8202s of a day's plan, in send order (a packed plan makes only those)."""
    if isinstance(vouchers, PackedVouchers):
        return vouchers.authorized()
    return (v for v in vouchers if v.vtcode == "8202")


def slots(day: dt.date, start: dt.time, end: dt.time, minutes: int) -> list[dt.datetime]:
    slots = []
    t = at(day, start)
    stop = at(day, end)
    while t < stop:
        slots.append(t)
        t += dt.timedelta(minutes=minutes)
    return slots
