"""Taking in an upload: every check happens here, before anything is kept or queued.

The file name is only a label, so one that looks like a path is refused rather than cleaned up
(a client sending ``../../x.mp4`` is not a browser). The body is streamed into the store's
``tmp/`` and counted as it comes, so an oversized upload is stopped at the limit, not after it
has filled a disk; the rest of it is read and dropped, so that the client gets the answer instead
of a broken connection. Then `probe` decides by the content, exactly as a render worker would,
and only an accepted file is moved among the uploads. A file the server cannot store (its disk
is full) is answered in JSON like any other refusal, naming the file, not the server's path.
"""

from __future__ import annotations

import asyncio
import errno
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from obs_bgremover.errors import InputError
from obs_bgremover.pictures import header_size
from obs_bgremover.render import MAX_SECONDS, STILLS, VIDEOS, probe
from obs_bgremover.web.store import Store, Upload

MAX_NAME = 255
# Unicode categories no file name shows: controls, formatting (a right-to-left override), line
# and paragraph separators.
HIDDEN = ("Cc", "Cf", "Zl", "Zp")
MB = 1024 * 1024
ACCEPTED_AS = {"clip": VIDEOS, "background": f"{VIDEOS}, or {STILLS}"}
"""What an upload of each purpose may be, as refusals say it: the web app renders no image as a
clip (not even for a preview, as ``render`` does), and takes pictures only as backgrounds."""
MAX_PIXELS = 50_000_000
"""The most pixels of an upload's picture (or a video's frame). A picture of one colour is small
in bytes at any size, but every preview over it decodes and scales all of it: a 12000x12000 PNG
of 445 KB took 7.7 s and a gigabyte of memory per preview."""
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def check_name(name: str) -> str:
    """The name, if it is a plain file name; a 400 answer otherwise. Not one of blanks only,
    nor with control or formatting characters: a right-to-left override showed
    "\u202egnp.mp4" as "4pm.png" in the uploads table."""
    if (not name.strip() or len(name) > MAX_NAME or name in (".", "..")
            or any(char in "/\\\ufffd" or unicodedata.category(char) in HIDDEN
                   for char in name)):
        raise HTTPException(400, f"the file name {name!r} is not a plain file name: it must be "
                                 f"1 to {MAX_NAME} characters with no folder in it (no / or \\) "
                                 "and no control characters")
    return name


async def _write(chunks: AsyncIterator[bytes], path: Path, limit: int) -> int:
    """Write the body to ``path`` up to ``limit`` bytes and return its whole length, reading
    (and dropping) whatever comes beyond the limit."""
    size = 0
    with path.open("wb") as file:
        async for chunk in chunks:
            size += len(chunk)
            if size <= limit:
                file.write(chunk)
    return size


def _check_pixels(size: tuple[int, int], name: str) -> None:
    """Refuse a picture larger than `MAX_PIXELS`, before any preview decodes it."""
    width, height = size
    pixels = width * height
    if pixels > MAX_PIXELS:
        raise HTTPException(422, f'"{name}" is {width}x{height}, {pixels / 1e6:.1f} '
                                 f"megapixels: more than this server takes ({MAX_PIXELS / 1e6:g} "
                                 "megapixels). Scale it down and upload it again.")


def _probe(upload_id: str, path: Path, name: str, purpose: str) -> Upload:
    try:
        # A picture's size from its header first: `probe` decodes it, which for a picture of
        # one colour, 775 KB at 16000x16000, took 5.6 s and 600 MB more of the server's memory
        # before the refusal.
        declared = header_size(path)
        if declared is not None:
            _check_pixels(declared, name)
        info = probe(path, images=purpose == "background",
                     until=MAX_SECONDS if purpose == "clip" else float("inf"),
                     accepted=ACCEPTED_AS[purpose])
    except InputError as err:
        raise HTTPException(422, str(err).replace(str(path), f'"{name}"')) from err
    _check_pixels((info.width, info.height), name)
    return Upload.from_probe(upload_id, name, purpose, info, path.stat().st_size)


def _not_stored(name: str, err: OSError) -> HTTPException:
    """The answer to an upload the server could not write: its own fault, so a 5xx (507 for a
    full disk), and no server path in it (`OSError.strerror` names none)."""
    if err.errno in NO_SPACE:
        return HTTPException(507, f'cannot store "{name}": no space left on the server')
    return HTTPException(500, f'cannot store "{name}": the server could not write it '
                              f"({err.strerror or err})")


async def receive(chunks: AsyncIterator[bytes], name: str, purpose: str, store: Store,
                  limit: int) -> Upload:
    """Check and keep one upload; an `HTTPException` says what is wrong (4xx; 5xx when the
    server cannot store it), and then nothing of it is left on disk."""
    check_name(name)
    try:
        return await _receive(chunks, name, purpose, store, limit)
    except OSError as err:  # the staged file is gone already: `_receive` discards it
        raise _not_stored(name, err) from err


async def _receive(chunks: AsyncIterator[bytes], name: str, purpose: str, store: Store,
                   limit: int) -> Upload:
    upload_id, staged = store.stage()
    try:
        size = await _write(chunks, staged, limit)
        if size > limit:
            # A background was told that only the first 10 s of a clip are rendered, and a
            # picture to cut it shorter.
            advice = (f"Only the first {MAX_SECONDS:g} s of a clip are rendered: cut it shorter "
                      "and upload it again." if purpose == "clip" else
                      "Use a smaller picture or a shorter video.")
            raise HTTPException(413, f'"{name}" is {size / MB:.1f} MB, more than this server '
                                     f"takes ({round(limit / MB, 2):g} MB). {advice}")
        if size == 0:
            raise HTTPException(422, f'"{name}" is empty; accepted: {ACCEPTED_AS[purpose]}')
        return store.keep(staged, await run_in_threadpool(_probe, upload_id, staged, name,
                                                      purpose))
    except ClientDisconnect as err:  # cancelled by the user: an answer, not a traceback in the log
        store.discard(staged)
        raise HTTPException(400, f'the upload of "{name}" was cut off') from err
    except asyncio.CancelledError as err:
        # The server stopping (Ctrl+C) while the body still comes, once its wait for running
        # requests is over: a plain-text 500 for the page, and a traceback in the log at a
        # normal stop. Answered instead, as the request's last act.
        store.discard(staged)
        raise HTTPException(503, f'the server stopped while "{name}" was uploading; upload it '
                                 "again once the server is back") from err
    except BaseException:
        store.discard(staged)
        raise
