"""The benchmarks behind `tgw bench`: the per-voucher floor (`floor`), the gateway end to end
per transport (`benchmark`), open-loop latency against `tgw up` (`latency`) and the simulated
business day (`simbench`). The CLI (`tgw.bench`) only parses arguments and prints; figures go
to bench/results/. `memory.py`, `mqtt_memory.py`, `live_memory.py` (what a long-running `tgw up`
keeps a voucher: bench/results/live-memory.md) and `delivery.py` are standalone scripts
(`python bench/memory.py`) that borrow the test helpers.
"""
