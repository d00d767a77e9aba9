"""The virtual camera's summary figures, from a meter fed known latencies."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import termios
import time

import pytest

from obs_bgremover.camera import report
from obs_bgremover.camera.report import Meter, StatusLine


def sent_with_latencies(latencies_ms: list[float]) -> Meter:
    meter = Meter()
    for latency in latencies_ms:
        meter.sent(time.perf_counter() - latency / 1000)
        time.sleep(0.002)
    return meter


def test_the_95th_percentile_is_never_below_the_median() -> None:
    """On a short run the percentile took the nearest rank below while the median averaged two
    samples: "37 ms median, 35 ms 95th percentile"."""
    for latencies in ([35.0, 39.0], [35.0, 39.0, 40.0], [10.0, 20.0, 30.0, 40.0, 200.0]):
        summary = sent_with_latencies(latencies).summary()
        assert summary.latency_p95_ms >= summary.latency_ms
        assert summary.latency_p95_ms <= max(latencies) + 5  # it is one of theirs, give or take


def test_a_stop_before_two_frames_claims_no_figures() -> None:
    """A stop while the model loaded printed "sent 0 frames in 0.0 s: 0.00 fps ... latency 0 ms
    median, 0 ms 95th percentile; CPU 0% of one core", figures nothing was measured for."""
    assert str(Meter().summary()) == (
        "sent 0 frames, too few to measure a rate or a latency; the network ran on 0 of 0 "
        "frames matted")
    assert "latency 0 ms" not in str(sent_with_latencies([30.0]).summary((1, 1)))
    assert "35 ms median" in str(sent_with_latencies([35.0, 35.0]).summary())


def test_the_status_line_fits_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The status line (over 100 characters) wrapped on a terminal 80 wide, and "\\r" goes back
    to the start of the last row only: every redraw, two a second, left a new row behind."""
    monkeypatch.setattr(report, "STATUS_EVERY", 0.0)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    with os.fdopen(follower, "w") as terminal:
        line = StatusLine(terminal)
        assert line.enabled
        for fps in (29.5, 30.0):
            line.update(f"camera {fps:4.1f} fps -> v4l2loopback /dev/video10 | latency  38 ms "
                        "| network 30.0 fps (CPUExecutionProvider) | /home/me/Videos/studio.mp4")
            time.sleep(0.01)
        written = os.read(leader, 4096).decode()
    os.close(leader)
    redraws = [part for part in written.split("\r") if part]
    assert len(redraws) == 2 and all(len(part) < 80 for part in redraws), redraws
    assert redraws[-1].startswith("camera 30.0 fps"), redraws
