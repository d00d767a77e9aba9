"""The web app (``obs-bgremover serve``): a page and a JSON API over the render queue.

A thin front end over `obs_bgremover.render`: uploads are checked with its `probe`, previews and
videos are its jobs, and its workers render them. `server` runs the command, `app` assembles
the pages (`pages`, Jinja2 templates and plain JavaScript in ``static/``) and the API (`api`),
`guard` decides who may use them, `store` keeps uploads and results under generated ids, and
`uploads`, `choices`, `images` and `present` do one part of the API's work each.
"""

from obs_bgremover.web.server import run_serve

__all__ = ["run_serve"]
