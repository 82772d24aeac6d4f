"""Plumbing nodes, for tests and benchmarks: a pass-through and a sink that only counts."""
from .null_sink import NullSink
from .passthrough import Passthrough

__all__ = ["NullSink", "Passthrough"]
