"""Dynamic monitoring (动态监控): a rule catalogue applied to payment vouchers before the bank.

`rules` loads and checks the YAML catalogue (JSON Schema), `engine` evaluates one payment (pure),
`store` keeps window state, holds and the append-only decision audit, `monitor` is what the
gateway calls, `http` the /v1/monitor routes. docs/monitoring.md describes the rules.
"""
