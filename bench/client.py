"""The benchmarks' HTTP client: keep-alive connections that send prepared request bytes.

``http.client`` spends about 0.1 ms of Python per request on building the request and
parsing the response's headers with the email parser; on two cores shared by client and
server that is as much as a small query costs Oxigraph, and it is the same for every
server measured, so it hides the differences being measured. This client sends bytes
prepared once (the query string percent-encoded once, a per-request comment appended)
and reads the status line, Content-Length or chunked framing and nothing else.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
import urllib.parse

ACCEPT = "application/sparql-results+json"


class Connection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1."""

    def __init__(self, port: int, timeout: float = 60):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buf += chunk

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def send(self, raw: bytes, head: bool = False) -> tuple[int, bytes, bool]:
        """Send one prepared request; (status, body, the server keeps the connection open)."""
        self.sock.sendall(raw)
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        header, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = header.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked, keep = None, False, True
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                keep = False
        if head or status in (204, 304):
            return status, b"", keep
        if chunked:
            parts = []
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():  # trailers, then the empty line
                        pass
                    return status, b"".join(parts), keep
                parts.append(self._take(size))
                self._take(2)
        if length is None:  # the body runs to the end of the connection
            while True:
                try:
                    self._fill()
                except ConnectionError:
                    body, self.buf = self.buf, b""
                    return status, body, False
        return status, self._take(length), keep


def get_request(port: int, path: str, query: str, accept: str = ACCEPT, extra: str = "") -> bytes:
    return (f"GET {path}?query={urllib.parse.quote(query, safe='')}{extra} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nAccept: {accept}\r\n\r\n").encode()


def load_test(port: int, path: str, query: str, clients: int, seconds: float, headers: dict | None = None,
              bust: bool = False, accept: str = ACCEPT) -> dict:
    """``clients`` threads, each with a keep-alive connection, send ``query`` for ``seconds``.
    With ``bust`` every request carries a different trailing comment, so no result cache
    can answer it (the uncached path: the same query in a new text). Bounded: it stops
    by itself after ``seconds`` plus the last answers (each at most 60 s)."""
    extra_headers = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    base = urllib.parse.quote(query, safe="")
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start_gate = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def raw(i: int, n: int) -> bytes:
        text = base + (urllib.parse.quote(f"\n# client {i} request {n}", safe="") if bust else "")
        return (f"GET {path}?query={text} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: {accept}\r\n"
                f"{extra_headers}\r\n").encode()

    def worker(i: int) -> None:
        conn = Connection(port)
        fixed = raw(i, 0)
        start_gate.wait()
        n = 0
        while time.perf_counter() < stop_at[0]:
            n += 1
            request = raw(i, n) if bust else fixed
            t0 = time.perf_counter()
            try:
                status, _, keep = conn.send(request)
            except OSError:
                errors[i] += 1
                conn.close()
                conn = Connection(port)
                continue
            latencies[i].append(time.perf_counter() - t0)
            if status not in (200, 304):
                errors[i] += 1
            if not keep:
                conn.close()
                conn = Connection(port)
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    start_gate.wait()
    for t in threads:
        t.join(timeout=seconds + 120)
    elapsed = time.perf_counter() - began
    flat = sorted(x for per in latencies for x in per)
    if not flat:
        return {"requests": 0, "errors": sum(errors), "rps": 0.0, "p50_ms": None, "p99_ms": None}
    return {"requests": len(flat), "errors": sum(errors), "rps": len(flat) / elapsed,
            "p50_ms": statistics.median(flat) * 1000, "p99_ms": flat[min(len(flat) - 1, int(len(flat) * 0.99))] * 1000}
