"""The analyst's pages: the querying guide, named-query results as HTML, and error pages.

GET /guide                the querying guide (docs/querying.md) as a page
GET /queries/NAME         for a browser (Accept: text/html, or format=html): the results as a
                          readable table with local links and labels, the parameters form,
                          "open in the editor" and one download link per format
any 404/405/500           a styled page with the site's navigation and a search box for
                          browsers; plain text (as before) for every other client

The results page runs the query exactly as the data formats do (the one safe executor and
its cache, through :func:`bpkg.web.sparql.answer_query`) and renders its SPARQL JSON.
"""

from __future__ import annotations

import json
from functools import lru_cache
from urllib.parse import urlencode

from flask import Blueprint, Response, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from .. import queries as library
from ..namespaces import curie
from ..sparql import Request, SparqlError
from ..store import ROOT

bp = Blueprint("analyst", __name__)

GUIDE = ROOT / "docs" / "querying.md"
DOWNLOADS = (("csv", "CSV"), ("tsv", "TSV"), ("json", "SPARQL JSON"), ("xml", "SPARQL XML"))
RESULT_TYPES = ["application/sparql-results+json", "application/sparql-results+xml", "text/csv",
                "text/tab-separated-values", "application/json", "text/html"]
NUMERIC = {"integer", "decimal", "double", "float", "int", "long", "nonNegativeInteger", "positiveInteger"}


def wants_html() -> bool:
    """A browser asking for a page: format=html, or text/html preferred to every result format."""
    chosen = request.args.get("format", "").strip().lower()
    if chosen:
        return chosen in ("html", "text/html")
    return request.accept_mimetypes.best_match(RESULT_TYPES) == "text/html"


# -- the guide ---------------------------------------------------------------------------------

@lru_cache(maxsize=4)
def _guide_html(mtime: float) -> tuple[str, list[tuple[str, str]]]:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"linkify": False}).enable("table")
    tokens = md.parse(GUIDE.read_text(encoding="utf-8"))
    contents = []
    for i, token in enumerate(tokens):  # anchors on the headings, as GitHub makes them
        if token.type == "heading_open" and token.tag == "h2":
            title = tokens[i + 1].content
            anchor = "".join(c for c in title.lower().replace(" ", "-") if c.isalnum() or c == "-")
            token.attrSet("id", anchor)
            contents.append((anchor, title))
    return md.renderer.render(tokens, md.options, {}), contents


@bp.get("/guide")
def guide():
    body, contents = _guide_html(GUIDE.stat().st_mtime)
    body = body.replace('href="/', f'href="{request.script_root}/')
    return render_template("guide.html", body=body, contents=contents)


# -- named-query results as a page ---------------------------------------------------------------

def results_page(query: library.NamedQuery, values: dict[str, str]) -> Response:
    """The HTML view of one named query with the given parameter values."""
    from .resources import index, local_href
    from .sparql import answer_query

    here = url_for("queries.run_query", name=query.name)
    page = {"query": query.as_dict(), "values": values, "here": here,
            "source": url_for("queries.run_query", name=query.name + ".rq"),
            "downloads": [{"name": label, "href": here + "?" + urlencode({**values, "format": ext})}
                          for ext, label in DOWNLOADS],
            "columns": list(query.columns), "rows": [], "error": None, "truncated": None}
    status = 200
    try:
        library.bindings(query, values)
        text = library.bound_text(query, values)
        page["editor"] = url_for("sparql.query_page") + "?" + urlencode({"query": text, "tabTitle": query.name})
        bound = library.bindings(query, values)
        answer = answer_query(Request(query=text, accept=RESULT_TYPES[0], format="json"),
                              key_text=query.text, bindings={k: str(v) for k, v in bound.items()})
    except library.ParameterError as exc:
        page["error"], status = str(exc), 400
    except SparqlError as exc:
        page["error"], status = exc.message, exc.status
    else:
        if answer.status_code != 200:
            page["error"], status = answer.get_data(as_text=True).strip(), answer.status_code
        else:
            data = json.loads(answer.get_data())
            page["truncated"] = answer.headers.get("X-BPKG-Truncated")
            labels = index().labels
            page["rows"] = [[_cell(row.get(c), labels, local_href) for c in query.columns]
                            for row in data["results"]["bindings"]]
    if not page.get("editor"):
        page["editor"] = url_for("sparql.query_page") + "?" + urlencode({"query": query.text, "tabTitle": query.name})
    response = Response(render_template("query_results.html", **page), status=status, mimetype="text/html")
    response.headers["Vary"] = "Accept"
    return response


def _cell(term: dict | None, labels: dict, local_href) -> dict:
    """One result value for the table: a labelled local link, or text with a sort key."""
    if term is None:
        return {"text": "", "sort": ""}
    value = term["value"]
    if term["type"] == "uri":
        name = curie(value)
        label = labels.get(value, "")
        return {"href": local_href(value), "label": label or name, "curie": name if label else "",
                "text": label or name, "sort": (label or name).lower()}
    parts = value.split("; ")
    if all(p.startswith(("http://", "https://")) and " " not in p for p in parts):  # a joined list of IRIs
        links = [_cell({"type": "uri", "value": p}, labels, local_href) for p in parts]
        return {"links": links, "text": value, "sort": "; ".join(link["sort"] for link in links)}
    datatype = term.get("datatype", "").rsplit("#", 1)[-1]
    if datatype in NUMERIC:
        return {"text": value, "sort": value, "numeric": True}
    return {"text": value, "sort": value.lower(), "lang": term.get("xml:lang", "")}


# -- error pages ------------------------------------------------------------------------------

@bp.app_errorhandler(HTTPException)
def http_error(exc: HTTPException):
    """A page for people, the same short text as before for programs."""
    if exc.code is None or exc.code < 400:  # redirects (a missing trailing slash) stay redirects
        return exc
    if request.accept_mimetypes.best_match(["text/plain", "application/json", "text/html"]) != "text/html":
        return exc
    response = Response(render_template("error.html", code=exc.code, name=exc.name,
                                        description=exc.description or ""),
                        status=exc.code, mimetype="text/html")
    if exc.code == 405 and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


@bp.after_app_request
def plain_errors_as_pages(response: Response) -> Response:
    """A browser shown a plain-text 4xx (a bad query at /sparql, a missing query) gets the
    same words on a page with the navigation, and for a query, a way back to the editor."""
    if response.status_code < 400 or response.mimetype != "text/plain" or request.method not in ("GET", "POST") \
            or request.accept_mimetypes.best_match(["text/plain", "application/json", "text/html"]) != "text/html":
        return response
    message = response.get_data(as_text=True).strip()
    query = request.values.get("query", "") if request.path.endswith("/sparql") else ""
    page = render_template("error.html", code=response.status_code, name=_reason(response.status_code),
                           description=_plain_words(message), query=query,
                           editor=url_for("sparql.query_page") + "?" + urlencode({"query": query}) if query else "")
    styled = Response(page, status=response.status_code, mimetype="text/html")
    for name in ("Retry-After", "Allow"):
        if name in response.headers:
            styled.headers[name] = response.headers[name]
    return styled


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _plain_words(message: str) -> str:
    """The parser's "[_]" (any other character) means nothing to a reader: leave it out."""
    return message.replace(", [_]", "").replace("expected [_]", "something else was expected here")
