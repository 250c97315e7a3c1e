"""Shared by the security suite: an HTTP observer on 127.0.0.1, local secrets to look for,
and the one check every hostile request must pass (a clear answer, never a 5xx).

The server under attack is the session-wide ``live_server`` of tests/conftest.py (the real
``bpkg serve`` on a free loopback port, 2 s query deadline, 500-row cap).
"""

from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path

import pytest


class Observer(http.server.ThreadingHTTPServer):
    """Records every request it receives. Every attack in this suite aims at it; it must hear nothing.

    It answers like a SPARQL endpoint, a JSON-LD context, a DTD and a Turtle file at once, so
    that a client which did reach it would have something to use (and the tests would show it).
    """

    daemon_threads = True

    def __init__(self):
        self.seen: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(handler):  # noqa: N805 (http.server's naming)
                self.seen.append(f"{handler.command} {handler.path}")
                body = b'{"@context": {"name": "http://schema.org/name"}, "head": {"vars": []}, "results": {"bindings": []}}'
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(body)))
                handler.end_headers()
                handler.wfile.write(body)

            do_POST = do_HEAD = do_GET

            def log_message(handler, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def heard(self, settle: float = 0.3) -> list[str]:
        time.sleep(settle)  # a fetch made on a request's behalf could trail its answer
        return list(self.seen)


@pytest.fixture(scope="module")
def observer():
    server = Observer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def local_secrets() -> list[str]:
    """Lines of local files an attack tries to read; none may appear in any answer."""
    found = []
    for name in ("/etc/hostname", "/etc/passwd"):
        try:
            lines = [line for line in Path(name).read_text().splitlines() if len(line.strip()) >= 4]
        except OSError:
            continue
        found += lines[:1]
    return found


SECRETS = local_secrets()


def assert_clear_refusal(response, statuses=None) -> None:
    """A 4xx (or one of ``statuses``) with a readable message: no stack trace, no local file content."""
    allowed = statuses or range(400, 500)
    assert response.status_code in allowed, (response.status_code, response.text[:500])
    text = response.text
    assert text.strip(), "an error needs a message"
    assert "Traceback" not in text and 'File "/' not in text
    assert "Internal Server Error" not in text
    for secret in SECRETS:
        assert secret not in text, "a local file's content leaked into a response"
