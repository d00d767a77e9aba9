"""The real web app as the tests drive it: `Server` runs ``obs-bgremover serve`` in a subprocess
on a free port (``--port 0``; the same port again on a restart), with its own data folder and its
own TMPDIR (to show that nothing is written outside the data folder), and speaks HTTP to it with
the standard library. A module of its own, beside conftest, so that tests can import it by name.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import av

START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)

    @property
    def detail(self) -> str:
        return self.json()["detail"]


@dataclass
class Server:
    """One ``serve`` process; `start` and `stop` may be called again (a restart)."""

    data: Path
    args: list[str]
    port: int = 0
    """0 until started: it listens on a free port it picks itself, and prints it."""
    token: str | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tmpdir(self) -> Path:
        return self.data.parent / "systmp"

    @property
    def log(self) -> Path:
        """What it printed, every start of it (a file, not a pipe nobody may be reading)."""
        return self.data.parent / f"{self.data.name}.log"

    @property
    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def start(self) -> Server:
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "OBS_BGREMOVER_DATA": str(self.data), "TMPDIR": str(self.tmpdir)}
        starts = self.output.count("open http")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "obs_bgremover", "serve", "--port", str(self.port),
                 *self.args], env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while self.output.count("open http") == starts:  # printed once it listens
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"serve did not start:\n{self.output}")
            time.sleep(0.05)
        address = re.findall(r"open (http://\S+)", self.output)[-1]
        self.port = int(re.search(r":(\d+)/", address).group(1))
        token = re.search(r"\?token=(\S+)", address)
        self.token = token.group(1) if token else self.token
        while True:
            try:
                if self.get("/api/limits").status == 200:
                    return self
            except OSError:
                pass
            assert time.monotonic() < deadline, f"serve did not answer:\n{self.output}"
            time.sleep(0.05)

    def stop(self) -> str:
        """Stop it as Ctrl+C would, check that it exits cleanly and soon, and return all it
        printed."""
        process, self.process = self.process, None
        if process is None:
            return self.output
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            code = process.wait(STOP_TIMEOUT)
        finally:
            if process.poll() is None:  # it did not stop in time
                process.kill()
                process.wait()
        assert code == 0, f"serve exited with {code}:\n{self.output}"
        return self.output

    # -- HTTP ---------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, token: bool = True) -> Answer:
        headers = dict(headers or {})
        if token and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, body, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return Answer(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as err:
            return Answer(err.code, dict(err.headers), err.read())

    def get(self, path: str, **options: object) -> Answer:
        return self.request("GET", path, **options)

    def post_json(self, path: str, value: object) -> Answer:
        return self.request("POST", path, json.dumps(value).encode(),
                            {"Content-Type": "application/json"})

    def upload(self, content: bytes | Path, name: str, purpose: str = "clip") -> Answer:
        data = content.read_bytes() if isinstance(content, Path) else content
        query = urllib.parse.urlencode({"name": name, "purpose": purpose})
        return self.request("POST", f"/api/uploads?{query}", data,
                            {"Content-Type": "application/octet-stream"})

    def job(self, upload: str, background: str, kind: str = "video", at: float = 0.0) -> dict:
        answer = self.post_json("/api/jobs", {"upload": upload, "kind": kind,
                                              "background": background, "at": at})
        assert answer.status == 201, answer.body
        return answer.json()

    def wait(self, job_id: str, timeout: float = 60.0) -> dict:
        """The job once it is finished."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(f"/api/jobs/{job_id}").json()
            if job["status"] in ("done", "failed", "stopped"):
                return job
            assert time.monotonic() < deadline, job
            time.sleep(0.2)

    def files(self) -> set[str]:
        """Every file under the data folder and the TMPDIR, relative to their parent."""
        return {str(path.relative_to(self.data.parent))
                for folder in (self.data, self.tmpdir) for path in folder.rglob("*")
                if path.is_file()}


@contextmanager
def servers(folder: Path) -> Iterator[Callable[..., Server]]:
    """A function starting ``serve`` with the given arguments, its data in ``folder``; every
    server it started is stopped when the block ends."""
    numbers = itertools.count()
    with ExitStack() as stops:  # each stop runs, even after another one failed

        def start(*args: str) -> Server:
            server = Server(folder / f"data{next(numbers)}", list(args))
            stops.callback(server.stop)
            return server.start()

        yield start


def cut_clip(source: Path, output: Path, seconds: float) -> Path:
    """The first ``seconds`` of a clip, video and sound, copied packet by packet (no
    re-encoding: the real camera's bytes)."""
    with av.open(str(source)) as inp, av.open(str(output), "w") as out:
        streams = {stream.index: out.add_stream_from_template(stream)
                   for stream in (inp.streams.video[0], *inp.streams.audio[:1])}
        for packet in inp.demux(*[inp.streams[index] for index in streams]):
            if packet.dts is None:
                continue
            if packet.pts is not None and float(packet.pts * packet.time_base) >= seconds:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return output
