"""Business time without IO: the Chinese business calendar, `ClockConfig` and pure deadlines."""
