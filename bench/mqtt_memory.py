"""What stays in memory after an MQTT burst: RSS and tracemalloc's growth by line.

    .venv/bin/python bench/mqtt_memory.py [--vouchers 3000] [--per-envelope 50]

One process holds a gateway (SQLite), its MQTT adapter, a private Mosquitto with the shipped
settings (tests/mqtt_broker.py), a treasury sending `--vouchers` in envelopes of
`--per-envelope` (8 at once) and bank-a receiving and acking every push. After a 500-voucher
warm-up tracemalloc starts; after the burst it prints RSS and the allocations still held, by
file and by line (the script's own set of received ids is among them). A measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def _rss_mb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return -1


async def _run(total: int, per_envelope: int) -> None:
    from gateway_helpers import payment, running_gateway
    from mqtt_broker import GW_PASSWORD, GW_USER, MosquittoBroker

    from client import GatewayClient
    from gateway.logs import configure_logging
    from gateway.mqtt_adapter import MqttAdapter
    from runner.world import DevWorld
    from storage.db import open_database

    configure_logging(json=True, level="WARNING")
    tmp = Path(tempfile.mkdtemp(prefix="tgw-mqtt-mem-"))
    world = DevWorld.create(tmp / "world", delivery="push")
    broker = MosquittoBroker.start_for(world.registry(), tmp, gateway_user=GW_USER, gateway_password=GW_PASSWORD)
    db = await open_database(str(tmp / "gw.db"))
    tid = world.treasury.id
    try:
        async with running_gateway(world, db) as gw:
            adapter = MqttAdapter(gw, host=broker.host, port=broker.port, username=GW_USER, password=GW_PASSWORD)
            await adapter.start()
            await adapter.wait_connected(10)

            def client(pid: str) -> GatewayClient:
                return GatewayClient.mqtt(broker.host, broker.port, username=pid, send_timeout_s=600,
                                          password=world.participants[pid].mqtt_password, participant_id=pid)

            async with client(tid) as treasury, client("bank-a") as bank:
                got: set[str] = set()

                async def bank_loop(n: int) -> None:
                    while len(got) < n:
                        items = await bank.receive(timeout_s=1)
                        got.update(d.message_id for d in items)
                        if items:
                            await bank.ack(*items)

                async def burst(n: int) -> None:
                    envelopes = [world.envelope([payment(world, bank="bank-a") for _ in range(per_envelope)],
                                                sender=tid) for _ in range(n // per_envelope)]
                    slots = asyncio.Semaphore(8)

                    async def one(envelope: bytes) -> None:
                        async with slots:
                            await treasury.send(envelope)

                    receiving = asyncio.create_task(bank_loop(len(got) + n))
                    await asyncio.gather(*(one(e) for e in envelopes))
                    await receiving

                started = time.monotonic()
                await burst(500)
                gc.collect()
                print("rss_mb_after_warmup", _rss_mb(), flush=True)
                tracemalloc.start(1)
                before = tracemalloc.take_snapshot()
                await burst(total)
                await asyncio.sleep(3)
                gc.collect()
                after = tracemalloc.take_snapshot()
                print("rss_mb_after_burst", _rss_mb(), "seconds", round(time.monotonic() - started, 1))
                for stat in after.compare_to(before, "lineno")[:12]:
                    print(stat)
            await adapter.stop()
    finally:
        await db.close()
        broker.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vouchers", type=int, default=3000)
    p.add_argument("--per-envelope", type=int, default=50)
    args = p.parse_args()
    asyncio.run(_run(args.vouchers, args.per_envelope))
    return 0


if __name__ == "__main__":
    sys.exit(main())
