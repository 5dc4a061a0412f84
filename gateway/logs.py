"""structlog set-up: JSON lines for machines (`tgw up`), readable lines for people (`tgw demo`).

Libraries log through the standard `logging` module (aiomqtt and paho, asyncpg, aiohttp,
asyncio's "exception was never retrieved", `warnings`): a handler on the root logger sends
their records through the same processors and renderer (structlog's `ProcessorFormatter`), so
with `json=True` every line on stderr is one JSON object, a traceback included (as the
`exception` field, not as extra lines)."""

from __future__ import annotations

import logging
import sys

import structlog

__all__ = ["configure_logging"]

_HANDLER_NAME = "tgw-structlog"  # our root handler, replaced (not added again) by a later configure_logging


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
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            stamp,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=cache,
    )
    _route_stdlib_logging(renderer, stamp, level)


def _route_stdlib_logging(renderer: structlog.typing.Processor, stamp: structlog.typing.Processor,
                          level: str) -> None:
    """The root logger's only handler renders like structlog: `logger` names the library."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, structlog.processors.add_log_level, stamp],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer],
    )
    handler = logging.StreamHandler(_CurrentStderr())
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    logging.captureWarnings(True)  # `warnings.warn` → the py.warnings logger → this handler
