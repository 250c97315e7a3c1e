"""``bpkg serve``: the bundled graph over HTTP (waitress in production, Flask's server with --dev)."""

from __future__ import annotations

import signal
import sys
import threading
import time

from ..remote import StoreError
from ..store import LoadError


def cmd_serve(args) -> int:
    from . import create_app

    config = {}
    if args.update_sandbox:
        # The token itself comes from BPKG_SPARQL_UPDATE_TOKEN, never from the command line
        # (where every user of the machine could read it in the process list).
        config["SPARQL_UPDATE_ENABLED"] = True
    if args.timeout is not None:
        config["SPARQL_TIMEOUT"] = args.timeout
    if args.store:
        config["STORE"] = args.store
    if args.data_dir:
        config["DATA_DIR"] = args.data_dir
    try:
        app = create_app(config)
    except (LoadError, StoreError, ValueError, OSError) as exc:  # never serve a partial graph: say what is wrong, and stop
        print(f"error: {exc}\nerror: the server was not started", file=sys.stderr)
        return 2
    if args.update_sandbox and len(str(app.config.get("SPARQL_UPDATE_TOKEN") or "")) < 16:
        print("error: --update-sandbox needs BPKG_SPARQL_UPDATE_TOKEN (at least 16 characters)", file=sys.stderr)
        return 2
    from .submissions import roles

    try:
        enabled = roles(app.config) is not None
    except ValueError as exc:
        print(f"error: BPKG_SUBMITTER_TOKENS / BPKG_CURATOR_TOKENS: {exc}\nerror: the server was not started",
              file=sys.stderr)
        return 2
    if enabled and "bpkg-publisher" in app.extensions:
        where_data = app.extensions["bpkg-publisher"].inbox.path
        print(f"submissions: on; kept in {where_data}", file=sys.stderr, flush=True)
    elif enabled:
        print("submissions: off (not taken while serving from an external store)", file=sys.stderr, flush=True)
    from .sparql import start_workers

    start_workers(app)  # forked now, before the server's threads exist
    where = f"http://{args.host}:{args.port}/"
    print(f"serving the knowledge graph at {where} (SPARQL endpoint {where}sparql)", file=sys.stderr, flush=True)
    if args.dev:
        app.run(host=args.host, port=args.port, debug=False, use_reloader=False, threaded=True)
        return 0
    from waitress import create_server

    server = create_server(app, host=args.host, port=args.port, threads=args.threads, ident="bpkg",
                           max_request_body_size=app.config["MAX_CONTENT_LENGTH"])
    return serve_until_signal(server, args.grace)


def serve_until_signal(server, grace: float) -> int:
    """Run waitress until SIGTERM or SIGINT, then shut down gracefully.

    waitress itself has no SIGTERM handler: the signal kills the process and every
    in-flight request with it. Here the signal only sets a flag; the loop then stops
    accepting, lets running requests finish and their answers flush (at most ``grace``
    seconds), and returns 0 (1 if requests were still running at the end of the grace).
    """
    from waitress import wasyncore
    from waitress.channel import HTTPChannel
    from waitress.server import BaseWSGIServer

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sockets = server._map if isinstance(server, BaseWSGIServer) else server.map
    adj = server.adj
    while not stop.is_set():
        wasyncore.loop(timeout=adj.asyncore_loop_timeout, map=sockets, use_poll=adj.asyncore_use_poll, count=1)
    print("bpkg serve: stopping; finishing the requests in flight", file=sys.stderr, flush=True)
    for listener in [d for d in list(sockets.values()) if isinstance(d, BaseWSGIServer)]:
        wasyncore.dispatcher.close(listener)  # the port closes; the wake-up trigger stays
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        channels = [c for c in list(sockets.values()) if isinstance(c, HTTPChannel)]
        busy = [c for c in channels if c.requests or c.request is not None or c.total_outbufs_len]
        for idle in set(channels) - set(busy):
            idle.will_close = True  # kept-alive connections close once their answers are out
        if not channels:
            break
        wasyncore.loop(timeout=0.05, map=sockets, use_poll=adj.asyncore_use_poll, count=1)
    left = len([c for c in sockets.values() if isinstance(c, HTTPChannel)])
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=1)
    wasyncore.close_all(sockets)
    if left:
        print(f"bpkg serve: {left} connection(s) still busy after {grace:g} s; closed", file=sys.stderr)
    return 1 if left else 0


def register_cli(sub) -> None:
    p = sub.add_parser("serve", help="serve the SPARQL endpoint, the query UI and the web pages")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    p.add_argument("--dev", action="store_true", help="Flask's development server instead of waitress")
    p.add_argument("--store", metavar="URL", default=None,
                   help="serve from an external SPARQL store loaded with `bpkg load --store` (env BPKG_STORE)")
    p.add_argument("--data-dir", metavar="DIR", default=None,
                   help="the submissions database (env BPKG_DATA_DIR; default $XDG_DATA_HOME/bpkg, "
                        "else ~/.local/share/bpkg); accepted submissions there are served")
    p.add_argument("--threads", type=int, default=8, help="waitress worker threads (default 8)")
    p.add_argument("--timeout", type=float, default=None, help="per-query deadline in seconds (default 5)")
    p.add_argument("--grace", type=float, default=30.0,
                   help="on SIGTERM/SIGINT, seconds to let requests in flight finish (default 30)")
    p.add_argument("--update-sandbox", action="store_true",
                   help="test instances only: accept SPARQL Update at /sandbox/<token>/sparql into a separate "
                        "empty store; the token is read from BPKG_SPARQL_UPDATE_TOKEN")
    p.set_defaults(func=cmd_serve)
