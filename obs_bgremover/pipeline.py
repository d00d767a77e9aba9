"""The synchronous pipeline: one call per frame, in order.

Every front end that works through a file (the ``matte`` command, the render worker, the evaluation
script) runs frames through this one object, so they all produce the same alpha for the same input.
The flow is source -> matte -> temporal -> composite -> sink; the front end owns the source and the
sink, the pipeline owns everything in between and any state carried from frame to frame.
"""

from __future__ import annotations

import numpy as np

from obs_bgremover.model import MattingModel


class Pipeline:
    """Turns the frames of one stream, in order, into alpha mattes.

    Make one per stream: state that belongs to a stream lives in this object, never in globals.
    """

    def __init__(self, model: MattingModel) -> None:
        self.model = model

    def process(self, frame: np.ndarray) -> np.ndarray:
        """Alpha (uint8, height x width) for the next RGB uint8 frame of the stream."""
        return self.model(frame)
