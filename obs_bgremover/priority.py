"""Lower a thread's scheduling priority, so a host's real-time threads win the CPU from ours.

Inside OBS on a small CPU the network competes with OBS's own threads (its renderer, decoders and
encoder) for the same cores; at equal priority OBS misses frames. So the network runs "nicer": it
uses whatever CPU OBS leaves, and the matte rate adapts instead of OBS's frame rate. The OBS
filter normally runs it in a process of its own (`model_process`, niced as a whole); this serves
a network in the host's own process (`pipeline.LivePipeline`'s ``nice``). Linux schedules every
thread on its own and ``setpriority`` with a thread id changes that thread only; elsewhere this
does nothing.
"""

from __future__ import annotations

import os
import sys
import threading


def lower_current_thread(amount: int) -> bool:
    """Make the calling thread ``amount`` nice levels less urgent (capped at 19); True if the
    platform let it."""
    if amount <= 0 or not sys.platform.startswith("linux"):
        return False
    thread = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + amount))
    except OSError:
        return False
    return True
