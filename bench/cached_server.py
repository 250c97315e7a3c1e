"""The production app behind a result cache, for measuring the cache's HTTP hit path.

This is the integration that docs/benchmarks.md recommends for ``bpkg/web/sparql.py``,
written as WSGI middleware so that the benchmark can measure it without touching the
endpoint: ``GET /sparql`` responses with status 200 and no truncation are kept in a
:class:`bpkg.cache.ResultCache` under (query string, Accept, dataset version); every such
response carries an ``ETag`` and a matching ``If-None-Match`` is answered 304 before any work.

    python bench/cached_server.py PORT      # serves on 127.0.0.1:PORT with waitress
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bpkg.cache import ResultCache, cache_key, etag, not_modified  # noqa: E402
from bpkg.web import create_app  # noqa: E402


def cached(app, cache: ResultCache):
    version = app.extensions["bpkg"].version

    def middleware(environ, start_response):
        if environ.get("PATH_INFO") != "/sparql" or environ.get("REQUEST_METHOD") != "GET":
            return app(environ, start_response)
        # The query string carries the query text and every protocol parameter (format,
        # default-graph-uri, ...); Accept picks the format: together with the version,
        # they determine the body.
        key = cache_key(environ.get("QUERY_STRING", ""), None, environ.get("HTTP_ACCEPT", ""), version)
        tag = etag(key)
        if not_modified(environ.get("HTTP_IF_NONE_MATCH"), tag):
            start_response("304 Not Modified", [("ETag", tag)])
            return [b""]
        hit = cache.get(key)
        if hit is not None:
            status, headers, body = hit
            start_response(status, headers + [("X-BPKG-Cache", "hit")])
            return [body]
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, list(headers)
            return start_response(status, captured["headers"] + [("ETag", tag)], exc_info) if status.startswith("200") \
                else start_response(status, headers, exc_info)

        body = b"".join(app(environ, capture))
        names = {name.lower() for name, _ in captured.get("headers", [])}
        if captured.get("status", "").startswith("200") and "x-bpkg-truncated" not in names:
            cache.put(key, (captured["status"], captured["headers"] + [("ETag", tag)], body))
        return [body]

    return middleware


def main() -> int:
    from waitress import serve

    port = int(sys.argv[1])
    app = create_app()
    serve(cached(app, ResultCache()), host="127.0.0.1", port=port, threads=8, ident="bpkg-cached", _quiet=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
