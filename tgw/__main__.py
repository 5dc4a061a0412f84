"""`python -m tgw` is `tgw`."""

import sys

from tgw import main

sys.exit(main())
