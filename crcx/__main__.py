"""``python -m crcx``: the same as the ``crcx`` command."""
import sys

from crcx.cli import main

sys.exit(main())
