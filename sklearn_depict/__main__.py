"""``python -m sklearn_depict``."""

import sys

from .cli import main

sys.exit(main())
