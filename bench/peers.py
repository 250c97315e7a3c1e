"""The servers the benchmarks compare against, set up by the benchmarks in ``bench/.peers/``.

``rdflib-endpoint`` brings FastAPI and uvicorn, which bpkg does not need, so the peers get a
virtual environment of their own, ``bench/.peers/venv`` (git-ignored), with the versions
pinned below; ``oxigraph`` (the Oxigraph server from PyPI) is installed there too, so every
peer is the same on every machine, and so is what ``bench/bare_server.py`` runs on: granian,
and the very pyoxigraph and waitress bpkg runs on here. ``bench/run_all.py`` and ``bench/bench_http.py`` call
:func:`ensure` before they start; to set up (or update) the peers ahead of a run:

    python bench/peers.py

It needs only PyPI. Nothing outside the checkout is read or written.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE / ".peers"
VENV = PEERS / "venv"
PINS = ("rdflib-endpoint[cli]==0.6.3", "oxigraph==0.5.13",  # [cli]: its `serve` command
        "granian==2.8.9", *(f"{name}=={importlib.metadata.version(name)}" for name in ("pyoxigraph", "waitress")))
_STAMP = VENV / "bpkg-peers.txt"  # the pins the venv was made with: a change of pins reinstalls


def _bin(name: str) -> Path:
    return VENV / ("Scripts" if os.name == "nt" else "bin") / (name + (".exe" if os.name == "nt" else ""))


def python() -> Path:
    """The peers' python (it has ``rdflib_endpoint``)."""
    return _bin("python")


def oxigraph() -> Path:
    """The Oxigraph server binary."""
    return _bin("oxigraph")


def ready() -> bool:
    return _STAMP.is_file() and _STAMP.read_text(encoding="utf-8").split() == list(PINS)


def ensure() -> Path:
    """Create ``bench/.peers/venv`` with the pinned peers unless it is there already."""
    if ready():
        return VENV
    if not python().is_file():
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    print(f"setting up the benchmark peers in {VENV.relative_to(HERE.parent)}: {', '.join(PINS)}", flush=True)
    subprocess.run([str(python()), "-m", "pip", "install", *PINS], check=True)
    _STAMP.write_text("\n".join(PINS) + "\n", encoding="utf-8")
    return VENV


if __name__ == "__main__":
    ensure()
    print(f"peers ready: {python()} (rdflib-endpoint), {oxigraph()}")
