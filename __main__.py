"""``python -m graphrun``: the graphrun command."""
import sys

from graphrun.runtime.cli import main

sys.exit(main())
