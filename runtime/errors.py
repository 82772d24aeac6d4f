"""Errors a user can cause. The CLI prints them as one line and exits non-zero."""
from __future__ import annotations

import re

_ERRNO = re.compile(r"\[Errno -?\d+\] ")


def without_errno(msg: str) -> str:
    """A message in the system's words, not its numbers: ``[Errno 13] Permission denied`` -> ``Permission denied``."""
    return _ERRNO.sub("", msg)


class GraphError(Exception):
    """A problem with a graph file, a node's parameters or a link: found before any frame flows."""


class NodeError(Exception):
    """A node failed while the graph ran. Names the node and the frame index."""

    def __init__(self, node: str, index: int, cause: BaseException, stage: str | None = None):
        self.node, self.index, self.cause = node, index, cause
        where = stage or (f"frame {index}" if index >= 0 else "setup")
        text = without_errno(str(cause))
        what = text if isinstance(cause, UserInputError) else f"{type(cause).__name__}: {text}"
        super().__init__(f"node '{node}' failed at {where}: {what}")

    @property
    def is_user_error(self) -> bool:
        return isinstance(self.cause, UserInputError)


class UserInputError(Exception):
    """Bad input data a node can diagnose (a missing file, a corrupt video): a one-line message."""


class Interrupted(Exception):
    """A second SIGINT/SIGTERM stopped the run at once: what was written is partial."""

    def __init__(self, msg: str = "interrupted twice: stopped at once; the outputs are partial"):
        super().__init__(msg)
