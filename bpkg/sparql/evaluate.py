"""Inside a query process: gate a job (steps 1 and 2), evaluate it with the engine and
serialise the answer under the row and byte caps (step 4)."""

from __future__ import annotations

import functools

import pyoxigraph as ox

from .. import formats
from ..namespaces import PREFIXES
from .gate import Plan, Unparsable, decision_for, prepare, syntax_message
from .protocol import Limits, Request, SparqlError, Target


# -- 4. evaluation and limits (inside a query process) --------------------------------

def _dataset_arguments(target: Target, req: Request, decision: dict) -> dict:
    """pyoxigraph's dataset arguments. Protocol parameters win over FROM (SPARQL 1.1 Protocol 2.1.4);
    with neither, the default graph is the union of the named graphs."""
    default, named = (req.default_graphs, req.named_graphs) if (req.default_graphs or req.named_graphs) \
        else (decision["from_default"], decision["from_named"])
    if not default and not named:
        return {"use_default_graph_as_union": True} if target.union_default else {}
    # Graphs we do not hold are simply empty here: nothing is ever fetched.
    return {"default_graph": [ox.NamedNode(g) for g in default] or ox.DefaultGraph(),
            "named_graphs": [ox.NamedNode(g) for g in named]}


_FORMATS = {f.name: f for f in formats.TABULAR + formats.GRAPH}


def job_for(req: Request, limits: Limits, decision: dict | None = None) -> dict:
    """What a query process needs, as JSON (it crosses a process boundary). ``decision``:
    the gate's parse of this text, when the server has seen it before."""
    return {"query": req.query, "accept": req.accept, "format_param": req.format, "base_iri": req.base_iri,
            "default_graphs": list(req.default_graphs), "named_graphs": list(req.named_graphs),
            "decision": decision, "max_rows": limits.max_rows, "max_bytes": limits.max_bytes,
            "max_query_chars": limits.max_query_chars, "max_depth": limits.max_depth}


@functools.lru_cache(maxsize=8)
def _gate_limits(max_query_chars: int, max_depth: int) -> Limits:
    # Kept: making a Limits (a frozen dataclass of 15 fields) costs 2 µs, and the values never change.
    return Limits(max_query_chars=max_query_chars, max_depth=max_depth)


def evaluate_job(target: Target, job: dict) -> tuple[dict, bytes]:
    """Gate, then evaluate: the scan (:func:`prepare`) and the parse (:func:`decision_for`)
    run here, in the query process, before the engine (or an external store) sees the text."""
    req = Request(job["query"], job["accept"], job["format_param"], job["default_graphs"], job["named_graphs"],
                  job["base_iri"])
    plan = prepare(target, req, _gate_limits(job["max_query_chars"], job["max_depth"]))
    decision = job.get("decision")
    learnt = decision is None
    if learnt:
        try:
            decision = decision_for(plan, target.graph_names, req.base_iri,
                                    shared_store=getattr(target.store, "needs_network", False))
        except Unparsable as refused:
            raise SparqlError(400, _engine_syntax_message(target, plan.query, req.base_iri) or refused.message) from None
    fmt = plan.format if plan.form == decision["form"] else None  # the scan misread the form: negotiate below
    header, body = _answer(target, plan, req, fmt, decision, job["max_rows"], job["max_bytes"])
    if learnt:
        header["decision"] = decision  # the server hands it to the next job with this text
    return header, body


def _engine_syntax_message(target: Target, text: str, base_iri: str | None) -> str | None:
    """The engine's own message for a text the gate could not parse (its positions are
    sharper), read by handing the text to an *empty* store in this network-less process:
    nothing there to read and nothing to reach. None when the engine parses the text (it
    stays refused) or when this process has network (an external store's worker)."""
    if getattr(target.store, "needs_network", False):
        return None
    try:
        ox.Store().query(text, base_iri=base_iri, prefixes=PREFIXES)
    except SyntaxError as exc:
        return syntax_message(exc, text)
    except Exception:
        return None
    return None


def _query(target: Target, plan: Plan, req: Request, decision: dict):
    try:
        return target.store.query(plan.query, base_iri=req.base_iri, prefixes=plan.prefixes or None,
                                  **_dataset_arguments(target, req, decision))
    except SyntaxError as exc:
        raise SparqlError(400, syntax_message(exc, plan.query)) from None


def _answer(target: Target, plan: Plan, req: Request, fmt: formats.Format | None, decision: dict,
            max_rows: int, max_bytes: int) -> tuple[dict, bytes]:
    answer = _query(target, plan, req, decision)
    if isinstance(answer, ox.QueryBoolean):
        form, family = "ASK", "tabular"
    elif isinstance(answer, ox.QuerySolutions):
        form, family = "SELECT", "tabular"
    else:
        form, family = (decision["form"] if decision["form"] in ("CONSTRUCT", "DESCRIBE") else "CONSTRUCT"), "graph"
    if fmt is None or fmt not in formats.family_formats(family):
        try:
            fmt = formats.choose(family, req.accept, req.format)
        except formats.NotAcceptable as exc:
            raise SparqlError(406, str(exc)) from None
    header = {"status": 200, "content_type": fmt.content_type, "form": form, "rows": 0, "truncated": None}
    if isinstance(answer, ox.QueryBoolean):
        return header, formats.boolean_result(fmt, bool(answer))
    if isinstance(answer, ox.QuerySolutions):
        if fmt.name in formats.ENGINE_TABULAR:  # the engine's writer, when the table is under both caps
            table = formats.engine_table(answer, fmt, max_rows, max_bytes)
            if table is not None:
                body, header["rows"], header["truncated"] = table
                return header, body
            answer = _query(target, plan, req, decision)  # over a cap: evaluate again, and cut as below
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
