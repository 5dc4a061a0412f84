"""Prometheus metrics of the gateway (served at GET /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ACK_LATENCY", "DEAD_LETTERS", "DELIVERED", "REGISTRY", "VOUCHERS"]

REGISTRY = CollectorRegistry(auto_describe=True)

VOUCHERS = Counter("tgw_vouchers_total", "Vouchers submitted, by VtCode, outcome and reject code",
                   ["vtcode", "status", "code"], registry=REGISTRY)
ACK_LATENCY = Histogram("tgw_ack_latency_seconds", "From envelope received to acknowledgement (journal committed)",
                        buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
                        registry=REGISTRY)
DELIVERED = Counter("tgw_delivered_total", "Messages acknowledged by their recipient", registry=REGISTRY)
DEAD_LETTERS = Counter("tgw_dead_letters_total", "Messages dead-lettered after too many push attempts",
                       registry=REGISTRY)
MQTT_CONNECTED = Gauge("tgw_mqtt_connected", "1 while the gateway's MQTT session is up", registry=REGISTRY)
HTTP_REQUESTS = Counter("tgw_http_requests_total", "HTTP requests by route and status",
                        ["route", "status"], registry=REGISTRY)
