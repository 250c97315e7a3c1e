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
    try:
        app = create_app(config)
    except (LoadError, StoreError) as exc:  # never serve a partial graph: say what is wrong, and stop
        print(f"error: {exc}\nerror: the server was not started", file=sys.stderr)
        return 2
    if args.update_sandbox and len(str(app.config.get("SPARQL_UPDATE_TOKEN") or "")) < 16:
        print("error: --update-sandbox needs BPKG_SPARQL_UPDATE_TOKEN (at least 16 characters)", file=sys.stderr)
        return 2
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
