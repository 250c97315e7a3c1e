"""Shared by the security suite: an HTTP observer on 127.0.0.1, local secrets to look for,
and the one check every hostile request must pass (a clear answer, never a 5xx).

The server under attack is the session-wide ``live_server`` of tests/conftest.py (the real
``bpkg serve`` on a free loopback port, at the default limits).
"""

from __future__ import annotations

from pathlib import Path



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
