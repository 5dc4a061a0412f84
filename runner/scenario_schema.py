"""The JSON Schema (draft 2020-12) of a scenario file (`scenarios/*.yaml`).

The schema is kept here as data so the loader needs no file outside the package;
`docs/scenario.schema.json` is this dict written out (`tgw scenario schema`), and a test keeps
the two equal. The meaning of every key is in `docs/scenarios.md`; the loader
(`runner.scenario_file`) adds the checks a schema cannot express (names that must exist,
times that must move forward, head fields the voucher type's XSD must know).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["ACCOUNT_TYPES", "EXPECTATION_KINDS", "PATTERN_HELP", "SCHEMA", "SCHEMA_ID", "STEP_ACTIONS", "schema_json"]

SCHEMA_ID = "https://treasury-gateway.invalid/schemas/scenario.schema.json"

# Business times: "HH:MM" (the start day), "D+N HH:MM" (N business days after the start day),
# or "YYYY-MM-DD HH:MM" (absolute). Seconds are optional everywhere.
TIME_PATTERN = r"^((D\+[0-9]{1,3} )?[0-2][0-9]:[0-5][0-9](:[0-5][0-9])?|[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-2][0-9]:[0-5][0-9](:[0-5][0-9])?)$"
TIME_OF_DAY_PATTERN = r"^[0-2][0-9]:[0-5][0-9](:[0-5][0-9])?$"
DATE_PATTERN = r"^([0-9]{4}-[0-9]{2}-[0-9]{2}|D\+[0-9]{1,3})$"
DURATION_PATTERN = r"^[0-9]{1,4}(s|m|h|bd)$"
MONEY_PATTERN = r"^-?[0-9]{1,15}\.[0-9]{2}$"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
VTCODE_PATTERN = r"^[0-9]{4}$"
BANK_CODE_PATTERN = r"^[0-9]{12}$"
ADM_DIV_PATTERN = r"^[0-9]{6,9}$"  # AdmDivCodeType (xsd/common.xsd)

# What each pattern means, for error messages.
PATTERN_HELP: dict[str, str] = {
    TIME_PATTERN: "a business time: \"HH:MM\" (start day), \"D+N HH:MM\" (N business days later) or "
                  "\"YYYY-MM-DD HH:MM\"",
    TIME_OF_DAY_PATTERN: "a time of day \"HH:MM\"",
    DATE_PATTERN: "a day: \"YYYY-MM-DD\" or \"D+N\" (N business days after the start)",
    DURATION_PATTERN: "a duration: 90s, 30m, 2h or 1bd (business days)",
    MONEY_PATTERN: "an amount in yuan with two decimals, quoted: \"12.50\"",
    ID_PATTERN: "a name of letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)",
    VTCODE_PATTERN: "a VtCode of four digits, quoted: \"5201\"",
    BANK_CODE_PATTERN: "a 12-digit bank code, quoted",
    ADM_DIV_PATTERN: "a division's AdmDivCode of 6 to 9 digits, quoted: \"990100\"",
}

# Lists in a scenario are bounded so a typo cannot make a run of hours (why: see each limit).
STEPS_MAX = 5_000  # a busy scripted week is a few hundred steps
EXPECTATIONS_MAX = 2_000
BATCH_COUNT_MAX = 10_000  # vouchers one batch step may generate
BANKS_MAX = 20
DIVISIONS_MAX = 10  # divisions (AdmDivCode) of one world: two show the rule
RETURNS_MAX = 200  # payee returns per bank: a handful makes a refund scenario
BATCH_LINES_MAX = 1_000  # lines of a salary batch in a scenario: a scenario shows the rule, the demo the volume
UNITS_MAX = 200

_time = {"type": "string", "pattern": TIME_PATTERN,
         "description": "business time: HH:MM (start day), D+N HH:MM (N business days later) or YYYY-MM-DD HH:MM"}
_tod = {"type": "string", "pattern": TIME_OF_DAY_PATTERN, "description": "a time of day HH:MM (quote it in YAML)"}
_money = {"type": "string", "pattern": MONEY_PATTERN, "description": "yuan with two decimals, as a string: \"12.34\""}
_id = {"type": "string", "pattern": ID_PATTERN}
_participant = {"type": "string", "pattern": ID_PATTERN,
                "description": "treasury, pboc, or a bank id of world.banks"}
# A bank serving several divisions (AdmDivCode) reports and states to each its own payments: an
# expectation on its reports or sign-off names the division with `adm` (absent: every division's).
_adm = {"type": "string", "pattern": ADM_DIV_PATTERN,
        "description": "AdmDivCode: only the reports or verdicts of this division (absent: every division's)"}
_who = {"enum": ["gateway", "bank", "pboc", "treasury"]}
_fields = {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 200,
           "description": "head elements of the voucher, by XSD name, overriding the template's"}

# A treasury officer releases or rejects a held payment; a monitoring decision on a voucher
# (runner/monitor_steps.py, docs/monitoring.md).
MONITOR_STEP: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["reason"],
    "description": "a treasury officer releases or rejects the hold on a voucher of the steps",
    "properties": {"release": {"type": "string", "minLength": 1}, "reject": {"type": "string", "minLength": 1},
                   "reason": {"type": "string", "minLength": 1, "maxLength": 2000}},
    "oneOf": [{"required": ["release"]}, {"required": ["reject"]}]}
MONITOR_EXPECTATION: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["voucher", "rule", "outcome"],
    "description": "a monitoring rule decided on the voucher: flagged (notice, warning), held, blocked; or its "
                   "hold was released or rejected",
    "properties": {"voucher": {"type": "string", "minLength": 1}, "rule": {"type": "string", "minLength": 1},
                   "outcome": {"enum": ["flagged", "held", "blocked", "released", "rejected"]}}}

_acct = {"type": "string", "pattern": "^[0-9-]{6,32}$"}
_send_props: dict[str, Any] = {
    "id": {**_id, "description": "the scenario's name for this voucher (expectations refer to it)"},
    "template": {"enum": ["direct-payment", "authorized-payment", "quota-direct", "quota-authorized",
                          "receipt", "salary-batch", "union-fees", "procurement",
                          "card-repayment"]},
    "contract": {"type": "string", "minLength": 1, "maxLength": 60,
                 "description": "template procurement: the number of a world.contracts entry it pays on (the payee "
                                "is its supplier; docs/payment-kinds.md)"},
    "acceptance": {"type": "object", "additionalProperties": False, "required": ["doc", "date"],
                   "description": "template procurement: the acceptance report (验收报告) it is paid on (ProcureFlag 1, "
                                  "AcceptDocNo, AcceptDate); without it, a payment before acceptance (ProcureFlag 2)",
                   "properties": {"doc": {"type": "string", "minLength": 1, "maxLength": 60},
                                  "date": {"type": "string", "pattern": DATE_PATTERN}}},
    "lines": {"type": "array", "minItems": 1, "maxItems": BATCH_LINES_MAX,
              "description": "template salary-batch: one line per payee (一次批量, 003 §26); template "
                             "card-repayment: one line per official card repaid (003 §30), `account` its number "
                             "(CardNo), `payee` its holder; the voucher's amount is their sum",
              "items": {"type": "object", "additionalProperties": False, "required": ["account", "payee", "amount"],
                        "properties": {"account": {**_acct, "description": "the payee's account (PayeeAcctNo)"},
                                       "payee": {"type": "string", "minLength": 1, "maxLength": 60,
                                                 "description": "the payee's name (PayeeAcctName)"},
                                       "bank_name": {"type": "string", "minLength": 1, "maxLength": 60},
                                       "amount": _money}}},
    "file": {"type": "string", "minLength": 1, "description": "a literal voucher XML file, relative to the scenario"},
    "from": _participant,
    "adm": {"type": "string", "pattern": ADM_DIV_PATTERN,
            "description": "the voucher's division (AdmDivCode), a code of world.divisions (default: the first)"},
    "bank": {**_participant, "description": "the paying bank (PayBankCode) by its id in world.banks"},
    "unit": {"type": "string", "description": "AgencyCode of a world.budget_units entry"},
    "amount": _money,
    "voucher_no": {"type": "string", "minLength": 1, "maxLength": 42},
    "of": {**_id, "description": "template receipt: the id of the voucher this is a receipt of"},
    "fields": _fields,
    "fault": {"description": "what happens to this send on the way",
              "oneOf": [{"enum": ["drop", "duplicate", "corrupt-signature"]},
                        {"type": "object", "additionalProperties": False, "required": ["delay"],
                         "properties": {"delay": {"type": "string", "pattern": DURATION_PATTERN}}}]},
}
_send = {"type": "object", "additionalProperties": False, "properties": _send_props,
         "oneOf": [{"required": ["template"]}, {"required": ["file"]}]}

# The treasury orders a bank to suspend payments in a scope, then lifts the order (VtCode 7501,
# 000 五(二)3; runner/suspension_steps.py, docs/rules.md "Payment suspension").
SUSPEND_STEP: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["bank", "reason"],
    "description": "the treasury orders the bank to suspend payments of a unit, a paying account or a payee (7501)",
    "properties": {"id": {**_id, "description": "the order's name (lift: and expectations refer to it)"},
                   "unit": {"type": "string", "pattern": "^[A-Za-z0-9]{1,42}$", "description": "AgencyCode"},
                   "account": {**_acct, "description": "PayAcctNo, the paying account"},
                   "payee": {**_acct, "description": "PayeeAcctNo, the payee's account"},
                   "bank": _participant, "reason": {"type": "string", "minLength": 1, "maxLength": 200},
                   "adm": {"type": "string", "pattern": ADM_DIV_PATTERN,
                           "description": "the division (AdmDivCode) whose treasury orders it (its lift too), a "
                                          "code of world.divisions (default: the first)"}},
    "oneOf": [{"required": ["unit"]}, {"required": ["account"]}, {"required": ["payee"]}]}
LIFT_STEP: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["order"],
    "description": "the treasury lifts a standing suspension order of the steps (7501, SuspendAction 2)",
    "properties": {"order": {**_id, "description": "the id of the suspend step"},
                   "id": {**_id, "description": "the lift's name (expectations refer to it)"},
                   "reason": {"type": "string", "minLength": 1, "maxLength": 200}}}

# Accounts of the treasury single account system (003 §4, §12-13, §17-18), as the world declares
# them (open from the start) and as an `account:` step opens, changes or closes them on the
# treasury's notice (VtCode 7601, 004 part 3 §9(1); runner/account_steps.py, docs/accounts.md).
ACCOUNT_TYPES: dict[str, str] = {"finance-zero-balance": "1", "unit-zero-balance": "2", "unit-real-fund": "3",
                                 "fiscal-special": "4"}
ACCOUNTS_MAX = 500  # declared accounts: a few per unit of a 200-unit world
CONTRACTS_MAX = 200  # procurement contracts: a scenario shows the rule with a handful
# A procurement contract the treasury holds (004 part 4 §11): its procurement payments are checked
# against it before the voucher is issued (treasury_sim/procurement.py, docs/payment-kinds.md).
WORLD_CONTRACT: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "required": ["number", "unit", "supplier_account", "supplier_name", "amount"],
    "properties": {
        "number": {"type": "string", "minLength": 1, "maxLength": 60, "description": "ContractNo"},
        "unit": {"type": "string", "pattern": "^[A-Za-z0-9]{1,42}$",
                 "description": "AgencyCode of the buying unit (a world.budget_units entry)"},
        "supplier_account": {**_acct, "description": "the supplier's account: SupplierAcctNo, and the payee"},
        "supplier_name": {"type": "string", "minLength": 1, "maxLength": 200, "description": "SupplierName"},
        "supplier_bank": {"type": "string", "minLength": 1, "maxLength": 200,
                          "description": "PayeeAcctBankName of its payments (default: made up)"},
        "amount": {**_money, "description": "the contract amount: all payments on it add up to at most this"},
        "acceptance_required": {"type": "boolean",
                                "description": "default true: paid on acceptance only; false: the contract allows "
                                               "payment before acceptance (an advance, ProcureFlag 2)"}}}
_acct_props: dict[str, Any] = {
    "bank": {**_participant, "description": "the bank that holds it, by its id in world.banks"},
    "type": {"enum": list(ACCOUNT_TYPES), "description": "finance-zero-balance (one per bank), unit-zero-balance "
             "(one per unit), unit-real-fund or fiscal-special"},
    "number": {**_acct, "description": "AcctNo"},
    "name": {"type": "string", "minLength": 1, "maxLength": 200, "description": "AcctName (default: made up)"},
    "unit": {"type": "string", "pattern": "^[A-Za-z0-9]{1,42}$",
             "description": "AgencyCode: required for unit-zero-balance and unit-real-fund"},
}
WORLD_ACCOUNT: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["bank", "type", "number"],
    "description": "an account open at the start (its bank's registry is then in force: a payment voucher's "
                   "PayAcctNo must be an open zero-balance account of it)",
    "properties": {**_acct_props, "approval": {"type": "string", "pattern": "^[A-Za-z0-9-]{1,42}$",
                                               "description": "fiscal-special: the Ministry's approval"}}}
ACCOUNT_STEP: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["action", "bank", "type", "number"],
    "description": "the treasury notifies the bank to open, change or close an account (7601)",
    "properties": {"id": {**_id, "description": "the notice's name (expectations refer to it)"},
                   "action": {"enum": ["open", "change", "close"]}, **_acct_props,
                   "adm": {"type": "string", "pattern": ADM_DIV_PATTERN,
                           "description": "the division (AdmDivCode) whose treasury sends the notice, a code of "
                                          "world.divisions (default: the first)"},
                   "replaces": {**_acct, "description": "change: the old account the new number replaces"},
                   "approval": {"type": "string", "pattern": "^[A-Za-z0-9-]{1,42}$",
                                "description": "ApproveNo: a fiscal-special opening or change needs it (003 §18)"},
                   "filing": {"type": "string", "pattern": "^[A-Za-z0-9-]{1,42}$",
                              "description": "FileNo: a fiscal-special closure is filed (003 §18)"}}}

_step_actions = ("send", "batch", "quota", "advance", "offline", "online", "fault", "monitor", "suspend", "lift",
                 "account")
_step = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "at": _time,
        "note": {"type": "string"},
        "send": _send,
        "batch": {"type": "object", "additionalProperties": False,
                  "description": "vouchers sent together in one envelope",
                  "properties": {"vouchers": {"type": "array", "items": _send, "minItems": 1, "maxItems": 1000},
                                 "count": {"type": "integer", "minimum": 1, "maximum": BATCH_COUNT_MAX},
                                 "like": _send},
                  "oneOf": [{"required": ["vouchers"]}, {"required": ["count", "like"]}]},
        "quota": {"type": "object", "additionalProperties": False, "required": ["bank", "pay_type", "amount"],
                  "properties": {"bank": _participant, "pay_type": {"enum": ["direct", "authorized"]},
                                 "adm": {"type": "string", "pattern": ADM_DIV_PATTERN,
                                         "description": "the notice's division (AdmDivCode), a code of "
                                                        "world.divisions (default: the first)"},
                                 "amount": _money, "id": _id, "day": {"type": "string", "pattern": DATE_PATTERN},
                                 "fund_type": {"type": "string", "pattern": "^[0-9]{1,6}$",
                                               "description": "FundTypeCode of the notice (default 1)"}}},
        "advance": {"type": "object", "additionalProperties": False,
                    "properties": {"to": _time, "by": {"type": "string", "pattern": DURATION_PATTERN}},
                    "oneOf": [{"required": ["to"]}, {"required": ["by"]}]},
        "offline": _participant,
        "online": _participant,
        "fault": {"type": "object", "additionalProperties": False, "required": ["kind", "to"],
                  "description": "a fault on deliveries to a participant from now on",
                  "properties": {"kind": {"enum": ["drop", "duplicate", "delay"]}, "to": _participant,
                                 "vtcode": {"type": "string", "pattern": VTCODE_PATTERN},
                                 "flag": {"enum": [0, 1]},
                                 "count": {"type": "integer", "minimum": 1, "maximum": 1000},
                                 "delay": {"type": "string", "pattern": DURATION_PATTERN}}},
        "monitor": MONITOR_STEP,
        "suspend": SUSPEND_STEP,
        "lift": LIFT_STEP,
        "account": ACCOUNT_STEP,
    },
    "oneOf": [{"required": [a]} for a in _step_actions],
}

_ref = {**_id, "description": "a voucher id from the steps"}


def _none_alone(others: tuple[str, ...]) -> dict[str, Any]:
    """`none: true` (nothing arrived) takes none of `others` (what would have arrived):
    `runner.scenario_file` words the refusal at `none`."""
    return {"if": {"required": ["none"], "properties": {"none": {"const": True}}},
            "then": {"not": {"anyOf": [{"required": [k]} for k in others]}}}


_expect_kinds: dict[str, Any] = {
    "accepted": {"type": "object", "additionalProperties": False, "required": ["voucher"],
                 "properties": {"voucher": _ref, "who": _who,
                                "status": {"enum": ["accepted", "duplicate"],
                                           "description": "the gateway's status of this submission: duplicate "
                                                          "for the same voucher sent again"}}},
    "rejected": {"type": "object", "additionalProperties": False, "required": ["voucher", "code"],
                 "properties": {"voucher": _ref, "code": {"type": "string", "minLength": 1}, "who": _who}},
    "receipt": {"type": "object", "additionalProperties": False, "required": ["voucher"],
                "properties": {"voucher": _ref, "from": _participant, "fields": _fields,
                               "none": {"type": "boolean", "description": "true: no receipt may arrive"},
                               "present": {"type": "array", "maxItems": 50, "description":
                                           "fields the receipt must carry, each non-empty (e.g. XAgentBusinessNo)",
                                           "items": {"type": "string", "minLength": 1}}},
                **_none_alone(("fields", "from", "present"))},
    "clearing": {"type": "object", "additionalProperties": False, "required": ["voucher", "includes"],
                 "properties": {"voucher": _ref, "includes": {"type": "boolean"},
                                "clear_type": {"enum": ["normal", "replenishment"]},
                                "state": {"enum": ["accepted", "rejected", "pending"]}}},
    "balance": {"type": "object", "additionalProperties": False, "required": ["owner", "account", "equals"],
                "properties": {"owner": _participant, "account": {"type": "string", "minLength": 1},
                               "equals": _money, "close_of": {"type": "string", "pattern": DATE_PATTERN}}},
    "zero_balance_at_close": {"type": "object", "additionalProperties": False,
                              "properties": {"day": {"type": "string", "pattern": DATE_PATTERN}}},
    "invariants": {"type": "object", "additionalProperties": False,
                   "properties": {"only": {"type": "array", "items": {"type": "string"}, "maxItems": 50}}},
    "reconciliation": {"type": "object", "additionalProperties": False,
                       "properties": {"clean": {"const": True},
                                      "breaks": {"type": "array", "maxItems": 500, "items": {
                                          "type": "object", "additionalProperties": False, "required": ["cause"],
                                          "properties": {"cause": {"type": "string"},
                                                         "vouchers": {"type": "array", "items": _ref},
                                                         "day": {"type": "string", "pattern": DATE_PATTERN}}}}},
                       "oneOf": [{"required": ["clean"]}, {"required": ["breaks"]}]},
    "refund": {"type": "object", "additionalProperties": False, "required": ["voucher"],
               "description": "the refund request (2302) a bank filed for a payment its payee's bank returned",
               "properties": {"voucher": _ref, "state": {"enum": ["accepted", "rejected", "pending"]},
                              "none": {"type": "boolean", "description": "true: no refund request for the "
                                                                         "voucher (no state, code or amount)"},
                              "code": {"type": "string", "minLength": 1},
                              "amount": {**_money, "description": "of this amount (a salary batch's line "
                                                                  "comes back alone)"}},
               **_none_alone(("state", "code", "amount"))},
    "refused": {"type": "object", "additionalProperties": False, "required": ["bank", "code"],
                "description": "one of the bank's own sends was refused with this code (gateway, central bank "
                               "or treasury)",
                "properties": {"bank": _participant, "code": {"type": "string", "minLength": 1},
                               "vtcode": {"type": "string", "pattern": VTCODE_PATTERN}, "flag": {"enum": [0, 1]},
                               "adm": {**_adm, "description": "AdmDivCode: only this division's vouchers (two "
                                                              "divisions may number theirs alike; absent: every "
                                                              "division's)"}}},
    "scorecard": {"type": "object", "additionalProperties": False, "required": ["bank"],
                  "description": "the bank scorecard of a month (treasury_sim.scorecard), from what happened",
                  "properties": {"bank": _participant,
                                 "month": {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}$"},
                                 "flagged": {"type": "boolean"},
                                 "min_score": {"type": "integer", "minimum": 0},
                                 "max_score": {"type": "integer", "minimum": 0},
                                 "late_at_least": {"type": "integer", "minimum": 0},
                                 "faulty_at_least": {"type": "integer", "minimum": 0},
                                 "duty": {"type": "string", "description": "a duty kind: receipt, daily-report..."},
                                 "on_time": {"type": "integer", "minimum": 0},
                                 "late": {"type": "integer", "minimum": 0},
                                 "stage": {"enum": [0, 1, 2], "description": "the furthest stage that month (§13(5)): "
                                           "0 none, 1 rectify within a month, 2 recurred after it: agency at risk"}}},
    "reports_match": {"type": "object", "additionalProperties": False, "required": ["bank"],
                      "description": "every daily report (2206), monthly report (4004) and statement (3501) the "
                                     "bank sent states what its receipts to the treasury paid in the period, less "
                                     "the refunds it noticed in it, to the fen (at least one arrived)",
                      "properties": {"bank": _participant, "vtcode": {"enum": ["2206", "4004", "3501"]}, "adm": _adm}},
    "report_subject": {"type": "object", "additionalProperties": False, "required": ["bank", "vtcode", "subject",
                                                                                   "equals"],
                       "description": "the reports of that kind the bank sent (2206 / 4004 / 3501), their lines of "
                                      "one subject (ExpFuncCode) summed, equal the amount (a subject corrected away "
                                      "sums to 0.00)",
                       "properties": {"bank": _participant, "vtcode": {"enum": ["2206", "4004", "3501"]},
                                      "subject": {"type": "string", "pattern": "^[0-9A-Za-z]{1,42}$"},
                                      "adm": _adm, "equals": _money}},
    "report_direct_funds": {"type": "object", "additionalProperties": False,
                            "required": ["bank", "vtcode", "equals"],
                            "description": "the reports of that kind the bank sent (2206 / 4004 / 3501), their "
                                           "direct funds (DirectFundAmt, 直达资金; absent: 0.00) summed, equal the "
                                           "amount (docs/payment-kinds.md)",
                            "properties": {"bank": _participant, "vtcode": {"enum": ["2206", "4004", "3501"]},
                                           "adm": _adm, "equals": _money}},
    "signoff": {"type": "object", "additionalProperties": False, "required": ["month", "level"],
                "description": "the monthly reconciliation and sign-off of a month at a level (对账签证, "
                               "docs/reconciliation.md): agreed, differs (with its breaks), missing or not-due; "
                               "looking for agreement every verdict selected must hold, looking for a difference "
                               "(agreed: false, a cause, off_by...) at least one",
                "properties": {"month": {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}$"},
                               "level": {"enum": ["bank-treasury", "bank-unit", "bank-pboc", "treasury-pboc"]},
                               "bank": _participant,
                               "adm": {**_adm, "description": "AdmDivCode: only this division's verdicts "
                                       "(bank-treasury, bank-unit; absent: every division's)"},
                               "unit": {"type": "string", "minLength": 1, "description": "AgencyCode (bank-unit)"},
                               "agreed": {"type": "boolean"},
                               "verdict": {"enum": ["agreed", "differs", "missing", "not-due"]},
                               "signed_off": {"type": "boolean", "description": "the statement's receipt said "
                                              "XCheckResult 0 (true) or 1 (false)"},
                               "cause": {"type": "string", "minLength": 1, "description": "a break of this cause"},
                               "off_by": {**_money, "description": "a break whose difference is this much "
                                          "(either way)"},
                               "vouchers": {"type": "array", "maxItems": 50, "items": _ref,
                                            "description": "a break naming these vouchers"}},
                "anyOf": [{"required": [k]} for k in ("agreed", "verdict", "signed_off", "cause", "off_by")]},
    "unit_quota": {"type": "object", "additionalProperties": False, "required": ["owner", "unit", "equals"],
                   "description": "a unit's remaining authorized quota at the end of the run, in a bank's books "
                                  "or the treasury's (its 7101s, less the quota reductions (7106) the bank "
                                  "confirmed, less its units' 8202 receipts, plus quota restored by refunds)",
                   "properties": {"owner": _participant, "unit": {"type": "string", "minLength": 1},
                                  "adm": {**_adm, "description": "AdmDivCode: that division's unit of the code "
                                          "(absent: every division's unit of the code, added up)"},
                                  "equals": _money}},
    "year_end": {"type": "object", "additionalProperties": False, "required": ["year"],
                 "description": "the generated treasury's year end of a budget year (004 part 5 §6): its "
                                "cancellation (7301) and carry-forward (7302) notices, their sums, the banks' "
                                "confirmations, and its books (granted = spent + cancelled + carried + lapsed)",
                 "properties": {"year": {"type": "string", "pattern": r"^[0-9]{4}$"}, "bank": _participant,
                                "cancelled": {**_money, "description": "the 7301s (of the bank) add up to this"},
                                "carried": {**_money, "description": "the 7302s (of the bank) add up to this"},
                                "balanced": {"type": "boolean"},
                                "confirmed": {"type": "boolean", "description": "true: every notice (of the bank) "
                                              "confirmed by its deadline; false: one flagged year-end-unconfirmed"}}},
    "quota_restored": {"type": "object", "additionalProperties": False, "required": ["unit", "equals"],
                       "description": "what the treasury restored of a unit's quota for refunds of the same "
                                      "year (or, cross_year: true, booked as cross-year refund lines)",
                       "properties": {"unit": {"type": "string", "minLength": 1},
                                      "adm": {**_adm, "description": "AdmDivCode: that division's unit of the "
                                              "code (absent: every division's unit of the code, added up)"},
                                      "year": {"type": "string", "pattern": r"^[0-9]{4}$"},
                                      "cross_year": {"type": "boolean"},
                                      "left": {"type": "boolean", "description": "with cross_year: what is left "
                                               "of the lines after the payments from them"},
                                      "equals": _money}},
    "clearings_sum": {"type": "object", "additionalProperties": False, "required": ["bank", "day", "equals"],
                      "description": "the sum a bank's accepted clearing requests of a day (ClearDate) cleared",
                      "properties": {"bank": _participant, "day": {"type": "string", "pattern": DATE_PATTERN},
                                     "clear_type": {"enum": ["normal", "replenishment"]}, "equals": _money}},
    "count": {"type": "object", "additionalProperties": False, "required": ["vtcode"],
              "properties": {"vtcode": {"type": "string", "pattern": VTCODE_PATTERN}, "flag": {"enum": [0, 1]},
                             "sender": _participant, "recipient": _participant,
                             "equals": {"type": "integer", "minimum": 0},
                             "at_least": {"type": "integer", "minimum": 0},
                             "at_most": {"type": "integer", "minimum": 0}},
              "anyOf": [{"required": ["equals"]}, {"required": ["at_least"]}, {"required": ["at_most"]}]},
    "budget_refused": {"type": "object", "additionalProperties": False,
                       "description": "payment requests the generated treasury refused for their budget (003 "
                                      "§52; world.treasury.units): never sent as vouchers",
                       "properties": {"code": {"enum": ["budget-none", "budget-out-of-scope", "budget-exceeded"]},
                                      "unit": {"type": "string", "minLength": 1},
                                      "equals": {"type": "integer", "minimum": 0},
                                      "at_least": {"type": "integer", "minimum": 0},
                                      "at_most": {"type": "integer", "minimum": 0}},
                       "anyOf": [{"required": ["equals"]}, {"required": ["at_least"]}, {"required": ["at_most"]}]},
    "monitor": MONITOR_EXPECTATION,
    "account_notice": {"type": "object", "additionalProperties": False, "required": ["notice"],
                       "description": "the bank carried out an account notice (7601) and confirmed it within the "
                                      "working days the agreement allows (3, 004 part 3 §9(1)), or (late: true) "
                                      "after them, or (done: false) not at all",
                       "properties": {"notice": {**_id, "description": "the id of the account step"},
                                      "late": {"type": "boolean"}, "done": {"type": "boolean"}}},
    "account_feed": {"type": "object", "additionalProperties": False, "required": ["bank", "day"],
                     "description": "the bank's account feed (7602, 资金流水) of a day, matched by the treasury "
                                    "against its own payments to the registered real-fund and special accounts: "
                                    "matched (no break), the number of breaks, or a break of code on voucher "
                                    "off by an amount; a bank serving several divisions sends each its own feed",
                     "properties": {"bank": {**_id, "description": "a bank of world.banks"},
                                    "day": {"type": "string", "pattern": DATE_PATTERN},
                                    "adm": {**_adm, "description": "AdmDivCode: only this division's feed (absent: "
                                            "every feed of the day; agreement must hold in each, a break in one)"},
                                    "matched": {"type": "boolean"},
                                    "breaks": {"type": "integer", "minimum": 0},
                                    "code": {"enum": ["feed-missing-movement", "feed-unknown-movement",
                                                      "feed-amount-differs"]},
                                    "voucher": {**_id, "description": "the id of the send step of the voucher"},
                                    "off_by": _money}},
    "card_detail": {"type": "object", "additionalProperties": False, "required": ["voucher"],
                    "description": "the card bank's repayment detail (7701) of an official-card repayment, "
                                   "matched by the treasury against the voucher's card lines (its settlement "
                                   "list, 003 §30): matched (no break), the number of breaks, or a break of code "
                                   "(on a card)",
                    "properties": {"voucher": {**_id, "description": "the id of the card-repayment send step"},
                                   "matched": {"type": "boolean"},
                                   "breaks": {"type": "integer", "minimum": 0},
                                   "code": {"enum": ["card-detail-unknown-voucher", "card-detail-sum-differs",
                                                     "card-not-on-settlement-list", "card-amount-differs"]},
                                   "card": {"type": "string", "pattern": "^[0-9]{16,19}$"}}},
}
EXPECTATION_KINDS: tuple[str, ...] = tuple(_expect_kinds)
STEP_ACTIONS: tuple[str, ...] = _step_actions

_expectation = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}, "by": _time, "before": _time,
                   **_expect_kinds},
    "oneOf": [{"required": [k]} for k in _expect_kinds],
    "not": {"required": ["by", "before"]},  # one deadline: at-or-before, or strictly before
}

_bank = {
    "type": "object", "additionalProperties": False, "required": ["id", "code"],
    "properties": {
        "id": _id, "code": {"type": "string", "pattern": BANK_CODE_PATTERN}, "name": {"type": "string"},
        "profile": {**_id, "description": "standard (= prompt), external (conformance mode), or a bank "
                                             "behaviour profile: prompt, slow, faulty, flaky or an installed "
                                             "tgw.bank_profiles plugin (docs/connect-a-bank.md)"},
        "params": {"type": "object", "maxProperties": 50,
                   "description": "the profile's parameters (bank_sim.profiles; e.g. slow: late_business_days)"},
        "returns": {"type": "array", "maxItems": RETURNS_MAX,
                    "description": "payments the payee's bank sends back (a refund after payment)",
                    "items": {"type": "object", "additionalProperties": False, "required": ["voucher", "at"],
                              "properties": {"voucher": {**_id, "description": "a payment voucher id of the steps"},
                                             "at": _time,
                                             "batch_line": {"type": "integer", "minimum": 1,
                                                            "description": "a salary batch's line (1-based) "
                                                                           "that comes back alone"},
                                             "reason": {"enum": ["account-closed", "wrong-account",
                                                                 "account-frozen"]}}}},
        "reserve": _money,
        "filing_time": _tod, "open_time": _tod, "replenish_time": _tod,
        "account_open_days": {"type": "integer", "minimum": 0, "maximum": 30,
                              "description": "the working days the simulated bank takes to carry out an account "
                                             "notice (7601): 0 at once (default); the agreement allows 3"},
    },
}

# A division (行政区划, AdmDivCode) of the world: the treasury and the central bank serve every one,
# each bank the divisions that list it (the registry's adm_div_codes; the gateway routes by them).
_division = {
    "type": "object", "additionalProperties": False, "required": ["code"],
    "properties": {
        "code": {"type": "string", "pattern": ADM_DIV_PATTERN, "description": "AdmDivCode (synthetic: 990100)"},
        "name": {"type": "string", "minLength": 1, "maxLength": 60},
        "banks": {"type": "array", "minItems": 1, "maxItems": BANKS_MAX, "items": {**_id},
                  "description": "ids of world.banks serving this division (default: every bank)"}}}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "Treasury gateway scenario",
    "description": "A business case as data: the world, steps at business times, expectations with deadlines.",
    "type": "object",
    "additionalProperties": False,
    "required": ["scenario", "world", "expect"],
    "properties": {
        "scenario": {**_id, "description": "the scenario's name (unique in a catalogue)"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
        "world": {
            "type": "object", "additionalProperties": False, "required": ["start"],
            "properties": {
                "start": {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-2][0-9]:[0-5][0-9])?$",
                          "description": "the start day (and time, default 08:00), Asia/Shanghai"},
                "end": _time,
                "seed": {"type": "integer", "minimum": 0},
                "clock": {"type": "object", "additionalProperties": False,
                          "description": "ClockConfig: cutoffs and deadlines as HH:MM, notice periods in days",
                          "properties": {
                              **{k: _tod for k in ("clearing_cutoff", "urgent_cutoff", "bank_system_close",
                                                   "next_morning_payment_deadline", "replenishment_window_start",
                                                   "replenishment_window_end", "receipts_deadline")},
                              **{k: {"type": "integer", "minimum": 0, "maximum": 20}
                                 for k in ("credit_notice_days", "refund_notice_days", "daily_report_days",
                                           "monthly_report_days", "monthly_statement_days")}}},
                "treasury": {"type": "object", "additionalProperties": False, "properties": {
                    "profile": {"enum": ["scripted", "generated", "external"]},
                    "quota": {"enum": ["auto", "manual"],
                              "description": "auto: quota notices at quota_time for the day's scripted vouchers, "
                                             "their exact sums per bank, pay type and fund type"},
                    "quota_time": _tod,
                    "vouchers_per_day": {"type": "integer", "minimum": 0, "maximum": 100_000},
                    "days": {"type": "integer", "minimum": 1, "maximum": 30},
                    "units": {"type": "integer", "minimum": 2, "maximum": 20_000,
                              "description": "generated: a unit tree of this size with budget indicators "
                                             "(treasury_sim.units, treasury_sim.budget); each request is checked "
                                             "against its indicator and refused with no budget, outside its scope "
                                             "or over budget (003 §6, §52)"},
                    "unspent_pct": {"type": "integer", "minimum": 0, "maximum": 100,
                                    "description": "generated: each month's authorized quota notice (7101) grants "
                                                   "the approved plan plus this share the units leave unspent (what "
                                                   "the year end cancels or carries forward; default 0)"},
                    "budget_anomalies": {"type": "integer", "minimum": 0, "maximum": 1000,
                                         "description": "with units: per mille of requests asking what the "
                                                        "budget does not allow (default 20)"},
                    "tsa_opening": _money}},
                "pboc": {"type": "object", "additionalProperties": False, "properties": {
                    "profile": {"enum": ["standard", "external"]}, "tsa_opening": _money,
                    "clearing_floor": {**_money, "description": "each bank's clearing account at the central "
                                       "bank stays at or above this: a refund that would take it lower is "
                                       "refused below-clearing-floor"}}},
                "banks": {"type": "array", "items": _bank, "minItems": 1, "maxItems": BANKS_MAX},
                "divisions": {"type": "array", "minItems": 1, "maxItems": DIVISIONS_MAX, "items": _division,
                              "description": "the divisions (AdmDivCode) the world's treasury pays for, each with "
                                             "the banks that serve it (default: one, 990100, served by every bank); "
                                             "the first is the default of a step's adm"},
                "budget_units": {"type": "array", "maxItems": UNITS_MAX, "items": {
                    "type": "object", "additionalProperties": False, "required": ["agency"],
                    "properties": {"sup_dep": {"type": "string"}, "sup_dep_name": {"type": "string"},
                                   "agency": {"type": "string"}, "agency_name": {"type": "string"}}}},
                "accounts": {"type": "array", "maxItems": ACCOUNTS_MAX, "items": WORLD_ACCOUNT,
                             "description": "accounts open at the start, by bank (docs/accounts.md)"},
                "contracts": {"type": "array", "maxItems": CONTRACTS_MAX, "items": WORLD_CONTRACT,
                              "description": "procurement contracts the treasury holds (政府采购, 003 §28; "
                                             "docs/payment-kinds.md)"},
            },
        },
        "steps": {"type": "array", "items": _step, "maxItems": STEPS_MAX},
        "expect": {"type": "array", "items": _expectation, "minItems": 1, "maxItems": EXPECTATIONS_MAX},
    },
}


def schema_json() -> str:
    """The schema as the text of `docs/scenario.schema.json`."""
    return json.dumps(SCHEMA, indent=2, ensure_ascii=False) + "\n"
