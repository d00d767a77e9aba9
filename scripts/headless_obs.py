"""A real OBS Studio, unattended: Xvfb, OBS with a throw-away HOME, driven over obs-websocket.

The end-to-end tests (``tests/obs``) and ``scripts/compare_obs.py`` start OBS the same way, so
what the comparison measures is the OBS the tests check. `running_obs` starts one: a display
that Xvfb picks itself (``-displayfd``), a free websocket port (another OBS may be running on
this machine), a temporary HOME with the config written as ``shared/docs/obs-notes.md`` says (OBS
rewrites it, so it is written before every start), the given scripts preloaded through the scene
collection's ``modules.scripts-tool``, and other plugins copied where OBS looks for a user's.
OBS is stopped with SIGINT, the only signal it shuts down cleanly on, and everything is removed
after.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "obs_bgremover" / "obs" / "obs_bgremover_filter.py"
PROFILE = "bgremover-test"
COLLECTION = "bgremover-test"
LAST_VERSION = 486539266  # 29.0.2: with FirstRun=true, no auto-configuration wizard
CANVAS = (1280, 720)
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(home: Path, port: int, scripts: Sequence[Path] = (SCRIPT,),
                 canvas: tuple[int, int] = CANVAS) -> None:
    """The config OBS needs to start unattended with the websocket on ``port``, a canvas of
    ``canvas`` (width, height) at 30 fps, loading ``scripts`` in order (ours, then test helpers
    that act inside OBS)."""
    config = home / ".config" / "obs-studio"
    (config / "basic" / "profiles" / PROFILE).mkdir(parents=True, exist_ok=True)
    (config / "basic" / "scenes").mkdir(parents=True, exist_ok=True)
    (config / "global.ini").write_text(
        f"[General]\nFirstRun=true\nLastVersion={LAST_VERSION}\nConfirmOnExit=false\n\n"
        f"[Basic]\nProfile={PROFILE}\nProfileDir={PROFILE}\nSceneCollection={COLLECTION}\nSceneCollectionFile={COLLECTION}\n\n"
        "[BasicWindow]\nSysTrayEnabled=true\nSysTrayWhenStarted=true\nPreviewEnabled=false\n\n"
        f"[OBSWebSocket]\nFirstLoad=false\nServerEnabled=true\nServerPort={port}\n"
        "AuthRequired=false\nAlertsEnabled=false\n"
    )
    width, height = canvas
    (config / "basic" / "profiles" / PROFILE / "basic.ini").write_text(
        f"[General]\nName={PROFILE}\n\n[Video]\nBaseCX={width}\nBaseCY={height}\n"
        f"OutputCX={width}\nOutputCY={height}\nFPSCommon=30\n"
    )
    collection = {
        "name": COLLECTION,
        "current_scene": "",
        "current_program_scene": "",
        "scene_order": [],
        "sources": [],
        "modules": {"scripts-tool": [{"path": str(path), "settings": {}} for path in scripts]},
    }
    (config / "basic" / "scenes" / f"{COLLECTION}.json").write_text(json.dumps(collection))


def _interrupt(pid: int) -> None:
    """SIGINT to OBS's main thread. A signal sent to the process goes to whichever thread does
    not block it, and OBS's handler closes the main window from wherever it runs: run on the
    thread libobs destroys sources on (which had just unblocked signals after starting a child
    process), it waited there for that same thread, and OBS never exited. ``tgkill`` (glibc
    2.30 and newer) aims at one thread; the process is signalled where it is missing."""
    try:
        if ctypes.CDLL(None).tgkill(pid, pid, signal.SIGINT) == 0:
            return
    except AttributeError:
        pass
    os.kill(pid, signal.SIGINT)


def _gdb(target: Sequence[str], commands: Sequence[str], timeout: float) -> str:
    """What gdb prints for ``commands`` on ``target`` (``-p PID``, or a program and its core),
    without its thread-listing noise; or why there is nothing."""
    if shutil.which("gdb") is None:
        return "(no gdb to show the stacks)"
    arguments = [argument for command in commands for argument in ("-ex", command)]
    try:
        out = subprocess.run(["gdb", *target, "-batch", *arguments], capture_output=True,
                             text=True, timeout=timeout).stdout
    except subprocess.TimeoutExpired:
        return "(gdb did not answer)"
    return "\n".join(line for line in out.splitlines() if not line.startswith("[New LWP"))


def _thread_stacks(pid: int) -> str:
    """Every thread's native stack: what a hang waits for."""
    return _gdb(["-p", str(pid)], ["thread apply all bt"], 60)[-20000:]


