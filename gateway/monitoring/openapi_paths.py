"""The /v1/monitor paths and schemas of the OpenAPI document (merged by gateway.openapi)."""

from __future__ import annotations

from typing import Any

from gateway.monitoring.http import HOLD_STATUSES, HOLDS_LIMIT_DEFAULT, REASON_CHARS_MAX
from gateway.monitoring.rules import GRADES
from gateway.monitoring.store import HOLDS_PAGE_MAX

__all__ = ["monitor_paths", "monitor_schemas"]


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_NULLABLE_STR = {"type": ["string", "null"]}


def monitor_schemas() -> dict[str, Any]:
    return {
        "MonitorHold": {"type": "object", "required": ["id", "voucher", "rule_id", "grade", "amount_fen", "status"],
                        "properties": {
                            "id": {"type": "string"},
                            "voucher": {"type": "object", "properties": {k: {"type": "string"}
                                                                         for k in ("adm", "year", "vtcode", "no")}},
                            "rule_id": {"type": "string"}, "grade": {"type": "string", "enum": list(GRADES)},
                            "amount_fen": {"type": "integer"}, "payee": {"type": "string"},
                            "sender": {"type": "string"}, "recipient": {"type": "string"},
                            "held_at": {"type": "string", "description": "business time"},
                            "status": {"type": "string", "enum": list(HOLD_STATUSES)},
                            "decided_by": _NULLABLE_STR, "decided_at": _NULLABLE_STR, "reason": _NULLABLE_STR}},
        "MonitorDecision": {"type": "object", "required": ["at", "outcome", "who"], "properties": {
            "at": {"type": "string", "description": "business time"}, "rule_id": _NULLABLE_STR,
            "rule_version": _NULLABLE_STR, "grade": {"type": ["string", "null"], "enum": [*GRADES, None]},
            "outcome": {"type": "string", "enum": ["passed", "flagged", "held", "blocked", "released", "rejected",
                                                   "bank-feedback"]},
            "who": {"type": "string"}, "reason": {"type": "string"}}},
    }


def monitor_paths(auth_errors: dict[str, Any], unavailable: dict[str, Any]) -> dict[str, Any]:
    err = _ref("Error")
    decide_body = {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["reason"], "additionalProperties": False,
        "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": REASON_CHARS_MAX}}}}}}

    def decide(verb: str, effect: str) -> dict[str, Any]:
        return {"post": {
            "summary": f"{verb.capitalize()} a held payment (treasury role only)", "description": effect,
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": decide_body,
            "responses": {"200": _json(_ref("MonitorHold"), "the hold as decided"),
                          "400": _json(err, "the body is not {\"reason\": text}: bad-request"),
                          "403": _json(err, "not a treasury participant: not-authorized"),
                          "404": _json(err, "no such hold, or monitoring is off"),
                          "409": _json(err, "released or rejected already: hold-decided"),
                          **unavailable, **auth_errors}}}

    return {
        "/v1/monitor/rules": {"get": {
            "summary": "The monitoring rule catalogue in force (version, rules with grade and params)",
            "responses": {"200": _json({"type": "object", "required": ["version", "rules"], "properties": {
                "version": {"type": "string"},
                "rules": {"type": "array", "items": {"type": "object", "properties": {
                    "id": {"type": "string"}, "grade": {"type": "string", "enum": list(GRADES)},
                    "description": {"type": "string"}, "params": {"type": "object"}}}}}}, "the catalogue"),
                "404": _json(err, "monitoring is off on this gateway"), **auth_errors}}},
        "/v1/monitor/holds": {"get": {
            "summary": "Held payments: all for the treasury, a sender's own for anyone else",
            "parameters": [
                {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(HOLD_STATUSES)}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                             "maximum": HOLDS_PAGE_MAX,
                                                             "default": HOLDS_LIMIT_DEFAULT}},
                {"name": "after", "in": "query", "description": "the `next` cursor of the previous page",
                 "schema": {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z0-9]*$"}}],
            "responses": {"200": _json({"type": "object", "required": ["holds", "next"], "properties": {
                "holds": {"type": "array", "items": _ref("MonitorHold")}, "next": _NULLABLE_STR}}, "a page of holds"),
                "400": _json(err, "a bad or unknown query parameter: bad-request"),
                "404": _json(err, "monitoring is off on this gateway"), **unavailable, **auth_errors}}},
        "/v1/monitor/holds/{id}/release": decide(
            "release", "The voucher is journaled and delivered to its bank as if it had just passed; the audit "
            "records who released it and why."),
        "/v1/monitor/holds/{id}/reject": decide(
            "reject", "The voucher never reaches the bank; its trace shows monitor-rejected, and sending it again "
            "is answered rejected with code monitor-rejected."),
        "/v1/monitor/decisions": {"get": {
            "summary": "Every monitoring decision on a voucher (append-only audit), then the bank's feedback",
            "description": "No route updates or deletes a decision; the database refuses it too.",
            "parameters": [{"name": "voucher", "in": "query", "required": True,
                            "description": "AdmDivCode/StYear/VtCode/VoucherNo",
                            "schema": {"type": "string", "pattern": "^[^/]+/[^/]+/[^/]+/[^/]+$"}}],
            "responses": {"200": _json({"type": "object", "required": ["decisions"], "properties": {
                "decisions": {"type": "array", "items": _ref("MonitorDecision")}}}, "the decisions in order"),
                "400": _json(err, "voucher missing or not adm/year/vtcode/no: bad-request"),
                "404": _json(err, "no decisions visible to this participant for that voucher"),
                **unavailable, **auth_errors}}},
    }
