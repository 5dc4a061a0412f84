"""How the treasury draws up the vouchers of the payment kinds with rules of their own (003 §26-31;
docs/payment-kinds.md). Pure functions: amounts in, the lines of a batch voucher out.

Union fees (工会经费, 003 §27): the treasury pays a unit's union fees from its annual union fee
budget by one direct payment voucher "转入预算单位工会账户和省总工会相关账户": two lines, the
unit's union account and the provincial federation of trade unions' account. The seeds do not
give the split: `UNION_RETAINED_PCT` (the share the unit's union keeps, the rest going to the
federation) is the project's own parameter, 60 by default (a common practice of the unions, not
a rule of the seeds).
"""

from __future__ import annotations

from messages.factory import BatchPayee

__all__ = ["FEDERATION", "UNION_FEES_MIN_FEN", "UNION_RETAINED_PCT", "union_fee_lines"]

# The project's own parameter (docs/payment-kinds.md): percent of the union fees the unit's union keeps.
UNION_RETAINED_PCT = 60
# A union fee payment below one yuan is a mistake (each of the two lines pays at least a fen).
UNION_FEES_MIN_FEN = 100
# The provincial federation of trade unions' account (synthetic).
FEDERATION = ("6222990000000001", "示例省总工会", "示例银行省分行营业部")


def union_fee_lines(total_fen: int, agency: tuple[str, str], *, retained_pct: int = UNION_RETAINED_PCT,
                    federation: tuple[str, str, str] = FEDERATION) -> list[BatchPayee]:
    """The two lines of a union fee voucher of `total_fen` for unit `agency` (AgencyCode,
    AgencyName): its union's account first (`retained_pct` percent, rounded down to the fen,
    plus what rounding leaves), then the federation's (the rest). They add up to the total."""
    if total_fen < UNION_FEES_MIN_FEN:
        raise ValueError(f"union fees of {total_fen} fen: at least {UNION_FEES_MIN_FEN} fen (1.00)")
    if not 0 < retained_pct < 100:
        raise ValueError(f"retained_pct {retained_pct}: the union and the federation each get a share (1-99)")
    to_federation = total_fen * (100 - retained_pct) // 100
    union = (f"7100{agency[0]:0>12}"[-16:], f"{agency[1]}工会委员会", "示例银行城东支行", "", total_fen - to_federation)
    return [union, (*federation, "", to_federation)]
