"""The JSON the API takes and gives, as pydantic models: FastAPI checks requests against them
and writes the OpenAPI document from them, so a script's author reads the same definitions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from obs_bgremover.render import JobKind, JobStatus
from obs_bgremover.web.choices import FORMS
from obs_bgremover.web.store import ID_PATTERN


class Problem(BaseModel):
    """Every error answer: what is wrong, in words for the user."""

    detail: str


class Limits(BaseModel):
    """What the server accepts and what it does to a clip."""

    max_upload_bytes: int
    max_seconds: float = Field(description="a render keeps the first max_seconds of a clip")
    max_width: int = Field(description="larger clips are scaled down to fit, aspect kept; a "
                                        "portrait clip fits max_height x max_width")
    max_height: int
    accepted: str = Field(description="the clips accepted, checked by their content; a "
                          "background may also be a PNG, JPEG or GIF image (an animated GIF "
                          "or PNG plays in a loop)")
    workers: int = Field(description="render workers in the server; 0: workers run elsewhere")


class BackgroundOut(BaseModel):
    name: str
    kind: Literal["image", "video"]
    thumbnail_url: str


class UploadOut(BaseModel):
    id: str
    name: str = Field(description="the file name given, for display; never used as a path")
    purpose: Literal["clip", "background"]
    kind: Literal["video", "image"]
    format: str
    codec: str
    width: int
    height: int
    rate: float | None = Field(description="frames per second of a video")
    duration: float | None = Field(description="seconds of a video")
    audio: bool
    bytes: int
    created: float = Field(description="Unix time")
    render_seconds: float | None = Field(
        description="seconds of a clip a render keeps (its length, at most max_seconds)")
    notes: list[str] = Field(description="the limits that a render will apply to this clip")
    frame_url: str | None = Field(description="a clip's frame as JPEG; add ?at=SECONDS")


class JobIn(BaseModel):
    upload: str = Field(pattern=ID_PATTERN, description="id of a clip upload")
    kind: JobKind = Field(
        JobKind.VIDEO, description="preview: one frame at `at` as PNG (and its cut-out); video: "
        "the clip's first max_seconds as MP4 (WebM with alpha for transparent)")
    background: str = Field(description=FORMS, examples=["studio", "color:#00B140"])
    at: float = Field(0.0, ge=0, allow_inf_nan=False,
                      description="seconds into the clip, for a preview")


class JobOut(BaseModel):
    id: str
    kind: JobKind
    status: JobStatus
    progress: float = Field(description="fraction done, 0..1")
    frames_done: int
    frames_total: int
    seconds_left: float | None = Field(description="estimate while running, else null")
    error: str = Field(description="why a failed job failed, or who stopped a stopped one, in "
                       "words for the user")
    upload: str = Field(description="id of the clip upload")
    clip: str = Field(description="the clip's file name")
    background: str = Field(description=FORMS)
    background_label: str = Field(description="the background in words")
    at: float
    attempt: int = Field(description="1, or more when a stopped worker's job was run again")
    created: float = Field(description="Unix time")
    result_url: str | None = Field(description="the video or preview PNG, once done")
    cutout_url: str | None = Field(description="a preview's cut-out PNG with alpha, once done")
    download_url: str | None = Field(description="the result as a download, once done")
