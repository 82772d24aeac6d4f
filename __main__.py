"""``python -m graphrun``: the graphrun command."""
from graphrun.runtime.frontends.cli import console

console()
