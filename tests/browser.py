"""Headless Chromium for the tests that look at a rendered HTML page (the demo and scenario reports)."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # screenshots a person can open after a run
CHROMIUM_TIMEOUT_S = 120  # a cold start on a loaded 2-core machine; a page renders in well under a second
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR."""
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def screenshot(page: Path, shot: Path, *, window: tuple[int, int], profile: Path) -> bytes:
    """Render `page` in headless Chromium at `window` (width, height) into the PNG `shot`; its bytes.

    Skips the test where Chromium is not installed, fails it under TGW_REQUIRE_SERVICES (CI)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("TGW_REQUIRE_SERVICES"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's package)")
        pytest.skip("chromium is not installed")
    shot.unlink(missing_ok=True)
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         f"--user-data-dir={profile}", f"--window-size={window[0]},{window[1]}",
         f"--screenshot={shot}", page.as_uri()],
        capture_output=True, timeout=CHROMIUM_TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return shot.read_bytes()
