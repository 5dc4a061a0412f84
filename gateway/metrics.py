"""Prometheus metrics of the gateway (served at GET /metrics)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from messages.catalog import get_catalog

__all__ = ["ACK_LATENCY", "DEAD_LETTERS", "DELIVERED", "HTTP_REQUESTS_BY", "REGISTRY", "VOUCHERS", "VOUCHERS_BY",
           "VTCODE_OTHER", "Children", "vtcode_label"]

# Labelled children remembered per metric by `Children`: far above the real label sets (a few
# routes x statuses; VtCodes x outcomes x codes), so in practice every lookup hits; a flood of
# distinct label values past it falls back to `labels()` instead of growing the cache further.
CHILDREN_CACHED_MAX = 4096


class Children:
    """A metric's labelled children by label values, looked up once and remembered.

    `metric.labels(...)` checks and joins the values and takes the metric's lock at every call;
    the gateway asks for the same few children for every envelope and request.
    """

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._cache: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._cache.get(values)
        if child is None:
            child = self._metric.labels(*values)
            if len(self._cache) < CHILDREN_CACHED_MAX:
                self._cache[values] = child
        return child

# A VtCode label is one of the catalog's, or "other": a VtCode is any four digits a sender writes, and
# every label set is a series kept for the life of the process (10,000 VtCodes x reject codes).
VTCODE_OTHER = "other"
_CATALOG_VTCODES = frozenset(get_catalog().codes())


def vtcode_label(vtcode: str | None) -> str:
    """`vtcode` when the catalog has it, "-" for none (refused before a key was read), else "other"."""
    if vtcode is None:
        return "-"
    return vtcode if vtcode in _CATALOG_VTCODES else VTCODE_OTHER


REGISTRY = CollectorRegistry(auto_describe=True)

VOUCHERS = Counter("tgw_vouchers_total", "Vouchers submitted, by VtCode (\"other\": not in the catalog), "
                   "outcome and reject code",
                   ["vtcode", "status", "code"], registry=REGISTRY)
VOUCHERS_BY = Children(VOUCHERS)  # VOUCHERS_BY(vtcode, status, code)
ACK_LATENCY = Histogram("tgw_ack_latency_seconds", "From envelope received to acknowledgement (journal committed)",
                        buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
                        registry=REGISTRY)
DELIVERED = Counter("tgw_delivered_total", "Messages acknowledged by their recipient", registry=REGISTRY)
DEAD_LETTERS = Counter("tgw_dead_letters_total", "Messages dead-lettered after too many push attempts",
                       registry=REGISTRY)
MQTT_CONNECTED = Gauge("tgw_mqtt_connected", "1 while the gateway's MQTT session is up", registry=REGISTRY)
HTTP_REQUESTS = Counter("tgw_http_requests_total", "HTTP requests by route and status",
                        ["route", "status"], registry=REGISTRY)
HTTP_REQUESTS_BY = Children(HTTP_REQUESTS)  # HTTP_REQUESTS_BY(route, status)

# HTTP connections and memory (gateway.http_limits)
HTTP_CONNECTIONS = Gauge("tgw_http_connections", "Open HTTP connections (at most http.connections_max)",
                         registry=REGISTRY)
HTTP_CONNECTIONS_REFUSED = Counter("tgw_http_connections_refused_total",
                                   "Connections answered 503 and closed because connections_max were open",
                                   registry=REGISTRY)
HTTP_TIMEOUTS = Counter("tgw_http_timeouts_total", "Requests cut off because their head or body came too slowly",
                        ["phase"], registry=REGISTRY)
HTTP_BODY_BYTES_IN_FLIGHT = Gauge("tgw_http_body_bytes_in_flight",
                                  "Request-body bytes held at once (at most http.body_bytes_in_flight_max)",
                                  registry=REGISTRY)
HTTP_BODIES_REFUSED = Counter("tgw_http_bodies_refused_total",
                              "Requests answered 503 because their body did not fit the in-flight byte budget",
                              registry=REGISTRY)
HTTP_ACCEPT_ERRORS = Counter("tgw_http_accept_errors_total",
                             "accept() failures for lack of resources (EMFILE: out of file descriptors)",
                             registry=REGISTRY)
HTTP_CLIENT_DISCONNECTS = Counter("tgw_http_client_disconnects_total",
                                  "Requests whose client went away before they were read or answered",
                                  registry=REGISTRY)
HTTP_AUTH_FAILURES = Counter("tgw_http_auth_failures_total",
                             "Requests refused 401: no, unknown or mismatched credentials", ["reason"],
                             registry=REGISTRY)
HTTP_DATABASE_UNAVAILABLE = Counter("tgw_http_database_unavailable_total",
                                    "HTTP requests answered 503 because the database failed under them",
                                    registry=REGISTRY)
# The business calendar's horizon (gateway.horizon)
CALENDAR_DAYS_LEFT = Gauge("tgw_calendar_days_left",
                           "Days from today to the last day the business calendar knows (negative: past it)",
                           registry=REGISTRY)
CALENDAR_PROVISIONAL = Gauge("tgw_calendar_provisional",
                             "1 while the business calendar runs on a provisional year (computed from the statutory "
                             "holidays, not the State Council's notice), else 0", registry=REGISTRY)
