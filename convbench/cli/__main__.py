"""`python -m convbench.cli`: the same as the `convbench` command."""

import sys

from convbench.cli import main

sys.exit(main())
