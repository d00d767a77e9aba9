"""The virtual-camera front end, ``obs-bgremover camera``: a webcam (or a looping video file) in,
a virtual camera out. `app` runs it; `capture` is the source, `sinks` the virtual cameras,
`scene` what may change while it runs, `report` the status line and summary.
"""

from obs_bgremover.camera.app import run, serve
from obs_bgremover.camera.sinks import BACKEND_NAMES

__all__ = ["BACKEND_NAMES", "run", "serve"]
