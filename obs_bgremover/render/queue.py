"""Which queue render jobs go through: an SQLite file on this machine, or a Redis server.

SQLite needs nothing installed or running, so it is the default: one file in the user's data
folder, shared by every worker and ``render`` command on this machine, which keeps queued jobs
and their status across restarts. Workers on several machines need a server they can all reach,
so ``redis://HOST:PORT/DB`` gives the same queue on Redis. Both are huey storages; nothing else in
the render package knows which one it runs on.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs
from huey import Huey, RedisHuey, SqliteHuey

from obs_bgremover.errors import BgRemoverError, InputError

APP = "obs-bgremover"
DATA_ENV = "OBS_BGREMOVER_DATA"
SQLITE = "sqlite"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
QUEUE_FORMS = "sqlite or redis://HOST[:PORT][/DB]"
# Sets a field of huey's result hash only while it holds the value read before (Redis runs a
# script as one step).
SWAP_LUA = """
if redis.call('hget', KEYS[1], ARGV[1]) == ARGV[2] then
    redis.call('hset', KEYS[1], ARGV[1], ARGV[3])
    return 1
end
return 0
"""


class QueueError(BgRemoverError):
    """The queue's storage failed: a Redis server stopped or full, an SQLite file that cannot be
    written."""


def shown(spec: str) -> str:
    """A ``--queue`` value as messages show it: a Redis URL's password hidden."""
    try:
        password = urllib.parse.urlsplit(spec).password
    except ValueError:
        return spec
    return spec if not password else spec.replace(f":{password}@", ":***@", 1)


def storage_failure(err: BaseException) -> bool:
    """Whether ``err`` is the queue's storage failing (SQLite's or Redis's own errors: a server
    stopped, a full disk), not a bug."""
    redis = sys.modules.get("redis")  # imported only for a Redis queue (`open_huey`)
    return isinstance(err, sqlite3.Error) or (redis is not None
                                              and isinstance(err, redis.RedisError))


@contextmanager
def queue_errors(spec: str) -> Iterator[None]:
    """Turn a failure of the queue's storage into a `QueueError` naming the queue, for the
    commands to say in one line: a Redis server stopped while ``render`` waited, a full Redis
    or disk, escaped as their libraries' tracebacks."""
    try:
        yield
    except Exception as err:
        if not storage_failure(err):
            raise
        raise QueueError(f"the render queue {shown(spec)} failed: {err}") from err


def data_dir() -> Path:
    """The folder of the SQLite queue: ``$OBS_BGREMOVER_DATA`` if set, else the user's data
    folder (``~/.local/share/obs-bgremover`` on Linux, ``%LOCALAPPDATA%`` on Windows, ...)."""
    override = os.environ.get(DATA_ENV)
    return Path(override) if override else Path(platformdirs.user_data_dir(APP, appauthor=False))


def open_huey(spec: str = SQLITE) -> Huey:
    """A huey instance for a ``--queue`` value: ``sqlite`` or a Redis URL.

    A Redis server is contacted here, so an unreachable one is reported before anything is
    queued. Huey's own result store is off: a job's status and result live in the job record
    (see `obs_bgremover.render.tasks`), which ``jobs`` can list.
    """
    if spec == SQLITE:
        folder = data_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # said as a bare "PATH: File exists"
            raise QueueError(f"cannot make the data folder {folder} (${DATA_ENV} or the "
                             f"user's data folder): {err.strerror or err}") from err
        try:
            return SqliteHuey(APP, filename=str(folder / "queue.db"), results=False)
        except sqlite3.Error as err:  # a read-only or damaged file, a full disk
            raise QueueError(f"cannot open the SQLite queue {folder / 'queue.db'}: {err}"
                             ) from err
    if spec.startswith(REDIS_SCHEMES):
        # Imported here: redis needs async-timeout on Python < 3.11.3, which pip skips in a venv
        # of a newer 3.11, and OBS's own older 3.11 imports this module for its SQLite queue.
        import redis

        db = urllib.parse.urlsplit(spec).path.strip("/")
        if spec.startswith(("redis://", "rediss://")) and db and not db.isdigit():
            # redis-py took "/abc" for no database at all: database 0, said as None
            raise InputError(f"queue {shown(spec)}: the database after the last / must be a "
                             f"number, got {db!r}")
        try:
            huey = RedisHuey(APP, url=spec, results=False)
            huey.storage.conn.ping()
        except ValueError as err:  # redis://host:notaport
            raise InputError(f"queue {shown(spec)} is not a Redis URL redis can use: {err}"
                             ) from err
        except redis.RedisError as err:
            raise InputError(f"cannot reach the Redis queue {shown(spec)}: {err}") from err
        return huey
    raise InputError(f"queue {spec!r} is not one of: {QUEUE_FORMS}")


def swap_data(huey: Huey, key: str, old: bytes, new: bytes) -> bool:
    """Store ``new`` under ``key`` of huey's key-value store only if it still holds ``old``,
    and say whether it did: a compare-and-set in one step of the storage (an SQLite ``update``
    on huey's ``kv`` table, a Redis script), because workers and front ends in several processes
    read a job record and write it back changed, and a plain write would undo what another
    wrote in between."""
    storage = huey.storage
    if isinstance(huey, SqliteHuey):
        with storage.db(commit=True) as cursor:
            cursor.execute("update kv set value = ? where queue = ? and key = ? and value = ?",
                           (new, storage.name, key, old))
            return cursor.rowcount == 1
    return bool(storage.conn.eval(SWAP_LUA, 1, storage.result_key, key, old, new))


def describe(huey: Huey) -> str:
    """Where a queue lives, for messages: the SQLite file or the Redis server."""
    if isinstance(huey, SqliteHuey):
        return f"SQLite queue {huey.storage.filename}"
    params = huey.storage.pool.connection_kwargs
    db = params.get("db") or 0
    where = (f"{params['path']}?db={db}" if params.get("path")
             else f"{params.get('host')}:{params.get('port')}/{db}")
    return f"Redis queue {where}"
