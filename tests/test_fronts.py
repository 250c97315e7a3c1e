"""``bpkg serve --processes N``: several front processes on one port that behave as one
server (bpkg.web.fronts). What one front learns (a published submission, a wrong token, a
long-running query), every front must know; each check chooses the front that answers by
stopping the others (SIGSTOP) meanwhile, so it does not depend on how the kernel hands out
connections."""

from __future__ import annotations

import os
import signal
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

from bpkg.sparql import Limits, SparqlError
from conftest import ROOT, bpkg_cli, start_server, stop_server
from servers import children, descendants, get_from, only, resume_and_stop, session_on

SUBMITTER = "submitter-token-for-the-tests-01"
CURATOR = "curator-token-for-the-tests-0001"
TOKENS = {"BPKG_SUBMITTER_TOKENS": SUBMITTER, "BPKG_CURATOR_TOKENS": CURATOR}
PROJECT = "https://w3id.org/bpkg/id/project/example-labour-mobility"
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"  # never finishes in 5 s


@pytest.fixture(scope="module")
def two_fronts(tmp_path_factory):
    base, proc = start_server("--processes", "2", "--data-dir", str(tmp_path_factory.mktemp("data")), env=TOKENS)
    yield base, proc
    stop_server(proc)


def _get(base: str, path: str, source: str = "127.0.0.1", headers: dict | None = None) -> tuple[int, str]:
    status, body = get_from(base, source, path, headers)
    return status, body.decode()


def _ask(base: str, query: str) -> str:
    status, body = _get(base, "/sparql?" + urllib.parse.urlencode({"query": query}),
                        headers={"Accept": "application/sparql-results+json"})
    assert status == 200, body
    return body


def test_every_front_answers_on_the_one_port(two_fronts):
    """Each front alone answers every request: both accept on the same socket, and either
    can serve the site."""
    base, proc = two_fronts
    fronts = children(proc.pid)
    assert len(fronts) == 2
    for front in fronts:
        with only(front, proc.pid):
            for i in range(10):
                assert '"boolean": false' in _ask(base, f'ASK {{ ?s ?p "no such value {front} {i}" }}')


def test_a_submission_accepted_through_one_front_is_served_by_the_other_at_once(two_fronts):
    base, proc = two_fronts
    first, second = children(proc.pid)
    known = f"ASK {{ <{PROJECT}> ?p ?o }}"
    curator = {"Authorization": f"Bearer {CURATOR}"}
    with only(second, proc.pid):
        assert '"boolean": false' in _ask(base, known)  # the second front has answered it: not yet there
    with only(first, proc.pid):
        body = (ROOT / "examples" / "project.ttl").read_bytes()
        sent = requests.post(base + "/submissions", data=body, timeout=60, headers={
            "Authorization": f"Bearer {SUBMITTER}", "X-Submitter": "Test focal point", "Content-Type": "text/turtle"})
        assert sent.status_code in (200, 201, 202), sent.text
        sid = sent.json()["id"]
        assert requests.post(f"{base}/submissions/{sid}/accept", headers=curator, timeout=60).status_code == 200
    with only(second, proc.pid):  # no wait: its next request sees the published data
        assert '"boolean": true' in _ask(base, known)
    with only(first, proc.pid):
        assert requests.post(f"{base}/submissions/{sid}/revoke", headers=curator, json={"reason": "test"},
                             timeout=60).status_code == 200
    with only(second, proc.pid):
        assert '"boolean": false' in _ask(base, known)


def test_a_result_computed_by_one_front_is_answered_by_the_other_from_the_cache(two_fronts):
    """The result cache is the server's: a notebook that opens a connection per query (as
    SPARQLWrapper does) gets the cached answer whichever front its connection reaches.
    The second front has never seen the text, nor its form, before."""
    base, proc = two_fronts
    first, second = children(proc.pid)
    for query, media_type in (("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o } # once", "application/sparql-results+json"),
                              ("CONSTRUCT { ?s a ?c } WHERE { ?s a ?c } LIMIT 5 # once", "text/turtle")):
        accept = {"Accept": media_type}
        with only(first, proc.pid):
            computed = requests.get(base + "/sparql", params={"query": query}, headers=accept, timeout=60)
        with only(second, proc.pid):
            again = requests.get(base + "/sparql", params={"query": query}, headers=accept, timeout=60)
            revalidated = requests.get(base + "/sparql", params={"query": query}, timeout=60,
                                       headers={**accept, "If-None-Match": computed.headers["ETag"]})
        assert computed.status_code == again.status_code == 200, again.text
        assert computed.headers["X-BPKG-Cache"] == "miss" and again.headers["X-BPKG-Cache"] == "hit"
        assert again.content == computed.content and again.headers["Content-Type"] == computed.headers["Content-Type"]
        assert again.headers["ETag"] == computed.headers["ETag"] and revalidated.status_code == 304


