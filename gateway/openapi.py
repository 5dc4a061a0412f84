"""The OpenAPI 3.1 document of the HTTP API, served at /openapi.json and written to docs/."""

from __future__ import annotations

from typing import Any

from gateway.http_common import (
    CLOCK_ADVANCE_S_MAX,
    CLOCK_WAIT_S_MAX,
    INBOX_CURSOR_MAX,
    INBOX_LIMIT_DEFAULT,
    INBOX_LIMIT_MAX,
    INBOX_WAIT_S_MAX,
)
from gateway.monitoring.openapi_paths import monitor_paths, monitor_schemas
from gateway.sim_faults import SIM_FAULTS_MAX
from messages.catalog import ROLES
from messages.errors import CODES

__all__ = ["openapi_document"]

_ERROR = {"type": "object", "required": ["code", "message"],
          "properties": {"code": {"type": "string", "enum": sorted(CODES)}, "message": {"type": "string"}}}
_ISSUE = {"type": "object", "required": ["code", "message"], "properties": {
    "code": {"type": "string", "enum": sorted(CODES)}, "message": {"type": "string"},
    "line": {"type": ["integer", "null"]}, "path": {"type": ["string", "null"]}}}
_RESULT = {"type": "object", "required": ["status"], "properties": {
    "voucher": {"type": ["string", "null"], "description": "AdmDivCode/StYear/VtCode/VoucherNo/VoucherFlag"},
    "vtcode": {"type": ["string", "null"]}, "voucher_no": {"type": ["string", "null"]},
    "status": {"type": "string", "enum": ["accepted", "duplicate", "rejected", "held"],
               "description": "held: kept by a monitoring rule for a treasury officer (code monitor-held)"},
    "message_id": {"type": "string"}, "recipient": {"type": "string"},
    "code": {"type": "string", "enum": sorted(CODES)}, "message": {"type": "string"},
    "errors": {"type": "array", "items": {"$ref": "#/components/schemas/Issue"}}}}
_DELIVERY = {"type": "object", "required": ["seq", "id", "voucher", "sender", "envelope"], "properties": {
    "seq": {"type": "integer"}, "id": {"type": "string"}, "voucher": {"type": "string"},
    "vtcode": {"type": "string"}, "voucher_no": {"type": "string"}, "flag": {"type": "integer"},
    "sender": {"type": "string"}, "envelope": {"type": "string", "description": "one-voucher MOF envelope (XML)"}}}

# GET /v1/messages/{id} (gateway/reads.py read_message)
_MESSAGE = {"type": "object", "required": ["id", "voucher", "vtcode", "voucher_no", "flag", "sender", "recipient",
                                            "delivery_state", "envelope"], "properties": {
    "id": {"type": "string"}, "voucher": {"type": "string", "description": "AdmDivCode/StYear/VtCode/VoucherNo/Flag"},
    "vtcode": {"type": "string"}, "voucher_no": {"type": "string"}, "flag": {"type": "integer"},
    "sender": {"type": "string"}, "recipient": {"type": "string"},
    "original_id": {"type": ["string", "null"], "description": "a receipt: the message id of its original"},
    "received_us": {"type": "integer", "description": "wall time the gateway journaled it, µs since the epoch"},
    "business_time": {"type": ["string", "null"], "format": "date-time"},
    "delivery_state": {"type": "string", "enum": ["ready", "acked", "dead"],
                       "description": "ready: not acked by the recipient yet; dead: dead-lettered (tgw dlq)"},
    "attempts": {"type": "integer"}, "envelope": {"type": "string", "description": "the envelope as journaled"}}}
