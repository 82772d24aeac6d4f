"""``python -m graphrun``: the graphrun command."""
from graphrun.runtime.cli import console

console()
