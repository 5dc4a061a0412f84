"""What a bank needs is in docs/, in step with the code, and no link leaves the repository.

The tables of docs/wire.md and docs/rules.md are made from messages/catalog.yaml, the XSDs and
ClockConfig (tests/doc_tables.py); the world's accounts file is the one the simulated banks read.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bank_sim.returns import (
    CASH_RETURNS,
    KNOWN_PAYEES,
    QUOTA_RETURNS,
    RETURN_RULES,
    ReturnFacts,
    check_return,
    load_accounts,
)
from tests.doc_tables import DOCS, ROOT, TABLES, block

# Markdown inline links and images `[text](target)`, reference definitions `[id]: target`,
# and HTML href/src attributes.
_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|^\s*\[[^\]]+\]:\s*(\S+)|(?:href|src)=\"([^\"]+)\"",
                   re.M)
_EXTERNAL = re.compile(r"^(https?|mailto):", re.I)


def link_problems(text: str, where: Path, root: Path) -> list[str]:
    """Every link of a markdown text that leaves the repository or names nothing in it."""
    problems = []
    if re.search(r"\.\./shared|/work/shared|shared/(DOMAIN|ARCHITECTURE|SEED-READING|STYLE)\.md", text):
        problems.append(f"{where}: names the project's private background docs (../shared): say it here instead")
    for m in _LINK.finditer(text):
        target = next(g for g in m.groups() if g)
        if _EXTERNAL.match(target) or target.startswith("#"):
            continue
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("/"):
            problems.append(f"{where}: {target}: not a relative link inside the repository")
            continue
        path = (where.parent / target.split("#", 1)[0]).resolve()
        if not path.is_relative_to(root):
            problems.append(f"{where}: {target}: leaves the repository")
        elif not path.exists():
            problems.append(f"{where}: {target}: no such file or directory")
    return problems


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def test_no_link_of_the_readme_or_docs_leaves_the_repository_or_names_nothing() -> None:
    problems = [p for doc in _documents() for p in link_problems(doc.read_text(encoding="utf-8"), doc, ROOT)]
    assert problems == []


# What an outsider reads: the scenario descriptions (docs/rules.md sends banks to them), the docs,
# the README and the examples. None of it may send the reader to the project's private background
# notes, which the repository does not have: a rule is cited by its seed article ("004 part 3
# §9(12)") or by a section of docs/.
_OUTSIDER_READS = ("scenarios", "docs", "README.md", "examples")
_PRIVATE_NOTES = re.compile(r"shared/|DOMAIN\.md|SEED-READING|ARCHITECTURE\.md")


def private_note_mentions(text: str, where: Path) -> list[str]:
    """Each line of a text that names the private background notes, as `where:line: text`."""
    return [f"{where}:{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1)
            if _PRIVATE_NOTES.search(line)]


def _outsider_files() -> list[Path]:
    files = []
    for name in _OUTSIDER_READS:
        path = ROOT / name
        files += [path] if path.is_file() else sorted(f for f in path.rglob("*") if f.is_file())
    return files


def test_nothing_an_outsider_reads_names_the_private_background_notes() -> None:
    problems = []
    for path in _outsider_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # an image (docs/dashboard.png): no text to cite anything
            continue
        problems += private_note_mentions(text, path.relative_to(ROOT))
    assert problems == []


@pytest.mark.parametrize("text", [
    "Rule: the 16:00 cutoff (DOMAIN.md \"The clock\"; 004 part 3 §9(11)).",
    "see ../shared/DOMAIN.md",
    "# as SEED-READING says",
    "the target design (ARCHITECTURE.md, \"Sans-IO cores\")",
    "background in shared/seeds/004.txt",
])
def test_the_private_note_check_catches_each_spelling(text: str) -> None:
    assert private_note_mentions(f"ok\n{text}\n", Path("scenarios/x.yaml")) == [f"scenarios/x.yaml:2: {text.strip()}"]


def test_the_private_note_check_lets_seed_articles_and_docs_sections_through() -> None:
    text = 'Rule: the 16:00 cutoff (004 part 3 §9(11); docs/rules.md "The times of day and the notice periods").'
    assert private_note_mentions(text, Path("scenarios/x.yaml")) == []


@pytest.mark.parametrize(("text", "bad"), [
    ("see [the domain](../shared/DOMAIN.md)", "../shared"),
    ("the layout (../shared/DOMAIN.md)", "../shared"),
    ("[up](../../etc/passwd)", "leaves the repository"),
    ("[gone](no-such-page.md)", "no such file"),
    ("[abs](/etc/passwd)", "not a relative link"),
    ("[file](file:///etc/passwd)", "not a relative link"),
    ('<a href="missing.html">x</a>', "no such file"),
    ("[ref]: ../nowhere.md", "no such file"),
])
def test_the_link_check_catches_each_way_out(text: str, bad: str) -> None:
    problems = link_problems(text, DOCS / "x.md", ROOT)
    assert problems and all(bad in p or "../shared" in p for p in problems), problems
    assert any(bad in p for p in problems), problems


def test_the_link_check_lets_good_links_through() -> None:
    text = "[w](wire.md) [x](../xsd/5201.xsd) [r](rules.md#the-calendar) [h](https://example.org) [a](#top)"
    assert link_problems(text, DOCS / "x.md", ROOT) == []


@pytest.mark.parametrize("name", sorted(TABLES))
def test_each_generated_table_is_what_the_code_makes(name: str) -> None:
    path, make = TABLES[name]
    found = block(path.read_text(encoding="utf-8"), name)
    assert found is not None, f"{path}: the generated:{name} block is missing"
    assert found == make(), f"{path.name}: the {name} table is stale: .venv/bin/python -m tests.doc_tables"


def test_wire_md_states_the_signing_rule() -> None:
    wire = (DOCS / "wire.md").read_text(encoding="utf-8")
    for fact in ("SHA-256", "P-256", "PKCS#1 v1.5", "Ecdsa-Sig-Value", "exact voucher bytes", "uppercase hexadecimal",
                 "`101`", "`102`", "XPayAmt` **`0.00`**", '"<code>: <message>"', "accounts.yaml"):
        assert fact in wire, fact


def test_rules_md_lists_every_return_rule_and_every_account_of_the_world() -> None:
    rules = (DOCS / "rules.md").read_text(encoding="utf-8")
    for code, when in [*((r.code, r.when) for r in RETURN_RULES), *CASH_RETURNS, *QUOTA_RETURNS]:
        assert f"| `{code}` | {when} |" in rules, code
    for number, holder in KNOWN_PAYEES:
        assert f"| {number} | {holder} |" in rules, number


def test_the_world_writes_the_accounts_the_simulated_banks_hold(tmp_path: Path) -> None:
    from runner.world import DevWorld

    world = DevWorld.create(tmp_path, banks=(("bank-x", "999300000001", "示例银行丙"),), seed=3)
    data = yaml.safe_load(world.accounts_path.read_text(encoding="utf-8"))
    [bank] = data["banks"]
    assert (bank["id"], bank["code"]) == ("bank-x", "999300000001")
    assert [(a["number"], a["holder"]) for a in bank["accounts"]] == list(KNOWN_PAYEES)
    assert [r["code"] for r in data["returns_before_payment"]] == [
        *(r.code for r in RETURN_RULES), *(code for code, _ in (*CASH_RETURNS, *QUOTA_RETURNS))]
    # one source: the package's accounts.yaml is what returns.py holds
    assert load_accounts() == KNOWN_PAYEES
    assert load_accounts("accounts:\n  - {number: '1', holder: A}\n") == (("1", "A"),)


def test_the_accounts_document_is_rendered_once_per_set_of_banks(monkeypatch: pytest.MonkeyPatch) -> None:
    """DevWorld.create writes it for every world (the suite makes hundreds): its YAML is dumped once
    per banks, whatever sequence names them, and each set of banks gets its own."""
    import runner.world as world_module

    dumps: list[object] = []
    real = yaml.safe_dump

    def counted(data: object, *args: object, **kwargs: object) -> str:
        dumps.append(data)
        return real(data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(world_module.yaml, "safe_dump", counted)
    world_module._accounts_document.cache_clear()
    one, other = [("bank-q", "999400000001", "示例银行丁")], (("bank-r", "999400000002", "示例银行戊"),)
    first = world_module.accounts_document(one)
    assert world_module.accounts_document(tuple(one)) == first and world_module.accounts_document(list(one)) == first
    second = world_module.accounts_document(other)
    assert len(dumps) == 2
    assert yaml.safe_load(first)["banks"][0]["id"] == "bank-q" and yaml.safe_load(second)["banks"][0]["id"] == "bank-r"


_HEAD = {"PayeeAcctName": "测试供应商有限公司", "PayeeAcctBankName": "示例银行甲分行", "AgencyCode": "101001",
         "SupDepCode": "101", "FundTypeCode": "1", "AgencyName": "示例市第一中学"}


@given(st.sampled_from([n for n, _ in KNOWN_PAYEES] + ["9999000000000099", "9999000000000004"]),
       st.sampled_from(["999100000001", "999100000027", "888100000001"]))
def test_the_accounts_in_the_world_file_decide_what_a_bank_returns(number: str, payee_bank: str) -> None:
    """What docs/rules.md says: an account of your own code not in the list is unknown; other
    codes are not checked."""
    held = dict(KNOWN_PAYEES)
    head = {**_HEAD, "PayeeAcctNo": number, "PayeeAcctBankNo": payee_bank, "PayeeAcctName": held.get(number, "某公司")}
    found = check_return(ReturnFacts("999100000001", "5201", head, [{"ExpFuncCode": "2050101"}], held))
    expected = "payee-account-unknown" if payee_bank == "999100000001" and number not in held else None
    assert (found[0] if found else None) == expected


def test_the_clock_table_sends_the_treasury_only_what_the_catalogue_routes_to_it() -> None:
    """Before: `receipts_deadline` said the clearing lists reach the treasury by 11:00; the catalogue
    routes a 2301 and its receipt between the bank and the central bank only. The hand-over the
    agreement asks for (004 part 3 §8(9), §9(14)) is named as not modelled instead."""
    from messages.catalog import get_catalog
    from tests.doc_tables import CLOCK_MEANINGS

    clearing = get_catalog().get("2301")
    assert (clearing.sender, clearing.recipient) == ("bank", "pboc")
    meaning = CLOCK_MEANINGS["receipts_deadline"]
    assert "reaches the treasury" in meaning and "clearing lists) of a day's payments reach" not in meaning
    assert "not modelled" in meaning
    rules = (DOCS / "rules.md").read_text(encoding="utf-8")
    note = rules[rules.index("**Not modelled: the cleared clearing requests to the treasury.**"):]
    assert "§8(9)" in note[:600] and "§9(14)" in note[:600]
