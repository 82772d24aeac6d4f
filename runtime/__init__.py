"""The graphrun engine: ports and types, node API, registry, YAML spec, subgraphs, plan, executors, the run.

Its front-ends (Python builder, command line, launch, inspect, tune, weights, batch) are in
``graphrun.runtime.frontends``; they import the engine, never the other way round.

The names below are imported on first use (PEP 562), so that ``graphrun --version``, ``--help``
and a Ctrl-C while the command starts do not wait for torch.
"""
from .errors import GraphError, NodeError, UserInputError

_LAZY = {"Context": "node", "Emit": "node", "Input": "node", "Node": "node", "NodeParams": "node",
         "NoParams": "node", "Output": "node", "Source": "node", "function_node": "node",
         "register": "registry", "types": None}

__all__ = ["GraphError", "NodeError", "UserInputError", *_LAZY]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'graphrun.runtime' has no attribute '{name}'")
    import importlib
    module = importlib.import_module(f"{__name__}.{_LAZY[name] or name}")
    return module if _LAZY[name] is None else getattr(module, name)