# GET /v1/trace/... (gateway/reads.py read_trace)
_TRACE = {"type": "object", "required": ["voucher", "events"], "properties": {
    "voucher": {"type": "string", "description": "AdmDivCode/StYear/VtCode/VoucherNo"},
    "events": {"type": "array", "items": {"type": "object", "required": ["flag", "step", "participant"],
                                          "properties": {
        "flag": {"type": "integer", "description": "0 the voucher, 1 its receipt"},
        "message_id": {"type": ["string", "null"]}, "step": {"type": "string", "description": (
            "validated, verified, authorized, journaled, linked, delivered, or a refusal")},
        "participant": {"type": "string"}, "sender": {"type": ["string", "null"]},
        "recipient": {"type": ["string", "null"]}, "wall_time": {"type": "string", "format": "date-time"},
        "business_time": {"type": ["string", "null"]}, "detail": {"type": ["string", "null"]}}}}}}


# GET /v1/participants: `Participant.as_public_dict` of each registered participant.
_PARTICIPANTS: dict[str, Any] = {"type": "object", "required": ["participants"], "properties": {"participants": {
    "type": "array", "items": {"type": "object", "required": ["id", "role", "delivery"], "properties": {
        "id": {"type": "string"}, "role": {"type": "string", "enum": list(ROLES)},
        "name": {"type": "string"}, "adm_div_codes": {"type": "array", "items": {"type": "string"}},
        "bank_codes": {"type": "array", "items": {"type": "string"}},
        "cert_sns": {"type": "array", "items": {"type": "string"}},
        "delivery": {"type": "string", "enum": ["pull", "push"], "description": (
            "pull: deliveries are read from GET /v1/inbox only; push: also published on MQTT "
            "tgw/v1/{id}/inbox (nothing is published there for pull)")}}}}}}


_VTCODES: dict[str, Any] = {"type": "object", "required": ["originals", "receipts"], "properties": {
    "originals": {"type": "array", "items": {"type": "string"}},
    "receipts": {"type": "array", "items": {"type": "string"}}}}
