"""The query path: SPARQL queries to ``/sparql`` answered at the WSGI layer, before Flask.

A query is the one request an analyst's notebook sends thousands of times, and most of
what Flask does per request (contexts, routing, hooks, a response object) is a
fixed cost larger than the work of a small query. So query requests to ``/sparql``
(GET or HEAD with ``query=``, POST as a form or ``application/sparql-query``) are read
here with werkzeug's request parser and answered by the same function as the Flask
views (:func:`bpkg.web.sparql.answer`), with the same checks and headers as every
other response of the site: the publication refresh, the UTF-8 check and the security
headers of :mod:`bpkg.web.hygiene`, the CORS headers of the endpoint. Everything else
(the service description, OPTIONS, the sandbox, every other page) goes on to Flask.
"""

from __future__ import annotations

import binascii
import io
import re
import urllib.parse

from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_accept_header
from werkzeug.wrappers import Request as WerkzeugRequest

from ..sparql import Request, SparqlError
from . import hygiene
from .publication import refresh
from .sparql import (CORS_ANSWER, Reply, answer, error_reply, format_parameter, one_value, query_request,
                     read_operation, refuse_update, serving)

_STATUS = {200: "200 OK", 304: "304 Not Modified", 400: "400 Bad Request", 406: "406 Not Acceptable",
           413: "413 Content Too Large", 415: "415 Unsupported Media Type", 429: "429 Too Many Requests",
           503: "503 Service Unavailable"}
_ENDPOINT_HEADERS = [*CORS_ANSWER.items(), ("Vary", "Accept"), *hygiene.ANSWER_HEADERS]


class QueryPath:
    """WSGI middleware in front of the Flask app (inside :class:`hygiene.PublicURL`)."""

    def __init__(self, app, wsgi_app):
        self.app, self.next = app, wsgi_app
        self.max_request = int(app.config["SPARQL_MAX_REQUEST_BYTES"])

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        if environ.get("PATH_INFO") != "/sparql" or method not in ("GET", "HEAD", "POST"):
            return self.next(environ, start_response)
        if "bpkg-publisher" in self.app.extensions:
            refresh(self.app)
        body = None
        try:
            if method == "POST":
                body, req = _form_request(environ, self.max_request) or self._post_request(environ)
            else:
                req = _get_request(environ)
            if req is None:  # no query: the service description, a Flask view
                return self.next(environ, start_response)
            reply = answer(serving(self.app), req, environ.get("REMOTE_ADDR") or "", environ.get("HTTP_IF_NONE_MATCH"))
        except SparqlError as exc:
            reply = error_reply(exc)
        except RequestEntityTooLarge:
            reply = error_reply(SparqlError(413, f"the request body is larger than {self.max_request} bytes"))
        if reply.status >= 400 and reply.status != 413 and _prefers_html(environ):
            # A person in a browser: Flask's view answers again, and the site's error page shows it.
            if body is not None:
                environ["wsgi.input"] = io.BytesIO(body)
            return self.next(environ, start_response)
        return _respond(reply, environ, start_response)

    def _post_request(self, environ) -> tuple[bytes, Request]:
        """A POST, read by werkzeug (forms, media types, charsets, the body cap)."""
        req = WerkzeugRequest(environ)
        req.max_content_length = self.max_request
        body = req.get_data(cache=True)  # kept, so that Flask can read it again (see __call__)
        bad = hygiene.invalid_utf8(req, self.max_request)
        if bad:
            raise SparqlError(400, f"{bad} is not valid UTF-8 (percent-encode UTF-8 bytes only)")
        kind, text = read_operation(req)
        if kind == "update":
            refuse_update()
        return body, query_request(req, text)


def _prefers_html(environ) -> bool:
    accept = environ.get("HTTP_ACCEPT")
    return bool(accept) and "html" in accept and \
        parse_accept_header(accept, MIMEAccept).best_match(["text/plain", "application/json", "text/html"]) == "text/html"


def _get_request(environ) -> Request | None:
    """A GET or HEAD: the query string read in one pass (strict UTF-8), the rest from the
    environment; the same parameters and refusals as :func:`bpkg.web.sparql.read_operation`."""
    params = _fields(environ.get("QUERY_STRING", ""), "the query string")
    if "update" in params:
        raise SparqlError(400, "an update must be sent with POST, never GET")
    texts = params.get("query")
    if texts is None:
        return None
    return _request(environ, one_value(texts, "query"), params)


