"""The file users add in OBS under Tools > Scripts: it registers the "Background Remover" filter.

OBS runs this with its own Python (on Linux the system ``libpython3.x`` it was built against) and
no virtual environment, so the project's environment is put on ``sys.path`` first: the
``.venv`` at the root of the checkout this file lives in. Registration happens once per process
(`registration.register` keeps its state on ``sys``), so reloading the script is harmless, and
`script_load` starts the filters again after any unload.
"""

from __future__ import annotations

import html
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _add_environment() -> None:
    """Put the checkout and its venv's site-packages first on sys.path (idempotent)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [
        REPO_ROOT / ".venv" / "lib" / version / "site-packages",
        REPO_ROOT / ".venv" / "Lib" / "site-packages",  # Windows
        REPO_ROOT,
    ]
    for path in reversed(candidates):
        if path.is_dir() and str(path) not in sys.path:
            sys.path.insert(0, str(path))


def _hide_redis_without_ssl() -> None:
    """Make ``import redis`` fail cleanly where ``ssl`` cannot be imported, as in some OBS
    builds' embedded Python. redis then breaks with an AttributeError that huey (the render
    queue, which the "Render clip" button uses with its SQLite storage only) does not expect;
    an ImportError it handles."""
    try:
        import ssl  # noqa: F401
    except ImportError:
        # None there makes the import fail (the import system's documented rule), which
        # typeshed's dict of modules does not allow for.
        sys.modules.setdefault("redis", None)  # type: ignore[arg-type]


def _environment_problem(error: ImportError) -> str:
    """Why the project's packages do not import into OBS's Python, and what to run about it:
    no ``.venv`` yet (the script added before the install finished), one made with another
    Python version, or one left half made. It was a bare ``No module named 'numpy'`` traceback
    in OBS's log, and the script's description in Tools > Scripts stayed empty."""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    venv = REPO_ROOT / ".venv"
    then = ("; then select the script in Tools > Scripts and press Reload (the circular arrow), "
            f"or restart OBS ({error})")
    if not (venv / "pyvenv.cfg").is_file():
        return f"no environment in {venv}: run  python3 install.py  in {REPO_ROOT}{then}"
    made = ""
    for line in (venv / "pyvenv.cfg").read_text(errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key.strip() in ("version", "version_info"):
            made = ".".join(value.strip().split(".")[:2])
    if made and made != running:
        return (f"{venv} was made with Python {made}, but OBS runs Python {running}: run  "
                f"rm -rf .venv && python3 install.py  in {REPO_ROOT}{then}")
    return f"{venv} is incomplete: run  python3 install.py  in {REPO_ROOT}{then}"


_add_environment()
_hide_redis_without_ssl()

import obspython as obs  # noqa: E402  (only exists inside OBS)

from obs_bgremover import __version__  # noqa: E402

try:
    from obs_bgremover.obs import registration
    from obs_bgremover.obs.models import shared_model
except ImportError as missing:
    _setup_error: str | None = _environment_problem(missing)
    obs.script_log(obs.LOG_ERROR, f"obs-bgremover: cannot load the filter: {_setup_error}")
else:
    _setup_error = None

# How long the script's description waits for the model to say where it runs.
DESCRIPTION_WAIT_S = 10.0

_error: str | None = _setup_error


def _register() -> None:
    global _error
    if _setup_error is not None:
        return
    try:
        registration.register()
    except Exception as exc:  # shown in the description instead of failing the whole script
        _error = f"{type(exc).__name__}: {exc}"
        obs.script_log(obs.LOG_ERROR, f"obs-bgremover: cannot register the filter: {_error}")


_register()


def script_load(settings: object) -> None:
    """Start the filters again after an unload. OBS calls this at every load of the script,
    and a switch of scene collection loads it anew without running this module again (Python
    hands back the module it imported before): only a reload runs it again. Without this,
    every filter passed its input through after such a switch, without a word."""
    _register()


def _engine() -> str:
    """Which model and execution provider a filter gets, e.g. "general on CPUExecutionProvider".
    OBS asks for the description on its UI thread, which waits for the load: a GPU provider
    that hangs while starting must not hang OBS with it."""
    try:
        model = shared_model("general", "auto").result(timeout=DESCRIPTION_WAIT_S)
        return f"model {model.name} on {model.provider}"
    except TimeoutError:
        return (f"model still loading after {DESCRIPTION_WAIT_S:g} s: a filter's properties say "
                "where it runs once it is up")
    except Exception as exc:
        return f"model unavailable ({exc})"


def script_description() -> str:
    """Shown in Tools > Scripts: version, model and execution provider, or what went wrong."""
    status = f"<b>Error:</b> {html.escape(_error)}" if _error else _engine()
    return (
        f"<h3>obs-bgremover {__version__}</h3>"
        "<p>Adds the <b>Background Remover</b> video filter: right-click a source, Filters, +.</p>"
        f"<p>{status}</p>"
    )


def script_unload() -> None:
    """Stop the filters' worker threads before OBS finalises Python."""
    if _setup_error is None:
        registration.shutdown()
