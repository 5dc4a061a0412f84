"""`tgw up`'s start-up check of the broker: does it bind client ids to usernames?

Without the binding (Mosquitto's `use_username_as_clientid`), any participant can connect under
the gateway's client id, or another participant's, and the broker drops that session, again at
every reconnect. Nothing in CONNACK tells (Mosquitto assigns no identifier for it), so the check
watches the behaviour: the `tgw-monitor` user (written by `tgw mqtt-acl`, the gateway's password,
no topic but `$SYS/broker/uptime`) connects twice under two different client ids. A binding
broker gives both the id `tgw-monitor`, so the second connection takes over the first; without
it both stay up. Nobody else's session is touched (clean start, no session kept).
"""

from __future__ import annotations

import ssl
import uuid

import structlog

from messages.errors import InputError

__all__ = ["MONITOR_USER", "check_client_ids_bound"]

log = structlog.get_logger("tgw.mqtt")

MONITOR_USER = "tgw-monitor"


async def check_client_ids_bound(host: str, port: int, password: str, *, tls: ssl.SSLContext | None = None,
                                 timeout_s: float = 10.0) -> bool:
    """True: the broker binds client ids to usernames. False: it could not be asked (unreachable;
    logged, the adapter connects later as usual). Raises InputError `mqtt-clientid-unbound` when
    the broker lets both connections live, `mqtt-monitor-refused` when it refuses the monitor."""
    import aiomqtt
    from aiomqtt.exceptions import MqttConnectError

    from client.wire import auth_refused

    tag = uuid.uuid4().hex[:12]

    def probe(side: str) -> aiomqtt.Client:
        return aiomqtt.Client(host, port, username=MONITOR_USER, password=password,
                              identifier=f"{MONITOR_USER}-{side}-{tag}", protocol=aiomqtt.ProtocolVersion.V5,
                              clean_start=True, tls_context=tls, timeout=timeout_s)

    try:
        async with probe("a") as first, probe("b"):
            try:
                # A round trip on the first connection: the broker closed it before answering the
                # second CONNACK if it bound both ids to the username.
                await first.subscribe("$SYS/broker/uptime", qos=0, timeout=timeout_s)
            except aiomqtt.MqttError:
                # aiomqtt keeps why the connection ended in a future nobody else reads; read it, or
                # asyncio logs "Future exception was never retrieved" at every start (private field).
                gone = first._disconnected
                if gone.done() and not gone.cancelled():
                    gone.exception()
                return True
    except MqttConnectError as exc:
        if auth_refused(exc):
            raise InputError("mqtt-monitor-refused", f"the broker at {host}:{port} refused {MONITOR_USER!r} "
                                                     f"({exc}): run `tgw mqtt-acl` again") from None
        log.warning("mqtt.clientid_check_skipped", host=host, port=port, error=str(exc) or type(exc).__name__)
        return False
    except aiomqtt.MqttError as exc:
        if "taken over" in str(exc).lower():  # the first one's loop saw the takeover on leaving
            return True
        log.warning("mqtt.clientid_check_skipped", host=host, port=port, error=str(exc) or type(exc).__name__)
        return False
    raise InputError("mqtt-clientid-unbound",
                     f"the broker at {host}:{port} kept two connections of {MONITOR_USER!r} under different client "
                     "ids: any participant could take over the gateway's session. Set use_username_as_clientid "
                     "true (conf/mosquitto.conf)")