def _keep_core_dumps(pid: int) -> None:
    """Let a fatal signal leave a core of the process, up to the hard limit. OBS writes no crash
    report for a crash in its own shutdown, so the core (written into the throw-away HOME, OBS's
    working directory, where the kernel's pattern is a plain file name) is all that can show
    where it happened."""
    hard = resource.prlimit(pid, resource.RLIMIT_CORE)[1]
    resource.prlimit(pid, resource.RLIMIT_CORE, (hard, hard))


def _core_stacks(home: Path) -> str:
    """The native stacks in a core OBS left in ``home``, the crashing thread's first."""
    cores = sorted(home.glob("core*"))
    if not cores:
        return "no core file (core dumps off, or the kernel's core_pattern sends them elsewhere)"
    return _gdb([shutil.which("obs") or "obs", str(cores[0])], ["bt", "thread apply all bt"],
                120)[:20000]


def _frames(stacks: str) -> list[str]:
    """The frames (``#N ...`` lines) of the crashing thread: the first stack gdb printed, from
    its last ``#0`` on (gdb shows the top frame once more when it opens the core)."""
    crashing = stacks.split("\nThread ", 1)[0]
    frames = [line for line in crashing.splitlines() if line.startswith("#")]
    tops = [index for index, frame in enumerate(frames) if frame.startswith("#0 ")]
    return frames[tops[-1]:] if tops else []


