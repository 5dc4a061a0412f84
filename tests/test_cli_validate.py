"""`tgw validate`: output, exit codes, JSON streaming, the hostile corpus, thousands of files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostile import SAMPLES, build_corpus, envelope_for, sample_voucher

from messages.errors import CODES
from tgw import main

TGW = [sys.executable, "-c", "import sys; from tgw import main; sys.exit(main(sys.argv[1:]))"]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["validate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_valid_file_exit_0(capsys) -> None:
    code, out, _ = _run(capsys, str(SAMPLES / "5201" / "original.xml"))
    assert code == 0
    assert out.startswith("OK") and "(5201)" in out


def test_invalid_file_exit_1_names_code_line_and_element(capsys) -> None:
    path = SAMPLES / "5201" / "invalid--bad-date--voudate-20260230.xml"
    code, out, _ = _run(capsys, str(path))
    assert code == 1
    first, second = out.splitlines()[:2]
    assert first.startswith("FAIL") and str(path) in first
    assert "bad-date" in second and "line 7" in second and "/Voucher/VouDate" in second


def test_missing_path_exit_2(capsys) -> None:
    code, out, err = _run(capsys, str(SAMPLES / "5201" / "original.xml"), "/no/such/file.xml")
    assert code == 2
    assert "io-unreadable" in err and "/no/such/file.xml" in err
    assert out == ""


def test_missing_path_in_json_is_a_report_like_an_unreadable_file(capsys) -> None:
    """Before: nothing on stdout (exit 2): a JSON consumer got no document."""
    code, out, err = _run(capsys, "/no/such/file.xml", "--format", "json")
    assert code == 2 and "/no/such/file.xml" in err
    assert json.loads(out) == [{"path": "/no/such/file.xml", "ok": False, "vtcode": None, "errors": [
        {"code": "io-unreadable", "message": "cannot read: no such file or directory", "line": None, "path": None}]}]


def test_usage_errors_in_json_are_a_json_error(capsys) -> None:
    code, out, _ = _run(capsys, str(SAMPLES / "5201"), "--certs", "/no/such/dir", "--format", "json")
    assert code == 2 and json.loads(out)["code"] == "io-unreadable"
    code, out, _ = _run(capsys, "--format", "json")
    assert code == 2 and json.loads(out)["code"] == "usage"


def test_no_path_is_usage_error(capsys) -> None:
    code, _, err = _run(capsys)
    assert code == 2 and "--codes" in err


def test_codes_table(capsys) -> None:
    code, out, _ = _run(capsys, "--codes")
    assert code == 0
    assert len(out.splitlines()) == len(CODES)
    assert all(any(line.startswith(c + " ") for line in out.splitlines()) for c in CODES)


def test_json_of_samples_dir(capsys) -> None:
    code, out, _ = _run(capsys, str(SAMPLES), "--format", "json")
    assert code == 1
    items = json.loads(out)
    files = sorted(SAMPLES.rglob("*.xml"))
    assert [i["path"] for i in items] == [str(p) for p in files]
    for item in items:
        assert set(item) == {"path", "ok", "vtcode", "errors"}
        name = Path(item["path"]).name
        if name.startswith("invalid--"):
            assert not item["ok"] and item["errors"][0]["code"] == name.split("--")[1]
            assert set(item["errors"][0]) == {"code", "message", "line", "path"}
            # a line to go to in every error (was: none for a negative amount, bad-amount)
            assert all(isinstance(e["line"], int) for e in item["errors"]), item
        else:
            assert item["ok"], item


def test_quiet_and_summary(capsys) -> None:
    code, out, err = _run(capsys, str(SAMPLES / "5201"), "--quiet", "--summary")
    assert code == 1
    assert "OK" not in out and out.count("FAIL") == 10
    assert err.strip() == "14 files: 4 ok, 10 invalid"


def test_receipt_flag(capsys, tmp_path: Path) -> None:
    path = tmp_path / "v.xml"
    path.write_bytes(sample_voucher("5201", "receipt.xml"))
    code, out, _ = _run(capsys, str(path))
    assert code == 1 and "receipt-fields-unexpected" in out
    code, _, _ = _run(capsys, str(path), "--receipt")
    assert code == 0


def test_unreadable_file_in_a_directory_exits_2(capsys, tmp_path: Path) -> None:
    unreadable = Path("/proc/self/mem")  # exists, but reading it from offset 0 fails (EIO)
    if not unreadable.exists():
        pytest.skip("needs Linux /proc")
    (tmp_path / "ok.xml").write_bytes(sample_voucher())
    code, out, err = _run(capsys, str(tmp_path), str(unreadable), "--summary")
    assert code == 2
    assert "io-unreadable" in out and "1 unreadable" in err


def test_verify_signatures_needs_certs(capsys) -> None:
    code, _, err = _run(capsys, str(SAMPLES / "5201"), "--verify-signatures")
    assert code == 2 and "--certs" in err
    code, _, err = _run(capsys, str(SAMPLES / "5201"), "--certs", "/no/such/dir")
    assert code == 2 and "io-unreadable" in err


def test_hostile_corpus_through_the_cli(capsys, tmp_path: Path) -> None:
    corpus = build_corpus(tmp_path / "hostile")
    code, out, _ = _run(capsys, str(tmp_path / "hostile"), "--format", "json")
    assert code == 1
    by_path = {item["path"]: item for item in json.loads(out)}
    assert len(by_path) == len(corpus)
    for name, (path, expected) in corpus.items():
        item = by_path[str(path)]
        assert not item["ok"], name
        assert item["errors"][0]["code"] == expected, (name, item["errors"])


def _generate(directory: Path, n: int) -> tuple[int, int]:
    """n files: valid bare vouchers and envelopes, and invalid ones; returns (valid, invalid)."""
    good = sample_voucher()
    gbk = sample_voucher("5201", "original-gbk.xml")
    env = envelope_for(good)
    bad = (SAMPLES / "5201" / "invalid--detail-sum-mismatch--details-one-yuan-over.xml").read_bytes()
    kinds = [(good, True), (gbk, True), (env, True), (bad, False), (b"<MOF>", False)]
    valid = 0
    for i in range(n):
        data, ok = kinds[i % len(kinds)]
        sub = directory / f"d{i % 7}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:05d}.xml").write_bytes(data)
        valid += ok
    return valid, n - valid


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_two_thousand_files_stream(tmp_path: Path, jobs: str) -> None:
    valid, invalid = _generate(tmp_path / "many", 2000)
    proc = subprocess.run(
        [*TGW, "validate", str(tmp_path / "many"), "--format", "json",
         "--summary", "--jobs", jobs],
        capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 1, proc.stderr
    items = json.loads(proc.stdout)
    assert len(items) == 2000
    assert len({i["path"] for i in items}) == 2000
    assert sum(i["ok"] for i in items) == valid
    assert [i["path"] for i in items] == sorted(i["path"] for i in items)  # stable order, even with jobs
    assert proc.stderr.strip().endswith(f"2000 files: {valid} ok, {invalid} invalid")


def test_json_is_streamed_item_by_item(tmp_path: Path) -> None:
    """The first result is written before the walk ends: read it while the command still runs."""
    _generate(tmp_path / "many", 400)
    proc = subprocess.Popen([*TGW, "validate", str(tmp_path / "many"), "--format", "json"],
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    second = proc.stdout.readline()
    assert first.strip() == "["
    assert json.loads(second.rstrip().rstrip(","))["path"].endswith(".xml")
    rest = proc.stdout.read()
    proc.wait(timeout=300)
    assert json.loads(first + second + rest)
