"""Step 4, inside a query process: evaluate a job with the engine and serialise the
answer under the row and byte caps."""

from __future__ import annotations

import pyoxigraph as ox

from .. import formats
from ..namespaces import PREFIXES
from .gate import Plan, Unparsable, decide, syntax_message
from .protocol import Limits, Request, SparqlError, Target


# -- 4. evaluation and limits (inside a query process) --------------------------------

def _dataset_arguments(target: Target, job: dict) -> dict:
    """pyoxigraph's dataset arguments. Protocol parameters win over FROM (SPARQL 1.1 Protocol 2.1.4);
    with neither, the default graph is the union of the named graphs."""
    default, named = (job["default_graphs"], job["named_graphs"]) if (job["default_graphs"] or job["named_graphs"]) \
        else (job["from_default"], job["from_named"])
    if not default and not named:
        return {"use_default_graph_as_union": True} if target.union_default else {}
    # Graphs we do not hold are simply empty here: nothing is ever fetched.
    return {"default_graph": [ox.NamedNode(g) for g in default] or ox.DefaultGraph(),
            "named_graphs": [ox.NamedNode(g) for g in named]}


_FORMATS = {f.name: f for f in formats.TABULAR + formats.GRAPH}


def job_for(plan: Plan, req: Request, limits: Limits) -> dict:
    """What a query process needs, as JSON (it crosses a process boundary)."""
    return {"query": plan.query, "form": plan.form, "format": plan.format.name if plan.format else None,
            "accept": req.accept, "format_param": req.format, "base_iri": req.base_iri,
            "default_graphs": list(req.default_graphs), "named_graphs": list(req.named_graphs),
            "from_default": list(plan.from_default), "from_named": list(plan.from_named),
            "parsed": plan.parsed, "max_rows": limits.max_rows, "max_bytes": limits.max_bytes}


def evaluate_job(target: Target, job: dict) -> tuple[dict, bytes]:
    decision = None
    if not job.get("parsed"):  # the gate's parse, before the engine (or an external store) sees the text
        try:
            decision = decide(job["query"], target.graph_names, job["base_iri"],
                              shared_store=getattr(target.store, "needs_network", False))
        except Unparsable as refused:
            raise SparqlError(400, _engine_syntax_message(target, job) or refused.message) from None
        job = {**job, **decision}
    header, body = _answer(target, job)
    if decision is not None:
        header["decision"] = decision  # the server keeps it for this text
    return header, body


def _engine_syntax_message(target: Target, job: dict) -> str | None:
    """The engine's own message for a text the gate could not parse (its positions are
    sharper), read by handing the text to an *empty* store in this network-less process:
    nothing there to read and nothing to reach. None when the engine parses the text (it
    stays refused) or when this process has network (an external store's worker)."""
    if getattr(target.store, "needs_network", False):
        return None
    try:
        ox.Store().query(job["query"], base_iri=job["base_iri"], prefixes=PREFIXES)
    except SyntaxError as exc:
        return syntax_message(exc, job["query"])
    except Exception:
        return None
    return None


def _query(target: Target, job: dict):
    try:
        return target.store.query(job["query"], base_iri=job["base_iri"], prefixes=PREFIXES,
                                  **_dataset_arguments(target, job))
    except SyntaxError as exc:
        raise SparqlError(400, syntax_message(exc, job["query"])) from None


def _answer(target: Target, job: dict) -> tuple[dict, bytes]:
    answer = _query(target, job)
    if isinstance(answer, ox.QueryBoolean):
        form, family = "ASK", "tabular"
    elif isinstance(answer, ox.QuerySolutions):
        form, family = "SELECT", "tabular"
    else:
        form, family = (job["form"] if job["form"] in ("CONSTRUCT", "DESCRIBE") else "CONSTRUCT"), "graph"
    fmt = _FORMATS.get(job["format"])
    if fmt is None or fmt not in formats.family_formats(family):  # the scan did not know the form
        try:
            fmt = formats.choose(family, job["accept"], job["format_param"])
        except formats.NotAcceptable as exc:
            raise SparqlError(406, str(exc)) from None
    max_rows, max_bytes = job["max_rows"], job["max_bytes"]
    header = {"status": 200, "content_type": fmt.content_type, "form": form, "rows": 0, "truncated": None}
    if isinstance(answer, ox.QueryBoolean):
        return header, formats.boolean_result(fmt, bool(answer))
    if isinstance(answer, ox.QuerySolutions):
        if fmt.name in formats.ENGINE_TABULAR:  # the engine's writer, when the table is under both caps
            table = formats.engine_table(answer, fmt, max_rows, max_bytes)
            if table is not None:
                body, header["rows"], header["truncated"] = table
                return header, body
            answer = _query(target, job)  # over a cap: evaluate again, and cut as below
        writer = formats.TableWriter(fmt, [v.value for v in answer.variables], max_bytes)
        for solution in answer:
            if writer.rows >= max_rows:
                header["truncated"] = "rows"
                break
            if not writer.add(solution):
                header["truncated"] = "bytes"
                break
        header["rows"] = writer.rows
        return header, writer.finish()
    triples = []
    for triple in answer:
        if len(triples) >= max_rows:
            header["truncated"] = "rows"
            break
        triples.append(triple)
    body = formats.graph_result(fmt, triples)
    while len(body) > max_bytes and triples:
        header["truncated"] = "bytes"
        triples = triples[: int(len(triples) * max_bytes / len(body) * 0.9)]
        body = formats.graph_result(fmt, triples)
    header["rows"] = len(triples)
    return header, body


def outcome_of(job) -> tuple[dict, bytes]:
    """``job()``'s (header, body), or a header describing why it failed."""
    try:
        return job()
    except SparqlError as exc:
        return {"status": exc.status, "message": exc.message}, b""
    except MemoryError:  # the heap may be in pieces now: this process retires after answering
        return {"status": 503, "message": "the query needed more memory than a query may use", "retire": True}, b""
    except Exception as exc:  # an engine error on a client's query: say what it was
        return {"status": 400, "message": f"the query could not be evaluated: {exc}"}, b""
