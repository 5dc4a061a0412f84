"""structlog set-up: JSON lines for machines (`tgw up`), readable lines for people (`tgw demo`)."""

from __future__ import annotations

import logging
import sys

import structlog

__all__ = ["configure_logging"]


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is now, not what it was at configuration time (a test
    runner swaps it per test; a captured stream closed later must not break logging)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(*, json: bool = True, level: str = "INFO", cache: bool = False) -> None:
    """`cache`: each module's logger is assembled once, at its first use, instead of at every
    call (a logger factory call and a bound logger per line, even for a line below `level`).
    Only for a process that configures logging once, before anything logs (`tgw up`): a cached
    logger ignores a later `structlog.configure`, e.g. `structlog.testing.capture_logs`."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False) if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=cache,
    )
