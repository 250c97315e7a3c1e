"""``bpkg serve``: the bundled graph over HTTP (waitress in production, Flask's server with --dev).

Why waitress, configured for the open web: it reads requests and writes answers in one
event loop, so a slow or idle connection costs a socket, never a thread (gunicorn's sync
workers give each connection a process, so 100 slow clients stop them all). Its threads
only run the application. What waitress leaves open is bounded here:

* up to ``--connections`` (default 1000) connections at once, in the whole server (each
  front takes its share; the file limit is raised to fit, and ``poll`` replaces ``select``,
  which stops at descriptor 1024);
* a connection idle for ``--idle-timeout`` s (10) is closed; a request whose headers
  have not all arrived ``HEADER_TIMEOUT`` s after they began, or whose body has not
  ``BODY_TIMEOUT`` s after that, is closed (slowloris);
* ``--threads`` (48) application threads in each front, more than the query slots can ever hold
  (quick + long + waiting, see :mod:`bpkg.sparql.admission`), so pages, static files and
  cached answers always find a thread.

With several front processes (``--processes N``, by default one per core, at most 4:
:mod:`bpkg.web.fronts`) the listening socket is made here and N fronts, each such a
waitress server, accept on it.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
import threading
import time

from ..remote import StoreError
from ..store import LoadError

HEADER_TIMEOUT = 10.0  # seconds for a request's headers, from its first byte
BODY_TIMEOUT = 60.0  # seconds more for its body (1 MiB at 17 kB/s)
SHUTDOWN_LISTEN = 1.0  # seconds an accepted connection may take to send its request after SIGTERM


def cmd_serve(args) -> int:
    from . import create_app

    if not 0 <= args.port <= 65535:
        print(f"error: --port must be a number from 1 to 65535 (0 = any free port), not {args.port}", file=sys.stderr)
        return 2
    problem = cannot_listen(args.host, args.port)  # before the seconds of loading and checking
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
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
    if args.no_conformance_check:
        config["CHECK_CONFORMANCE"] = False
    if args.processes is not None:
        config["PROCESSES"] = args.processes
    if getattr(args, "kg", None):
        config["KG_PATHS"] = args.kg
    host = f"[{args.host}]" if ":" in args.host else args.host
    # URLs the site writes come from here, never from a client's Host header.
    public_url = args.public_url or os.environ.get("BPKG_PUBLIC_URL")
    config["PUBLIC_URL"] = public_url or f"http://{host}:{args.port}/"
    try:
        app = create_app(config)
        if not app.config.get("STORE") and app.config["CHECK_CONFORMANCE"]:  # an external store's: by `bpkg load`
            from ..validation import require_conformance

            require_conformance(app.extensions["bpkg"])
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
    from ..sparql import Limits, network_isolation_available
    from .sparql import start_workers

    cap = Limits.from_config(app.config)
    if not app.config.get("STORE") and not cap.allow_network and not network_isolation_available():
        print("error: query processes cannot drop their network access here (unshare(CLONE_NEWNET) failed, "
              "also in a user namespace), so a query could reach the network.\n"
              "error: run where network namespaces are allowed, or set BPKG_SPARQL_ALLOW_NETWORK=1 to serve anyway; "
              "the server was not started", file=sys.stderr)
        return 2
    processes = processes_to_run(app.config, args)
    if isinstance(processes, str):
        print(f"error: {processes}\nerror: the server was not started", file=sys.stderr)
        return 2
    app.config["PROCESSES"] = processes  # settled: the shares and the service description use it
    if processes > 1:
        from . import fronts

        fronts.share_state(app)  # in shared memory, before the fronts fork
    else:
        if app.config["PIN_CPUS"]:
            from ..sparql.cores import pin_front

            pin_front(0)  # before the server's threads, which inherit it
        start_workers(app)  # forked now, before the server's threads exist
    try:
        if args.dev:
            from werkzeug.serving import make_server

            server = make_server(args.host, args.port, app, threaded=True)
        else:
            _raise_file_limit(args.connections + 256)
            _few_malloc_arenas()
            server = listening_socket(args.host, args.port) if processes > 1 else _waitress(app, args)
    except OSError as exc:  # taken in the moment since the check
        print(f"error: {_listen_error(args.host, args.port, exc)}", file=sys.stderr)
        return 2
    # Announced only now that the port is ours, with the port actually bound.
    port = server.server_port if args.dev else server.getsockname()[1] if processes > 1 else server.effective_port
    where = f"http://{host}:{port}/"
    if not public_url:
        app.config["PUBLIC_URL"] = where  # --port 0: the port is known only now
    print(f"serving the knowledge graph at {where} (SPARQL endpoint {where}sparql, query guide {where}guide)"
          f"{f' from {processes} processes' if processes > 1 else ''}; Ctrl+C stops", file=sys.stderr, flush=True)
    if args.dev:
        server.serve_forever()
        return 0
    if processes > 1:
        from . import fronts

        supervisor = os.getpid()
        return fronts.supervise(lambda index: _front(app, args, server, supervisor, index), processes,
                                on_stop=server.close, on_reaped=lambda pid: fronts.free_places_of(app, pid))
    return serve_until_signal(server, args.grace)


def processes_to_run(config, args) -> int | str:
    """How many front processes to run (:mod:`bpkg.web.fronts`), or why the setting cannot be taken."""
    from ..settings import processes_by_default

    value = config.get("PROCESSES")
    try:
        processes = 0 if value is None else int(value)
    except (TypeError, ValueError):
        return f"--processes / BPKG_PROCESSES must be a whole number, not {value!r}"
    if not 0 <= processes <= 256:
        return f"--processes / BPKG_PROCESSES must be from 1 to 256 (or 0, one per core), not {processes}"
    if processes == 0:  # the default
        return 1 if args.dev or args.update_sandbox else processes_by_default()
    if processes > 1 and args.dev:
        return "--dev runs Flask's server in one process; leave out --processes"
    if processes > 1 and args.update_sandbox:
        # The sandbox's store lives in one process's memory: a second front would answer from another.
        return "--update-sandbox keeps its store in one process; leave out --processes"
    return processes


def _waitress(app, args, sockets=None):
    from waitress import create_server

    from .fronts import running, share_of

    where = {"sockets": sockets} if sockets else {"host": args.host, "port": args.port}
    # --connections is the server's: each front takes its share (a front at its share stops
    # accepting, and the kernel hands the next connection to another).
    return create_server(app, **where, threads=args.threads, ident="bpkg",
                         max_request_body_size=app.config["MAX_CONTENT_LENGTH"],
                         connection_limit=share_of(args.connections, running(app.config)),
                         channel_timeout=args.idle_timeout,
                         cleanup_interval=1, asyncore_use_poll=True, backlog=2048)


def listening_socket(host: str, port: int):
    """The socket every front process accepts on (as waitress would make it)."""
    import socket

    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    sock = socket.create_server((host, port), family=family, backlog=2048)
    sock.setblocking(False)
    return sock


def _front(app, args, listener, supervisor: int, index: int) -> None:
    """The ``index``-th front process: its query workers, then waitress on the shared socket until SIGTERM."""
    from ..sparql import shutdown_pools
    from ..sparql.cores import pin_front
    from ..sparql.workers import die_with
    from .fronts import on_stop_signal
    from .sparql import start_workers

    stop = threading.Event()
    on_stop_signal(stop)  # before the workers fork: they must not inherit blocked signals
    die_with(supervisor)  # ends with the supervisor, however that ends
    if app.config["PIN_CPUS"]:
        pin_front(index)  # before its threads, which inherit it
    start_workers(app)
    code = serve_until_signal(_waitress(app, args, sockets=[listener]), args.grace, stop)
    shutdown_pools()
    sys.stderr.flush()
    os._exit(code)


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


def _raise_file_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _few_malloc_arenas() -> None:
    """At most two glibc malloc arenas. By default each request thread gets an arena of its
    own, and a burst of large request bodies (8 floods of 1 MiB at once) leaves each arena
    holding its peak: memory that is never used again. The GIL runs one thread at a time,
    so more arenas buy nothing."""
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass  # not glibc: its own allocator's behaviour


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


def serve_until_signal(server, grace: float, stop: threading.Event | None = None) -> int:
    """Run waitress until SIGTERM or SIGINT (or ``stop`` is set), then shut down gracefully.

    waitress itself has no SIGTERM handler: the signal kills the process and every
    in-flight request with it. Here the signal only sets a flag; the loop then stops
    accepting, lets running requests finish and their answers flush (at most ``grace``
    seconds), and returns 0 (1 if requests were still running at the end of the grace).
    """
    from waitress import wasyncore
    from waitress.channel import HTTPChannel
    from waitress.server import BaseWSGIServer

    if stop is None:
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


def _accept_backlog(listener) -> None:
    """Take every connection waiting in the listening socket's queue, so none is reset."""
    import select

    poller = select.poll()
    poller.register(listener.socket, select.POLLIN)
    for _ in range(100_000):
        if not poller.poll(0):
            return
        listener.handle_accept()
