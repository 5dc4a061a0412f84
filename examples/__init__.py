"""Examples written against the client SDK only: `examples/sdk_bank.py`, also installed as `tgw-sdk-bank`."""
