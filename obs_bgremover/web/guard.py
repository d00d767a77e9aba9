"""Who may use the web app: one check in front of every request, pages, API and files alike.

* On a loopback address (the default) only this machine can connect; the Host header must name
  that address, so a web page elsewhere cannot reach the app through a DNS name pointed at
  127.0.0.1 (DNS rebinding).
* On any other address, or whenever ``--token`` is given, every request must carry the access
  token: ``Authorization: Bearer TOKEN`` (scripts), or the cookie the page gets when it is first
  opened with ``?token=TOKEN`` (browsers; the token is then taken out of the address bar).
  Without it the answer is 401.
* A request that changes something (not GET or HEAD) from a page of another site, as its Origin
  header tells, is refused: such a page could otherwise upload through the user's browser.
"""

from __future__ import annotations

import ipaddress
import secrets
from urllib.parse import urlencode

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
TOKEN_PARAM = "token"
MIN_TOKEN = 16
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def is_local(host: str) -> bool:
    """Whether binding to ``host`` keeps the app to this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A random access token, short enough to paste (32 characters, 192 bits)."""
    return secrets.token_urlsafe(24)


class Guard:
    """ASGI middleware applying the rules of this module.

    ``token``: the access token, or None for none; ``hosts``: the Host header values accepted
    (``name:port``), or None for any.
    """

    def __init__(self, app: ASGIApp, token: str | None, hosts: frozenset[str] | None,
                 cookie: str) -> None:
        self.app, self.token, self.hosts, self.cookie = app, token, hosts, cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response = self._check(Request(scope))
        if response is None:
            await self.app(scope, receive, send)
        else:
            await response(scope, receive, send)

    def _check(self, request: Request) -> Response | None:
        """None to let the request through, or the answer refusing it. Host names (and an
        Origin's scheme and host) are case-insensitive: ``LOCALHOST:8765`` is this machine."""
        host = request.headers.get("host", "").lower()
        if self.hosts is not None and host not in self.hosts:
            return _refuse(400, f"this server does not answer for the host {host!r}; open it "
                                f"as http://{sorted(self.hosts)[0]}/")
        origin = request.headers.get("origin")
        # https: the page served through a proxy that adds TLS, as web.md advises off a
        # trusted network; the proxy passes the Host on.
        if (request.method not in SAFE_METHODS and origin
                and origin.lower() not in (f"http://{host}", f"https://{host}")):
            return _refuse(403, f"a request from another site ({origin}) is refused")
        if self.token is None:
            return None
        query = request.query_params.get(TOKEN_PARAM)
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        bearer = credentials.strip() if scheme.lower() == "bearer" else ""  # RFC 7235: any case
        given = [bearer, request.cookies.get(self.cookie), query]
        if not any(value and _same(value, self.token) for value in given):
            return _refuse(401, "this server needs its access token: open the address that "
                                "'obs-bgremover serve' printed (it ends in ?token=...), or send "
                                "the header 'Authorization: Bearer TOKEN'",
                           {"WWW-Authenticate": "Bearer"})
        if (query and _same(query, self.token) and request.method == "GET"
                and not request.url.path.startswith("/api/")):
            return self._remember(request)
        return None

    def _remember(self, request: Request) -> Response:
        """Give a browser that came with ``?token=`` a cookie, and the address without it, on
        this server: a path that starts with ``//`` reads as another site's address
        (``//evil.example/``), which made this an open redirect."""
        rest = [(key, value) for key, value in request.query_params.multi_items()
                if key != TOKEN_PARAM]
        target = URL(path="/" + request.url.path.lstrip("/"), query=urlencode(rest))
        response = RedirectResponse(str(target), status_code=303)
        assert self.token is not None  # only a guard with a token is given one to remember
        response.set_cookie(self.cookie, self.token, httponly=True, samesite="strict")
        return response


def _same(given: str, token: str) -> bool:
    """Whether a client's token is ours, in constant time; as bytes, since `compare_digest`
    refuses strings with non-ASCII characters, which any client can send."""
    return secrets.compare_digest(given.encode("utf-8", "replace"), token.encode())


def _refuse(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def allowed_hosts(host: str, port: int) -> frozenset[str] | None:
    """The Host header values to accept: this machine's names for a loopback address, any
    for another (the token guards those)."""
    if not is_local(host):
        return None
    names = {*LOOPBACK_NAMES, f"[{host}]" if ":" in host else host}
    hosts = {f"{name}:{port}" for name in names}
    # Browsers and curl leave HTTP's own port out of the header.
    return frozenset(hosts | names if port == 80 else hosts)