def _form_request(environ, max_request: int) -> tuple[bytes, Request] | None:
    """A POST of an HTML form (YASGUI's way of sending a query) read as a GET is: the same
    fields, values and refusals as werkzeug's form parser followed by the UTF-8 check of
    :func:`hygiene.invalid_utf8`, at a tenth of the cost (werkzeug and that check each
    percent-decode the body in Python: 110 µs for a 1 kB query, against 8 µs here).
    None, for werkzeug to read, when the body is not a plain ASCII form of a stated length."""
    if environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    if length > max_request:
        raise RequestEntityTooLarge()
    if length < 0:
        return None
    body = environ["wsgi.input"].read(length)
    if not body.isascii():  # raw bytes past ASCII: werkzeug decodes them (and refuses what is not UTF-8)
        environ["wsgi.input"] = io.BytesIO(body)
        return None
    params = _fields(environ.get("QUERY_STRING", ""), "the query string")
    form = _fields(body.decode("ascii"), "the form body")
    query, update = one_value(form.get("query", []), "query"), one_value(form.get("update", []), "update")
    if query is not None and update is not None:
        raise SparqlError(400, "send either 'query' or 'update', not both")
    if update is not None:
        refuse_update()
    if query is None:
        raise SparqlError(400, "the form has neither a 'query' nor an 'update' field")
    for name, values in form.items():  # the URL's values first, as werkzeug's args + form
        params.setdefault(name, []).extend(values)
    return body, _request(environ, query, params)


def _fields(text: str, what: str) -> dict[str, list[str]]:
    """parse_qsl(text, keep_blank_values=True, errors="strict") as a dict of lists, without
    its generality (5 µs of 8 on a query string); invalid UTF-8 is a 400 naming ``what``."""
    fields: dict[str, list[str]] = {}
    try:
        for pair in text.split("&"):
            if pair:
                name, _, value = pair.partition("=")
                fields.setdefault(_unquote_plus(name), []).append(_unquote_plus(value))
    except UnicodeDecodeError:
        raise SparqlError(400, f"{what} is not valid UTF-8 (percent-encode UTF-8 bytes only)") from None
    return fields


def _request(environ, query: str, params: dict[str, list[str]]) -> Request:
    return Request(query=query, accept=environ.get("HTTP_ACCEPT"), format=format_parameter(params.get("format", [])),
                   default_graphs=params.get("default-graph-uri", []), named_graphs=params.get("named-graph-uri", []),
                   base_iri=_base_url(environ))


def _unquote_plus(text: str) -> str:
    """urllib.parse.unquote_plus(text, errors="strict"). The same result: unquote decodes
    each ASCII run alone and keeps the rest; decoding the whole at once joins the same
    valid pieces, and no piece can complete a broken one (UTF-8 never starts a character
    with a continuation byte, nor continues a complete one)."""
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    if text.isascii() and not _BROKEN_ESCAPE.search(text):
        # unquote_to_bytes loops in Python over every escape (77 µs for a 1 kB named query,
        # most of the request's own cost); binascii's quoted-printable decoder is the same
        # loop in C once "%XX" is spelt "=XX" and every "=" of the text "=3D". Every "=" is
        # then followed by two hex digits, so none reads as a soft line break.
        return binascii.a2b_qp(text.replace("=", "=3D").replace("%", "=")).decode()
    return urllib.parse.unquote_to_bytes(text).decode()


_BROKEN_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")  # kept as it is by unquote: the slow path


def _base_url(environ) -> str:
    """The endpoint's own URL, the base IRI of its queries (from the public URL, see
    :class:`hygiene.PublicURL`, which sets scheme and host)."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "localhost")
    default_port = ":443" if scheme == "https" else ":80"
    if host.endswith(default_port):
        host = host[: -len(default_port)]
    return f"{scheme}://{host}{urllib.parse.quote(environ.get('SCRIPT_NAME', ''))}/sparql"


def _respond(reply: Reply, environ, start_response):
    headers = list(reply.headers.items())
    headers += _ENDPOINT_HEADERS
    body = reply.body if reply.status != 304 else b""
    headers.append(("Content-Length", str(len(body))))
    start_response(_STATUS.get(reply.status) or f"{reply.status} Error", headers)
    return [b""] if environ["REQUEST_METHOD"] == "HEAD" else [body]
