"""Push delivery to a slow bank: duplicates per message and dead letters, before vs after.

    .venv/bin/python bench/delivery.py [--vouchers 4000] [--service-ms 5] [--transports mqtt,inproc]
                                       [--compare-ref HEAD] [--deadline-s 240] [-o bench/results/delivery.json]

One run = a gateway (SQLite, shipped `GatewayConfig` defaults) with `--vouchers` one-voucher
rows for bank-a journaled at once, and bank-a consuming its pushes one at a time, `--service-ms`
per message (its own work), acking what it handled
after each batch it receives. Over `mqtt` it runs against a private Mosquitto started
for the run (tests/mqtt_broker.py, the settings of conf/mosquitto.conf); over `inproc` on the
in-process bus. It ends when the outbox has nothing `ready` or after `--deadline-s`.

Each run happens in a subprocess; `--compare-ref` also runs every row against the gateway code
of that git revision (exported with `git archive` into a temp dir, the working tree untouched),
so before and after come from the same run on the same machine. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ACK_CHUNK = 500  # ids per ack: under the gateway's ACK_IDS_MAX (1000), whatever one receive returned


async def _one_run(vouchers: int, service_s: float, transport: str, deadline_s: float, tmp: Path) -> dict[str, Any]:
    from gateway_helpers import payment, running_gateway

    from client import GatewayClient
    from runner.world import DevWorld
    from storage.db import open_database

    world = DevWorld.create(tmp / "world", delivery="push")
    tid, tag = world.treasury.id, uuid.uuid4().hex[:8]
    db = await open_database(str(tmp / "gw.db"))
    broker = None
    started = time.monotonic()
    received: Counter[str] = Counter()
    try:
        async with running_gateway(world, db) as gw:
            for _start in range(0, vouchers, 100):
                env = world.envelope([payment(world, bank="bank-a") for _ in range(100)], sender=tid)
                await gw.submit(env, world_party(gw, tid))
            if transport == "mqtt":
                from mqtt_broker import MosquittoBroker

                from gateway.mqtt_adapter import MqttAdapter

                broker = MosquittoBroker.start_for(world.registry(), tmp, gateway_user="tgw-gateway",
                                                   gateway_password="bench")
                adapter = MqttAdapter(gw, host=broker.host, port=broker.port, username="tgw-gateway",
                                      password="bench", client_id=f"tgw-bench-{tag}", shared_group=f"b{tag}")
                await adapter.start()
                await adapter.wait_connected()
                bank = GatewayClient.mqtt(broker.host, broker.port, username="bank-a",
                                          password=world.participants["bank-a"].mqtt_password,
                                          participant_id="bank-a", client_id=f"bank-a-{tag}")
            else:
                adapter = None
                bank = GatewayClient.bus(gw, "bank-a")
            t0 = time.monotonic()
            try:
                async with bank:
                    end = t0 + deadline_s
                    while time.monotonic() < end:
                        items = await bank.receive(timeout_s=0.5)
                        for d in items:
                            received[d.message_id] += 1
                            await asyncio.sleep(service_s)  # the bank's own work per message
                        for i in range(0, len(items), ACK_CHUNK):  # what it received and handled
                            await bank.ack(*items[i:i + ACK_CHUNK])
                        if not items and "ready" not in await gw.outbox.counts():
                            break
                    elapsed = time.monotonic() - t0
                    # Pushes still on their way once everything is acked: count them too.
                    for _ in range(6):
                        for d in await bank.receive(timeout_s=0.5):
                            received[d.message_id] += 1
            finally:
                if adapter is not None:
                    await adapter.stop()
            counts = await gw.outbox.counts()
    finally:
        await db.close()
        if broker is not None:
            broker.stop()
    pushes = sum(received.values())
    return {"transport": transport, "vouchers": vouchers, "service_ms": service_s * 1000,
            "received_by_bank": pushes, "distinct": len(received),
            "deliveries_per_message": round(pushes / max(1, len(received)), 3),
            "duplicates": pushes - len(received), "dead_letters": counts.get("dead", 0),
            "acked": counts.get("acked", 0), "still_ready": counts.get("ready", 0),
            "seconds": round(elapsed, 1), "setup_seconds": round(t0 - started, 1)}


def world_party(gw: Any, pid: str) -> Any:
    party = gw.registry.get(pid)
    assert party is not None, pid
    return party


def _worker(args: argparse.Namespace) -> int:
    src = Path(args.src)
    sys.path[:0] = [str(src), str(src / "tests")]
    from gateway.logs import configure_logging

    configure_logging(json=True, level="WARNING")  # a log line per voucher would cost more than the bench
    with tempfile.TemporaryDirectory(prefix="tgw-bench-delivery-") as tmp:
        result = asyncio.run(_one_run(args.vouchers, args.service_ms / 1000, args.transport, args.deadline_s,
                                      Path(tmp)))
    print(json.dumps(result))
    return 0


def _run_in(src: Path, transport: str, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{src / 'tests'}", "TGW_LOG_LEVEL": "warning"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--src", str(src), "--transport", transport,
           "--vouchers", str(args.vouchers), "--service-ms", str(args.service_ms), "--deadline-s", str(args.deadline_s)]
    out = subprocess.run(cmd, env=env, cwd=src, capture_output=True, text=True, check=False)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{\"transport\"")]
    if out.returncode != 0 or not lines:
        return {"transport": transport, "error": (out.stderr or out.stdout)[-2000:]}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--vouchers", type=int, default=4000)
    p.add_argument("--service-ms", type=float, default=5.0)
    p.add_argument("--transports", default="mqtt,inproc")
    p.add_argument("--transport", help=argparse.SUPPRESS)
    p.add_argument("--deadline-s", type=float, default=240.0)
    p.add_argument("--compare-ref", default="HEAD", help="git revision for the 'before' rows ('' to skip)")
    p.add_argument("-o", "--output", default=str(ROOT / "bench/results/delivery.json"))
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--src", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return _worker(args)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tgw-before-") as before_dir:
        sources = [("after", ROOT)]
        if args.compare_ref:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.compare_ref], capture_output=True,
                                     check=True).stdout
            subprocess.run(["tar", "-x", "-C", before_dir], input=archive, check=True)
            sources.insert(0, ("before", Path(before_dir)))
        for transport in args.transports.split(","):
            for label, src in sources:
                row = {"code": label if label == "after" else f"before ({args.compare_ref})", **_run_in(src, transport, args)}
                print(json.dumps(row), flush=True)
                rows.append(row)
    report = {"what": "pushes to a bank handling one message per service_ms, acking each received batch once handled; shipped GatewayConfig",
              "command": "python bench/delivery.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
              "rows": rows}
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