def test_a_text_no_front_has_run_gets_its_own_refusal_not_the_guessed_form_s(two_fronts):
    """A front looks a text it has not run up in the shared cache under the form its first
    keyword says; a client that cannot take that form must still hear why the text is
    refused (400, SERVICE), as from a one-process server, not 406 for the guess."""
    base, _ = two_fronts
    refused = "CONSTRUCT { ?s ?p ?o } WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } } # never run"
    r = requests.get(base + "/sparql", params={"query": refused}, timeout=60,
                     headers={"Accept": "application/sparql-results+json"})
    assert r.status_code == 400 and "SERVICE is not allowed" in r.text, (r.status_code, r.text)


def test_wrong_tokens_are_counted_across_fronts(two_fronts):
    base, proc = two_fronts
    wrong = {"Authorization": "Bearer not-a-token-of-this-server-0000"}
    allowed = 10  # AUTH_FAILURES, the default
    statuses = []
    for front in children(proc.pid):  # half the wrong tokens to each front
        with only(front, proc.pid):
            statuses += [_get(base, "/submissions", source="127.0.0.7", headers=wrong)[0] for _ in range(allowed // 2)]
    assert statuses == [403] * allowed
    for front in children(proc.pid):  # then each front refuses the address
        with only(front, proc.pid):
            assert _get(base, "/submissions", source="127.0.0.7", headers=wrong)[0] == 429


def _runaways(base: str, sources: list[str]) -> list[tuple[int, str]]:
    answers: list[tuple[int, str]] = []
    path = "/sparql?" + urllib.parse.urlencode({"query": RUNAWAY})
    threads = [threading.Thread(target=lambda s=s: answers.append(_get(base, path, source=s))) for s in sources]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return answers


@pytest.mark.slow
def test_one_client_gets_its_share_of_the_long_lane_of_the_whole_server(two_fronts):
    base, _ = two_fronts
    share = Limits().long_per_client
    answers = _runaways(base, ["127.0.0.8"] * (share + 2))
    assert all(status == 503 for status, _ in answers)  # stopped at the deadline or refused
    refused = [body for _, body in answers if f"already has {share} long-running" in body]
    assert len(refused) == 2, answers


@pytest.mark.slow
def test_the_long_lane_holds_for_the_whole_server(two_fronts):
    base, _ = two_fronts
    lane = Limits().max_long
    answers = _runaways(base, [f"127.0.1.{i}" for i in range(1, lane + 3)])
    refused = [body for _, body in answers if f"{lane} long-running queries already" in body]
    assert len(answers) == lane + 2 and len(refused) == 2, answers


def test_a_front_that_dies_is_replaced(two_fronts):
    base, proc = two_fronts
    victim = children(proc.pid)[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (victim in children(proc.pid) or len(children(proc.pid)) < 2):
        time.sleep(0.1)
    assert victim not in children(proc.pid) and len(children(proc.pid)) == 2
    for front in children(proc.pid):  # the new one serves like the other
        with only(front, proc.pid):
            assert '"boolean": true' in _ask(base, "ASK {}")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_nothing_outlives_the_server(stop):
    base, proc = start_server("--processes", "2")
    try:
        assert '"boolean": true' in _ask(base, "ASK {}")
        below = descendants(proc.pid)
        assert len(below) >= 4  # two fronts, each with its query workers
    finally:
        os.kill(proc.pid, stop)
        code = proc.wait(timeout=30)
    if stop == signal.SIGTERM:
        assert code == 0  # every front finished cleanly
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in below):
        time.sleep(0.1)
    assert not [pid for pid in below if os.path.exists(f"/proc/{pid}")], "a process outlived the server"
    with pytest.raises(requests.ConnectionError):
        requests.get(base + "/sparql", params={"query": "ASK {}"}, timeout=5)


@pytest.mark.parametrize("args, says", [
    (["--processes", "-1"], "from 1 to 256"),
    (["--processes", "2", "--dev"], "--dev"),
    (["--processes", "2", "--update-sandbox"], "--update-sandbox"),
])
def test_impossible_process_counts_are_refused(args, says):
    done = bpkg_cli("serve", "--port", "0", *args, env={"BPKG_SPARQL_UPDATE_TOKEN": "x" * 16}, timeout=120)
    assert done.returncode == 2 and says in done.stderr and "not started" in done.stderr, done.stderr


def test_a_dead_front_s_place_in_the_long_lane_is_free_again():
    from bpkg.sparql.admission import LongLane

    limits = Limits()
    lane = LongLane(limits)
    pid = os.fork()
    if pid == 0:  # a front that takes places and is killed before it leaves them
        lane.enter("10.0.0.1")
        lane.enter("10.0.0.2")
        os._exit(0)
    os.waitpid(pid, 0)
    places = [lane.enter(f"10.0.1.{i}") for i in range(limits.max_long)]
    assert len(lane) == limits.max_long
    with pytest.raises(SparqlError) as full:
        lane.enter("10.0.2.1")
    assert full.value.status == 503
    for place in places:
        lane.leave(place)
    assert len(lane) == 0


def test_the_supervisor_frees_the_places_of_a_front_as_it_reaps_it():
    """Not left to the sweep of dead holders: once reaped, the front's process number may
    go to a new process, which would then hold its places for as long as it lives."""
    from bpkg.sparql.admission import Slots
    from bpkg.web.fronts import supervise

    table = Slots(4)

    def front(index: int) -> None:  # takes two places and ends without giving them back
        table.take()
        table.take()
        os._exit(0)

    def reaped(pid: int) -> None:
        os._exit(0 if table.free_places_of(pid) == 2 else 3)

    supervisor = os.fork()
    if supervisor == 0:
        try:
            supervise(front, 1, on_stop=lambda: None, on_reaped=reaped)
        finally:
            os._exit(4)  # reaped() was never called
    _, status = os.waitpid(supervisor, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert list(table._places) == [0] * 8  # the table as the fronts read it: every place free, no PID left


# -- the query slots and /validate runs are the server's, whichever front takes them ------------
#
# A slot is held without burning the machine: the query or validation is started, and the
# process running it is stopped (SIGSTOP) once it is at work (see _hold); it holds its slot until it is
# killed. Queries stay in the quick lane meanwhile (long_after and the deadlines: a minute).

HELD = {"BPKG_SPARQL_LONG_AFTER": "60", "BPKG_SPARQL_TIMEOUT": "60", "BPKG_VALIDATE_TIMEOUT": "60"}


@pytest.fixture()
def held_fronts():
    base, proc = start_server("--processes", "2", env=HELD)
    yield base, proc
    resume_and_stop(proc)


def _cpu_ticks(pid: int) -> int:
    """User and system CPU time of ``pid`` so far, in clock ticks (10 ms each)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _hold(front: int, count: int, known: set[int] = frozenset(), seconds: float = 20) -> list[int]:
    """Wait until ``count`` processes of ``front`` run (on the CPU: a query worker with a query,
    or any process not in ``known``) and are at work, stop them, and return their PIDs.

    At work: 20 ms of CPU used. A process forked a moment ago may still hold descriptors it
    inherited from the front, such as the write end of another run's pipe, until it closes
    them first thing; stopped before that, it would keep that other run from ever ending."""
    end, held = time.monotonic() + seconds, []
    while time.monotonic() < end and len(held) < count:
        for pid in children(front):
            if pid not in held and (pid not in known if known else _state(pid) == "R") and _cpu_ticks(pid) >= 2:
                os.kill(pid, signal.SIGSTOP)
                held.append(pid)
        time.sleep(0.005)
    assert len(held) == count, f"only {len(held)} of {count} started on front {front}"
    return held


def _in_background(fn) -> tuple[threading.Thread, list]:
    """``fn()`` in a thread; its answer, or the exception it raised, in the list once done."""
    box: list = []

    def run():
        try:
            box.append(fn())
        except Exception as exc:  # noqa: BLE001 (a request through a front that is killed)
            box.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def test_query_slots_are_the_server_s_whichever_front_takes_them(held_fronts):
    base, proc = held_fronts
    first, second = children(proc.pid)
    slots = Limits().max_workers
    on_second = session_on(second, proc.pid, base)
    runaways = []
    with only(first, proc.pid):  # every slot of the server taken through one front (its share was half)
        for i in range(slots):
            runaways.append(_in_background(lambda i=i: _get(base, "/sparql?" + urllib.parse.urlencode(
                {"query": RUNAWAY}), source=f"127.0.2.{i + 1}")))
        held = _hold(first, slots)
    # The other front has no slot left to give: its client waits queue_wait, then 503.
    busy = on_second.get(base + "/sparql", params={"query": 'ASK { ?s ?p "the other front" }'}, timeout=30)
    assert busy.status_code == 503 and busy.headers.get("Retry-After"), busy.text
    assert f"all {slots} query slots stayed taken" in busy.text, busy.text
    # A slot freed in the first front is taken by the second's waiting client (within queue_wait).
    waiting, answer = _in_background(lambda: on_second.get(
        base + "/sparql", params={"query": 'ASK { ?s ?p "the other front, again" }'}, timeout=30))
    time.sleep(0.5)
    os.kill(held[0], signal.SIGKILL)  # the first front's query ends (503), and its slot is free
    waiting.join(timeout=30)
    assert answer and answer[0].status_code == 200, answer and answer[0].text
    # A front killed while it holds slots leaks none: once it is replaced, every slot is free.
    os.kill(first, signal.SIGKILL)
    end = time.monotonic() + 30
    while time.monotonic() < end and (first in children(proc.pid) or len(children(proc.pid)) < 2):
        time.sleep(0.05)
    assert first not in children(proc.pid) and len(children(proc.pid)) == 2
    for thread, _ in runaways:
        thread.join(timeout=30)
    with only(second, proc.pid):  # every slot, through the front that survived
        for i in range(slots):
            _in_background(lambda i=i: _get(base, "/sparql?" + urllib.parse.urlencode({"query": RUNAWAY}),
                                            source=f"127.0.3.{i + 1}"))
        for pid in _hold(second, slots):
            os.kill(pid, signal.SIGKILL)


def _sockets(pid: int) -> int:
    return sum(1 for fd in os.listdir(f"/proc/{pid}/fd") if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"))


def _wait_in(front: int, supervisor: int, base: str, count: int, first_address: int) -> list:
    """``count`` requests for a query slot sent through ``front``, once it holds their connections."""
    before = _sockets(front)
    with only(front, supervisor):
        waiting = [_in_background(lambda i=i: _get(base, "/sparql?" + urllib.parse.urlencode(
            {"query": f'ASK {{ ?s ?p "waiting {i}" }}'}), source=f"127.0.4.{i}"))
            for i in range(first_address, first_address + count)]
        end = time.monotonic() + 20
        while _sockets(front) < before + count and time.monotonic() < end:
            time.sleep(0.01)
    assert _sockets(front) >= before + count, f"front {front} holds fewer than the {count} connections: it answered some"
    return waiting


def test_the_waiting_room_is_the_server_s_whichever_front_the_requests_reach():
    """With every quick slot taken, requests wait for one in a waiting room of the whole
    server (32 places): 20 through one front and 12 through the other all wait, and the
    next is refused at once (with a share each, the first front refused its 17th)."""
    base, proc = start_server("--processes", "2", env={**HELD, "BPKG_SPARQL_QUEUE_WAIT": "60"})
    try:
        first, second = children(proc.pid)
        slots, room = Limits().max_workers, Limits().max_waiting
        with only(first, proc.pid):
            for i in range(slots):
                _in_background(lambda i=i: _get(base, "/sparql?" + urllib.parse.urlencode({"query": RUNAWAY}),
                                                source=f"127.0.2.{i + 1}"))
            held = _hold(first, slots)
        waiting = _wait_in(first, proc.pid, base, 20, 1) + _wait_in(second, proc.pid, base, room - 20, 21)
        time.sleep(0.5)
        assert not [answer for _, answer in waiting if answer], "a request did not wait for a slot"
        with only(second, proc.pid):
            status, body = _get(base, "/sparql?" + urllib.parse.urlencode({"query": 'ASK { ?s ?p "one too many" }'}),
                                source="127.0.5.1")
        assert status == 503 and f"{room} requests already wait for a query slot" in body, body
        for pid in held:  # the slots free again: every waiting request is answered
            os.kill(pid, signal.SIGKILL)
        for thread, answer in waiting:
            thread.join(timeout=60)
            assert answer and answer[0][0] == 200, answer
    finally:
        resume_and_stop(proc)


def _many_projects(count: int) -> bytes:
    """A submission of ``count`` projects (the example's, renamed): seconds to validate."""
    text = (ROOT / "examples" / "project.ttl").read_text()
    head, _, body = text.partition("project:example-labour-mobility a bp:Project")
    return (head + "".join(f"project:example-{i} a bp:Project{body}" for i in range(count))).encode()


def test_validation_runs_are_the_server_s_whichever_front_takes_them(held_fronts):
    base, proc = held_fronts
    first, second = children(proc.pid)
    parallel = 2  # VALIDATE_PARALLEL, the default
    doc = _many_projects(150)

    def validate(session) -> requests.Response:
        return session.post(base + "/validate", data=doc, headers={"Content-Type": "text/turtle"}, timeout=90)

    on_first, on_second = session_on(first, proc.pid, base), session_on(second, proc.pid, base)
    before = {front: set(children(front)) for front in (first, second)}  # their query workers
    # Two runs at once through the same front (its share was one).
    also_on_first = session_on(first, proc.pid, base)
    _in_background(lambda: validate(on_first))
    _in_background(lambda: validate(also_on_first))
    held = _hold(first, parallel, before[first])
    # No run is left for the other front: its validation waits.
    waiting, answer = _in_background(lambda: validate(on_second))
    time.sleep(1.0)
    assert not set(children(second)) - before[second] and not answer, "a third validation ran"
    os.kill(held[0], signal.SIGKILL)  # one run ends: the other front's starts beside the one still held
    waiting.join(timeout=90)
    assert answer and answer[0].status_code == 200, answer and answer[0].text[:300]
    assert _state(held[1]) == "T"  # the first front's second run was held all along
