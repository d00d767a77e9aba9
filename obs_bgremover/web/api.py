"""The JSON API under ``/api/``: what the page does, for scripts too (see docs/web.md).

The routes are thin: uploads are checked by `uploads.receive`, jobs go to the render queue
(`RenderQueue.submit`), and files are served only from the folders `Store` made for them, found
through the job's record, never through anything in the request but an id.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from obs_bgremover.backgrounds import is_transparent
from obs_bgremover.errors import InputError
from obs_bgremover.render import (
    FINISHED,
    JobKind,
    JobRecord,
    JobStatus,
    RenderSettings,
    cutout_path,
)
from obs_bgremover.web import choices, images
from obs_bgremover.web.context import Context, builtin_backgrounds
from obs_bgremover.web.present import job_out, render_seconds, upload_out
from obs_bgremover.web.schemas import BackgroundOut, JobIn, JobOut, Limits, Problem, UploadOut
from obs_bgremover.web.store import ID_PATTERN, Upload
from obs_bgremover.web.uploads import MAX_NAME, receive

# OpenAPI responses, as FastAPI takes them: by status code, what each says.
Responses = dict[int | str, dict[str, Any]]
PNG: dict[str, Any] = {"content": {"image/png": {}}}
JPEG: dict[str, Any] = {"content": {"image/jpeg": {}}}
# The most characters of a clip's name kept in a download's name.
NAME_KEPT = 100
# The latest frame time a request may name, in seconds: far past the end of any upload, and
# small enough that its frame number (a cached frame's name) is a whole number.
MAX_AT = 1e6
MISSING: Responses = {404: {"model": Problem}}
REFUSED: Responses = {422: {"model": Problem}}
UPLOAD_BODY = {
    "required": True,
    "description": "the file's bytes, as they are (not a form)",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}

JobId = PathParam(pattern=ID_PATTERN, description="a job's id")
UploadId = PathParam(pattern=ID_PATTERN, description="an upload's id")


def _download_name(record: JobRecord, context: Context) -> str:
    """``clip-studio.mp4``: the clip's name (its first `NAME_KEPT` characters) and the
    background, in letters and digits of any script (the browser gets them as UTF-8), each run
    of anything else one hyphen."""
    out = job_out(record, context.store)
    parts = (re.sub(r"\W+", "-", part).strip("-")
             for part in (Path(out.clip).stem[:NAME_KEPT], out.background_label))
    return "-".join(part for part in parts if part) + Path(record.output).suffix


# Finished previews kept per clip (see `forget_old_previews` in `router`).
KEPT_PREVIEWS = 10


def router(context: Context) -> APIRouter:
    """The API's routes, bound to one web app's queue and files."""
    api = APIRouter(prefix="/api")
    store, queue = context.store, context.queue

    def upload_or_404(upload_id: str) -> Upload:
        upload = store.upload(upload_id)
        if upload is None:
            raise HTTPException(404, f"there is no upload {upload_id}")
        return upload

    def uses(record: JobRecord, upload_id: str) -> bool:
        """Whether a job is made from the upload, or has it as background."""
        source = str(store.source(upload_id))
        return source in (record.input, record.settings.background)

    def job_or_404(job_id: str) -> tuple[JobRecord, Path]:
        record = context.job(job_id)
        folder = None if record is None else store.job_folder(record)
        if record is None or folder is None:  # no folder without a record
            raise HTTPException(404, f"there is no job {job_id}")
        return record, folder

    def finished_file(job_id: str, path_of: Callable[[Path], Path]) -> tuple[JobRecord, Path]:
        record, folder = job_or_404(job_id)
        if record.status in (JobStatus.FAILED, JobStatus.STOPPED):  # not "when it is done"
            ended = "failed" if record.status == JobStatus.FAILED else "was stopped"
            raise HTTPException(409, f"job {job_id} {ended}: it has no result")
        if record.status != JobStatus.DONE:
            raise HTTPException(409, f"job {job_id} is {record.status}: its result comes when "
                                     "it is done")
        path = path_of(Path(record.output))
        if path.parent != folder or not path.is_file():
            raise HTTPException(404, f"job {job_id} has no such file")
        return record, path

    @api.get("/limits", response_model=Limits, tags=["server"])
    def limits() -> Limits:
        """What the server accepts (size, types) and what a render does to a clip."""
        return context.limits()

    @api.get("/backgrounds", response_model=list[BackgroundOut], tags=["backgrounds"])
    def backgrounds() -> list[BackgroundOut]:
        """The built-in backgrounds. A job also takes blur[:STRENGTH], color:#RRGGBB,
        transparent and upload:ID."""
        return builtin_backgrounds()

    @api.get("/backgrounds/{name}/thumbnail", response_class=FileResponse,
             responses={200: JPEG, **MISSING}, tags=["backgrounds"])
    def thumbnail(name: str) -> FileResponse:
        """A small JPEG of a built-in background."""
        try:
            return FileResponse(images.background_thumbnail(store, name), media_type="image/jpeg")
        except InputError as err:
            raise HTTPException(404, str(err)) from err

    @api.post("/uploads", status_code=201, response_model=UploadOut,
              responses={400: {"model": Problem}, 413: {"model": Problem}, **REFUSED,
                         507: {"model": Problem}},
              openapi_extra={"requestBody": UPLOAD_BODY}, tags=["uploads"])
    async def create_upload(
        request: Request,
        # The length is checked with the rest of the name (`check_name`): one answer, 400, for
        # every name that is not a plain file name.
        name: str = Query("clip", description=f"the file's name, for display only: 1 to "
                                              f"{MAX_NAME} characters, no folder"),
        purpose: Literal["clip", "background"] = Query(
            "clip", description="clip: a video to render; background: an image or a video to "
            "use as background (upload:ID)"),
    ) -> UploadOut:
        """Upload a clip or a background. Its content is checked (type, completeness) before
        it is kept; nothing is queued."""
        return upload_out(await receive(request.stream(), name, purpose, store,
                                        context.max_upload))

    @api.get("/uploads", response_model=list[UploadOut], tags=["uploads"])
    def list_uploads() -> list[UploadOut]:
        """Every upload, oldest first."""
        return [upload_out(upload) for upload in store.uploads()]

    @api.get("/uploads/{upload_id}", response_model=UploadOut, responses=MISSING,
             tags=["uploads"])
    def get_upload(upload_id: str = UploadId) -> UploadOut:
        return upload_out(upload_or_404(upload_id))

    @api.get("/uploads/{upload_id}/frame", response_class=Response,
             responses={200: JPEG, **MISSING, **REFUSED}, tags=["uploads"])
    def frame(upload_id: str = UploadId,
              at: float = Query(0.0, ge=0, le=MAX_AT, allow_inf_nan=False,
                                description="seconds into the clip")) -> Response:
        """The clip's frame at a time, as JPEG, without a new background."""
        upload = upload_or_404(upload_id)
        if upload.purpose != "clip":
            raise HTTPException(404, f"upload {upload_id} is a background, not a clip")
        try:
            # The bytes, not a FileResponse of the cached file: one deleted with its upload
            # between the answer's headers and its body cut the answer short.
            picture = images.clip_frame(store, upload, at).read_bytes()
        except (InputError, FileNotFoundError) as err:
            with store.uploads_in_use():  # a delete under way ends first (its files go in turn)
                gone = store.upload(upload_id) is None
            if gone:  # deleted meanwhile: said with the path
                raise HTTPException(404, f"there is no upload {upload_id}") from err
            if isinstance(err, FileNotFoundError):
                raise
            raise HTTPException(422, str(err).replace(str(store.source(upload_id)),
                                                      f'"{upload.name}"')) from err
        return Response(picture, media_type="image/jpeg")

    @api.delete("/uploads/{upload_id}", status_code=204, responses={**MISSING, 409: {}},
                tags=["uploads"])
    def delete_upload(upload_id: str = UploadId) -> Response:
        """Delete an upload, and every job made from it (or with it as background)."""
        with store.uploads_in_use():
            return forget_upload(upload_id)

    def forget_upload(upload_id: str) -> Response:
        upload_or_404(upload_id)
        users = [record for record, _ in context.jobs() if uses(record, upload_id)]
        busy = [record.id for record in users if record.status not in FINISHED]
        if busy:
            raise HTTPException(409, f"upload {upload_id} is in use by unfinished jobs "
                                     f"({', '.join(busy)}); delete it when they have finished")
        for record in users:
            queue.delete(record.id)
        store.delete_upload(upload_id)
        return Response(status_code=204)

    @api.post("/jobs", status_code=201, response_model=JobOut,
              responses={**MISSING, **REFUSED}, tags=["jobs"])
    def create_job(job: JobIn) -> JobOut:
        """Queue a preview (one frame) or a video render of a clip upload."""
        with store.uploads_in_use():
            return queue_job(job)

    def queue_job(job: JobIn) -> JobOut:
        upload = upload_or_404(job.upload)
        if upload.purpose != "clip":
            raise HTTPException(422, f'"{upload.name}" was uploaded as a background, not as a '
                                     "clip to render")
        try:
            spec = choices.to_spec(job.background, store)
        except InputError as err:
            raise HTTPException(422, str(err)) from err
        length = render_seconds(upload) or 0.0
        if job.kind == JobKind.PREVIEW and job.at >= length:
            raise HTTPException(422, f"a preview's time must be from 0 to under {length:.2f} s, "
                                     "the part of the clip that is rendered")
        folder = store.new_job_folder()
        name = {JobKind.PREVIEW: "preview.png", JobKind.VIDEO: "result.mp4"}[job.kind]
        if job.kind == JobKind.VIDEO and is_transparent(spec):
            name = "result.webm"
        try:
            record = queue.submit(job.kind, store.source(upload.id), folder / name,
                                  RenderSettings(spec), job.at, own_folder=True)
        except BaseException:  # a full disk, say (`app`): no folder of a job that is not
            store.delete_job_folder(folder)
            raise
        if job.kind == JobKind.PREVIEW:
            forget_old_previews(record.input)
        return job_out(record, store)

    def forget_old_previews(source: str) -> None:
        """Delete a clip's finished previews but the newest `KEPT_PREVIEWS`. The page makes
        one at every pick of a background, a frame or a setting, and shows the newest only:
        a short session left 227 preview folders that no page listed."""
        finished = [record for record, _ in context.jobs()
                    if record.kind == JobKind.PREVIEW and record.input == source
                    and record.status in FINISHED]
        for record in finished[:-KEPT_PREVIEWS]:  # oldest first
            queue.delete(record.id)

    @api.get("/jobs", response_model=list[JobOut], responses=MISSING, tags=["jobs"])
    def list_jobs(
        kind: JobKind | None = None,
        upload: str | None = Query(None, pattern=ID_PATTERN,
                                   description="only the jobs made from this upload or with it "
                                   "as background"),
        limit: int | None = Query(None, ge=1, description="only the newest this many"),
    ) -> list[JobOut]:
        """This web app's jobs, oldest first; ``kind`` keeps one kind. A page asks for the
        newest few (``limit``): a server with thousands of jobs took a second to list them all,
        at every refresh."""
        if upload is not None:
            upload_or_404(upload)
        records = [record for record, _ in context.jobs()
                   if (kind is None or record.kind == kind)
                   and (upload is None or uses(record, upload))]
        kept = records if limit is None else records[max(0, len(records) - limit):]
        return [job_out(record, store) for record in kept]

    @api.get("/jobs/{job_id}", response_model=JobOut, responses=MISSING, tags=["jobs"])
    def get_job(job_id: str = JobId) -> JobOut:
        """A job's status and progress (poll it: about once a second while it runs)."""
        return job_out(job_or_404(job_id)[0], store)

    @api.get("/jobs/{job_id}/result", response_class=FileResponse,
             responses={200: {"content": {"video/mp4": {}, "video/webm": {}, "image/png": {}}},
                        **MISSING, 409: {"model": Problem}}, tags=["jobs"])
    def result(job_id: str = JobId, download: bool = False) -> FileResponse:
        """A done job's video (MP4, or WebM for transparent) or preview PNG; ``download=1``
        names it for saving."""
        record, path = finished_file(job_id, lambda output: output)
        name = _download_name(record, context) if download else None
        return FileResponse(path, filename=name,
                            content_disposition_type="attachment" if download else "inline")

    # HEAD too, for download managers and link checkers that ask before they fetch.
    api.add_api_route("/jobs/{job_id}/result", result, methods=["HEAD"], include_in_schema=False)

    @api.get("/jobs/{job_id}/cutout", response_class=FileResponse,
             responses={200: PNG, **MISSING, 409: {"model": Problem}}, tags=["jobs"])
    def cutout(job_id: str = JobId) -> FileResponse:
        """A done preview's cut-out: the person alone, PNG with alpha."""
        return FileResponse(finished_file(job_id, cutout_path)[1], media_type="image/png")

    api.add_api_route("/jobs/{job_id}/cutout", cutout, methods=["HEAD"], include_in_schema=False)

    @api.post("/jobs/{job_id}/stop", response_model=JobOut,
              responses={**MISSING, 409: {"model": Problem}}, tags=["jobs"])
    def stop_job(job_id: str = JobId) -> JobOut:
        """Stop a queued or running job: it ends `stopped` (its error says who stopped it),
        and a render in progress stops within a second or two, leaving no files."""
        record, _ = job_or_404(job_id)
        if record.status in FINISHED:
            raise HTTPException(409, f"job {job_id} has finished ({record.status}); there is "
                                     "nothing to stop")
        stopped = queue.stop(record.id, "stopped from the web page")
        if stopped is None:  # deleted meanwhile (its Delete and a Stop at once): a 500
            raise HTTPException(404, f"there is no job {job_id}")
        return job_out(stopped, store)

    @api.delete("/jobs/{job_id}", status_code=204, responses={**MISSING, 409: {}},
                tags=["jobs"])
    def delete_job(job_id: str = JobId) -> Response:
        """Delete a finished job and its files."""
        job_or_404(job_id)
        try:
            queue.delete(job_id)  # its folder with it (`own_folder`); an unfinished one stays
        except InputError as err:
            raise HTTPException(409, str(err)) from err
        return Response(status_code=204)

    return api
