"""A bare SPARQL endpoint built the way ``bpkg serve`` is, with none of bpkg's own code: the floor of the design.

``bpkg serve`` answers a query in a Python HTTP front that hands it to a separate query
process (which can be killed at its deadline and has no network), where the engine
evaluates it and writes the JSON. This server does only that: front processes (one per
core, as ``bpkg serve``, the N-th on the N-th core with its query processes) each with a
few pre-forked query processes, a socket pair to each, the text read from ``?query=``,
``Store.query`` and the engine's own JSON writer.
No gate, no result cache, no admission, no limits, no error handling worth the name:
never serve it. ``bench_http.py`` measures it beside ``bpkg serve`` and ``oxigraph
serve``, so the run shows how much of the distance to Oxigraph is the design (a Python
front and a process hop) and how much is bpkg's own code on top.

    python bench/bare_server.py --http waitress|granian --port P --fronts N DUMP.nq

``--http granian`` needs granian (a Rust HTTP server that runs WSGI applications), which
``bench/peers.py`` installs in the peers' venv; run it with that venv's python.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import os
import queue
import signal
import socket
import struct
import sys
import urllib.parse

QUERY_PROCESSES = 4  # per front: bpkg serve's quick slots
THREADS = 8  # per front: more than the query processes, as in bpkg serve
_LENGTH = struct.Struct(">I")
_CONTENT_TYPE = "application/sparql-results+json"


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: nothing outlives the server


def _pin(index: int) -> None:
    """The ``index``-th front on the ``index``-th core, as ``bpkg serve`` places its fronts;
    its query processes inherit the core (bpkg moves them more cleverly)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[index % len(cpus)]})


def _next_front_index(counter: str) -> int:
    """granian starts its workers itself: each takes the next number from a locked file."""
    with open(counter, "a+") as f:
        fcntl.lockf(f, fcntl.LOCK_EX)
        f.seek(0)
        index = len(f.read())
        f.write("x")
    return index


def _send(sock: socket.socket, data: bytes) -> None:
    sock.sendall(_LENGTH.pack(len(data)) + data)


def _receive(sock: socket.socket) -> bytes:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("the other end closed")
            data += chunk
        return data

    return exactly(_LENGTH.unpack(exactly(_LENGTH.size))[0])


def _answer_queries(sock: socket.socket, store) -> None:
    """A query process: text in, the engine's JSON out, until the front goes."""
    import pyoxigraph as ox

    while True:
        try:
            text = _receive(sock).decode()
        except ConnectionError:
            os._exit(0)
        try:
            answer = store.query(text, use_default_graph_as_union=True)
            if isinstance(answer, ox.QueryBoolean):
                body = b'{"head":{},"boolean":%s}' % (b"true" if answer else b"false")
            else:
                body = answer.serialize(format=ox.QueryResultsFormat.JSON)
        except Exception as exc:  # noqa: BLE001 (the benchmark's queries are valid; say it if not)
            body = b"!" + str(exc).encode()
        _send(sock, body)


def wsgi_app(dump: str, index: int):
    """Load ``dump``, fork the query processes, and return the ``index``-th front's WSGI application."""
    import pyoxigraph as ox

    _pin(index)
    store = ox.Store()
    store.bulk_load(path=dump, format=ox.RdfFormat.N_QUADS)
    idle: queue.SimpleQueue[socket.socket] = queue.SimpleQueue()
    for _ in range(QUERY_PROCESSES):
        ours, theirs = socket.socketpair()
        if os.fork() == 0:
            _die_with_parent()
            ours.close()
            _answer_queries(theirs, store)
        theirs.close()
        idle.put(ours)

    def app(environ, start_response):
        text = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("query", [""])[0]
        sock = idle.get()
        try:
            _send(sock, text.encode())
            body = _receive(sock)
        finally:
            idle.put(sock)
        if body.startswith(b"!"):
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [body[1:]]
        start_response("200 OK", [("Content-Type", _CONTENT_TYPE), ("Content-Length", str(len(body)))])
        return [body]

    return app


# granian imports its application by name, in each of its worker processes.
app = (wsgi_app(os.environ["BARE_DUMP"], _next_front_index(os.environ["BARE_COUNTER"]))
       if os.environ.get("BARE_DUMP") and __name__ != "__main__" else None)


def serve_waitress(dump: str, port: int, fronts: int) -> None:
    """``fronts`` waitress processes accepting on one socket, as ``bpkg serve`` runs them."""
    import waitress

    listener = socket.create_server(("127.0.0.1", port), backlog=2048)
    listener.setblocking(False)
    children = []
    for index in range(fronts):
        pid = os.fork()
        if pid == 0:
            _die_with_parent()
            waitress.create_server(wsgi_app(dump, index), sockets=[listener], threads=THREADS).run()
            os._exit(0)
        children.append(pid)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        for pid in children:
            os.waitpid(pid, 0)
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def serve_granian(dump: str, port: int, fronts: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    import shutil
    import tempfile

    counter = tempfile.mkdtemp(prefix="bare-server-")
    os.environ["BARE_DUMP"] = dump
    os.environ["BARE_COUNTER"] = os.path.join(counter, "fronts")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        Granian("bare_server:app", address="127.0.0.1", port=port, interface=Interfaces.WSGI, workers=fronts,
                blocking_threads=THREADS, log_enabled=False).serve()
    finally:
        shutil.rmtree(counter, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", choices=("waitress", "granian"), default="waitress")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fronts", type=int, default=1)
    parser.add_argument("dump", help="an N-Quads file: the graph to serve")
    args = parser.parse_args(argv)
    (serve_granian if args.http == "granian" else serve_waitress)(os.path.abspath(args.dump), args.port, args.fronts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
