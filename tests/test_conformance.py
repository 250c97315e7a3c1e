"""The W3C SPARQL 1.1 Protocol and Service Description suites, run by the npm package
``rdf-test-suite`` against a live test instance with the update sandbox switched on
(the suite loads its data through SPARQL Update). Targets: 34/34 and 3/3."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess

import pytest

from conftest import CONFORMANCE, ROOT, start_server, stop_server

MANIFESTS = CONFORMANCE / "w3c-rdf-tests"
REMOTE = "https://w3c.github.io/rdf-tests/"
STUB = ROOT / "tests" / "conformance" / "STUB.js"
RUNNER = ROOT / "node_modules" / ".bin" / "rdf-test-suite"


@pytest.fixture(scope="module")
def sandbox_server():
    if not MANIFESTS.is_dir():
        pytest.skip(f"W3C manifests not found at {MANIFESTS} (CI has ../shared/conformance; a plain clone may not)")
    if not shutil.which("npx") or not shutil.which("node"):
        pytest.skip("node/npx are not installed")
    if not RUNNER.exists():
        pytest.skip("rdf-test-suite is not installed: run `npm install` in the project folder")
    token = secrets.token_urlsafe(24)
    base, proc = start_server("--update-sandbox", env={"BPKG_SPARQL_UPDATE_TOKEN": token})
    yield base, token
    stop_server(proc)


def run_suite(manifest: str, option: str, endpoint: str) -> tuple[int, int, str]:
    done = subprocess.run(
        ["npx", "--no-install", "rdf-test-suite", str(STUB.relative_to(ROOT)), REMOTE + manifest,
         "-m", f"{REMOTE}~{MANIFESTS}/", "-i", f'{{"{option}":"{endpoint}"}}', "-e"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    match = re.search(r"(\d+) / (\d+) tests? succeeded", output)
    assert match, output[-3000:]
    return int(match.group(1)), int(match.group(2)), output


def test_protocol_suite(sandbox_server):
    base, token = sandbox_server
    passed, total, output = run_suite("sparql/sparql11/protocol/manifest.ttl", "protocolEndpoint",
                                      f"{base}/sandbox/{token}/sparql")
    assert (passed, total) == (34, 34), output[-6000:]


def test_service_description_suite_on_the_public_endpoint(sandbox_server):
    base, _ = sandbox_server
    passed, total, output = run_suite("sparql/sparql11/service-description/manifest.ttl",
                                      "serviceDescriptionEndpoint", f"{base}/sparql")
    assert (passed, total) == (3, 3), output[-6000:]
