"""Small nodes used by the runtime tests (registered under test_* names)."""
import time

from pydantic import Field

from graphrun.runtime import Emit, Input, Node, NodeParams, Output, Source, register
from graphrun.runtime.types import ANY, MASK, PROB_MAP, SCALAR


@register("test_count")
class Count(Source):
    """Emit 0.0, 1.0, ... n-1 at a nominal fps."""
    out = Output(SCALAR)

    class Params(NodeParams):
        n: int = Field(10, ge=0)
        fps: float = 30.0
        fail_at: int = -1

    def generate(self, ctx):
        for i in range(self.params.n):
            if i == self.params.fail_at:
                raise RuntimeError("source broke")
            yield Emit({"out": float(i)}, pts=i / self.params.fps)

    def fps(self):
        return self.params.fps

    def length(self):
        return self.params.n


@register("test_add")
class Add(Node):
    """out = a + b + prev (missing inputs count as 0)."""
    a = Input(SCALAR)
    b = Input(SCALAR, optional=True)
    prev = Input(SCALAR, optional=True)
    out = Output(SCALAR)

    def process(self, ctx, a, b, prev):
        return {"out": a + (b or 0.0) + (prev or 0.0)}


@register("test_slow")
class Slow(Node):
    """Pass through after a fixed delay (a stand-in for a slow model); optionally fail at a frame."""
    x = Input(ANY)
    out = Output(ANY)
    stateless = True

    class Params(NodeParams):
        delay: float = 0.0
        fail_at: int = -1
        jitter_by_index: bool = False
        marker: str = ""

    def setup(self, ctx):
        if self.params.marker:       # lets a test know the run has started
            open(self.params.marker, "w").close()

    def process(self, ctx, x):
        if ctx.index == self.params.fail_at:
            raise ValueError("boom")
        d = self.params.delay * ((ctx.index % 3) if self.params.jitter_by_index else 1)
        if d:
            time.sleep(d)
        return {"out": x}


@register("test_odd_only")
class OddOnly(Node):
    """Emit only on odd indices (None otherwise)."""
    x = Input(ANY)
    out = Output(ANY)

    def process(self, ctx, x):
        return {"out": x} if ctx.index % 2 else None


@register("test_collect")
class Collect(Node):
    """Record (index, value, skipped) of every call into a class-level list keyed by the node name."""
    x = Input(ANY)
    y = Input(ANY, optional=True)
    seen: dict = {}

    def setup(self, ctx):
        Collect.seen[ctx.name] = []

    def process(self, ctx, x, y):
        Collect.seen[ctx.name].append((ctx.index, x, y, ctx.skipped))


@register("test_prob")
class Prob(Node):
    """Emit a prob map (for type checks)."""
    x = Input(ANY)
    prob = Output(PROB_MAP)

    def process(self, ctx, x):
        return None


@register("test_mask_sink")
class MaskSink(Node):
    """Accept a binary mask (for type checks)."""
    mask = Input(MASK)

    def process(self, ctx, mask):
        return None


@register("test_value_source")
class ValueSource(Source):
    """A source whose only port is called 'value'."""
    value = Output(SCALAR)

    def generate(self, ctx):
        yield {"value": 1.0}


@register("test_optional_only")
class OptionalOnly(Node):
    """A node whose only input is optional."""
    x = Input(ANY, optional=True)

    def process(self, ctx, x):
        return None


@register("test_hang")
class Hang(Node):
    """Hangs (sleeps for an hour) at a given frame, after touching a marker file: a stuck node."""
    x = Input(ANY)
    out = Output(ANY)

    class Params(NodeParams):
        at: int = 3
        marker: str = ""

    def process(self, ctx, x):
        if ctx.index == self.params.at:
            if self.params.marker:
                open(self.params.marker, "w").close()
            time.sleep(3600)
        return {"out": x}


@register("test_pairs")
class Pairs(Node):
    """Emit the sum of each pair of frames; flush emits a lone last frame."""
    x = Input(SCALAR)
    out = Output(SCALAR)

    def setup(self, ctx):
        self.held = None

    def process(self, ctx, x):
        if self.held is None:
            self.held = x
            return None
        out, self.held = self.held + x, None
        return {"out": out}

    def flush(self, ctx):
        return None if self.held is None else {"out": self.held}


@register("test_ahead_sum")
class AheadSum(Node):
    """out = x plus x of the next ``lookahead`` frames (fewer at the end of the stream)."""
    x = Input(SCALAR)
    prev = Input(SCALAR, optional=True)
    out = Output(SCALAR)

    class Params(NodeParams):
        lookahead: int = 1

    def process(self, ctx, x, prev):
        assert all(set(a) <= {"x"} for a in ctx.ahead)          # only inputs from outside its loop
        return {"out": x + sum(a["x"] for a in ctx.ahead) + (prev or 0.0) * 0.0}


@register("test_objective")
class Objective(Node):
    """Publishes objective = -(p - target)^2 at the end (a landscape for graphrun tune)."""
    x = Input(SCALAR)

    class Params(NodeParams):
        p: float = 0.0
        target: float = 0.0

    def process(self, ctx, x):
        return None

    def finish(self, ctx):
        ctx.publish("objective", -(self.params.p - self.params.target) ** 2)


@register("test_slow_finish")
class SlowFinish(Node):
    """Writes frames.txt into the output folder as frames come, then at the end of the stream touches
    a marker and takes an hour to finish (a stand-in for encoding a long video)."""
    x = Input(ANY)

    class Params(NodeParams):
        marker: str = ""

    def process(self, ctx, x):
        with open(f"{ctx.out_dir}/frames.txt", "a") as f:
            f.write(f"{ctx.index}\n")

    def finish(self, ctx):
        if self.params.marker:
            open(self.params.marker, "w").close()
        time.sleep(3600)
