"""The ``glitch_filter`` node: look ahead to tell a segmenter's glitch from a real change, before the fusion."""
from __future__ import annotations

from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.types import FLOW, PROB_MAP, RECORD, TENSOR

from .ops import future_maps, glitch_filter


@register("glitch_filter")
class GlitchFilter(Node):
    """Undo the segmenter's glitches that the next frames reveal; let real changes through at once.

    Looks ``lookahead`` frames ahead (0 = off: ``current`` passes through, nothing is held). Each
    region where the current map differs from the previous stabilized map (``warped``) is judged
    by the next frames' maps, warped back into this frame along the ``forward`` flows: a region the
    segmenter adds and drops again (a one-frame blow-up, a blob) or drops and finds again (a miss)
    takes the previous stabilized values; a change the next frames confirm passes at once (no lag:
    a real disappearance is not held): there the outgoing ``warped`` takes the current values, so
    the fusion after it does not fill it back. A detection where the past is (near-)empty is never
    removed (``lone_frac``): when it is right, deleting it empties the frame. Offline that is a
    bounded window; in realtime a fixed lag of ``lookahead`` frames (the runtime reports it).
    Inside the stabilizer's loop the future values come for the inputs fed from outside it
    (``current``, ``forward``, ``fb_error``).
    ``info`` = {removed_px, filled_px}."""

    current = Input(PROB_MAP, doc="the segmenter's map of frame t (and, ahead, of the next frames)")
    warped_in = Input(PROB_MAP, optional=True, name="warped",
                      doc="flow_warp.warped: the previous stabilized map in frame t")
    forward = Input(FLOW, optional=True, doc="optical_flow.forward: flow t-1 -> t (ahead: t -> t+1, ...)")
    fb_error = Input(TENSOR(dtype="float32", shape="H,W"), optional=True,
                     doc="optical_flow.fb_error: the flow's reliability (ahead: of the next frames)")
    prob = Output(PROB_MAP, doc="the current map with the glitches the next frames reveal undone")
    warped_out = Output(PROB_MAP, name="warped",
                        doc="the previous stabilized map, with the changes the next frames confirm taken in")
    info = Output(RECORD, doc="{removed_px, filled_px}")
    devices = ("cpu", "cuda")

    class Params(NodeParams):
        lookahead: int = Field(0, ge=0, le=30, description="future frames seen (0 = off; 1-2: realtime lag)")
        level: float = Field(0.5, ge=0.0, le=1.0,
                             description="future support (0-1) from which a region counts as present (0.3-0.7)")
        min_frac: float = Field(0.1, ge=0.0, le=1.0,
                                description="regions below this fraction of the object's area are left to the "
                                            "fusion (0.02-0.3)")
        release_frac: float = Field(0.5, ge=0.0, le=1.01,
                                    description="a drop the next frames confirm is released at once when it is at "
                                                "least this fraction of the object (smaller: the fusion's fill)")
        fb_sigma: float = Field(2.0, gt=0.0, le=100.0,
                                description="px of forward/backward error that divide trust in a future map by e")
        lone_frac: float = Field(0.1, ge=0.0, le=10.0,
                                 description="a region added where the past's object is below this fraction of "
                                             "it is a lone detection, never removed (0 = judge every region)")
        bridge: bool = Field(True, description="a dropped region is a miss (filled) when any one of the next "
                                               "frames has it back, not only the window's mean (the same at "
                                               "lookahead 1)")

    def process(self, ctx, current, warped=None, forward=None, fb_error=None):
        cur = current.to(ctx.device).float()
        if self.params.lookahead == 0 or warped is None:
            return {"prob": cur, "warped": warped, "info": {"removed_px": 0, "filled_px": 0}}
        p = self.params
        ahead = ctx.ahead[:p.lookahead]
        out, past, info = glitch_filter(cur, warped.to(ctx.device), lambda: future_maps(ahead, p.fb_sigma),
                                        p.level, p.min_frac, p.release_frac, p.lone_frac, p.bridge)
        return {"prob": out, "warped": past, "info": info}
