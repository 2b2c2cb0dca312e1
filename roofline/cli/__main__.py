"""``python -m roofline.cli``: the same as the ``roofline`` command."""

import sys

from roofline.cli import main

sys.exit(main())
