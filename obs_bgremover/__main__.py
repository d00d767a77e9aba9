"""The ``obs-bgremover`` command's entry point, also run by ``python -m obs_bgremover`` where the
console script is not on PATH.

The command's modules (OpenCV, onnxruntime, PyAV) take more than half a second to import, and
a Ctrl-C in that time would otherwise end the command with Python's traceback; it ends it as a
Ctrl-C later does (`obs_bgremover.cli.main`), with exit status 130 and nothing printed. One of
them missing (onnxruntime, after an interrupted switch of its build) is said in one line, with
how to install it, as any other user error; it was a traceback for every command, ``--help``
too.
"""

from __future__ import annotations

import signal
import sys


def main() -> int:
    try:
        from obs_bgremover.cli import main as run
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except ImportError as err:
        if (err.name or "").startswith("obs_bgremover"):
            raise  # one of ours: a bug, said with its traceback
        print(f"obs-bgremover: error: {err}", file=sys.stderr)
        return 2
    status = run()
    # The command has ended and said so; a second signal while Python shuts down (its threads
    # joined, its libraries unloaded) would end the process with the signal's status instead.
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
