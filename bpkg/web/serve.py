"""``bpkg serve``: the bundled graph over HTTP (waitress in production, Flask's server with --dev).

Why waitress, configured for the open web: it reads requests and writes answers in one
event loop, so a slow or idle connection costs a socket, never a thread (gunicorn's sync
workers give each connection a process, so 100 slow clients stop them all). Its threads
only run the application. What waitress leaves open is bounded here:

* up to ``--connections`` (default 1000) connections at once (the file limit is raised
  to fit, and ``poll`` replaces ``select``, which stops at descriptor 1024);
* a connection idle for ``--idle-timeout`` s (10) is closed; a request whose headers
  have not all arrived ``HEADER_TIMEOUT`` s after they began, or whose body has not
  ``BODY_TIMEOUT`` s after that, is closed (slowloris);
* ``--threads`` (48) application threads, more than the query slots can ever hold
  (quick + long + waiting, see :mod:`bpkg.sparql.admission`), so pages, static files and
  cached answers always find a thread.
"""

from __future__ import annotations

import resource
import signal
import sys
import threading
import time

HEADER_TIMEOUT = 10.0  # seconds for a request's headers, from its first byte
BODY_TIMEOUT = 60.0  # seconds more for its body (1 MiB at 17 kB/s)

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
    import os

    # URLs the site writes come from here, never from a client's Host header.
    config["PUBLIC_URL"] = args.public_url or os.environ.get("BPKG_PUBLIC_URL") or f"http://{args.host}:{args.port}/"
    try:
        app = create_app(config)
        if not app.config.get("STORE"):  # an external store's data was checked by `bpkg load`
            from ..validation import require_conformance

            require_conformance(app.extensions["bpkg"])
    except (LoadError, StoreError) as exc:  # never serve a partial graph: say what is wrong, and stop
        print(f"error: {exc}\nerror: the server was not started", file=sys.stderr)
        return 2
    if args.update_sandbox and len(str(app.config.get("SPARQL_UPDATE_TOKEN") or "")) < 16:
        print("error: --update-sandbox needs BPKG_SPARQL_UPDATE_TOKEN (at least 16 characters)", file=sys.stderr)
        return 2
    from ..sparql import Limits, network_isolation_available
    from .sparql import start_workers

    cap = Limits.from_config(app.config)
    if not app.config.get("STORE") and not cap.allow_network and not network_isolation_available():
        print("error: query processes cannot drop their network access here (unshare(CLONE_NEWNET) failed, "
              "also in a user namespace), so a query could reach the network.\n"
              "error: run where network namespaces are allowed, or set BPKG_SPARQL_ALLOW_NETWORK=1 to serve anyway; "
              "the server was not started", file=sys.stderr)
        return 2
    start_workers(app)  # forked now, before the server's threads exist
    where = f"http://{args.host}:{args.port}/"
    print(f"serving the knowledge graph at {where} (SPARQL endpoint {where}sparql)", file=sys.stderr, flush=True)
    if args.dev:
        app.run(host=args.host, port=args.port, debug=False, use_reloader=False, threaded=True)
        return 0
    from waitress import create_server

    _raise_file_limit(args.connections + 256)
    server = create_server(app, host=args.host, port=args.port, threads=args.threads, ident="bpkg",
                           max_request_body_size=app.config["MAX_CONTENT_LENGTH"],
                           connection_limit=args.connections, channel_timeout=args.idle_timeout,
                           cleanup_interval=1, asyncore_use_poll=True, backlog=2048)
    return serve_until_signal(server, args.grace)


def _raise_file_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class _SlowRequests:
    """Closes connections whose request trickles in (waitress only times out idle ones)."""

    def __init__(self):
        self.started: dict = {}  # channel -> (the request parser, when it started)

    def sweep(self, channels, now: float) -> None:
        seen = {}
        for channel in channels:
            parser = getattr(channel, "request", None)
            if parser is None or parser.completed:
                continue
            previous = self.started.get(channel)
            begun = previous[1] if previous is not None and previous[0] is parser else now
            seen[channel] = (parser, begun)
            allowed = HEADER_TIMEOUT if not parser.headers_finished else HEADER_TIMEOUT + BODY_TIMEOUT
            if now - begun > allowed:
                channel.handle_close()
        self.started = seen


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
    slow, swept = _SlowRequests(), time.monotonic()
    while not stop.is_set():
        wasyncore.loop(timeout=min(adj.asyncore_loop_timeout, 0.5), map=sockets, use_poll=adj.asyncore_use_poll,
                       count=1)
        if time.monotonic() - swept >= 0.5:
            swept = time.monotonic()
            slow.sweep([c for c in list(sockets.values()) if isinstance(c, HTTPChannel)], swept)
    print("bpkg serve: stopping; finishing the requests in flight", file=sys.stderr, flush=True)
    for listener in [d for d in list(sockets.values()) if isinstance(d, BaseWSGIServer)]:
        _accept_backlog(listener)  # connections the kernel accepted before the signal are answered too
        wasyncore.dispatcher.close(listener)  # the port closes; the wake-up trigger stays
    stopped = time.monotonic()
    deadline = stopped + grace
    while time.monotonic() < deadline:
        channels = [c for c in list(sockets.values()) if isinstance(c, HTTPChannel)]
        busy = [c for c in channels if c.requests or c.request is not None or c.total_outbufs_len]
        # A connection with nothing to read yet may be one whose request is still on its way:
        # it gets a moment (bounded) before it counts as idle.
        quiet_for = time.monotonic() - stopped
        for idle in set(channels) - set(busy):
            if quiet_for >= min(grace, SHUTDOWN_LISTEN) or idle.last_activity < time.time() - adj.channel_timeout:
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


SHUTDOWN_LISTEN = 1.0  # seconds an accepted connection may take to send its request after SIGTERM


def _accept_backlog(listener) -> None:
    """Take every connection waiting in the listening socket's queue, so none is reset."""
    import select

    poller = select.poll()
    poller.register(listener.socket, select.POLLIN)
    for _ in range(100_000):
        if not poller.poll(0):
            return
        listener.handle_accept()


def register_cli(sub) -> None:
    p = sub.add_parser("serve", help="serve the SPARQL endpoint, the query UI and the web pages")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    p.add_argument("--dev", action="store_true", help="Flask's development server instead of waitress")
    p.add_argument("--store", metavar="URL", default=None,
                   help="serve from an external SPARQL store loaded with `bpkg load --store` (env BPKG_STORE)")
    p.add_argument("--threads", type=int, default=48,
                   help="application threads (default 48; queries never hold more than their slots)")
    p.add_argument("--connections", type=int, default=1000, help="open connections at once (default 1000)")
    p.add_argument("--idle-timeout", type=float, default=10.0,
                   help="seconds before an idle connection is closed (default 10)")
    p.add_argument("--public-url", default=None, metavar="URL",
                   help="the URL clients reach this server by (env BPKG_PUBLIC_URL; default http://HOST:PORT/); "
                        "every URL the site writes uses it, never the request's Host header")
    p.add_argument("--timeout", type=float, default=None, help="per-query deadline in seconds (default 5)")
    p.add_argument("--grace", type=float, default=30.0,
                   help="on SIGTERM/SIGINT, seconds to let requests in flight finish (default 30)")
    p.add_argument("--update-sandbox", action="store_true",
                   help="test instances only: accept SPARQL Update at /sandbox/<token>/sparql into a separate "
                        "empty store; the token is read from BPKG_SPARQL_UPDATE_TOKEN")
    p.set_defaults(func=cmd_serve)
