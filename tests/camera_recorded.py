"""``python -m obs_bgremover`` with the tests' recording sink in place of the virtual cameras,
for tests that signal the ``camera`` command in a process of its own: no virtual camera device
exists here, and the product has no hook for a fake one. Run with ``tests`` and ``scripts`` on
``PYTHONPATH`` (the sink's module imports ``scripts/clip_writer.py``)."""

from test_camera import LOGGING_SINKS

from obs_bgremover.__main__ import main
from obs_bgremover.camera import app

app.virtual_cameras = lambda: LOGGING_SINKS

if __name__ == "__main__":
    raise SystemExit(main())
