"""graphrun: a GStreamer-style plugin graph for video computer vision in Python and PyTorch.

    import graphrun
    result = graphrun.load("stabilize").run(out="runs/stabilize")    # a shipped graph, by name
    g = graphrun.Graph("mine"); src = g.add("video_file", path="clip.mp4"); ...

See ``graphrun.Graph`` (build, run, iterate, to_yaml), ``graphrun.load``, ``graphrun.batch`` (one
graph over many inputs, locally or on Ray), ``graphrun.register`` (a node kind) and
``graphrun.subgraph`` (a builder function usable as a node).
"""
__version__ = "0.2.0"

_EXPORTS = {
    "Graph": "graphrun.runtime.frontends.api", "load": "graphrun.runtime.frontends.api",
    "PortRef": "graphrun.runtime.frontends.api",
    "RunResult": "graphrun.runtime.run",
    "batch": "graphrun.runtime.frontends.batch", "BatchResult": "graphrun.runtime.frontends.batch",
    "register": "graphrun.runtime.registry", "subgraph": "graphrun.runtime.registry",
    "register_subgraph": "graphrun.runtime.registry",
    "Node": "graphrun.runtime.node", "Source": "graphrun.runtime.node", "Input": "graphrun.runtime.node",
    "Output": "graphrun.runtime.node", "NodeParams": "graphrun.runtime.node", "Emit": "graphrun.runtime.node",
    "GraphError": "graphrun.runtime.errors", "NodeError": "graphrun.runtime.errors",
    "UserInputError": "graphrun.runtime.errors",
}
__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):  # PEP 562: import the runtime (and torch) only when it is used
    if name in _EXPORTS:
        import importlib
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'graphrun' has no attribute '{name}'")