# GET /v1/participants/me and GET /v1/me (one schema, components/schemas/Me): gateway.whoami.participant_view.
_ME: dict[str, Any] = {"type": "object", "required": [
    "id", "role", "name", "delivery", "adm_div_codes", "bank_codes", "cert_sns", "authenticated_by",
    "client_certificate", "certificates", "voucher_types", "checked_at"], "properties": {
    **_PARTICIPANTS["properties"]["participants"]["items"]["properties"],
    "authenticated_by": {"type": "string", "enum": ["token", "certificate", "certificate+token"],
                         "description": "the credentials this request was authenticated by"},
    "client_certificate": {"type": ["object", "null"], "description": (
        "the client certificate of the TLS handshake (mutual TLS), null without one"),
        "required": ["sn", "fingerprint_sha256", "not_before", "not_after"], "properties": {
            "sn": {"type": "string"}, "fingerprint_sha256": {"type": "string"},
            "not_before": {"type": "string", "format": "date-time"},
            "not_after": {"type": "string", "format": "date-time"}}},
    "certificates": {"type": "array", "description": (
        "the participant's registered certificates (one per cert_sns entry): usable says whether a seal made "
        "with it is accepted now (valid, issued by the trusted CA, a key the key policy takes), problem why not"),
        "items": {"type": "object", "required": ["sn", "known", "usable", "problem"], "properties": {
            "sn": {"type": "string"}, "known": {"type": "boolean"},
            "fingerprint_sha256": {"type": "string", "description": "SHA-256 of the DER certificate, as "
                                                                    "openssl x509 -fingerprint -sha256 prints it"},
            "subject": {"type": "string"}, "issuer": {"type": "string"},
            "not_before": {"type": "string", "format": "date-time"},
            "not_after": {"type": "string", "format": "date-time"},
            "algorithm": {"type": "string"}, "usable": {"type": "boolean"},
            "problem": {"type": ["string", "null"]}}}},
    "voucher_types": {"type": "object", "required": ["send", "receive"], "description": (
        "the VtCodes the voucher catalog lets this participant's role send and receive (GET /v1/codes has "
        "the refusal codes); a voucher must also name its sender (docs/security.md)"),
        "properties": {"send": _VTCODES, "receive": _VTCODES}},
    "checked_at": {"type": "string", "format": "date-time",
                   "description": "the wall time certificate validity was checked at"}}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


# POST /v1/messages with `Accept: application/xml` (gateway/http_ack.py): the same results as XML.
XML_ACK = {"schema": {"type": "string", "description": (
    "<TGWAck><Ack>base64 of the signed bytes</Ack><SignatureList><Signature SN=\"gateway certificate SN\">"
    "base64 signature</Signature></SignatureList></TGWAck>; the signed bytes are <Ack> with one "
    "<Result Voucher=\"AdmDivCode/StYear/VtCode/VoucherNo/Flag\" Status=\"accepted|duplicate|rejected\" "
    "Code=\"reject code\" MessageId=\"id\">message</Result> per VoucherBody, in order. The SignatureList "
    "is empty when the gateway runs without --ack-key")}}


def _with_xml_ack(response: dict[str, Any]) -> dict[str, Any]:
    return {**response, "content": {**response["content"], "application/xml": XML_ACK}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            **({"description": description} if description else {})}


def _dashboard_paths(auth_errors: dict[str, Any], not_found: dict[str, Any],
                     unavailable: dict[str, Any]) -> dict[str, Any]:
    """The web dashboard (/ui/) and the read endpoints it calls (gateway.ui)."""
    from gateway.ui import DLQ_LIMIT_MAX, REPLAY_IDS_MAX
    from gateway.ui_index import SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX, STATUSES, TEXT_FILTER_CHARS_MAX

    bad = {"400": _json(_ref("Error"), "a query parameter or body not valid (named in `parameter`): bad-request")}
    page = {"type": "object", "required": ["items", "next"], "properties": {
        "items": {"type": "array", "items": {"type": "object"}},
        "next": {"type": ["integer", "null"], "description": "`after` for the next page; null on the last"}}}
    text = {"type": "string", "maxLength": TEXT_FILTER_CHARS_MAX, "pattern": "^[^\\u0000]*$"}
    html = {"description": "a page or asset of the dashboard", "content": {
        kind: {"schema": {"type": "string"}} for kind in ("text/html", "text/javascript", "text/css", "application/json")}}
    whole = {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}
    return {
        "/ui/": {"get": {"summary": "The web dashboard (docs/dashboard.md)", "security": [], "responses": {"200": html}}},
        "/ui/{name}": {"get": {"summary": "A dashboard asset (app.js, app.css, i18n.json)", "security": [],
                               "parameters": [{"name": "name", "in": "path", "required": True, "schema": text}],
                               "responses": {"200": html, "404": _json(_ref("Error"), "no such asset")}}},
        "/v1/overview": {"get": {
            "summary": "One business day by bank and voucher type; paid, cleared, quota and advances per bank",
            "description": "A bank sees its own traffic, the treasury its AdmDivCodes. `date` defaults to "
                           "today on the business clock.",
            "parameters": [_query("date", {"type": "string", "format": "date"})],
            "responses": {"200": _json({"type": "object"}, "groups, banks, totals, clock"), **bad, **auth_errors,
                          **unavailable}}},
        "/v1/search": {"get": {
            "summary": "Journaled vouchers this participant may see, filtered, in pages",
            "parameters": [_query("no", text, "voucher number"), _query("unit", text, "AgencyCode or AgencyName"),
                           _query("payee", text, "part of PayeeAcctName"),
                           _query("min_fen", whole), _query("max_fen", whole),
                           _query("date", {"type": "string", "format": "date"}, "business day"),
                           _query("status", {"type": "string", "enum": list(STATUSES)}),
                           _query("vtcode", text),
                           _query("limit", {"type": "integer", "minimum": 1, "maximum": SEARCH_LIMIT_MAX,
                                            "default": SEARCH_LIMIT_DEFAULT}),
                           _query("after", whole, "`next` of the previous page")],
            "responses": {"200": _json(page, "one page"), **bad, **auth_errors, **unavailable}}},
        "/v1/dlq": {"get": {
            "summary": "Dead letters of the treasury's region (others: 404)",
            "parameters": [_query("after", whole),
                           _query("limit", {"type": "integer", "minimum": 1, "maximum": DLQ_LIMIT_MAX})],
            "responses": {"200": _json(page, "one page"), **bad, **not_found, **auth_errors}}},
        "/v1/dlq/replay": {"post": {
            "summary": "Replay dead letters of the treasury's region (ids elsewhere are left alone)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["ids"], "properties": {"ids": {
                    "type": "array", "minItems": 1, "maxItems": REPLAY_IDS_MAX,
                    "items": {"type": "string", "minLength": 1, "maxLength": 64}}}}}}},
            "responses": {"200": _json({"type": "object", "properties": {"replayed": {"type": "integer"}}},
                                       "how many went back to ready"), **bad, **not_found, **auth_errors}}},
        "/v1/scorecard": {"get": {
            "summary": "The latest bank scorecard published (tgw demo --serve); a bank sees its own",
            "responses": {"200": _json({"type": "object"}, "available, as_of, cards"), **auth_errors}}},
        "/v1/events": {"get": {
            "summary": "Server-sent events: `voucher` (new visible rows, as /v1/search items) and `clock`",
            "responses": {"200": {"description": "an event stream",
                                  "content": {"text/event-stream": {"schema": text}}},
                          "503": _json(_ref("Error"), "too many live dashboards: unavailable"), **auth_errors}}},
    }


