"""The backgrounds a web client may choose, and the render specs they stand for.

A render's background spec may be a file path (`obs_bgremover.backgrounds.parse_background`),
which a client of a server must never be able to name: it would put any file the server can read
into a result. So the API takes its own forms, checked here, and the user's own background is an
upload, named by its id: ``upload:ID`` becomes that upload's stored file, and back.
"""

from __future__ import annotations

import re

from obs_bgremover.backgrounds import BUILTIN, parse_color, parse_strength
from obs_bgremover.errors import InputError
from obs_bgremover.web.store import ID_PATTERN, Store

FORMS = (f"a built-in name ({', '.join(BUILTIN)}), blur[:STRENGTH], color:#RRGGBB, transparent "
         "or upload:ID (an upload made with purpose=background)")
UPLOAD = "upload:"


def to_spec(choice: str, store: Store) -> str:
    """The render spec of a client's choice; `InputError` for anything else."""
    kind, _, value = choice.partition(":")
    if choice in BUILTIN or choice in ("transparent", "blur"):
        return choice
    if kind == "blur":
        parse_strength(value)
        return choice
    if kind == "color":
        parse_color(value)
        return choice
    if choice.startswith(UPLOAD):
        upload = store.upload(value)
        # Deleted (from the jobs page), in words for the page that used it; not a name that
        # was never an upload's id (a script's upload:beach.jpg), which was said to be deleted.
        if upload is None and re.fullmatch(ID_PATTERN, value):
            raise InputError(f"your background {value!r} is no longer on the server (it was "
                             "deleted): upload your image or video again, or pick another "
                             "background")
        if upload is None or upload.purpose != "background":
            raise InputError(f"there is no background upload {value!r}: upload your image or "
                             "video with purpose=background first")
        return str(store.source(upload.id))
    raise InputError(f"background {choice!r} is not one of: {FORMS}")


def to_choice(spec: str, store: Store) -> str:
    """The client's form of a job's spec: its own file back as ``upload:ID``."""
    upload = store.upload_of(spec)
    return spec if upload is None else UPLOAD + upload.id


def label(spec: str, store: Store) -> str:
    """A job's background in words, for the page: ``studio``, ``colour #00B140``,
    ``your file "beach.jpg"``."""
    upload = store.upload_of(spec)
    if upload is not None:
        return f'your file "{upload.name}"'
    kind, _, value = spec.partition(":")
    if kind == "color":
        return f"colour {value.upper()}"
    if kind == "blur" and value:
        return f"blur {value}"
    return spec
