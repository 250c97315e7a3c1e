"""``bpkg serve``: the bundled graph over HTTP (waitress in production, Flask's server with --dev)."""

from __future__ import annotations

import sys


def cmd_serve(args) -> int:
    from . import create_app

    config = {}
    if args.update_sandbox:
        # The token itself comes from BPKG_SPARQL_UPDATE_TOKEN, never from the command line
        # (where every user of the machine could read it in the process list).
        config["SPARQL_UPDATE_ENABLED"] = True
    if args.timeout is not None:
        config["SPARQL_TIMEOUT"] = args.timeout
    app = create_app(config)
    if args.update_sandbox and len(str(app.config.get("SPARQL_UPDATE_TOKEN") or "")) < 16:
        print("error: --update-sandbox needs BPKG_SPARQL_UPDATE_TOKEN (at least 16 characters)", file=sys.stderr)
        return 2
    where = f"http://{args.host}:{args.port}/"
    print(f"serving the knowledge graph at {where} (SPARQL endpoint {where}sparql)", file=sys.stderr, flush=True)
    if args.dev:
        app.run(host=args.host, port=args.port, debug=False, use_reloader=False, threaded=True)
        return 0
    from waitress import serve

    serve(app, host=args.host, port=args.port, threads=args.threads, ident="bpkg",
          max_request_body_size=app.config["MAX_CONTENT_LENGTH"], _quiet=False)
    return 0


def register_cli(sub) -> None:
    p = sub.add_parser("serve", help="serve the SPARQL endpoint, the query UI and the web pages")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    p.add_argument("--dev", action="store_true", help="Flask's development server instead of waitress")
    p.add_argument("--threads", type=int, default=8, help="waitress worker threads (default 8)")
    p.add_argument("--timeout", type=float, default=None, help="per-query deadline in seconds (default 5)")
    p.add_argument("--update-sandbox", action="store_true",
                   help="test instances only: accept SPARQL Update at /sandbox/<token>/sparql into a separate "
                        "empty store; the token is read from BPKG_SPARQL_UPDATE_TOKEN")
    p.set_defaults(func=cmd_serve)
