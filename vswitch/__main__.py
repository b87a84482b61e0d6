"""``python -m vswitch`` is ``nemu-vswitch`` (for hosts where the console script is absent)."""

import sys

from vswitch.cli import main

sys.exit(main())
