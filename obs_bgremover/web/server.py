"""What the ``serve`` command does once ``cli`` has parsed it: decide on the access token, listen,
start the render workers, run uvicorn, and stop the workers so that no job is lost.

The workers are a huey consumer in this process (the same as ``obs-bgremover worker``, sharing
its queue), so one command gives a working app; ``--workers 0`` leaves the rendering to workers
started elsewhere on the same ``--queue``. Jobs, their status and their files live in the queue
and the data folder, not in this process, so a restart keeps them all; a render cut off by the
stop is queued again at once (`RenderQueue.release`) and starts over with the next worker.
"""

from __future__ import annotations

import argparse
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from obs_bgremover.errors import InputError
from obs_bgremover.render import (
    STOP_SIGNALS,
    RenderQueue,
    abandon,
    data_dir,
    open_huey,
    serving,
    start_beside,
)
from obs_bgremover.web.app import create_app
from obs_bgremover.web.context import Context
from obs_bgremover.web.guard import MIN_TOKEN, allowed_hosts, is_local, new_token
from obs_bgremover.web.store import Store
from obs_bgremover.web.uploads import MB

# How long a stop waits for cut-off renders to notice, and for open requests to finish.
STOP_WAIT_S = 5.0
# The web app's folder inside the queue's data folder (its uploads, and a folder per job).
WEB_DATA = "web"


def _token(host: str, given: str | None) -> str | None:
    """The access token: ``--token``, or a new one when the app is reachable from elsewhere."""
    if given is not None:
        if len(given) < MIN_TOKEN:
            raise InputError(f"--token must be at least {MIN_TOKEN} characters long, so that it "
                             "cannot be guessed")
        if not (given.isascii() and given.isprintable()) or " " in given:
            raise InputError("--token must be letters, digits and punctuation (ASCII, no "
                             "spaces): it travels in the address, a header and a cookie")
        return given
    return None if is_local(host) else new_token()


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a port in use is said plainly."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)  # connections wait from now on, until uvicorn takes them
    except OSError as err:
        sock.close()
        raise InputError(f"cannot listen on {host} port {port}: {err.strerror}; is another "
                         "server using it? Choose another with --port") from err
    return sock


def _url(host: str, port: int, token: str | None) -> str:
    """The address to open; for all addresses (0.0.0.0), this machine's name."""
    shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


@contextmanager
def _workers(queue: RenderQueue, count: int) -> Iterator[None]:
    """``count`` render workers for the block; at its end the running renders are released
    (queued again) rather than waited for, which could take minutes."""
    if count == 0:
        print("no render workers in this process: jobs wait for 'obs-bgremover worker' on the "
              "same --queue", flush=True)
        yield
        return
    with serving(queue, count, announce=True) as consumer:
        start_beside(consumer)
        try:
            yield
        finally:
            abandon(consumer, queue, STOP_WAIT_S)


def _run(server: uvicorn.Server, sock: socket.socket, url: str) -> None:
    """Say where to go, and run uvicorn until Ctrl+C, SIGTERM or SIGHUP (a closed terminal).
    Uvicorn handles the first two while it runs, and raises them again when it has stopped; the
    handler here asks it to stop, so that a signal before it runs stops it too, SIGHUP (which
    uvicorn leaves alone) stops it as gracefully, and one after it lets ``serve`` go on to stop
    its workers and exit normally."""

    def stop(signum: int, frame: object) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    print(f"obs-bgremover web app: open {url}", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_serve(args: argparse.Namespace) -> int:
    """Serve the web app until interrupted."""
    if args.workers < 0:
        raise InputError(f"--workers must be 0 or more, got {args.workers}")
    if not args.max_upload_mb > 0:
        raise InputError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    if not 0 <= args.port <= 65535:  # an OverflowError from bind otherwise
        raise InputError(f"--port must be from 0 to 65535, got {args.port}")
    token = _token(args.host, args.token)
    queue = RenderQueue(open_huey(args.queue))
    context = Context(queue, Store(data_dir() / WEB_DATA), int(args.max_upload_mb * MB),
                      args.workers)
    sock = _listen(args.host, args.port)
    port = sock.getsockname()[1]  # the one picked, for --port 0
    app = create_app(context, token, allowed_hosts(args.host, port),
                     cookie=f"obs-bgremover-token-{port}")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning",
                                           timeout_graceful_shutdown=int(STOP_WAIT_S)))
    with _workers(queue, args.workers):
        _run(server, sock, _url(args.host, port, token))
    return 0
