"""Serving from, and loading into, an external SPARQL 1.1 store (Oxigraph server, Virtuoso,
GraphDB, QLever, Neptune, Fuseki ...).

Two faces:

* ``bpkg load --store URL`` puts the bundled graph (every named graph, including the
  derived shortcuts) into the store, one Graph Store Protocol ``PUT`` per named graph or,
  with ``--method update``, ``DROP SILENT GRAPH`` + ``INSERT DATA`` in chunks; then it
  counts the triples per graph in the store and fails if they differ from ours.
* :class:`RemoteStore` answers queries through SPARQLWrapper with the same call and result
  shapes as ``pyoxigraph.Store.query`` (iterable solutions with ``.variables``, a bool for
  ASK, triples for CONSTRUCT/DESCRIBE), so the one safe executor can hand a query that has
  passed its gate to either engine. The dataset is pinned with the protocol's
  ``default-graph-uri``/``named-graph-uri`` parameters (our graph IRIs), so the store's own
  default-graph policy does not matter and other data in the store is never seen.

One URL is enough for the usual layouts (see docs/external-store.md):
``http://host:7878`` or ``…/query`` (Oxigraph: ``/update``, ``/store``),
``…/repositories/ID`` (GraphDB/RDF4J: ``/statements``, ``/rdf-graphs/service``),
``…/sparql`` (Virtuoso: updates at the same URL, GSP at ``/sparql-graph-crud``).
"""

from __future__ import annotations

import base64
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

import pyoxigraph as ox

from .namespaces import GRAPH_BASE

ENV_QUERY, ENV_UPDATE, ENV_GSP = "BPKG_STORE", "BPKG_STORE_UPDATE", "BPKG_STORE_GSP"
ENV_USER, ENV_PASSWORD = "BPKG_STORE_USER", "BPKG_STORE_PASSWORD"
DEFAULT_TIMEOUT = 30.0
UPDATE_CHUNK = 5_000  # triples per INSERT DATA: Virtuoso refuses very large update requests


class StoreError(Exception):
    """The external store cannot be reached, refused a request, or holds the wrong data."""


