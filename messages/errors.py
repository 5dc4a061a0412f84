"""Typed errors with stable machine codes.

Every refusal anywhere in the project carries one of the codes below. A code is a
contract with users (banks script against it): never rename one, only add.

Split by who is at fault, as h11 does: `InputError` is the sender's (bad bytes, bad
signature, not allowed), `StateError` is ours or the world's (storage down...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CODES",
    "InputError",
    "Issue",
    "MessagesError",
    "StateError",
]

# code -> one-line meaning. Used by docs, `tgw validate --codes` and the OpenAPI spec.
CODES: dict[str, str] = {
    # hardened XML parsing
    "xml-malformed": "the bytes are not well-formed XML",
    "xml-forbidden-dtd": "a DOCTYPE / DTD is present; DTDs are never accepted",
    "xml-forbidden-entity": "an entity declaration or reference to an external resource is present",
    "xml-too-large": "the document is larger than the configured limit",
    "xml-too-deep": "elements are nested deeper than the configured limit",
    "xml-bad-encoding": "the bytes are not UTF-8 or GBK: another declared encoding, bytes that do not decode "
                        "with the declared one, or UTF-16/UTF-32 (byte-order mark or NUL bytes)",
    "xml-text-too-large": "one text node or attribute value is longer than the parser's per-node limit "
                          "(10,000,000 bytes), or a name longer than its limit for names (50,000 bytes); the path "
                          "names the element",
    "xml-version": "the XML declaration names a version other than 1.0 (XML 1.1 reads line ends and control "
                   "characters otherwise than the 1.0 parsers of the wire)",
    "xml-forbidden-pi": "a processing instruction (<?target ...?>) other than the XML declaration is present; the "
                        "wire has none (one inside an element's text splits it: parsers then read different "
                        "values); the path names the element it is in",
    "xml-forbidden-comment": "a comment inside an element's value (<PayeeAcctNo>12<!-- -->34</PayeeAcctNo>): "
                             "parsers read such a value differently; comments between elements are fine",
    "xml-namespace": "an element is in an XML namespace (xmlns); envelopes and vouchers have none, their XSDs "
                     "declare no target namespace: the path names the first such element, the message its namespace",
    # envelope
    "envelope-invalid": "the MOF envelope does not match envelope.xsd",
    "envelope-count-mismatch": "VoucherCount differs from the number of VoucherBody elements",
    "voucher-key-invalid": "a voucher key is not adm/year/vtcode/no/flag (a part is missing or empty, has a control "
                           "character, or the flag is not a whole number); the path names the part",
    "envelope-key-mismatch": "a VoucherBody attribute (AdmDivCode, StYear, VtCode, VoucherNo) differs from the voucher inside",
    "return-reason-mismatch": "the envelope's Return_Reason differs from the XReturnReason under the receipt's seals",
    "base64-invalid": "the Voucher element is not valid base64",
    # voucher content
    "unknown-vtcode": "the VtCode is not in the voucher catalog",
    "xsd-invalid": "the voucher does not match its VtCode's XSD",
    "bad-date": "a date element is not a real calendar date",
    "styear-mismatch": "StYear disagrees with the year of VouDate",
    "detail-sum-mismatch": "the Detail amounts do not add up to the head amount",
    "direct-funds-sum-mismatch": "a report or statement (2206, 4004, 3501) states direct funds (DirectFundAmt, 直达资金, "
                                 "001, 002; the project's own element; absent: 0.00) other than the sum of its "
                                 "Details marked DirectFundFlag 1",
    "receipt-fields-missing": "a receipt (VoucherFlag 1) lacks an X-field the bank or central bank must fill",
    "receipt-fields-unexpected": "an original (VoucherFlag 0) carries X-fields only a receipt may have",
    "receipt-not-allowed": "this voucher type has no receipt (VoucherFlag 1)",
    "bad-amount": "an amount is not a decimal with exactly two places or is out of range",
    # signatures
    "missing-signature": "a required seal position has no signature",
    "bad-signature": "a signature does not verify over the voucher bytes",
    "unknown-certificate": "the signature's SN is not the serial of any known certificate",
    "wrong-seal-position": "the certificate's owner may not sign at that seal position",
    "certificate-invalid": "the certificate is expired, not yet valid or not issued by the trusted CA",
    "key-unsupported": "a private key or certificate given to sign with, to verify with, to register or to load "
                       "(tgw sign, tgw up --ack-key or --certs, a participant's certificate, a seal's certificate) "
                       "has a key the key policy refuses (ECDSA on P-384 or secp256k1, RSA under 2048 bits, "
                       "Ed25519, DSA...): accepted: ECDSA P-256, RSA (2048 bits or more) and SM2",
    # gateway
    "unknown-sender": "the authenticated participant is not in the registry",
    "unknown-participant": "no participant by that id in the registry file or in the running gateway's registry "
                           "(tgw participants set --file / --db)",
    "unauthenticated": "no or wrong credentials",
    "not-authorized": "this participant may not send this VtCode to that recipient or AdmDivCode",
    "no-recipient": "no participant of the recipient role serves this voucher",
    "duplicate-conflict": "the same voucher key was accepted before with different bytes",
    "unknown-original": "a receipt refers to an original voucher the gateway never accepted",
    "monitor-blocked": "a monitoring rule blocked the payment",
    "monitor-held": "a monitoring rule holds the payment until it is released",
    "monitor-rejected": "a treasury officer rejected a payment a monitoring rule held (the hold names who and why)",
    "hold-decided": "the monitoring hold was released or rejected already",
    "unknown-code": "a refusal came back with a code this version does not know (the original is in the message)",
    # transports (HTTP, MQTT) and the client SDK: the request itself, not a voucher in it
    "bad-request": "the request is malformed: a body that is not the expected JSON, a bad query parameter",
    "not-found": "no such route, or no such message, voucher or clock visible to this participant",
    "method-not-allowed": "the route exists but not with this HTTP method (the Allow header lists the ones it has)",
    "too-large": "the request body is larger than the server accepts for that route",
    "request-timeout": "the request head or body did not arrive within the server's read timeout (slow client)",
    "unavailable": "the gateway cannot serve now (draining, database or broker down); retry later",
    "internal-error": "an unexpected failure inside the gateway while handling the request, or inside a tgw "
                      "command (a defect: `tgw --debug` prints its traceback; exit 1)",
    "clock-live": "the business clock is live, or moved by the simulation engine (tgw demo --serve); only a "
                  "gateway's own simulated clock can be advanced",
    "clock-refused": "the simulated clock refused the move (time never runs backwards)",
    "sim-faults-full": "a test gateway holds its most delivery faults at once (POST /v1/sim/faults); clear some",
    "timeout": "the client SDK got no answer from the gateway within its send timeout",
    "http-error": "the client SDK got an HTTP answer that is not the gateway's JSON: an error page (a proxy?), "
                  "or a 2xx from another server, a JSON that is no object or lacks the answer's fields",
    "closed": "the client SDK's transport was closed while a request still waited for its answer",
    "participant-mismatch": "the credentials authenticate another participant than the one a client was told it "
                            "is (tgw-sdk-bank --id against GET /v1/participants/me): it refuses to start",
    "not-implemented": "the client SDK's transport does not offer this call (the clock and message status are "
                       "read over HTTP only, not over MQTT or the in-process bus)",
    "mqtt-credentials": "a participant's MQTT username or password hash is missing, not a $7$ hash, or is the gateway's own",
    "mqtt-clientid-unbound": "the MQTT broker lets a user connect under any client id (so anyone can take over the "
                             "gateway's session): set use_username_as_clientid, as conf/mosquitto.conf does",
    "mqtt-not-authorized": "the MQTT broker refused the client SDK a publish on its participant's own topic (PUBACK "
                           "not authorized): the participant id is not its login's, or the broker's ACL was written "
                           "(`tgw mqtt-acl`) before the participant was registered",
    "mqtt-monitor-refused": "the MQTT broker refused the tgw-monitor user that checks its settings at start: write "
                            "its password and ACL files again with `tgw mqtt-acl`",
    # business clock and clearing
    "after-cutoff": "received after the clearing cutoff",
    "over-quota": "the amount exceeds the remaining quota",
    "no-quota-notice": "no clearing quota notice for that bank, pay type and day",
    "amount-mismatch": "the amount disagrees with the detail or the referenced vouchers",
    "wrong-day": "the voucher is for another business day than the current one",
    "outside-window": "a clearing-reserve replenishment arrived before the central bank takes replenishments",
    "insufficient-funds": "the treasury single account does not hold enough to pay the amount",
    # the treasury's budget check of a unit's payment request (003 §6, §52)
    "budget-none": "the treasury refused the payment request: the unit has no budget indicator of that fund type "
                   "(003 §52(1), no budget)",
    "budget-out-of-scope": "the treasury refused the payment request: the unit's budget has no indicator for that "
                           "subject and project (003 §52(2), spending outside the budget's scope)",
    "budget-exceeded": "the treasury refused the payment request: it asks more than its budget indicator has "
                       "left (003 §52(1), over budget)",
    "budget-cross-year-exceeded": "the treasury refused a payment or quota grant from a unit's cross-year refund line "
                                  "(跨年度退款指标, 003 §36): it asks more than that line has left (ProCode names the "
                                  "line)",
    # the treasury's year end (004 part 5 §6)
    "year-end-unconfirmed": "a bank did not confirm (XConfirmDate) the treasury's year-end cancellation (7301) or "
                            "carry-forward (7302) notice by its deadline",
    "refund-unmatched": "a refund request (2302) names no payment or clearing request the central bank cleared "
                        "for that bank and pay type (OriVtCode / OriVoucherNo / PayBankCode / PayTypeCode); or a "
                        "refund notice (2203 / 7105) names no payment the treasury saw that bank pay",
    "refund-exceeds-payment": "a refund request's PayAmt is more than what was cleared for the voucher it refunds "
                              "and not yet refunded; or a refund notice's more than the payment's receipt paid",
    "already-refunded": "the voucher a refund request names was cleared and has been refunded in full already",
    "already-cleared": "a clearing request (2301) names (Detail/VoucherNo) a payment the central bank cleared "
                       "already: of that division's, bank's and kind's payments of the number, the ClearDate "
                       "year's and the year before's were both cleared; clearing it again would pay the bank "
                       "twice for one payment (a request clears the money actually paid, once: 004 part 3 §8(7), "
                       "§9(11); 003 §33)",
    "below-clearing-floor": "the movement would take the bank's clearing account at the central bank below the "
                            "floor the rules allow (PbocConfig clearing floors, 0 by default)",
    "zero-balance-not-zero": "a zero-balance account does not stand at zero at the day's close",
    # agent bank: returns before payment (退票, 003 §52, 004 part 3 §8(5), §9(9)) and its own clearing work
    "no-unit-quota": "an authorized payment (8202) names a unit, budget subject or project for which the bank "
                     "holds no authorized quota (no 7101 line): returned unpaid",
    "over-unit-quota": "an authorized payment (8202) exceeds the unit's remaining authorized quota for that budget "
                       "subject and project (004 part 3 §13(3)): returned unpaid",
    "direct-funds-mismatch": "an authorized payment (8202) Detail's DirectFundFlag (direct funds, 直达资金, 001, 002; "
                             "the project's own element) does not match the unit's quota lines it would draw on: "
                             "direct funds draw only on quota lines the 7101 marked DirectFundFlag 1, other money "
                             "never on them: returned unpaid naming DirectFundFlag",
    "voucher-incomplete": "a payment voucher lacks an element the bank needs to pay (payee account, name, bank, "
                          "unit, budget subject): returned unpaid",
    "payee-account-unknown": "the payee account is said to be held at this bank, which has no such account: "
                             "returned unpaid",
    "payee-name-mismatch": "the payee account is held at this bank under another name than PayeeAcctName: "
                           "returned unpaid",
    "zba-to-own-account": "a payment would move money from a zero-balance account to a real-fund account of the "
                          "paying unit, its system, superior or subordinate, or their old/new account, without "
                          "the finance bureau's approval (003 §15, 004 part 3 §12(1)): returned unpaid",
    "payment-suspended": "a payment voucher falls under a standing payment suspension order (暂停支付, 000 五(二)3; "
                         "VtCode 7501) on its unit, paying account or payee: returned unpaid, naming the order; "
                         "paid again once the order is lifted",
    "suspension-order-invalid": "a payment suspension order or lift (7501) the bank cannot apply: another bank's, "
                                "a lift of an order the bank does not hold, or an order number reused for "
                                "another scope; no receipt, nothing changed",
    "account-not-opened": "a payment voucher's paying account (PayAcctNo) is not an open account of the bank's "
                          "registry: no account notice (7601) opened it yet (003 §5, 004 part 3 §9(1)): returned "
                          "unpaid",
    "account-closed": "a payment voucher's paying account (PayAcctNo) was closed on the treasury's notice (7601, "
                      "AcctAction 3): returned unpaid",
    "account-notice-invalid": "an account notice (7601) the bank cannot apply: another bank's, a unit account "
                              "without AgencyCode, a special account opened or changed without ApproveNo or "
                              "closed without FileNo, an opening of an open account, a change or closure of an "
                              "account not open; no receipt, nothing changed",
    "clearing-escalated": "a day's payments missed the central bank's clearing time (refused after-cutoff): the "
                          "zero-balance account was made whole from the clearing reserve and the case needs a person",
    "urgent-approval-missing": "a payment voucher marked UrgentFlag 1 lacks the approval a special urgent payment "
                               "needs (UrgentSupDepApproval, UrgentGovApproval; 004 part 3 §8(6)): refused",
    "batch-payee-incomplete": "a batch voucher (一次批量, 003 §26) names the payee on some Detail lines and not on "
                              "others, or only part of it: every line names PayeeAcctNo, PayeeAcctName and "
                              "PayeeAcctBankName, or none does; refused naming the line",
    # government procurement (政府采购, 003 §28; 004 part 4 §13; docs/payment-kinds.md)
    "procurement-documents-missing": "a procurement payment (5201 with ProcureFlag) lacks a document it rests on: "
                                     "the contract (ContractNo) or its supplier (SupplierAcctNo, SupplierName), "
                                     "or, paid on acceptance (ProcureFlag 1), the acceptance report (AcceptDocNo, "
                                     "AcceptDate); refused at the gateway naming the element",
    "procurement-contract-unknown": "the treasury refused the procurement payment request: no contract of that "
                                    "number (ContractNo) is on its books for the paying unit (004 part 4 §11)",
    "procurement-payee-not-supplier": "a procurement payment pays someone else than the contract's supplier: the "
                                      "treasury refuses the request when PayeeAcctNo is not the supplier's account "
                                      "of the contract; the bank returns the voucher unpaid when PayeeAcctNo / "
                                      "PayeeAcctName differ from SupplierAcctNo / SupplierName on it",
    "procurement-over-contract": "the treasury refused the procurement payment request: with what was issued "
                                 "against the contract before, it pays more than the contract amount (ContractNo, "
                                 "PayAmt)",
    "procurement-before-acceptance": "a procurement payment before the acceptance its contract requires: the "
                                     "treasury refuses an advance (ProcureFlag 2) on such a contract or an "
                                     "acceptance dated after the request (AcceptDate after VouDate); the bank "
                                     "returns unpaid a voucher whose AcceptDate is after the day it pays",
    "card-repay-incomplete": "an official-card repayment (公务卡还款, 003 §30; CardRepayFlag 1 on an 8202) has a "
                             "Detail line without CardNo or CardHolderName, or a voucher without CardRepayFlag 1 "
                             "names a card on a line: every line of a repayment names its card and holder, no other "
                             "voucher does; refused naming the line",
    "cash-purpose-not-allowed": "a cash withdrawal (现金支取, CashFlag 1 on an 8202) names no purpose, or one that "
                                "is not a cash use of the 现金管理暂行条例 §5 (CashPurposeCode 01-08; 003 §31, 004 "
                                "part 3 §9(7)): returned unpaid naming CashPurposeCode",
    "cash-over-limit": "a cash withdrawal (现金支取, CashFlag 1 on an 8202) would take the unit's cash drawn that "
                       "day past the daily cash limit (the project's own, 50,000.00; 001 严禁大额现金提取): "
                       "returned unpaid naming PayAmt and what the unit drew already",
    "card-detail-sum-differs": "an official-card repayment detail (7701) states another total than the repayment "
                               "voucher (8202) it names paid (PayAmt): a break for the treasury to explain",
    "card-not-on-settlement-list": "an official-card repayment detail (7701) credits a card (CardNo) the repayment "
                                   "voucher's settlement list (its card lines) does not name: a break",
    "card-amount-differs": "an official-card repayment detail (7701) credits a card of the settlement list with "
                           "other fen than the voucher's line for it, or not at all: a break",
    "card-detail-unknown-voucher": "an official-card repayment detail (7701) names a voucher (OriVoucherNo) that "
                                   "is no official-card repayment the treasury issued to that bank: a break",
    "clearing-held": "a day's payments were refused clearing for the treasury to fix (over the quota, no quota "
                     "notice): they wait and are filed again at the next clearing round; the clearing reserve is "
                     "not used (004 part 3 第四条)",
    "quota-notice-invalid": "an authorized quota notice (7101) is not for this bank, or its lines repeat a "
                            "(unit, subject, project)",
    "quota-reduction-refused": "a quota reduction notice (7106, 额度追减, 003 §22) the bank cannot apply: another "
                               "bank's, not authorized quota (PayTypeCode 12), or a line the bank does not hold or "
                               "whose amount exceeds what remains of it (a reduction never goes below what is "
                               "paid); refused whole naming the line, no receipt, nothing changed",
    "correction-refused": "a payment correction (5253, 支付更正通知书) the bank cannot apply: another bank's, naming "
                          "a voucher it never paid (OriVoucherNo), changing the amount (PayAmt: a correction only "
                          "moves a payment between subjects) or moving more than the original subject holds "
                          "(OriExpFuncCode); refused whole naming the element, no receipt, nothing changed",
    "calendar-out-of-range": "the business calendar does not know that date",
    "calendar-block-invalid": "a year block of the business calendar (tgw calendar load) fails a check: a date "
                              "outside its year, a holiday on a weekend, a make-up day on a weekday, a statutory "
                              "holiday missing, no notice title or date, a provisional block over an official one",
    "config-invalid": "a configuration file or value (calendar overrides, clock cutoffs...) is malformed",
    "scenario-invalid": "a scenario file breaks docs/scenario.schema.json or names something it does not define",
    "scenario-unknown-division": "a scenario step names a division (adm) that is not in world.divisions, or a bank "
                                 "for a division that world.divisions does not list it serving; the message names "
                                 "the element and the divisions known",
    "books-out-of-balance": "a simulator core's own books broke one of its invariants after an input (money not "
                            "conserved, a quota or reserve below zero, a payment in no state): a defect in the "
                            "core, stopped before anything more is sent; the message names the core and the rule",
    # ledger
    "ledger-invalid": "a ledger account or transfer definition is invalid (empty id, same account on both sides...)",
    "ledger-unknown-account": "a ledger transfer or query names an account that was never opened",
    "ledger-overdraft": "the transfer would take an account past its balance limit (no overdraft)",
    "ledger-overflow": "the transfer would take an account's debits or credits beyond 64-bit fen",
    # IO at the edges (CLI)
    "io-unreadable": "the file could not be read",
    "usage": "the command line is wrong: an unknown option, a missing or bad argument (exit 2)",
    "failed": "the command could not do what it was asked, for the reason its message gives (exit 1)",
    "io-not-regular": "the path names a named pipe (FIFO), socket or device, not a regular file: it is not read "
                      "(a pipe without a writer would wait forever, a device never ends)",
    "db-not-gateway": "the --db of a command that works on the gateway's database names no gateway's database: "
                      "not a regular file, not SQLite, or without the gateway's tables (another program's "
                      "database, an empty file, a --db-schema that does not exist), or one that cannot be opened "
                      "(refused credentials, no such PostgreSQL database); nothing is created in it",
}


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in an input: what `tgw validate` prints and the gateway returns."""

    code: str
    message: str
    line: int | None = None
    path: str | None = None  # XPath-like location of the element at fault

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unregistered error code {self.code!r}")

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "line": self.line, "path": self.path}

    def __str__(self) -> str:
        where = f" line {self.line}" if self.line is not None else ""
        at = f" at {self.path}" if self.path else ""
        return f"{self.code}{where}{at}: {self.message}"


class MessagesError(Exception):
    """Base of every error this project raises on purpose."""


@dataclass(eq=False)
class InputError(MessagesError, ValueError):
    """The input is at fault. Carries one or more issues, the first being the headline."""

    issues: list[Issue] = field(default_factory=list)

    def __init__(self, code: str, message: str, line: int | None = None, path: str | None = None,
                 more: list[Issue] | None = None) -> None:
        self.issues = [Issue(code, message, line, path), *(more or [])]
        super().__init__(str(self.issues[0]))

    @classmethod
    def from_issues(cls, issues: list[Issue]) -> InputError:
        if not issues:
            raise ValueError("InputError needs at least one issue")
        first = issues[0]
        return cls(first.code, first.message, first.line, first.path, more=issues[1:])

    @property
    def code(self) -> str:
        return self.issues[0].code


class StateError(MessagesError, RuntimeError):
    """Our own state or a dependency is at fault, not the sender."""
