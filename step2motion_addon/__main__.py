"""``python -m step2motion_addon COMMAND ...``: see :mod:`step2motion_addon.cli`."""
import sys

from .cli import main

sys.exit(main())
