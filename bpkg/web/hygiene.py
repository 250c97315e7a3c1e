"""What every response and request of the site goes through, whatever the route.

* **The public URL, not the Host header.** With ``PUBLIC_URL`` set (``bpkg serve`` always
  sets it: ``--public-url`` or ``BPKG_PUBLIC_URL``, else the address it listens on), every
  URL the site writes (the query UI's endpoint, the service description, redirects) is
  built from it; a client's ``Host`` header changes nothing.
* **Security headers** on every response: a Content-Security-Policy that allows scripts
  only from this site (an inline script must carry the request's ``csp_nonce``),
  ``frame-ancestors 'none'``, ``X-Content-Type-Options: nosniff``, ``Referrer-Policy``.
  The pictures page also allows ``'unsafe-eval'``: Vega compiles its expressions with
  ``Function``, and its CSP-safe interpreter ships only as an ES module. A query's answer
  (:data:`ANSWER_HEADERS`) is data, never a page: its policy allows nothing at all, so a
  result opened in a browser (an SVG or HTML literal in a CSV, say) runs and loads nothing.
* **Invalid UTF-8** in the path, the query string or a form body is a 400, never text
  with replacement characters run as a query.
* **Failed bearer tokens** are logged and, past ``AUTH_FAILURES`` from one address within
  ``AUTH_WINDOW`` seconds, answered 429 with ``Retry-After`` until the window ends
  (:func:`auth_failed`, :func:`auth_throttled`).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import urllib.parse
import zlib
from collections import defaultdict, deque

from flask import Flask, Response, current_app, g, request

log = logging.getLogger("bpkg.web")

CSP = ("default-src 'self'; script-src 'self' 'nonce-{nonce}'{eval}; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
EVAL_PATHS = ("/explore",)  # Vega's expression compiler (see the module docstring)


def install(app: Flask) -> None:
    public = app.config.get("PUBLIC_URL")
    if public:
        app.wsgi_app = PublicURL(app.wsgi_app, str(public))
    app.before_request(_refuse_invalid_utf8)
    app.after_request(_security_headers)
    app.context_processor(lambda: {"csp_nonce": csp_nonce()})
    app.extensions["bpkg-auth-failures"] = AuthFailures()


class PublicURL:
    """WSGI middleware: scheme, host, port and path prefix come from the configured public URL."""

    def __init__(self, wsgi_app, url: str):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the public URL must be an absolute http(s) URL, not {url!r}")
        self.wsgi_app = wsgi_app
        self.scheme, self.netloc = parts.scheme, parts.netloc
        self.port = str(parts.port or (443 if parts.scheme == "https" else 80))
        self.host = parts.hostname
        self.prefix = parts.path.rstrip("/")

    def __call__(self, environ, start_response):
        environ["wsgi.url_scheme"] = self.scheme
        environ["HTTP_HOST"] = self.netloc
        environ["SERVER_NAME"], environ["SERVER_PORT"] = self.host, self.port
        environ.pop("HTTP_X_FORWARDED_HOST", None)
        if self.prefix:
            environ["SCRIPT_NAME"] = self.prefix
        return self.wsgi_app(environ, start_response)


def csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def _security_headers(response: Response) -> Response:
    headers = response.headers
    for name, value in security_headers(request.path, csp_nonce()).items():
        headers.setdefault(name, value)
    return response


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _refuse_invalid_utf8():
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if request.path.endswith("/sparql"):  # the endpoint's own, smaller limit answers larger bodies (413)
        limit = current_app.config["SPARQL_MAX_REQUEST_BYTES"]  # bpkg.settings holds the default
    bad = invalid_utf8(request, limit)
    if bad:
        return Response(f"{bad} is not valid UTF-8 (percent-encode UTF-8 bytes only)\n", 400, mimetype="text/plain")
    return None


def invalid_utf8(req, form_limit: int | None) -> str | None:
    """Which part of a (werkzeug or Flask) request is not UTF-8: "the path", "the query
    string", "the form body" (read only up to ``form_limit`` bytes), or None."""
    environ = req.environ
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")  # as sent, still percent-encoded
    if raw:
        raw_path = raw.split("?", 1)[0].encode("latin-1", "replace")
        path = urllib.parse.unquote_to_bytes(raw_path)
    else:
        path = environ.get("PATH_INFO", "").encode("latin-1", "replace")
    if not _utf8(path):
        return "the path"
    query = environ.get("QUERY_STRING", "")
    if query and not _utf8(urllib.parse.unquote_to_bytes(query.encode("latin-1", "replace").replace(b"+", b" "))):
        return "the query string"
    if req.method in ("POST", "PUT", "PATCH") and req.mimetype == "application/x-www-form-urlencoded":
        if req.content_length is not None and form_limit is not None and req.content_length <= form_limit:
            if not _utf8(urllib.parse.unquote_to_bytes(req.get_data(cache=True).replace(b"+", b" "))):
                return "the form body"
    return None


