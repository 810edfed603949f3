"""``python -m cli``: the ``tiffin`` command with this interpreter."""

import sys

from cli.main import main

sys.exit(main())
