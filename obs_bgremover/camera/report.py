"""What the camera reports: a live status line on the terminal, and a summary (fps, latency,
CPU) at every stop.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TextIO

import numpy as np

# How often the status line is redrawn, in seconds.
STATUS_EVERY = 0.5


# Latencies the summary's median and 95th percentile are taken over: five minutes at 30 fps.
LATENCY_MEMORY = 9000


@dataclass(frozen=True)
class Summary:
    """What reached the virtual camera, measured from the first frame sent to the last."""

    frames: int
    seconds: float
    fps: float
    new_fps: float
    """Frames with a new matte per second; the others repeat the last composite."""
    latency_ms: float
    """Median time from the capture of a frame to its composite being sent."""
    latency_p95_ms: float
    cpu_percent: float
    """Process CPU time over wall time, all threads: 100 is one core busy."""
    network_runs: int = 0
    matted: int = 0
    """Frames the pipeline matted; the network ran on ``network_runs`` of them, and the others
    reused its last matte (``--every-n``, ``--skip-static``)."""

    def __str__(self) -> str:
        if self.frames < 2:  # stopped while the model loaded, or right after the first frame
            return (
                f"sent {self.frames} frame{'' if self.frames == 1 else 's'}, too few to measure a "
                f"rate or a latency; the network ran on {self.network_runs} of {self.matted} "
                "frames matted"
            )
        return (
            f"sent {self.frames} frames in {self.seconds:.1f} s: {self.fps:.2f} fps "
            f"({self.new_fps:.1f} with a new matte); camera -> virtual camera latency "
            f"{self.latency_ms:.0f} ms median, {self.latency_p95_ms:.0f} ms 95th percentile; "
            f"CPU {self.cpu_percent:.0f}% of one core; the network ran on {self.network_runs} "
            f"of {self.matted} frames matted"
        )


class Meter:
    """Counts the frames sent to the virtual camera, for the status line and the summary."""

    def __init__(self) -> None:
        self.frames = self.new_frames = 0
        self._start: tuple[float, float] | None = None  # wall and CPU clocks at the first send
        self._last = 0.0
        self._recent: deque[float] = deque(maxlen=31)
        self._latencies: deque[float] = deque(maxlen=LATENCY_MEMORY)

    def sent(self, captured: float | None) -> None:
        """Count a frame just sent; ``captured``: when its camera frame was read, for a new
        composite (None for a repeated one)."""
        now = time.perf_counter()
        if self._start is None:
            self._start = now, time.process_time()
        self.frames += 1
        self._last = now
        self._recent.append(now)
        if captured is not None:
            self.new_frames += 1
            self._latencies.append(1000 * (now - captured))

    def fps(self) -> float:
        """Frames sent per second over about the last second."""
        recent = self._recent
        span = recent[-1] - recent[0] if len(recent) > 1 else 0.0
        return (len(recent) - 1) / span if span > 0 else 0.0

    def latency_ms(self) -> float:
        recent = list(self._latencies)[-30:]
        return statistics.median(recent) if recent else 0.0

    def summary(self, network: tuple[int, int] = (0, 0)) -> Summary:
        """What was sent; ``network``: (network runs, frames matted), from the pipeline."""
        if self._start is None or self.frames < 2:
            return Summary(self.frames, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, *network)
        wall, cpu = self._start
        seconds = self._last - wall
        # Both interpolated alike, so that the 95th percentile is never below the median (the
        # nearest rank below it was, on a short run: 35 ms against a median of 37).
        median, p95 = (np.percentile(self._latencies, (50, 95)) if self._latencies
                       else (0.0, 0.0))
        return Summary(
            frames=self.frames,
            seconds=seconds,
            fps=(self.frames - 1) / seconds,
            new_fps=(self.new_frames - 1) / seconds,
            latency_ms=float(median),
            latency_p95_ms=float(p95),
            cpu_percent=100 * (time.process_time() - cpu) / (time.perf_counter() - wall),
            network_runs=network[0],
            matted=network[1],
        )


def _room(stream: TextIO) -> int:
    """The characters a line written to ``stream`` may take: the width of its terminal less the
    last column (some terminals wrap as soon as it is written), or no bound where the width
    cannot be told."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):  # no file descriptor, or not a terminal
        return sys.maxsize
    return columns - 1 if columns else sys.maxsize


def _cut(text: str, room: int) -> str:
    """``text``, or its start and "..." where it is longer than ``room``."""
    return text if len(text) <= room else text[: max(0, room - 3)] + "..."


class StatusLine:
    """One self-rewriting line on a terminal, redrawn at most every `STATUS_EVERY` seconds;
    notes (a lost webcam, a bad config file) go on lines of their own, terminal or not. Notes
    come from the capture thread too, so every write holds a lock: a note must not land in the
    middle of a redrawn line.

    The line is cut to the terminal's width (looked up at each redraw, as a window may be
    resized): "\\r" goes back to the start of the last row only, so a line that wrapped (the
    status line is over 100 characters, a terminal 80 by default) left a new row at every
    redraw, two a second."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self._drawn = 0.0
        self._width = 0
        self._lock = threading.Lock()

    def update(self, text: str) -> None:
        now = time.perf_counter()
        with self._lock:
            if not self.enabled or now - self._drawn < STATUS_EVERY:
                return
            self._drawn = now
            room = _room(self.stream)
            text = _cut(text, room)
            print(f"\r{text.ljust(min(self._width, room))}", end="", file=self.stream, flush=True)
            self._width = len(text)

    def note(self, text: str) -> None:
        with self._lock:
            if self._width:
                print(file=self.stream)
                self._width, self._drawn = 0, 0.0
            print(text, file=self.stream, flush=True)

    def finish(self) -> None:
        with self._lock:
            if self._width:
                print(file=self.stream, flush=True)
                self._width = 0
