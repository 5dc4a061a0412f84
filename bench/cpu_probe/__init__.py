"""A stage-by-stage CPU probe of `tgw up` (see sitecustomize.py); a diagnostic, never imported by the gateway."""
