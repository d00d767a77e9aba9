"""The web app as one ASGI application: pages, the JSON API, static files, and the guard in
front of them all."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from huey import RedisHuey

from obs_bgremover import __version__
from obs_bgremover.web import api, pages
from obs_bgremover.web.context import Context
from obs_bgremover.web.guard import Guard
from obs_bgremover.web.uploads import NO_SPACE

STATIC = Path(__file__).parent / "static"
DESCRIPTION = """Background removal for short clips: upload a clip, preview a frame over a new
background, render the clip, download it. Every request needs the server's access token when it
has one (`Authorization: Bearer TOKEN`). Errors answer `{"detail": "what is wrong"}`."""
# The ids a request may hold (in its path, its query or its JSON body), and what they name.
IDS = {"job_id": "job", "upload_id": "upload", "upload": "upload"}
# No Swagger UI or ReDoc pages: FastAPI's load their scripts from a CDN, which a local tool should
# not call; /api/openapi.json opens in any OpenAPI viewer.


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A request that does not fit the API's models, said in one sentence like every other
    error (FastAPI's own answer is a list of machine-readable locations). An id that is not
    one, in the path, the query or the JSON body, is answered as an unknown id is, 404, so a
    client has one answer for "no such job"."""
    problems = []
    for error in exc.errors():
        if error["loc"][-1] in IDS and isinstance(error["input"], str):
            return JSONResponse(
                {"detail": f"there is no {IDS[error['loc'][-1]]} {error['input']}"},
                status_code=404)
        where = ".".join(str(part) for part in error["loc"][1:]) or error["loc"][0]
        problems.append(f"{where}: {error['msg']}")
    return JSONResponse({"detail": "; ".join(problems)}, status_code=422)


def _no_space() -> JSONResponse:
    return JSONResponse({"detail": "the server has no space left on its disk"}, status_code=507)


async def _server_fault(request: Request, exc: OSError) -> JSONResponse:
    """A file of the server's own it could not write (its disk full, a folder gone), answered
    like every other error rather than as a plain-text 500, and without the path, which is the
    server's: 507 for a full disk, else 500."""
    if exc.errno in NO_SPACE:
        return _no_space()
    reason = exc.strerror or type(exc).__name__
    return JSONResponse({"detail": f"the server could not use its files ({reason})"},
                        status_code=500)


async def _queue_fault(request: Request, exc: sqlite3.DatabaseError) -> JSONResponse:
    """The queue's database could not be used (SQLite's "database or disk is full", a locked
    or read-only file, a file that is no database or a damaged one), answered as
    `_server_fault` answers a file error: JSON, 507 for a full disk; it was a plain-text 500
    the page could only repeat."""
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return _no_space()
    return JSONResponse({"detail": f"the server could not use its render queue ({exc})"},
                        status_code=500)


async def _queue_away(request: Request, exc: Exception) -> JSONResponse:
    """The Redis queue does not answer (restarted, stopped): a JSON 503, which the page takes
    for a server that is away for a moment and asks again; it was a plain-text 500, and the
    page gave up on a render that then finished."""
    return JSONResponse({"detail": f"the server's render queue does not answer ({exc}); try "
                                   "again in a moment"}, status_code=503)


def create_app(context: Context, token: str | None, hosts: frozenset[str] | None,
               cookie: str) -> FastAPI:
    """The app for one queue and data folder; ``token``, ``hosts`` and ``cookie`` as `Guard`
    takes them."""
    app = FastAPI(title="obs-bgremover", version=__version__, description=DESCRIPTION,
                  openapi_url="/api/openapi.json", docs_url=None, redoc_url=None)
    app.include_router(api.router(context))
    app.include_router(pages.router(context))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Starlette types a handler as one of any Exception, where it is called with its own kind.
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(OSError, _server_fault)  # type: ignore[arg-type]
    app.add_exception_handler(sqlite3.DatabaseError, _queue_fault)  # type: ignore[arg-type]
    if isinstance(context.queue.huey, RedisHuey):
        import redis  # as `open_huey` does, only for a Redis queue

        app.add_exception_handler(redis.RedisError, _queue_away)
    app.add_middleware(Guard, token=token, hosts=hosts, cookie=cookie)
    return app