class ObsStudio:
    """A running OBS: its websocket client, process and log; `stop` shuts it down cleanly."""

    def __init__(self, home: Path, port: int, display: str) -> None:
        self.home = home
        self.port = port
        self.display = display
        self.process: subprocess.Popen | None = None
        self.client = None
        self._stacks: str | None = None  # read from the core once, by `core_stacks`

    def start(self) -> None:
        import obsws_python

        env = {**os.environ, "HOME": str(self.home), "DISPLAY": self.display}
        env.pop("WAYLAND_DISPLAY", None)
        self.process = subprocess.Popen(
            ["obs", "--minimize-to-tray", "--multi", "--collection", COLLECTION,
             "--profile", PROFILE],
            env=env, cwd=self.home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _keep_core_dumps(self.process.pid)
        deadline = time.monotonic() + START_TIMEOUT
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"OBS exited with {self.process.returncode} while starting:\n"
                                   f"{self.log_text()[-4000:]}")
            try:
                # A bare TCP probe first: obsws-python logs a traceback per refused attempt.
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                self.client = obsws_python.ReqClient(host="127.0.0.1", port=self.port,
                                                     password="", timeout=10)
                return
            except (ConnectionError, OSError) as error:
                last_error = error
                time.sleep(0.2)
        raise RuntimeError(f"OBS's websocket did not answer within {START_TIMEOUT} s: "
                           f"{last_error}\n{self.log_text()[-4000:]}")

    def log_text(self) -> str:
        """OBS's own log of this run (where our ``blog`` lines go)."""
        logs = sorted((self.home / ".config" / "obs-studio" / "logs").glob("*.txt"))
        return logs[-1].read_text(errors="replace") if logs else ""

    def stop(self) -> int:
        """SIGINT, wait, and return OBS's exit status (SIGKILL after STOP_TIMEOUT)."""
        if self.client is not None:
            try:
                self.client.disconnect()
            except Exception:
                pass
            self.client = None
        if self.process is None:
            return 0
        if self.process.poll() is None:
            _interrupt(self.process.pid)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                print(f"OBS did not stop within {STOP_TIMEOUT} s; its threads:\n"
                      f"{_thread_stacks(self.process.pid)}")  # shown with the failure
                self.process.kill()
                self.process.wait()
            if self.process.returncode != 0:
                print(self.crash_report())  # shown with the failure
        return self.process.returncode

    def crash_report(self) -> str:
        """OBS's own crash reports of this run (its handler writes one on a fatal signal), the
        stacks of a core it left, and the end of its log, to show when OBS did not exit
        cleanly."""
        crashes = sorted((self.home / ".config" / "obs-studio" / "crashes").glob("*"))
        reports = "\n".join(report.read_text(errors="replace")[-6000:] for report in crashes)
        return (f"OBS exited with {self.process.returncode}; crash reports: "
                f"{reports or 'none'}\nstacks from its core: {self.core_stacks() or '(no signal)'}"
                f"\nlog tail:\n{self.log_text()[-4000:]}")

    def core_stacks(self) -> str:
        """The stacks in the core OBS left if it ended on a signal (gdb reads it once), else
        an empty string."""
        if self.process is None or self.process.returncode is None or self.process.returncode >= 0:
            return ""
        if self._stacks is None:
            self._stacks = _core_stacks(self.home)
        return self._stacks

    def crashed_in_qt_teardown(self) -> bool:
        """Whether OBS died of a crash of its own at exit, after our script had gone: a segfault
        in its main thread, in Qt's repaint of a widget for an update queued before the close
        (the top frame in libQt5Widgets, called from ``QWidget::event`` for an event posted to
        the main loop), once the log says our script unloaded and the scene data was cleared.
        Debian's OBS 29.0.2 did so at the same instruction in 2 of 65 runs of the load test
        (2026-12-06); a simpler add-and-remove loop never did, with our filter or OBS's own. No
        frame of ours (Python, ctypes, libobs) may be on that stack."""
        if self.process is None or self.process.returncode != -signal.SIGSEGV:
            return False
        frames = _frames(self.core_stacks())
        log = self.log_text()
        unloaded = log.find("Unloaded python script")
        return (
            len(frames) > 2
            and "libQt5Widgets" in frames[0]
            and "QWidget::event" in frames[1]
            and any("sendPostedEvents" in frame for frame in frames)
            and frames[-1].endswith("in main ()")
            and not any(name in frame for frame in frames
                        for name in ("python", "ffi", "libobs", "obs_bgremover"))
            and 0 <= unloaded < log.find("All scene data cleared", unloaded)
        )


@contextmanager
def xvfb_display() -> Iterator[str]:
    """A virtual X display for the duration (``":N"``), at 1920x1080, which Xvfb numbers
    itself so that several can run side by side."""
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not report a display")
        yield f":{number}"
    finally:
        xvfb.terminate()
        try:
            xvfb.wait(10)
        except subprocess.TimeoutExpired:
            xvfb.kill()
            xvfb.wait()


@contextmanager
def running_obs(scripts: Sequence[Path] = (SCRIPT,), plugins: Sequence[Path] = (),
                canvas: tuple[int, int] = CANVAS) -> Iterator[ObsStudio]:
    """A fresh OBS, started and connected, with ``scripts`` loaded and ``plugins`` (folders laid
    out as OBS's ``plugins/NAME``: ``bin/64bit/NAME.so``, ``data/``) installed for its user;
    stopped and removed after. Whoever needs its exit status calls `ObsStudio.stop` first."""
    home = Path(tempfile.mkdtemp(prefix="obs-bgremover-home-"))
    studio: ObsStudio | None = None
    try:
        with xvfb_display() as display:
            port = free_port()
            write_config(home, port, scripts, canvas)
            for plugin in plugins:
                shutil.copytree(plugin, home / ".config" / "obs-studio" / "plugins" / plugin.name)
            studio = ObsStudio(home, port, display)
            try:
                studio.start()
                yield studio
            finally:
                studio.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)
