"""`python -m gateway.cli` is `tgw`."""

import sys

from gateway.cli import main

sys.exit(main())
