"""Generated documents in docs/ stay in step with the code that serves them."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from gateway.openapi import openapi_document
from messages.errors import CODES

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_docs_openapi_json_is_what_the_gateway_serves() -> None:
    on_disk = json.loads((DOCS / "openapi.json").read_text(encoding="utf-8"))
    assert on_disk == openapi_document(), (
        "docs/openapi.json is stale: regenerate it with "
        "python -c 'import json; from gateway.openapi import openapi_document; "
        "print(json.dumps(openapi_document(), ensure_ascii=False, indent=2))' > docs/openapi.json")


def test_asyncapi_names_every_topic_the_adapter_uses() -> None:
    doc = yaml.safe_load((DOCS / "asyncapi.yaml").read_text(encoding="utf-8"))
    channels = set(doc["channels"])
    for suffix in ("outbox", "result", "inbox", "ack"):
        assert any(c.endswith(f"/{suffix}") for c in channels), suffix
    assert any(c.endswith("clock") for c in channels)


def test_every_error_code_is_documented_with_a_meaning() -> None:
    undocumented = [code for code, meaning in CODES.items() if not isinstance(meaning, str) or len(meaning) < 10]
    assert not undocumented
