"""The participant SDK: one `GatewayClient` over HTTP, MQTT and the in-process bus.

Importing it loads no gateway server module (checked by import-linter in CI).
"""

from client.sdk import (
    ClientError,
    ClientTransport,
    Delivery,
    GatewayClient,
    LocalConnection,
    LocalEndpoint,
    SendResult,
    client_ssl_context,
)

__all__ = ["ClientError", "ClientTransport", "Delivery", "GatewayClient", "LocalConnection", "LocalEndpoint",
           "SendResult", "client_ssl_context"]