@dataclass(frozen=True)
class Endpoints:
    query: str
    update: str | None
    gsp: str | None

    @classmethod
    def from_url(cls, url: str, update: str | None = None, gsp: str | None = None) -> "Endpoints":
        """Guess the update and Graph Store endpoints from the query URL's shape."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise StoreError(f"--store needs an http(s) URL of a SPARQL query endpoint, not {url!r}")
        base = url.rstrip("/")
        if "/repositories/" in parts.path:  # GraphDB, RDF4J
            guess = (base, base + "/statements", base + "/rdf-graphs/service")
        elif base.endswith("/sparql"):  # Virtuoso (Fuseki users pass --update-url/--gsp-url)
            root = base[: -len("/sparql")]
            guess = (base, base, root + "/sparql-graph-crud")
        elif base.endswith("/query"):  # Oxigraph
            root = base[: -len("/query")]
            guess = (base, root + "/update", root + "/store")
        elif parts.path in ("", "/"):  # a bare Oxigraph server address
            guess = (base + "/query", base + "/update", base + "/store")
        else:
            guess = (base, None, None)
        return cls(guess[0], update or guess[1], gsp or guess[2])


def _auth_header(user: str | None, password: str | None) -> dict[str, str]:
    if not user:
        return {}
    token = base64.b64encode(f"{user}:{password or ''}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def _request(method: str, url: str, body: bytes | None, headers: dict[str, str], timeout: float) -> bytes:
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310 (the user's own store)
            return response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace").strip()
        hint = {401: " (pass --user/--password or BPKG_STORE_USER/BPKG_STORE_PASSWORD)",
                403: " (the endpoint is read-only or the user lacks write rights)",
                404: " (wrong endpoint path: see docs/external-store.md or pass --update-url/--gsp-url)",
                405: " (this URL does not accept that method: pass the right --update-url/--gsp-url)"}.get(exc.code, "")
        raise StoreError(f"{method} {url} answered {exc.code} {exc.reason}{hint}" + (f": {detail}" if detail else "")) from None
    except urllib.error.URLError as exc:
        raise StoreError(f"cannot reach the store at {url}: {exc.reason}") from None
    except TimeoutError:
        raise StoreError(f"{method} {url} timed out after {timeout:g} s") from None


class RemoteStore:
    """A SPARQL 1.1 store reached over HTTP, usable where a ``pyoxigraph.Store`` is queried."""

    # The executor evaluates in a child without network; this engine needs the network
    # (to reach the store, and nothing else: the gate has refused SERVICE before we send).
    needs_network = True

    def __init__(self, endpoints: Endpoints, graphs: list[str] | None = None, user: str | None = None,
                 password: str | None = None, timeout: float = DEFAULT_TIMEOUT):
        self.endpoints = endpoints
        self.user, self.password, self.timeout = user, password, timeout
        self._graphs = list(graphs) if graphs is not None else None

    @classmethod
    def from_url(cls, url: str, **kwargs) -> "RemoteStore":
        update, gsp = kwargs.pop("update_url", None), kwargs.pop("gsp_url", None)
        return cls(Endpoints.from_url(url, update, gsp), **kwargs)

    @classmethod
    def from_env(cls, environ=os.environ) -> "RemoteStore | None":
        """The store named by ``BPKG_STORE`` (and friends), or None when it is not set."""
        url = environ.get(ENV_QUERY)
        if not url:
            return None
        return cls.from_url(url, update_url=environ.get(ENV_UPDATE), gsp_url=environ.get(ENV_GSP),
                            user=environ.get(ENV_USER), password=environ.get(ENV_PASSWORD))

    # -- reading -------------------------------------------------------------------

    @property
    def graphs(self) -> list[str]:
        """Our named graphs in the store (asked once): the dataset every query runs over."""
        if self._graphs is None:
            rows = self._select(
                f"SELECT DISTINCT ?g WHERE {{ GRAPH ?g {{ ?s ?p ?o }} FILTER(STRSTARTS(STR(?g), \"{GRAPH_BASE}\")) }}",
                dataset=False)
            self._graphs = sorted(b["g"]["value"] for b in rows["results"]["bindings"])
            if not self._graphs:
                raise StoreError(f"the store at {self.endpoints.query} holds none of our graphs "
                                 f"(<{GRAPH_BASE}…>): run `bpkg load --store {self.endpoints.query}` first")
        return self._graphs

    def _wrapper(self, query: str, dataset: bool = True, graphs: tuple[list[str], list[str]] | None = None):
        from SPARQLWrapper import POST, URLENCODED, SPARQLWrapper

        sparql = SPARQLWrapper(self.endpoints.query)
        sparql.setMethod(POST)
        sparql.setRequestMethod(URLENCODED)  # long queries and many graph IRIs do not fit a GET
        sparql.setTimeout(int(self.timeout))
        sparql.setOnlyConneg(True)  # send Accept only: stores differ on format=/output= parameters
        if self.user:
            sparql.setCredentials(self.user, self.password or "")
        if dataset:
            defaults, named = graphs if graphs is not None else (self.graphs, self.graphs)
            for g in defaults:
                sparql.addDefaultGraph(g)
            for g in named:
                sparql.addNamedGraph(g)
        sparql.setQuery(query)
        return sparql

    def _run(self, sparql):
        from SPARQLWrapper.SPARQLExceptions import SPARQLWrapperException

        try:
            return sparql.query()
        except SPARQLWrapperException as exc:
            raise StoreError(f"the store at {self.endpoints.query} refused the query: {exc}".splitlines()[0]) from None
        except urllib.error.URLError as exc:
            raise StoreError(f"cannot reach the store at {self.endpoints.query}: {exc.reason}") from None
        except (TimeoutError, OSError) as exc:
            raise StoreError(f"the store at {self.endpoints.query} did not answer: {exc}") from None

    def _select(self, query: str, dataset: bool = True) -> dict:
        from SPARQLWrapper import JSON

        sparql = self._wrapper(query, dataset)
        sparql.setReturnFormat(JSON)
        return self._run(sparql).convert()

    def query(self, query: str, *, base_iri: str | None = None, prefixes: dict[str, str] | None = None,
              use_default_graph_as_union: bool = True, default_graph=None, named_graphs=None,
              substitutions: dict | None = None, **_ignored):
        """Run a read query on the store, with ``pyoxigraph.Store.query``'s arguments and results.

        Returns an ``ox.QueryBoolean`` for ASK, ``ox.QuerySolutions`` for SELECT (both parsed
        by pyoxigraph from the store's SPARQL JSON) and ``ox.QueryTriples`` for
        CONSTRUCT/DESCRIBE, so code written for the embedded store works unchanged. The
        default graph is the union of our graphs unless ``default_graph``/``named_graphs``
        name others (the protocol's dataset parameters, passed on as such).
        """
        from SPARQLWrapper import JSON, TURTLE

        text = with_prologue(query, base_iri, prefixes)
        if substitutions:
            text = inject_values(text, substitutions)
        graphs = None
        if default_graph is not None or named_graphs is not None:
            defaults = default_graph if isinstance(default_graph, (list, tuple)) else [default_graph]
            graphs = ([g.value for g in defaults if isinstance(g, ox.NamedNode)],
                      [g.value for g in named_graphs or [] if isinstance(g, ox.NamedNode)])
        sparql = self._wrapper(text, graphs=graphs)
        kind = query_form(text)
        # SPARQLWrapper guesses the form with a regex that takes bp:addresses… for ADD (an
        # update, sent as update=); our tokenizer skips IRIs, strings and comments.
        sparql.queryType = kind
        if kind in ("SELECT", "ASK"):
            sparql.setReturnFormat(JSON)
            body = self._run(sparql).response.read()
            try:
                answer = ox.parse_query_results(body, format=ox.QueryResultsFormat.JSON)
            except SyntaxError as exc:
                raise StoreError(f"the store answered with SPARQL JSON results we cannot read: {exc}") from None
            if kind == "ASK" and not isinstance(answer, ox.QueryBoolean):  # a table would read as true
                raise StoreError(f"the store at {self.endpoints.query} answered an ASK with a table, not a boolean "
                                 "(Virtuoso does so unless virtuoso.ini sets CaseMode = 2)")
            return answer
        if kind in ("CONSTRUCT", "DESCRIBE"):
            sparql.setReturnFormat(TURTLE)
            body = self._run(sparql).response.read()
            # A real ox.QueryTriples, as the embedded store gives, through a scratch store.
            scratch = ox.Store()
            try:
                scratch.load(body, format=ox.RdfFormat.TURTLE)
                return scratch.query("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }")
            except SyntaxError as exc:
                raise StoreError(f"the store answered a {kind} with Turtle we cannot read: {exc}") from None
        raise StoreError(f"only read queries go to the store, not {kind}")

    def quads_for_pattern(self, subject=None, predicate=None, object=None, graph_name=None):
        """Every quad of our graphs (the only pattern the loader asks for), as ``ox.Quad``s.

        Used once, when something needs the rdflib view of a store-backed graph (resource
        pages, validation context); one CONSTRUCT per named graph keeps each answer bounded.
        """
        if any(t is not None for t in (subject, predicate, object, graph_name)):
            raise NotImplementedError("only the full pattern is supported")
        for g in self.graphs:
            graph = ox.NamedNode(g)
            for t in self.query(f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{g}> {{ ?s ?p ?o }} }}"):
                yield ox.Quad(t.subject, t.predicate, t.object, graph)

    def __len__(self) -> int:
        data = self._select("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")
        return int(data["results"]["bindings"][0]["n"]["value"])

    # -- writing -------------------------------------------------------------------

    def _send(self, method: str, url: str, body: bytes, content_type: str) -> None:
        headers = {"Content-Type": content_type, **_auth_header(self.user, self.password)}
        _request(method, url, body, headers, self.timeout)

    def put_graph(self, graph: str, ntriples: bytes) -> None:
        """Replace one named graph (Graph Store Protocol, ``PUT ?graph=``)."""
        if not self.endpoints.gsp:
            raise StoreError("no Graph Store Protocol endpoint known for this store: pass --gsp-url or --method update")
        url = self.endpoints.gsp + ("&" if "?" in self.endpoints.gsp else "?") + urllib.parse.urlencode({"graph": graph})
        # N-Triples is Turtle, and every store reads text/turtle (not all know application/n-triples).
        self._send("PUT", url, ntriples, "text/turtle")

    def update(self, text: str) -> None:
        if not self.endpoints.update:
            raise StoreError("no SPARQL Update endpoint known for this store: pass --update-url")
        body = urllib.parse.urlencode({"update": text}).encode("utf-8")
        self._send("POST", self.endpoints.update, body, "application/x-www-form-urlencoded")

    def replace_graph_by_update(self, graph: str, lines: list[str]) -> None:
        self.update(f"DROP SILENT GRAPH <{graph}>")
        for start in range(0, len(lines), UPDATE_CHUNK):
            chunk = "\n".join(lines[start:start + UPDATE_CHUNK])
            self.update(f"INSERT DATA {{ GRAPH <{graph}> {{\n{chunk}\n}} }}")

    def counts(self) -> dict[str, int]:
        """Triples per graph of ours in the store (for checking a load)."""
        data = self._select(
            "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } "
            f"FILTER(STRSTARTS(STR(?g), \"{GRAPH_BASE}\")) }} GROUP BY ?g", dataset=False)
        return {b["g"]["value"]: int(b["n"]["value"]) for b in data["results"]["bindings"]}


def with_prologue(query: str, base_iri: str | None, prefixes: dict[str, str] | None) -> str:
    """Declare ``prefixes`` and ``base_iri`` in the text, as pyoxigraph's arguments do.

    A query's own PREFIX lines come after ours, so they still win.
    """
    lines = [f"BASE <{base_iri}>"] if base_iri else []
    lines += [f"PREFIX {name}: <{iri}>" for name, iri in (prefixes or {}).items()]
    return "\n".join(lines + [query]) if lines else query


def query_form(query: str) -> str | None:
    """SELECT, ASK, CONSTRUCT or DESCRIBE: the first such keyword outside IRIs, strings, comments."""
    from .sparql import tokens

    forms = ("SELECT", "ASK", "CONSTRUCT", "DESCRIBE", "INSERT", "DELETE", "LOAD", "CLEAR", "DROP", "CREATE",
             "ADD", "MOVE", "COPY", "WITH")
    return next((tok.upper() for _, tok, depth in tokens(query) if depth == 0 and tok.upper() in forms), None)


def inject_values(query: str, substitutions: dict) -> str:
    """Bind variables the way pyoxigraph's ``substitutions`` do, for a store that lacks them:
    a ``VALUES`` block opening the query's top-level WHERE group, so that FILTERs in the group
    see the variables bound. Terms are written by pyoxigraph (N-Triples syntax), never pasted
    from user text.
    """
    from .sparql import tokens

    names = " ".join(f"?{(v.value if isinstance(v, ox.Variable) else str(v)).lstrip('?$')}" for v in substitutions)
    values = " ".join(str(t) for t in substitutions.values())
    block = f" VALUES ({names}) {{ ({values}) }} "
    form, top_level_groups = None, 0
    for pos, tok, depth in tokens(query):
        word = tok.upper()
        if form is None and word in ("SELECT", "ASK", "CONSTRUCT", "DESCRIBE"):
            form = word
        elif form == "CONSTRUCT" and word == "WHERE" and depth == 0 and top_level_groups == 0:
            raise StoreError("parameters cannot be bound in a CONSTRUCT WHERE short form")
        elif tok == "{" and depth == 1:
            # CONSTRUCT's first group is its template; every other form's is the WHERE group.
            if top_level_groups == (1 if form == "CONSTRUCT" else 0):
                return query[:pos + 1] + block + query[pos + 1:]
            top_level_groups += 1
    raise StoreError("cannot find the query's WHERE group to bind parameters in")


# -- loading the bundled graph -------------------------------------------------------

def graph_ntriples(store: ox.Store, graph: str) -> bytes:
    triples = (q.triple for q in store.quads_for_pattern(None, None, None, ox.NamedNode(graph)))
    return ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES) or b""


def load_into(remote: RemoteStore, kg, method: str = "gsp", verify: bool = True, log=print) -> dict[str, int]:
    """Copy every named graph of ``kg`` into ``remote``; returns triples per graph sent."""
    sent: dict[str, int] = {}
    for name in map(str, kg.graph_names):
        body = graph_ntriples(kg.store, name)
        lines = [line for line in body.decode("utf-8").splitlines() if line.strip()]
        if method == "gsp":
            remote.put_graph(name, body)
        else:
            remote.replace_graph_by_update(name, lines)
        sent[name] = len(lines)
        log(f"  {len(lines):7d}  <{name}>")
    if verify:
        found = remote.counts()
        wrong = {g: (n, found.get(g, 0)) for g, n in sent.items() if found.get(g, 0) != n}
        if wrong:
            details = "; ".join(f"<{g}>: sent {n}, store has {m}" for g, (n, m) in sorted(wrong.items()))
            raise StoreError(f"the store does not hold what was sent: {details}")
    return sent
