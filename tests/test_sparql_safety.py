"""Nothing leaves the machine on a query's behalf, and no query can hold the server.

A local HTTP observer on 127.0.0.1 records every request it gets; each attack must be
refused with 400 and the observer must see nothing. The deadline tests use the live
server at its default deadline (bpkg.sparql.Limits, 5 s).
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pyoxigraph as ox
import pytest
import requests

from bpkg.sparql import Limits, SparqlError, run_isolated, run_update


def test_the_observer_works(observer):
    """Guard against a vacuous pass: the observer does record a direct request."""
    before = len(observer.seen)
    requests.get(observer.url + "probe", timeout=5)
    assert len(observer.seen) == before + 1
    observer.seen.clear()


ATTACKS = {
    "service": "SELECT * WHERE { SERVICE <{o}> { ?s ?p ?o } }",
    "service-silent": "SELECT * WHERE { SERVICE SILENT <{o}> { ?s ?p ?o } }",
    "service-lowercase": "select * where { service <{o}> { ?s ?p ?o } }",
    "service-in-optional": "SELECT * WHERE { ?s a ?t OPTIONAL { SERVICE <{o}> { ?s ?p ?o } } } LIMIT 1",
    "service-in-union": "SELECT * WHERE { { ?s a ?t } UNION { SERVICE <{o}> { ?s ?p ?o } } }",
    "service-in-subquery": "SELECT * WHERE { { SELECT ?s WHERE { SERVICE <{o}> { ?s ?p ?o } } } }",
    "service-in-filter-exists": "SELECT * WHERE { ?s a ?t FILTER EXISTS { SERVICE <{o}> { ?s ?p ?o } } }",
    "service-in-minus": "SELECT * WHERE { ?s a ?t MINUS { SERVICE <{o}> { ?s ?p ?o } } }",
    "service-variable": "SELECT * WHERE { VALUES ?e { <{o}> } SERVICE ?e { ?s ?p ?o } }",
    "service-unicode-escape": "SELECT * WHERE { \\u0053ERVICE <{o}> { ?s ?p ?o } }",
    "service-in-construct": "CONSTRUCT { ?s ?p ?o } WHERE { SERVICE <{o}> { ?s ?p ?o } }",
    "service-in-ask": "ASK { SERVICE <{o}> { ?s ?p ?o } }",
    "from": "SELECT * FROM <{o}> WHERE { ?s ?p ?o }",
    "from-named": "SELECT * FROM NAMED <{o}> WHERE { GRAPH ?g { ?s ?p ?o } }",
    "from-file": "SELECT * FROM <file:///etc/hostname> WHERE { ?s ?p ?o }",
    "from-named-file": "SELECT * FROM NAMED <file:///etc/passwd> WHERE { GRAPH ?g { ?s ?p ?o } }",
    "describe-from": "DESCRIBE ?s FROM <{o}> WHERE { ?s ?p ?o }",
    "load": "LOAD <{o}>",
    "load-into": "LOAD SILENT <{o}> INTO GRAPH <urn:x>",
    "load-file": "LOAD <file:///etc/hostname>",
    "insert-service": "INSERT { ?s ?p ?o } WHERE { SERVICE <{o}> { ?s ?p ?o } }",
}


def _file_texts() -> list[str]:
    texts = []
    for name in ("/etc/hostname", "/etc/passwd"):
        try:
            text = Path(name).read_text().strip()
        except OSError:
            continue
        if len(text) >= 4:
            texts.append(text.splitlines()[0])
    return texts


@pytest.mark.parametrize("how", ["get", "form", "direct"])
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_refused_and_nothing_is_fetched(live_server, observer, name, how):
    query = ATTACKS[name].replace("{o}", observer.url + name)
    url = live_server + "/sparql"
    if how == "get":
        r = requests.get(url, params={"query": query}, timeout=10)
    elif how == "form":
        r = requests.post(url, data={"query": query}, timeout=10)
    else:
        r = requests.post(url, data=query.encode(), headers={"Content-Type": "application/sparql-query"}, timeout=10)
    assert r.status_code == 400, r.text
    assert r.text.strip() and "Traceback" not in r.text
    assert observer.seen == []
    for text in _file_texts():
        assert text not in r.text


def test_refusals_say_why(live_server, observer):
    def message(query):
        return requests.get(live_server + "/sparql", params={"query": query}, timeout=10).text

    assert "SERVICE is not allowed" in message(ATTACKS["service"].replace("{o}", observer.url))
    assert "not in this dataset" in message(ATTACKS["from-file"])
    assert "read-only" in message(ATTACKS["load"].replace("{o}", observer.url))
    assert observer.seen == []


def test_sandbox_updates_refuse_load_and_service(observer):
    """Even the test-only update sandbox fetches nothing."""
    store = ox.Store()
    for name in ("load", "load-into", "load-file", "insert-service"):
        with pytest.raises(SparqlError) as refused:
            run_update(store, ATTACKS[name].replace("{o}", observer.url + name), Limits())
        assert refused.value.status == 400
    run_update(store, "INSERT DATA { <urn:a> <urn:b> <urn:c> }", Limits())
    assert len(store) == 1
    assert observer.seen == []


def test_query_children_have_no_network(observer):
    """Defence in depth: even code that tries runs where no socket reaches anything."""
    port = observer.server_address[1]

    def job():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return {"status": 200, "reached": True}, b""
        except OSError as exc:
            return {"status": 200, "reached": False, "error": str(exc)}, b""

    header, _ = run_isolated(job, Limits())
    if header["reached"] and os.geteuid() != 0:
        pytest.skip("this kernel does not let an unprivileged process unshare its network namespace")
    assert header["reached"] is False
    assert observer.seen == []


def test_an_engine_crash_costs_one_request_not_the_server():
    with pytest.raises(SparqlError) as failed:
        run_isolated(lambda: os.abort(), Limits())
    assert failed.value.status == 400 and "signal" in failed.value.message
    header, body = run_isolated(lambda: ({"status": 200}, b"still here"), Limits())
    assert body == b"still here"


def test_deeply_nested_query_is_refused_before_any_parser(live_server):
    query = "SELECT * WHERE " + "{" * 6000 + "}" * 6000
    r = requests.post(live_server + "/sparql", data=query, headers={"Content-Type": "application/sparql-query"})
    assert r.status_code == 400 and "nests" in r.text
    assert requests.get(live_server + "/sparql", params={"query": "ASK {}"}).status_code == 200


# Queries that cannot finish within the default deadline on any machine, counted one
# solution at a time: the bundled graph's 6,500 triples give the first 1.8 x 10^15 solutions;
# in the second, one step reaches 222,000 (start, end) pairs and two steps 15.9 million (10 s
# on a 2-core CI machine), and each further step multiplies that by about 70, so four steps
# are some 10^11 solutions: hours of work at the least.
RUNAWAYS = {
    "cartesian-product": "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }",
    "exponential-path": "SELECT (COUNT(*) AS ?n) WHERE { ?a (!<urn:x:none>)* ?b . ?b (!<urn:x:none>)* ?c . "
                        "?c (!<urn:x:none>)* ?d . ?d (!<urn:x:none>)* ?e }",
}


@pytest.mark.parametrize("name", sorted(RUNAWAYS))
def test_runaway_query_is_stopped_while_others_are_served(live_server, name):
    outcome = {}

    def runaway():
        outcome["response"] = requests.get(live_server + "/sparql", params={"query": RUNAWAYS[name]}, timeout=30)

    thread = threading.Thread(target=runaway)
    thread.start()
    try:
        # While the runaway runs, other clients are answered.
        answered_meanwhile = []
        for _ in range(5):
            r = requests.get(live_server + "/sparql", params={"query": "ASK { ?s ?p ?o }"}, timeout=10)
            answered_meanwhile.append((r.status_code, thread.is_alive()))
        assert any(alive for _, alive in answered_meanwhile), "the runaway finished too soon to test anything"
        assert all(status == 200 for status, _ in answered_meanwhile)
    finally:
        thread.join(timeout=30)
    response = outcome["response"]
    assert response.status_code == 503
    assert "deadline" in response.text and response.headers.get("Retry-After")
    assert f"{Limits().timeout:g} s" in response.text  # the default deadline, as the client is told
    assert requests.get(live_server + "/sparql", params={"query": "ASK {}"}).json()["boolean"] is True


LOOKALIKES = {
    "in-a-string": 'SELECT ?x WHERE {{ BIND ("SERVICE <{o}> {{ ?s ?p ?o }}" AS ?x) }}',
    "in-an-iri": "SELECT ?x WHERE {{ BIND (<{o}SERVICE> AS ?x) }}",
    "in-a-comment": "SELECT ?x WHERE {{ BIND (1 AS ?x) }} # SERVICE <{o}> {{ }} LOAD <{o}>",
    "as-a-variable": "SELECT ?service WHERE {{ BIND (<{o}> AS ?service) }}",
}


@pytest.mark.parametrize("name", sorted(LOOKALIKES))
def test_keyword_lookalikes_are_answered_and_fetch_nothing(live_server, observer, name):
    query = LOOKALIKES[name].format(o=observer.url)
    r = requests.get(live_server + "/sparql", params={"query": query}, timeout=10)
    assert r.status_code == 200, r.text
    assert len(r.json()["results"]["bindings"]) == 1
    assert observer.seen == []
