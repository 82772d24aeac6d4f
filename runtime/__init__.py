"""The graphrun engine: ports and types, node API, registry, YAML spec, graph, scheduler, CLI."""
from . import types
from .errors import GraphError, NodeError, UserInputError
from .node import Context, Emit, Input, Node, NodeParams, NoParams, Output, Source, function_node
from .registry import register

__all__ = ["GraphError", "NodeError", "UserInputError", "Context", "Emit", "Input", "Node", "NodeParams",
           "NoParams", "Output", "Source", "function_node", "register", "types"]
