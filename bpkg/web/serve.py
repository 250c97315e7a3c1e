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
    if not 0 <= args.port <= 65535:
        print(f"error: --port must be a number from 1 to 65535 (0 = any free port), not {args.port}", file=sys.stderr)
        return 2
    problem = cannot_listen(args.host, args.port)  # checked before the workers are forked
    if problem:
        print(f"error: {problem}", file=sys.stderr)
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
    try:
        if args.dev:
            from werkzeug.serving import make_server

            server = make_server(args.host, args.port, app, threaded=True)
        else:
            from waitress import create_server

            server = create_server(app, host=args.host, port=args.port, threads=args.threads, ident="bpkg",
                                   max_request_body_size=app.config["MAX_CONTENT_LENGTH"])
    except OSError as exc:  # taken in the moment since the check
        print(f"error: {_listen_error(args.host, args.port, exc)}", file=sys.stderr)
        return 2
    # Announced only now that the port is ours, with the port actually bound.
    port = server.server_port if args.dev else server.effective_port
    host = f"[{args.host}]" if ":" in args.host else args.host
    where = f"http://{host}:{port}/"
    print(f"serving the knowledge graph at {where} (SPARQL endpoint {where}sparql, query guide {where}guide); "
          f"Ctrl+C stops", file=sys.stderr, flush=True)
    if args.dev:
        server.serve_forever()
        return 0
    return serve_until_signal(server, args.grace)


def cannot_listen(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port (None when it can), in one line."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress and werkzeug do
            probe.bind(address)
    except OSError as exc:
        return _listen_error(host, port, exc)
    return None


def _listen_error(host: str, port: int, exc: OSError) -> str:
    import errno
    import socket

    if isinstance(exc, socket.gaierror):
        return f"cannot listen on {host}:{port}: {host!r} is not an address of this machine ({exc.strerror})"
    if exc.errno == errno.EADDRINUSE:
        return f"cannot listen on {host}:{port}: the port is already in use; stop the other server or choose another --port"
    if exc.errno == errno.EACCES:
        return f"cannot listen on {host}:{port}: permission denied (ports below 1024 need privileges); choose another --port"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


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
