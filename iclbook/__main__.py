"""``python -m iclbook``: see :mod:`iclbook.cli`."""
import sys

from .cli import main

sys.exit(main())
