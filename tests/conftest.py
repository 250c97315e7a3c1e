"""Shared fixtures (Flask-tutorial style): one loaded graph per session, app and client per test."""

from __future__ import annotations

import http.server
import shutil
import threading
import time
from pathlib import Path

import pytest

import bpkg
from bpkg.web import create_app
from servers import ROOT, bpkg_cli, free_port, start_server, stop_server  # noqa: F401 (shared with bench/)

SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference"
CONFORMANCE = SHARED / "conformance"


@pytest.fixture(scope="session")
def kg():
    """The bundled knowledge graph, loaded once (it is read-only)."""
    return bpkg.load()


@pytest.fixture(scope="session", autouse=True)
def _stop_query_workers():
    """The app's query workers (bpkg.sparql.WorkerPool) are forked from this process on
    first use; stop them by PID when the session ends."""
    yield
    from bpkg.sparql import shutdown_pools

    shutdown_pools()


@pytest.fixture()
def app(kg):
    return create_app({"TESTING": True, "KG": kg})


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def reference_dir():
    if not REFERENCE.is_dir():
        pytest.skip(f"reference pack not found at {REFERENCE} (CI has it; a plain clone may not)")
    return REFERENCE


# -- a real server on 127.0.0.1 (SPARQL endpoint tests) ---------------------------------

@pytest.fixture(scope="session")
def live_server():
    """The read-only endpoint at the project's default settings (bpkg.sparql.Limits: 5 s
    deadline, 10,000 rows, ...), as a user runs it: tests never shorten a limit to pass."""
    base, proc = start_server()
    yield base
    stop_server(proc)


# -- a real browser (Debian's Chromium through selenium) ---------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,1600",
    # Every host but 127.0.0.1 is unresolvable: a page that needs the internet fails its test.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium with its console log kept; skipped, with the fix, where it is missing."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("Debian chromium and chromium-driver are not installed (apt-get install -y chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


# -- a local HTTP observer: proves that nothing is fetched on a request's behalf ----------------

class HttpObserver(http.server.ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 that records every request it receives.

    It answers like a SPARQL endpoint or a JSON-LD context, whichever was asked for, so an
    escape that does reach it is not masked by a client error. ``url`` ends with a slash.
    """

    def __init__(self):
        self.seen: list[str] = []
        observer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                observer.seen.append(self.path)
                sparql = "sparql-results" in self.headers.get("Accept", "")
                body = (b'{"head":{"vars":["x"]},"results":{"bindings":[{"x":{"type":"literal","value":"1"}}]}}'
                        if sparql else b'{"@context": {"name": "http://schema.org/name"}}')
                self.send_response(200)
                self.send_header("Content-Type", "application/sparql-results+json" if sparql else "application/ld+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_HEAD = do_GET

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/"

    def heard(self, settle: float = 0.3) -> list[str]:
        time.sleep(settle)  # a fetch made on a request's behalf could trail its answer
        return list(self.seen)


@pytest.fixture(scope="module")
def _observer_server():
    server = HttpObserver()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture()
def observer(_observer_server):
    """The observer, with an empty record at the start of each test."""
    _observer_server.seen.clear()
    return _observer_server
