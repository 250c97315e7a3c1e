"""The one safe SPARQL executor, used by the web endpoint and the CLI alike.

A query goes through, in this order:

1. **screen** (microseconds): unicode escapes expanded as the
   spec says, then a length cap and a nesting-depth cap. Measured: a 12 kB deeply nested
   query segfaults pyoxigraph, so nothing deep reaches any parser.
2. **gate**, two readings that must both pass (``gate.py``): a lexical scan (keywords
   outside strings, IRIs and comments; prefixes spelt like keywords) and a parse by a
   grammar-complete SPARQL 1.1 parser, before the engine: SERVICE, updates and any graph
   named by FROM/FROM NAMED/GRAPH outside the dataset are refused; what the parser cannot
   read is refused. The decision is kept per query (comments and spacing aside), and the
   server hands a decision it has seen to the next job with that text.

Steps 1 and 2 run in the query process, before the engine: the server itself only
checks the length, looks up the result cache and hands the text over, so its thread
(and its share of the GIL) is free for the next request.
3. a **query worker**: a process without network (its network namespace unshared, so
   not even loopback), under an address-space limit, killed with SIGKILL at the deadline.
   Threads cannot be stopped in Python and Oxigraph ignores timeouts for some queries; a
   process can always be killed, and an engine crash costs one request. The web server
   keeps a small pool of such workers, forked once from the loaded server (they share the
   store copy-on-write) and replaced when one is killed or dies; one-shot callers (the
   CLI, the update sandbox) fork one child per query. In the worker pyoxigraph parses
   (a syntax error comes back as 400 with line and column) and evaluates. The gate
   decides what is refused and why; the network-less worker is the hard guarantee
   behind it in the default mode (a worker that cannot drop its network refuses to
   start unless ``SPARQL_ALLOW_NETWORK`` is set).
4. **limits** while serialising: a row cap and a byte cap, reported, never a broken
   document.

Updates exist only for the explicitly enabled test sandbox (:func:`run_update`); they
never touch the bundled graph.

Modules: ``protocol`` (request, target, limits, result, error), ``gate`` (steps 1 and 2),
``admission`` (who may run a query now: quick and long lanes, a share per client),
``workers`` (step 3: :func:`spawn_query_process`, the one way a disposable process is
made, for one-shot jobs, validations and the pool), ``evaluate`` (step 4, run inside a
query process), ``sandbox`` (updates). This module is the public surface.
"""

from __future__ import annotations

from .admission import Admission
from .evaluate import evaluate_job, job_for
from .gate import (FORMS, SERVICE_REFUSED, UPDATE_REFUSED, Plan, Token, decide, decision_for, expand_unicode_escapes,
                   gate, known_decision, lex, prepare, remember, screen, syntax_message, tokens)
from .protocol import Limits, Request, Result, SparqlError, Target
from .sandbox import run_update
from .workers import (WorkerPool, call_isolated, isolate_network, network_isolation_available, run_isolated, shutdown_pools,
                      worker_pool)

__all__ = ["Admission", "FORMS", "Limits", "Plan", "Request", "Result", "SERVICE_REFUSED", "SparqlError", "Target", "Token",
           "UPDATE_REFUSED", "WorkerPool", "call_isolated", "decide", "decision_for", "execute", "expand_unicode_escapes", "gate", "isolate_network", "lex", "network_isolation_available",
           "prepare", "run", "run_isolated", "run_update", "screen", "shutdown_pools", "syntax_message", "tokens",
           "worker_pool"]


# -- running a query ----------------------------------------------------------------------

def run(target: Target, req: Request, limits: Limits, pool: WorkerPool | None = None, on_long=None) -> Result:
    """Gate and evaluate a query in a query process: a pool's worker, or a one-shot child.
    ``on_long``: see :meth:`WorkerPool.run` (admission's move to the long lane)."""
    if len(req.query) > limits.max_query_chars:  # before it crosses to a query process
        raise SparqlError(413, f"the query is {len(req.query)} characters long; the limit is {limits.max_query_chars}")
    job = job_for(req, limits, known_decision(target, req))
    if pool is None:
        header, body = run_isolated(lambda: evaluate_job(target, job), limits)
    else:
        header, body = pool.run(job, limits, on_long)
    if header["status"] != 200:
        raise SparqlError(header["status"], header["message"])
    if "decision" in header:
        remember(target, req, header["decision"])
    return Result(body, header["content_type"], header["form"], header["rows"], header["truncated"])


def execute(target: Target, req: Request, limits: Limits = Limits(), pool: WorkerPool | None = None) -> Result:
    """Run one read-only query safely; raises :class:`SparqlError` with an HTTP status."""
    return run(target, req, limits, pool)
