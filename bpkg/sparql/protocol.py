"""What crosses the executor's boundary: a query request, the target it runs against,
the limits it runs under, its result, and the error that carries an HTTP status."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyoxigraph as ox


@dataclass(frozen=True)
class Limits:
    timeout: float = 5.0  # seconds per query, waiting for a worker included
    max_rows: int = 10_000  # solutions (SELECT) or triples (CONSTRUCT/DESCRIBE)
    max_bytes: int = 16 * 1024 * 1024  # serialised response
    max_query_chars: int = 20_000
    max_depth: int = 40  # nested { ( [
    memory_mb: int = 2048  # extra address space a query process may use
    # a pool worker whose own (no longer shared) memory passes this is replaced after its answer:
    # the engine's reads copy the pages of the store they touch (see sparql/workers.py). Lower
    # trades time for memory: a fresh worker copies again (at 2M, 512: 0.89 GB instead of 1.45,
    # heavy queries 28 % slower); 0 turns it off
    worker_private_mb: int = 1024
    max_workers: int = 4  # queries evaluated at once in the quick lane; more wait (queue_wait), then get 503
    max_long: int = 4  # queries still running after long_after s, moved to the long lane (lowest CPU priority)
    long_after: float = 1.0  # seconds before a query counts as long-running
    long_per_client: int = 2  # long-running queries one client address may have at once
    queue_wait: float = 2.5  # longest wait for a quick-lane slot before 503 + Retry-After
    max_waiting: int = 32  # requests waiting for a slot at once; more get 503 at once
    allow_network: bool = False  # True: run queries even where a worker cannot drop its network access

    @classmethod
    def from_config(cls, config) -> "Limits":
        names = {f: "SPARQL_" + f.upper() for f in cls.__dataclass_fields__}
        return cls(**{f: _typed(getattr(cls, f), config[key]) for f, key in names.items() if key in config})


def _typed(default, value):
    if isinstance(default, bool) and isinstance(value, str):  # from the environment: bool("0") is True
        return value.strip().lower() in ("1", "true", "yes", "on")
    return type(default)(value)


class SparqlError(Exception):
    """A query or update that is refused or failed; ``status`` is the HTTP status to send
    (``retry_after``, in seconds, goes with a 503 or 429)."""

    def __init__(self, status: int, message: str, retry_after: int | None = None):
        self.status, self.message = status, message
        self.retry_after = retry_after
        super().__init__(message)


@dataclass
class Target:
    """What a query runs against: a store and the graphs it may name."""

    store: ox.Store
    graph_names: frozenset[str]
    union_default: bool = True  # default graph = union of the named graphs

    @classmethod
    def of(cls, kg) -> "Target":
        return cls(kg.store, frozenset(str(g) for g in kg.graph_names), True)


@dataclass
class Result:
    body: bytes
    content_type: str
    form: str  # SELECT, ASK, CONSTRUCT, DESCRIBE
    rows: int = 0
    truncated: str | None = None  # None, "rows" or "bytes"


@dataclass
class Request:
    """One query as the protocol gives it."""

    query: str
    accept: str | None = None
    format: str | None = None
    default_graphs: list[str] = field(default_factory=list)
    named_graphs: list[str] = field(default_factory=list)
    base_iri: str | None = None
    # A named query's own text, when ``query`` is that text with a VALUES block of terms
    # serialised by pyoxigraph (no keyword can hide there): the template's parse decides.
    template: str | None = None