# The same headers for a query's answer (bpkg.web.query_path): nothing in it may run, load
# or be framed, so it needs no nonce (and costs no random bytes per request).
ANSWER_HEADERS = (("Content-Security-Policy", "default-src 'none'; base-uri 'none'; form-action 'none'; "
                                              "frame-ancestors 'none'"),
                  ("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                  ("Referrer-Policy", "strict-origin-when-cross-origin"))


def security_headers(path: str, nonce: str) -> dict[str, str]:
    """The headers every response carries (``path`` decides whether Vega may evaluate)."""
    evaluates = any(path == p or path.startswith(p + "/") for p in EVAL_PATHS)
    return {"Content-Security-Policy": CSP.format(nonce=nonce, eval=" 'unsafe-eval'" if evaluates else ""),
            "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
            "Referrer-Policy": "strict-origin-when-cross-origin"}


# -- failed bearer tokens ------------------------------------------------------------------

class AuthFailures:
    def __init__(self):
        self._lock = threading.Lock()
        self._seen: dict[str, deque] = defaultdict(deque)

    def _recent(self, client: str, window: float, now: float) -> deque:
        times = self._seen[client]
        while times and times[0] <= now - window:
            times.popleft()
        return times

    def throttled(self, client: str, limit: int, window: float) -> int | None:
        """Seconds to wait when ``client`` is over the limit, else None."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, window, now)
            if len(times) < limit:
                if not times:
                    self._seen.pop(client, None)
                return None
            return max(1, int(times[0] + window - now + 0.999))

    def failed(self, client: str, window: float) -> int:
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, window, now)
            times.append(now)
            return len(times)


class SharedAuthFailures:
    """The same count, shared by the front processes of one server (``bpkg serve
    --processes N``) in shared memory made before they fork, so spreading wrong tokens
    over several connections (and so processes) gains an address nothing. Each address
    keeps the times of its last ``limit`` failures in one of ``buckets`` rows, chosen by a
    digest of the address; two addresses that share a row (1 in ``buckets``) share a count."""

    def __init__(self, limit: int, buckets: int = 4096):
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self.limit, self.buckets = max(1, limit), buckets
        self._lock = context.Lock()
        self._times = context.RawArray("d", self.buckets * self.limit)  # monotonic seconds, 0 = none

    def _row(self, client: str) -> int:
        return zlib.crc32(client.encode()) % self.buckets * self.limit

    def _recent(self, row: int, window: float, now: float) -> list[float]:
        return [t for t in self._times[row:row + self.limit] if t > now - window]

    def throttled(self, client: str, limit: int, window: float) -> int | None:
        now, row = time.monotonic(), self._row(client)
        with self._lock:
            times = self._recent(row, window, now)
        if len(times) < min(limit, self.limit):
            return None
        return max(1, int(min(times) + window - now + 0.999))

    def failed(self, client: str, window: float) -> int:
        now, row = time.monotonic(), self._row(client)
        with self._lock:
            oldest = min(range(row, row + self.limit), key=self._times.__getitem__)
            self._times[oldest] = now
            return len(self._recent(row, window, now))


def auth_throttled() -> Response | None:
    """429 with ``Retry-After`` for an address that failed too often lately; call before checking a token."""
    client = request.remote_addr or ""
    wait = current_app.extensions["bpkg-auth-failures"].throttled(
        client, int(current_app.config["AUTH_FAILURES"]), float(current_app.config["AUTH_WINDOW"]))
    if wait is None:
        return None
    return Response(f"too many failed tokens from this address; try again in {wait} s\n", 429,
                    mimetype="text/plain", headers={"Retry-After": str(wait)})


def auth_failed(what: str) -> None:
    """Count and log a wrong or missing token."""
    client = request.remote_addr or ""
    n = current_app.extensions["bpkg-auth-failures"].failed(client, float(current_app.config["AUTH_WINDOW"]))
    log.warning("failed %s token from %s for %s %s (%d in the last %s s)", what, client, request.method,
                request.path, n, current_app.config["AUTH_WINDOW"])
