"""What a client sees of an upload and of a job: ids turned into URLs, the server's paths into the
user's file names, a fraction into frames and time left, and the limits a render will apply
said before it runs.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict

from obs_bgremover.render import MAX_SECONDS, JobKind, JobRecord, JobStatus, scaling_note
from obs_bgremover.web import choices
from obs_bgremover.web.schemas import JobOut, UploadOut
from obs_bgremover.web.store import SOURCE, Store, Upload

INTERNAL = "internal error: "


def render_seconds(upload: Upload) -> float | None:
    """Seconds of a clip that a render keeps; None for a background. A clip of no known length
    ran past the render's limit when it was probed."""
    if upload.purpose != "clip":
        return None
    return MAX_SECONDS if upload.duration is None else min(upload.duration, MAX_SECONDS)


def limit_notes(upload: Upload) -> list[str]:
    """The limits of render mode that apply to this clip, in words, before anything runs; none
    for a background, which is fitted to each clip (a 7000x7000 picture was said to be
    "scaled to 1080x1080 to fit 1920x1080")."""
    notes: list[str] = []
    if upload.purpose != "clip":
        return notes
    if upload.duration is not None and upload.duration > MAX_SECONDS:
        notes.append(f"Only the first {MAX_SECONDS:g} s of its {upload.duration:.1f} s are "
                     "rendered.")
    scaling = scaling_note(upload.width, upload.height)
    if scaling is not None:
        notes.append(f"It is {scaling}.")
    return notes


def upload_out(upload: Upload) -> UploadOut:
    clip = upload.purpose == "clip"
    return UploadOut(
        **asdict(upload), render_seconds=render_seconds(upload), notes=limit_notes(upload),
        frame_url=f"/api/uploads/{upload.id}/frame" if clip else None)


def _without_paths(record: JobRecord, store: Store) -> str:
    """A job's error with the server's paths replaced by what the user knows: an upload's by the
    name the user gave it, a file of the job's folder by its own name (``preview.png``), at any
    depth: a render writes into a staging folder inside it, which the user never sees."""
    pattern = re.escape(str(store.uploads_dir)) + r"/([0-9a-f]{12})/" + SOURCE

    def name(match: re.Match[str]) -> str:
        upload = store.upload(match.group(1))
        return f'"{upload.name}"' if upload is not None else "the uploaded file"

    error = re.sub(pattern, name, record.error)
    folder = store.job_folder(record)
    if folder is None:
        return error
    return re.sub(re.escape(f"{folder}/") + r"(?:[^/\s]+/)*", "", error)


def explain(record: JobRecord, store: Store) -> str:
    """A job's error for the user: no server paths in it (`_without_paths`), and a crash said
    as one."""
    error = _without_paths(record, store)
    if error.startswith(INTERNAL):
        return ("The render stopped on an unexpected problem, not on anything in your file "
                f"({error.removeprefix(INTERNAL)}). Try again; if it happens again, please "
                "report it with the server's log.")
    return error[:1].upper() + error[1:]


# A running job whose last progress report is older than this has most likely lost its worker
# (killed; its lease runs out later, and the job is then queued again): no time left is said
# for it rather than one that grows with every poll. A report comes after every frame or two.
SILENT_S = 10.0


def _seconds_left(record: JobRecord, now: float) -> float | None:
    """The time left as the last progress report tells it, counted down since: measured up to
    now, the estimate jumped back and forth at every poll (5.3, 7.9, 10.5, 4.8 s), the time
    since the report counted as time spent on the fraction it reported."""
    if record.status != JobStatus.RUNNING or not record.started or not 0 < record.progress < 1:
        return None
    reported = record.reported  # not the lease's renewal: the keeper renews it between reports
    if now - reported > SILENT_S:
        return None
    elapsed = reported - record.started
    return round(max(0.0, elapsed * (1 - record.progress) / record.progress - (now - reported)),
                 1)


def job_out(record: JobRecord, store: Store) -> JobOut:
    upload = store.upload_of(record.input)
    frames = 1
    length = None if upload is None else render_seconds(upload)
    if record.kind == JobKind.VIDEO and upload is not None and upload.rate and length:
        frames = max(1, round(length * upload.rate))
    done = record.status == JobStatus.DONE
    base = f"/api/jobs/{record.id}"
    return JobOut(
        id=record.id, kind=record.kind, status=record.status, progress=record.progress,
        frames_done=round(record.progress * frames), frames_total=frames,
        seconds_left=_seconds_left(record, time.time()),
        error=explain(record, store) if record.error else "",
        upload=upload.id if upload else "", clip=upload.name if upload else "(deleted)",
        background=choices.to_choice(record.settings.background, store),
        background_label=choices.label(record.settings.background, store),
        at=record.at, attempt=record.attempt, created=record.created,
        result_url=f"{base}/result" if done else None,
        cutout_url=f"{base}/cutout" if done and record.kind == JobKind.PREVIEW else None,
        download_url=f"{base}/result?download=1" if done else None,
    )