def openapi_document() -> dict[str, Any]:
    auth_errors = {"401": _json(_ref("Error"), "missing or unknown bearer token")}
    not_found = {"404": _json(_ref("Error"), "no such thing visible to this participant (never 403: no leaks)")}
    unavailable = {"503": _json(_ref("Error"), "the database is unavailable or the gateway is draining: "
                                               "unavailable; retry later")}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Treasury gateway (电子凭证库)", "version": "1.0.0",
                 "description": "Signed MOF voucher exchange between the treasury, agent banks and the central bank."},
        "servers": [{"url": "http://127.0.0.1:8470"}],
        "security": [{"bearer": []}, {"mtls": []}],
        "paths": {
            "/v1/messages": {"post": {
                "summary": "Submit an envelope of one or more signed vouchers",
                "requestBody": {"required": True, "content": {"application/xml": {"schema": {
                    "type": "string", "description": "MOF envelope, UTF-8 or GBK"}}}},
                "responses": {
                    "200": _with_xml_ack(_json({"type": "object", "properties": {
                        "results": {"type": "array", "items": _ref("Result")},
                        "summary": {"type": "object", "additionalProperties": {"type": "integer"}}}},
                        "one result per VoucherBody, each accepted, duplicate or rejected; with "
                        "Accept: application/xml a signed <TGWAck> instead")),
                    "400": _with_xml_ack(_json({"type": "object", "properties": {
                        "results": {"type": "array", "items": _ref("Result")}}},
                        "the envelope as a whole could not be parsed (with Accept: application/xml, as a "
                        "<TGWAck> of its one result)")),
                    "408": _json(_ref("Error"), "request-timeout: the body did not arrive within the body "
                                                "timeout (tgw up --body-timeout); the connection is closed"),
                    "413": _json(_ref("Issue"), "envelope larger than the limit: xml-too-large, line 1, path /"),
                    "503": {**_json(_ref("Error"), "journal unavailable or draining, or the body did not fit the "
                                                   "in-flight body budget in time: nothing was acknowledged; "
                                                   "retry after Retry-After seconds"),
                            "headers": {"Retry-After": {"schema": {"type": "integer"},
                                                        "description": "seconds (body budget refusals)"}}},
                    **auth_errors}}},
            "/v1/messages/{id}": {"get": {
                "summary": "A message this participant sent or received",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _json(_MESSAGE, "the message and its delivery state"),
                              **not_found, **unavailable, **auth_errors}}},
            "/v1/inbox": {"get": {
                "summary": "Pull deliveries (long poll)",
                "description": "Every participant's deliveries are listed here until acknowledged, whatever its "
                               "`delivery`: a participant registered `push` also gets each on MQTT "
                               "`tgw/v1/{participant}/inbox` under the same message id (docs/asyncapi.yaml). "
                               "It is one delivery: one ack, over either transport, settles it.",
                "parameters": [
                    {"name": "cursor", "in": "query", "schema": {
                        "type": "integer", "minimum": 0, "maximum": INBOX_CURSOR_MAX, "default": 0}},
                    {"name": "wait", "in": "query", "description": "seconds to wait for a delivery (long poll)",
                     "schema": {"type": "number", "minimum": 0, "maximum": INBOX_WAIT_S_MAX, "default": 0}},
                    {"name": "limit", "in": "query", "schema": {
                        "type": "integer", "minimum": 1, "maximum": INBOX_LIMIT_MAX, "default": INBOX_LIMIT_DEFAULT}}],
                "responses": {"200": _json({"type": "object", "properties": {
                    "messages": {"type": "array", "items": _ref("Delivery")}, "cursor": {"type": "integer"}}},
                    "deliveries after the cursor, not yet acknowledged"),
                    "400": _json(_ref("Error"), "a query parameter is not a number or is outside its bounds "
                                                "(never clamped): bad-request, naming the parameter"),
                    **unavailable, **auth_errors}}},
            "/v1/inbox/ack": {"post": {
                "summary": "Acknowledge deliveries (after handling them durably)",
                "description": "Idempotent: an id already acknowledged (here or on MQTT `tgw/v1/{participant}/ack`), "
                               "unknown, or another participant's changes nothing and is left out of `acked`.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["ids"],
                    "properties": {"ids": {"type": "array", "maxItems": 1000, "items": {"type": "string"}}}}}}},
                "responses": {"200": _json({"type": "object", "properties": {
                    "acked": {"type": "array", "items": {"type": "string"}}}}, "ids newly acknowledged"),
                    "400": _json(_ref("Error"), "bad body"), **unavailable, **auth_errors}}},
            "/v1/trace/{AdmDivCode}/{StYear}/{VtCode}/{VoucherNo}": {"get": {
                "summary": "Every step of a voucher and its receipt",
                "parameters": [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                               for n in ("AdmDivCode", "StYear", "VtCode", "VoucherNo")],
                "responses": {"200": _json(_TRACE, "trace events in order"), **not_found, **unavailable,
                              **auth_errors}}},
            **_dashboard_paths(auth_errors, not_found, unavailable),
            "/v1/participants": {"get": {"summary": "Registered participants (no secrets)",
                                         "responses": {"200": _json(_PARTICIPANTS, "participants"), **auth_errors}}},
            "/v1/participants/me": {"get": {
                "summary": "Which participant these credentials name (who am I)",
                "description": "The participant the bearer token and/or the client certificate authenticate: its "
                               "registry entry (no secrets), how it authenticated, its registered certificates "
                               "with fingerprint and validity, and the voucher types its role may send and "
                               "receive. A client checks it before sending: the SDK's GatewayClient.whoami(). "
                               "Without valid credentials 401 unauthenticated, as every /v1 route.",
                "responses": {"200": _json(_ref("Me"), "the authenticated participant"), **auth_errors}}},
            "/v1/me": {"get": {
                "summary": "The authenticated participant (no secrets): what the dashboard logs in with",
                "description": "The same answer as GET /v1/participants/me, under the path the dashboard (/ui/) "
                               "calls.",
                "responses": {"200": _json(_ref("Me"), "the authenticated participant"), **auth_errors}}},
            "/v1/clock": {
                "get": {"summary": "Business time and the next cutoffs; with after and wait, a long-poll",
                        "description": "With `after`, answers once the clock is past it (or after `wait` seconds). "
                                       "While parked the caller is listed under `waiting` with its `after`: a "
                                       "system that waits on the clock says it has done everything due up to "
                                       "`after` (how a conformance run knows the system under test caught up).",
                        "parameters": [
                            {"name": "after", "in": "query", "required": False,
                             "schema": {"type": "string", "format": "date-time"}},
                            {"name": "wait", "in": "query", "required": False,
                             "schema": {"type": "number", "minimum": 0, "maximum": CLOCK_WAIT_S_MAX, "default": 0}},
                            {"name": "epoch", "in": "query", "required": False,
                             "description": "the epoch the caller's state is of (a test gateway's resets): given "
                                            "and not the current one, the long-poll answers at once; after a reset "
                                            "only a caller that gives the current epoch is listed under waiting",
                             "schema": {"type": "integer", "minimum": 0, "maximum": 999_999_999_999}}],
                        "responses": {"200": _json(_ref("Clock"), "the clock"),
                                      "400": _json(_ref("Error"), "after, wait or epoch not valid, or an unknown "
                                                                  "parameter: bad-request"), **auth_errors}},
                "post": {"summary": "Advance a simulated clock",
                         "requestBody": {"required": True, "content": {"application/json": {"schema": {
                             "type": "object", "minProperties": 1, "additionalProperties": False,
                             "description": "advance_to wins when both are given",
                             "properties": {"advance_to": {"type": "string", "format": "date-time"},
                                            "advance_by_s": {"type": "number", "minimum": 0,
                                                             "maximum": CLOCK_ADVANCE_S_MAX}}}}}},
                         "responses": {"200": _json(_ref("Clock"), "the clock after advancing"),
                                       "400": _json(_ref("Error"), "neither advance_to nor advance_by_s, or one "
                                                                   "that is not a time: bad-request"),
                                       "409": _json(_ref("Error"), "the clock is live"), **auth_errors}}},
            "/v1/sim/faults": {
                "get": {"summary": "Test gateways: the delivery faults in force",
                        "description": "Simulated clock only (409 clock-live otherwise), the treasury only "
                                       "(403 not-authorized otherwise). See POST.",
                        "responses": {"200": _json(_ref("SimFaults"), "the faults in force"),
                                      "403": _json(_ref("Error"), "not the treasury: not-authorized"),
                                      "409": _json(_ref("Error"), "the clock is live: clock-live"), **auth_errors}},
                "post": {"summary": "Test gateways: withhold or lose deliveries on purpose (conformance runs)",
                         "description": "Simulated clock only, the treasury only (a conformance runner acts as "
                                        "the treasury). offline: the participant neither receives nor sends as "
                                        "anyone else can tell: deliveries to it, and what it sends, are withheld "
                                        "(not lost) until online or until the simulated clock reaches until, then "
                                        "handed over in order. drop: the next matching delivery to the participant "
                                        "is lost in transit and handed over again after the gateway's ack timeout "
                                        f"of simulated time. At most {SIM_FAULTS_MAX} faults at once "
                                        "(409 sim-faults-full).",
                         "requestBody": {"required": True, "content": {"application/json": {"schema": {
                             "description": "exactly one of offline, online, drop", "oneOf": [
                                 {"type": "object", "additionalProperties": False, "required": ["offline"],
                                  "properties": {
                                      "offline": {"type": "string", "description": "a participant id"},
                                      "until": {"type": "string", "format": "date-time",
                                                "description": "back on its own then"}}},
                                 {"type": "object", "additionalProperties": False, "required": ["online"],
                                  "properties": {"online": {"type": "string", "description": "a participant id"}}},
                                 {"type": "object", "additionalProperties": False, "required": ["drop"],
                                  "properties": {"drop": {
                                      "type": "object", "additionalProperties": False, "required": ["to"],
                                      "properties": {
                                          "to": {"type": "string"},
                                          "vtcode": {"type": "string", "pattern": "^[0-9]{4}$"},
                                          "flag": {"type": "integer", "enum": [0, 1]},
                                          "voucher": {"type": "string",
                                                      "description": "adm/year/vtcode/no/flag, alone"}}}}}]}}}},
                         "responses": {"200": _json(_ref("SimFaults"), "the faults in force after it"),
                                       "400": _json(_ref("Error"), "a body that names no fault, an unknown "
                                                                   "participant, a bad field: bad-request"),
                                       "403": _json(_ref("Error"), "not the treasury: not-authorized"),
                                       "409": _json(_ref("Error"), "the clock is live (clock-live), or too many "
                                                                   "faults (sim-faults-full)"), **auth_errors}}},
            "/v1/sim/reset": {
                "post": {"summary": "Test gateways: forget every message and set the clock back (one gateway for "
                                    "many conformance scenarios)",
                         "description": "Simulated clock only (409 clock-live otherwise), the treasury only (403 "
                                        "not-authorized otherwise). Every message, delivery, trace, monitoring "
                                        "window and hold, dashboard row and delivery fault is forgotten (the "
                                        "monitoring audit is kept, its reads show only what comes after), the clock "
                                        "is set to `to` (default: where it started) and a new `epoch` begins. "
                                        "Message ids and the inbox sequence go on: nothing of before is named "
                                        "by an id or a cursor of after.",
                         "requestBody": {"required": True, "content": {"application/json": {"schema": {
                             "type": "object", "additionalProperties": False,
                             "properties": {"to": {"type": "string", "format": "date-time"}}}}}},
                         "responses": {"200": _json(_ref("Clock"), "the clock after the reset, with its new epoch"),
                                       "400": _json(_ref("Error"), "a body other than {} or {\"to\": time}: "
                                                                   "bad-request"),
                                       "403": _json(_ref("Error"), "not the treasury: not-authorized"),
                                       "409": _json(_ref("Error"), "the clock is live: clock-live"), **auth_errors}}},
            "/v1/sim/idle": {
                "get": {"summary": "Test gateways: a long-poll answering once a participant has caught up with the "
                                   "clock",
                        "description": "Simulated clock only, the treasury only. Caught up: every delivery to the "
                                       "participant acked (those a delivery fault withholds aside) and it waiting on "
                                       "the clock at the current time in the current epoch. Answers at once if so, "
                                       "else when it becomes so or after `wait` seconds, with what holds then.",
                        "parameters": [
                            {"name": "participant", "in": "query", "required": True, "schema": {"type": "string"}},
                            {"name": "wait", "in": "query", "required": False,
                             "schema": {"type": "number", "minimum": 0, "maximum": CLOCK_WAIT_S_MAX, "default": 0}}],
                        "responses": {"200": _json({"allOf": [_ref("Clock"), {"type": "object", "properties": {
                            "participant": {"type": "string"}, "caught_up": {"type": "boolean"},
                            "waiting": {"type": ["string", "null"], "description": "its parked long-poll's after"},
                            "unacked": {"type": "integer", "description": "deliveries to it not acked (and not "
                                                                          "withheld)"},
                            "ready": {"type": "object", "additionalProperties": {"type": "integer"},
                                      "description": "participant id → deliveries waiting for it"}}}]},
                            "what holds for the participant"),
                                      "400": _json(_ref("Error"), "an unknown participant, a bad wait or an unknown "
                                                                  "parameter: bad-request"),
                                      "403": _json(_ref("Error"), "not the treasury: not-authorized"),
                                      "409": _json(_ref("Error"), "the clock is live: clock-live"), **auth_errors}}},
            "/v1/codes": {"get": {"summary": "Every stable error code and its meaning", "security": [],
                                  "responses": {"200": _json({"type": "object"}, "code → meaning")}}},
            "/healthz": {"get": {"summary": "Liveness, outbox counts and the business calendar's horizon",
                                 "description": "With an operator's token configured (tgw up --ops-token-file "
                                                "or TGW_OPS_TOKEN), only {\"status\"} unless the request carries "
                                                "it as a bearer token",
                                 "security": [],
                                 "responses": {"200": _json({"type": "object", "properties": {
                                     "status": {"type": "string"}, "outbox": {"type": "object"},
                                     "calendar": {"type": "object", "description": "the last day the business "
                                                  "calendar knows; warning from calendar_warn_days before it, "
                                                  "and while it runs on a provisional year",
                                                  "properties": {"last_day": {"type": "string", "format": "date"},
                                                                 "days_left": {"type": "integer"},
                                                                 "warning": {"type": "boolean"},
                                                                 "provisional_years": {
                                                                     "type": "array", "items": {"type": "integer"},
                                                                     "description": "years computed from the "
                                                                     "statutory holidays, not the State Council's "
                                                                     "notice (docs/calendar.md)"}}}}}, "ok"),
                                               "503": _json({"type": "object"}, "draining or storage down "
                                                            "(Retry-After)")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics",
                                 "description": "With an operator's token configured (tgw up --ops-token-file or "
                                                "TGW_OPS_TOKEN), only for a request carrying it as a bearer token",
                                 "security": [],
                                 "responses": {"200": {"description": "text exposition format"},
                                               "401": _json(_ref("Error"), "an operator's token is configured and "
                                                            "this request does not carry it")}}},
            "/openapi.json": {"get": {"summary": "This OpenAPI document", "security": [],
                                      "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document")}}},
            **monitor_paths(auth_errors, unavailable),
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "mtls": {"type": "mutualTLS", "description": "a client certificate issued by the gateway's "
                         "client CA whose serial is a participant's (tgw up --tls-client-ca); with a bearer "
                         "token too, both must name the same participant"}},
            "schemas": {"Error": _ERROR, "Issue": _ISSUE, "Result": _RESULT, "Delivery": _DELIVERY, "Me": _ME,
                        **monitor_schemas(),
                        "SimFaults": {"type": "object", "properties": {
                            "offline": {"type": "object", "description": "participant → back at (null: until "
                                                                         "online)"},
                            "drops": {"type": "array", "items": {"type": "object"},
                                      "description": "drops waiting for their delivery"},
                            "withheld": {"type": "object", "description": "message id lost in transit → handed "
                                                                          "over again at"},
                            "next_release": {"type": ["string", "null"], "format": "date-time"}}},
                        "Clock": {"type": "object", "properties": {
                            "now": {"type": "string"}, "simulated": {"type": "boolean"},
                            "business_day": {"type": "boolean"},
                            "next_cutoffs": {"type": "array", "items": {"type": "object", "properties": {
                                "name": {"type": "string"}, "at": {"type": "string", "format": "date-time"},
                                "provisional": {"type": "boolean", "description": "rests on a provisional "
                                                "calendar year: may move when the official one is loaded"}}}},
                            "provisional": {"type": "boolean",
                                            "description": "the business day or a cutoff rests on a provisional "
                                                           "calendar year"},
                            "calendar_error": {"type": "string", "description": "calendar-out-of-range: what the "
                                               "business calendar does not know (the next business day after its "
                                               "last: the cutoffs listed are those still known; past its last day: "
                                               "none, and no business_day)"},
                            "epoch": {"type": "integer", "description": "simulated clocks: how many times a "
                                                                        "test gateway was reset (POST /v1/sim/reset); "
                                                                        "a system starts over when it changes"},
                            "waiting": {"type": "object", "additionalProperties": {"type": "string"},
                                        "description": "participant id → the `after` of its parked long-poll"}}}},
        },
    }
