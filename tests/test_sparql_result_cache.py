"""The result cache behind /sparql and /queries/NAME: hits, ETags, 304, and what is never kept."""

from __future__ import annotations

import json

import requests

from bpkg.web import create_app

QUERY = "PREFIX skos: <http://www.w3.org/2004/02/skos/core#> SELECT ?l WHERE { ?s a skos:ConceptScheme ; skos:prefLabel ?l }"
JSON = "application/sparql-results+json"


def get(client, query=QUERY, **headers):
    return client.get("/sparql", query_string={"query": query}, headers=headers)


def test_a_repeated_query_is_a_hit_with_the_same_body_and_etag(client):
    first, second = get(client, Accept=JSON), get(client, Accept=JSON)
    assert first.status_code == second.status_code == 200
    assert first.headers["X-BPKG-Cache"] == "miss" and second.headers["X-BPKG-Cache"] == "hit"
    assert first.data == second.data and first.headers["ETag"] == second.headers["ETag"]
    assert second.headers["Content-Type"].startswith(JSON)
    assert second.headers["X-BPKG-Dataset-Version"]


def test_post_and_get_share_the_entry(client):
    tag = get(client, Accept=JSON).headers["ETag"]
    posted = client.post("/sparql", data={"query": QUERY}, headers={"Accept": JSON})
    assert posted.headers["ETag"] == tag and posted.headers["X-BPKG-Cache"] == "hit"


def test_if_none_match_gets_304_without_a_body(client):
    tag = get(client, Accept=JSON).headers["ETag"]
    again = get(client, Accept=JSON, **{"If-None-Match": tag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == tag
    assert get(client, Accept=JSON, **{"If-None-Match": 'W/"something-else"'}).status_code == 200


def test_a_different_format_is_a_different_entry(client):
    as_json, as_csv = get(client, Accept=JSON), get(client, Accept="text/csv")
    assert as_json.headers["ETag"] != as_csv.headers["ETag"]
    assert as_csv.headers["Content-Type"].startswith("text/csv") and as_csv.headers["X-BPKG-Cache"] == "miss"
    # the same media type asked for another way is the same entry
    by_param = client.get("/sparql", query_string={"query": QUERY, "format": "json"})
    assert by_param.headers["ETag"] == as_json.headers["ETag"] and by_param.headers["X-BPKG-Cache"] == "hit"
    assert get(client, Accept=JSON, **{"If-None-Match": as_csv.headers["ETag"]}).status_code == 200


def test_dataset_parameters_are_part_of_the_key(client):
    plain = get(client, Accept=JSON)
    pinned = client.get("/sparql", headers={"Accept": JSON}, query_string={
        "query": QUERY, "default-graph-uri": "https://w3id.org/bpkg/graph/kg/states"})
    assert pinned.headers["ETag"] != plain.headers["ETag"] and pinned.data != plain.data


def test_errors_are_never_cached(client):
    for _ in range(2):
        bad = get(client, "SELECT * WHERE { ?s ?p ")
        assert bad.status_code == 400 and "ETag" not in bad.headers and "X-BPKG-Cache" not in bad.headers


def test_a_truncated_result_is_cached_with_its_mark(client):
    """Cut at the default 10,000 rows: a repeat is answered from the cache, still marked as
    cut (the same query on the same data and limits is cut the same way)."""
    query = "SELECT * WHERE { ?s ?p ?o VALUES ?copy { 1 2 } }"  # every triple twice: over 10,000 rows
    first, again = get(client, query, Accept=JSON), get(client, query, Accept=JSON)
    for cut in (first, again):
        assert cut.status_code == 200 and cut.headers["X-BPKG-Truncated"] == "rows"
        assert cut.headers["X-BPKG-Row-Limit"] == "10000"
        assert len(json.loads(cut.data)["results"]["bindings"]) == 10_000
    assert first.headers["X-BPKG-Cache"] == "miss" and again.headers["X-BPKG-Cache"] == "hit"
    assert again.data == first.data and again.headers["ETag"] == first.headers["ETag"]
    revalidated = get(client, query, Accept=JSON, **{"If-None-Match": first.headers["ETag"]})
    assert revalidated.status_code == 304


def test_the_cache_can_be_turned_off(kg):
    # The setting is what this test is about: 0 entries, as documented, turns the cache off.
    client = create_app({"TESTING": True, "KG": kg, "SPARQL_CACHE_ENTRIES": 0}).test_client()
    first, second = get(client, Accept=JSON), get(client, Accept=JSON)
    assert first.data == second.data and "ETag" not in second.headers


def test_named_queries_are_cached_per_parameter_value(client):
    url = "/queries/states-in-region"
    silk = client.get(url, query_string={"region": "region:silk-routes"}, headers={"Accept": JSON})
    again = client.get(url, query_string={"region": "region:silk-routes"}, headers={"Accept": JSON})
    other = client.get(url, query_string={"region": "region:prague-process"}, headers={"Accept": JSON})
    assert silk.status_code == 200 and again.headers["X-BPKG-Cache"] == "hit" and again.data == silk.data
    assert other.status_code == 200 and other.headers["ETag"] != silk.headers["ETag"]
    revalidated = client.get(url, query_string={"region": "region:silk-routes"},
                             headers={"Accept": JSON, "If-None-Match": silk.headers["ETag"]})
    assert revalidated.status_code == 304
    as_csv = client.get(url, query_string={"region": "region:silk-routes", "format": "csv"})
    assert as_csv.headers["ETag"] != silk.headers["ETag"] and as_csv.headers["Content-Type"].startswith("text/csv")


def test_revalidation_over_real_http(live_server):
    # One keep-alive connection, so one front process: each front has a result cache of its own.
    client = requests.Session()
    r = client.get(live_server + "/sparql", params={"query": QUERY}, headers={"Accept": JSON}, timeout=10)
    assert r.status_code == 200 and r.headers["ETag"]
    again = client.get(live_server + "/sparql", params={"query": QUERY},
                       headers={"Accept": JSON, "If-None-Match": r.headers["ETag"]}, timeout=10)
    assert again.status_code == 304 and again.content == b""
    cors = client.get(live_server + "/sparql", params={"query": QUERY}, headers={"Accept": JSON}, timeout=10)
    assert "ETag" in cors.headers["Access-Control-Expose-Headers"] and cors.headers["X-BPKG-Cache"] == "hit"
