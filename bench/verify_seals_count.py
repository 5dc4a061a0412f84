"""verify_seals per call, counted under callgrind (bench/results/key-policy.md).

argv[1] = iterations; PYTHONPATH picks the source tree.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from pathlib import Path

from messages.catalog import Seal
from messages.keys import create_ca, issue_participant
from messages.signing import CertificateStore, KeySigner, verify_seals

d = Path(tempfile.mkdtemp())
create_ca(d, seed=1)
f = issue_participant(d, participant_id="bank-a", role="bank", ca_dir=d, seed=1)
signer = KeySigner.from_files(f.key, f.cert)
store = CertificateStore.from_dir(d)
data = b"<?xml version='1.0'?><Voucher>" + b"x" * 2000 + b"</Voucher>"
sig = signer.sign(data)
seals = [Seal("101", "bank", "a"), Seal("102", "bank", "b")]
at = dt.datetime(2026, 3, 16, tzinfo=dt.UTC)
n = int(sys.argv[1])
for _ in range(n):
    issues = verify_seals(data, [("101", f.sn, sig), ("102", f.sn, sig)], seals, store, at=at)
    assert not issues, issues
