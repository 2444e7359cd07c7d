"""``python -m crcx``: the same as the ``crcx`` command."""
import sys

from crcx._apps.cli import main

sys.exit(main())
