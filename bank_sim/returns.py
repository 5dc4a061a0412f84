"""Returns before payment (退票): the checks an agent bank makes on a payment voucher's elements
before it pays, as a table of pure rules.

004 part 3 §8(5) / §9(9): a voucher whose elements are wrong is returned before payment and the
treasury (or the unit) applies again; 003 §52 lists the grounds on which a payment is refused
(no or over budget, outside the budgeted scope, wrong procedure, incomplete documents). The
gateway already refuses what it can see on its own (XSD, sums, dates, seals); what is left is
what only the paying bank knows: its own accounts, the unit's authorized quota (`bank_sim.quotas`,
checked by the core after these rules) and the rule that a zero-balance account does not pay the
unit's own, its system's, its superior's or subordinate's real-fund accounts (003 §15, 004 part 3
§12(1); `bank_sim.own_accounts`). These are the bank's checks before payment, not the treasury's
grounds for refusing a payment (003 §52).

| code                    | when                                                                                 |
|-------------------------|--------------------------------------------------------------------------------------|
| `voucher-incomplete`    | an element the bank needs to pay is empty (payee account, name, bank; unit; a detail's subject) |
| `payee-account-unknown` | PayeeAcctBankNo is this bank, and this bank has no account PayeeAcctNo               |
| `payee-name-mismatch`   | PayeeAcctBankNo is this bank, and PayeeAcctNo is held under another name              |
| `zba-to-own-account`    | a payment (5201 or 8202) to a real-fund account of the unit, its system, superior or subordinate (or the old/new of one), not approved |
| `procurement-payee-not-supplier` | a procurement payment (ProcureFlag) whose payee is not the supplier it names (003 §28) |
| `procurement-before-acceptance`  | a procurement payment on acceptance (ProcureFlag 1) whose AcceptDate is after the day the bank received it |

The first rule that fails decides. The bank answers at once with the voucher's receipt (flag 1)
carrying `Return_Reason` "<code>: <message>", XPayAmt 0.00 (nothing paid), XPayDate the day
it was returned: within the payment deadline by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources

import yaml

from bank_sim import own_accounts as oa

__all__ = ["ACCOUNTS_FILE", "CASH_RETURNS", "KNOWN_PAYEES", "QUOTA_RETURNS", "REQUIRED_HEAD", "RETURN_RULES", "UNIT_RELATIONS", "ReturnFacts", "ReturnRule", "check_return"]

ACCOUNTS_FILE = "accounts.yaml"  # beside this module: the one source of the simulated banks' accounts


def load_accounts(text: str | None = None) -> tuple[tuple[str, str], ...]:
    """(number, holder) of every account in `accounts.yaml` (this package's, or `text`)."""
    if text is None:
        text = resources.files("bank_sim").joinpath(ACCOUNTS_FILE).read_text(encoding="utf-8")
    rows = yaml.safe_load(text)["accounts"]
    return tuple((str(r["number"]), str(r["holder"])) for r in rows)


# Synthetic accounts held at every simulated bank (number → holder name), from accounts.yaml;
# a bank's config may give its own. Never a real account.
KNOWN_PAYEES: tuple[tuple[str, str], ...] = load_accounts()
# Budget units, their real-fund accounts and approved exceptions (the own-account rule), from accounts.yaml.
UNIT_RELATIONS: oa.UnitRelations = oa.load_relations()
# Head elements the bank cannot pay without.
REQUIRED_HEAD: tuple[str, ...] = ("PayeeAcctNo", "PayeeAcctName", "PayeeAcctBankName", "AgencyCode", "SupDepCode",
                                  "FundTypeCode")


@dataclass(frozen=True, slots=True)
class ReturnFacts:
    bank_code: str
    vtcode: str
    head: Mapping[str, str]
    details: Sequence[Mapping[str, str]]
    accounts: Mapping[str, str]  # accounts held at this bank: number → holder name
    relations: oa.UnitRelations = field(default=UNIT_RELATIONS)  # units and their real-fund accounts
    pay_day: str = ""  # yyyymmdd: the day the bank received it, so pays it or defers it ("": not checked)


@dataclass(frozen=True, slots=True)
class ReturnRule:
    code: str
    check: Callable[[ReturnFacts], str | None]  # None: passes; else the message
    why: str
    when: str = ""  # the rule in a sentence, for a bank's engineers (written into a world's accounts.yaml)


def _incomplete(f: ReturnFacts) -> str | None:
    missing = [name for name in REQUIRED_HEAD if not f.head.get(name, "").strip()]
    missing += [f"Detail[{i}]/ExpFuncCode" for i, d in enumerate(f.details, start=1) if not d.get("ExpFuncCode", "").strip()]
    return f"empty or missing: {', '.join(missing)}" if missing else None


def _ours(f: ReturnFacts) -> bool:
    return f.head.get("PayeeAcctBankNo", "") == f.bank_code


def _unknown_account(f: ReturnFacts) -> str | None:
    no = f.head.get("PayeeAcctNo", "")
    if _ours(f) and no not in f.accounts:
        return f"PayeeAcctNo {no} is not an account of bank {f.bank_code}"
    return None


def _name_mismatch(f: ReturnFacts) -> str | None:
    no, name = f.head.get("PayeeAcctNo", ""), f.head.get("PayeeAcctName", "")
    if _ours(f) and f.accounts.get(no, name) != name:
        return f"PayeeAcctName {name!r} is not the holder of account {no}"
    return None


_RELATION_WORDS = {"own": "the paying unit itself", "superior": "a superior of the paying unit",
                   "subordinate": "a subordinate of the paying unit", "same-system": "a unit of the paying unit's system"}


def _own_account(f: ReturnFacts) -> str | None:
    if f.vtcode not in ("5201", "8202"):
        return None
    payer, no = f.head.get("AgencyCode", ""), f.head.get("PayeeAcctNo", "")
    found = oa.relation(f.relations, payer, f.head.get("SupDepCode") or None, no)
    if found is None or oa.approved(f.relations, payer, no):
        return None
    kind, owner, acct = found
    via = "" if acct == no else f" (it is the old/new account of {acct})"
    return (f"PayeeAcctNo {no}{via} is a real-fund account of unit {owner}, {_RELATION_WORDS[kind]} "
            f"({kind}), and no approval covers it")


def _procurement(f: ReturnFacts) -> bool:
    return f.head.get("ProcureFlag", "") in ("1", "2")


def _not_supplier(f: ReturnFacts) -> str | None:
    """A procurement payment goes to the contract's supplier (003 §28): the payee the voucher names is it."""
    if not _procurement(f):
        return None
    for payee, supplier in (("PayeeAcctNo", "SupplierAcctNo"), ("PayeeAcctName", "SupplierName")):
        if f.head.get(payee, "") != f.head.get(supplier, ""):
            return (f"{payee} {f.head.get(payee, '')!r} is not the contract's supplier, {supplier} "
                    f"{f.head.get(supplier, '')!r} (contract {f.head.get('ContractNo', '')})")
    return None


def _before_acceptance(f: ReturnFacts) -> str | None:
    """Paid on acceptance (ProcureFlag 1): not before the day of acceptance the voucher names."""
    accepted = f.head.get("AcceptDate", "")
    if f.head.get("ProcureFlag", "") == "1" and f.pay_day and accepted > f.pay_day:
        return (f"AcceptDate {accepted} is after the day the bank received it, {f.pay_day}: a procurement payment on "
                f"acceptance is not paid before it (contract {f.head.get('ContractNo', '')})")
    return None


# Checked in order; the first failure decides.
RETURN_RULES: tuple[ReturnRule, ...] = (
    ReturnRule("voucher-incomplete", _incomplete, "003 §52(4): incomplete documents",
               f"an element the bank needs to pay is empty: {', '.join(REQUIRED_HEAD)}, or a Detail's ExpFuncCode"),
    ReturnRule("payee-account-unknown", _unknown_account, "004 part 3 §8(5): wrong elements, returned before payment",
               "PayeeAcctBankNo is this bank's own code and this bank holds no account PayeeAcctNo"),
    ReturnRule("payee-name-mismatch", _name_mismatch, "004 part 3 §8(5): wrong elements, returned before payment",
               "PayeeAcctBankNo is this bank's own code and account PayeeAcctNo is held under another name "
               "than PayeeAcctName"),
    ReturnRule("zba-to-own-account", _own_account,
               "003 §15, 004 part 3 §12(1): no transfer from a zero-balance account to the unit's other accounts",
               "a payment (5201 or 8202) to a real-fund account (unit_accounts) of the paying unit (AgencyCode), "
               "its superior or subordinate, or another unit of its system (same first-level unit), or to the "
               "old/new account of one, that no approved entry covers"),
    ReturnRule("procurement-payee-not-supplier", _not_supplier,
               "003 §28: a procurement payment is paid to the contract's supplier",
               "a procurement payment (ProcureFlag 1 or 2) whose PayeeAcctNo differs from SupplierAcctNo or whose "
               "PayeeAcctName differs from SupplierName"),
    ReturnRule("procurement-before-acceptance", _before_acceptance,
               "003 §28, 004 part 4 §13: paid on the acceptance report (验收报告)",
               "a procurement payment on acceptance (ProcureFlag 1) whose AcceptDate is after the day the bank "
               "received it"),
)

# Checked by the core after RETURN_RULES, for a cash withdrawal (an 8202 with CashFlag 1) only: the
# cash rules (bank_sim.cash; 003 §31, 004 part 3 §9(7)); (code, when), for a bank's engineers.
CASH_RETURNS: tuple[tuple[str, str], ...] = (
    ("cash-purpose-not-allowed", "a cash withdrawal (an 8202 with CashFlag 1) whose CashPurposeCode is empty or not "
                                 "a cash use of the 现金管理暂行条例 §5 (01 to 08)"),
    ("cash-over-limit", "a cash withdrawal (an 8202 with CashFlag 1) that would take the unit's (AgencyCode) cash "
                        "withdrawn that day, this one included, past 50,000.00"),
)

# Checked by the core after CASH_RETURNS, for an authorized payment (8202) only: the unit's
# authorized quota (bank_sim.quotas); (code, when), for a bank's engineers.
QUOTA_RETURNS: tuple[tuple[str, str], ...] = (
    ("no-unit-quota", "an authorized payment (8202) for which the unit has no authorized quota (7101) line of "
                      "its budget year (StYear), fund type (FundTypeCode), subject (ExpFuncCode) and project (ProCode)"),
    ("over-unit-quota", "an authorized payment (8202) whose Detail PayAmt exceeds what is left of the unit's "
                        "authorized quota for that year, fund type, subject and project"),
    ("direct-funds-mismatch", "an authorized payment (8202) whose Detail DirectFundFlag (direct funds, 直达资金, "
                              "001, 002; the project's own element) differs from the unit's quota lines of that "
                              "year, fund type, subject and project: direct funds draw only on lines the 7101 "
                              "marked DirectFundFlag 1, other money never on them"),
)


def check_return(facts: ReturnFacts) -> tuple[str, str] | None:
    """(code, message) of the first rule the voucher breaks, or None: the bank may pay it."""
    for rule in RETURN_RULES:
        message = rule.check(facts)
        if message is not None:
            return rule.code, message
    return None
