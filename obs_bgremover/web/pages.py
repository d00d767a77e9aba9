"""The two HTML pages, rendered on the server from Jinja2 templates: the page that takes a clip
from upload to download, and the jobs page. Everything they do after loading goes through the
JSON API (static/*.js), so the page and a script see the same server."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from obs_bgremover.composite import DEFAULT_BLUR
from obs_bgremover.web.context import Context, builtin_backgrounds

TEMPLATES = Path(__file__).parent / "templates"


def router(context: Context) -> APIRouter:
    pages = APIRouter(include_in_schema=False)
    templates = Jinja2Templates(directory=TEMPLATES)

    @pages.get("/", response_class=HTMLResponse)
    def index(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "index.html", {
            "limits": context.limits(), "backgrounds": builtin_backgrounds(),
            "blur": DEFAULT_BLUR})

    @pages.get("/jobs", response_class=HTMLResponse)
    def jobs(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "jobs.html", {})

    return pages
