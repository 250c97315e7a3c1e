"""One uncached request, stage by stage, across the server's processes; and the floors
under it.

``bench_http.py`` says how long a request takes and how much CPU each kind of process
spends; this says *where* the wall time of one request goes, from the client's send to
its last byte:

* **the stages**: ``bpkg serve`` runs with a timestamp taken at each hand-over (waitress's
  event loop reads the request, a request thread takes it, bpkg's WSGI code starts, the
  job is sent to a query process, which starts it and has the answer, the answer is read
  back, bpkg's code returns, the request thread is done). ``time.perf_counter`` is
  CLOCK_MONOTONIC on Linux, one clock for every process, so stamps taken in the query
  process line up with the server's; they travel back in the reply's header. A client
  sends one request at a time (each a new text, so no cache answers), and each stage's
  median is reported;
* **the floors**, measured in the same run with the same client: waitress alone answering a
  constant result (what the HTTP server costs before any work), two processes passing a
  small message over a socketpair and back (what any hand-off to a query process costs
  here before any Python), and ``oxigraph serve`` on the same data and query.

The stamps come from wrapping functions of waitress and of bpkg in the server process
(``--stamped-serve``), so nothing of this is in bpkg itself; a waitress without those
functions makes this script stop and say which.

    python bench/timeline.py                      # bundled graph, 2,000 requests per query
    python bench/timeline.py --json bench/out/timeline.json
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import socket
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

# The stamps, in the order a request meets them; a stage is the time from one to the next.
SENT, RECEIVED = "client sends", "client has the answer"
STAMPS = [SENT, "waitress reads it", "a request thread takes it", "bpkg's WSGI code starts",
          "job sent to a query process", "the query process starts it", "the query process has the answer",
          "the answer is read back", "bpkg's WSGI code returns", "the request thread is done", RECEIVED]
WHAT = {  # what happens in the stage that ends at each stamp
    "waitress reads it": "the server wakes up, its event loop reads the bytes",
    "a request thread takes it": "waitress parses the request and wakes a request thread",
    "bpkg's WSGI code starts": "waitress builds the WSGI environment",
    "job sent to a query process": "bpkg: protocol request, cache key, query slot, job framing",
    "the query process starts it": "a query process wakes up and reads the job",
    "the query process has the answer": "gate (scan, parse), engine, serialisation",
    "the answer is read back": "the server wakes up and reads the answer",
    "bpkg's WSGI code returns": "bpkg: cache entry, ETag, response headers",
    "the request thread is done": "waitress writes the response",
    "client has the answer": "the client wakes up and reads it",
}
DEFAULT_QUERIES = ("ASK {}", "point", "projects-by-state")


# -- in the server process ---------------------------------------------------------------------

def stamped_serve(argv: list[str]) -> int:
    """``bpkg serve`` with a stamp at each hand-over, written to $BPKG_TIMELINE_OUT at exit."""
    from waitress import channel, task

    from bpkg.sparql import workers
    from bpkg.web import query_path

    seen: list[tuple[str, float]] = []
    clock = time.perf_counter

    def wrap(owner, name: str, before: str, after: str | None = None) -> None:
        inner = getattr(owner, name, None)
        if inner is None:
            raise SystemExit(f"timeline: {owner.__module__}.{owner.__name__} has no {name}; the stages need updating")

        def stamped(*args, **kwargs):
            seen.append((before, clock()))
            try:
                return inner(*args, **kwargs)
            finally:
                if after:
                    seen.append((after, clock()))
        setattr(owner, name, stamped)

    wrap(channel.HTTPChannel, "handle_read", "waitress reads it")
    wrap(task.WSGITask, "execute", "a request thread takes it", "the request thread is done")
    wrap(query_path.QueryPath, "__call__", "bpkg's WSGI code starts", "bpkg's WSGI code returns")
    write_frame, read_frame, evaluate_job = workers._write_frame, workers._read_frame, workers.evaluate_job

    def writing(fd, header, body=b""):
        if "query" in header:  # a job, not a query process's answer
            seen.append(("job sent to a query process", clock()))
        return write_frame(fd, header, body)

    def evaluating(target, job):  # in the query process: its stamps go back in the answer's header
        started = clock()
        header, body = evaluate_job(target, job)
        header["timeline"] = [started, clock()]
        return header, body

    def reading(fd, deadline, max_size=None):
        frame = read_frame(fd, deadline, max_size)
        if frame is not None and "timeline" in frame[0]:
            started, done = frame[0].pop("timeline")
            seen.extend([("the query process starts it", started), ("the query process has the answer", done),
                         ("the answer is read back", clock())])
        return frame

    workers._write_frame, workers._read_frame, workers.evaluate_job = writing, reading, evaluating
    out = Path(os.environ["BPKG_TIMELINE_OUT"])
    atexit.register(lambda: out.write_text(json.dumps(seen)))
    from bpkg.cli import main

    return main(["serve", *argv])


def constant_serve(port: int) -> None:
    """waitress alone, with the thread count of ``bpkg serve``, answering one constant ASK result."""
    import waitress

    from bpkg.cli import build_parser

    threads = build_parser().parse_args(["serve"]).threads  # bpkg serve's default
    body = b'{"head":{},"boolean":true}'

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/sparql-results+json"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    waitress.serve(app, host="127.0.0.1", port=port, threads=threads, _quiet=True)


# -- in the benchmark --------------------------------------------------------------------------

def sequential(port: int, path: str, text: str, requests: int, pause: float = 0.0005) -> list[tuple[float, float]]:
    """(sent, received) of ``requests`` requests, one at a time, each a new text."""
    import client

    conn = client.Connection(port, timeout=60)
    times = []
    try:
        for n in range(requests):
            raw = client.get_request(port, path, f"{text}\n# timeline {n}")
            sent = time.perf_counter()
            status, body, _ = conn.send(raw)
            received = time.perf_counter()
            if status != 200:
                raise RuntimeError(f"{path} answered {status}: {body[:200]!r}")
            times.append((sent, received))
            time.sleep(pause)  # the server goes idle between requests, as with one analyst
    finally:
        conn.close()
    return times


def p50_us(times: list[tuple[float, float]], warm_up: int) -> float:
    return round(statistics.median(b - a for a, b in times[warm_up:]) * 1e6, 1)


def stages(requests: list[tuple[float, float]], stamps: list[tuple[str, float]], warm_up: int) -> dict:
    """Median µs of each stage, from the stamps that fall inside each request's window."""
    stamps = sorted(stamps, key=lambda s: s[1])
    per_stage: dict[str, list[float]] = {name: [] for name in STAMPS[1:]}
    complete = 0
    i = 0
    for sent, received in requests[warm_up:]:
        while i < len(stamps) and stamps[i][1] < sent:
            i += 1
        inside: dict[str, float] = {SENT: sent}
        j = i
        while j < len(stamps) and stamps[j][1] <= received:
            inside.setdefault(stamps[j][0], stamps[j][1])
            j += 1
        inside[RECEIVED] = received
        if len(inside) != len(STAMPS):  # a stamp fell outside the window (a late thread): skip the request
            continue
        complete += 1
        for before, after in zip(STAMPS, STAMPS[1:]):
            per_stage[after].append(inside[after] - inside[before])
    return {"complete": complete,
            "stages_us": {name: round(statistics.median(v) * 1e6, 1) if v else None for name, v in per_stage.items()}}


def ping_pong_us(rounds: int = 20000) -> float:
    """Median round trip of 100 bytes between two processes over a socketpair, no Python framing."""
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        ours.close()
        while True:
            data = theirs.recv(1 << 16)
            if not data:
                os._exit(0)
            theirs.sendall(data)
    theirs.close()
    times = []
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            ours.sendall(b"x" * 100)
            ours.recv(1 << 16)
            times.append(time.perf_counter() - start)
    finally:
        ours.close()
        os.waitpid(pid, 0)
    return round(statistics.median(times[rounds // 10:]) * 1e6, 1)


def measure(query_labels: list[str], requests: int) -> dict:
    import bench_http

    import bpkg
    from tests.servers import free_port

    texts = dict([("ASK {}", bench_http.ASK), *bench_http.cases()])
    chosen = [(label, texts[label]) for label in query_labels]
    warm_up = max(1, requests // 10)
    report: dict = {"requests": requests, "warm_up": warm_up, "queries": {}, "floors": {}}

    bench_http.OUT.mkdir(parents=True, exist_ok=True)
    out = bench_http.OUT / "timeline-stamps.json"
    port = free_port()
    ours = bench_http.Server("ours-stamped", [sys.executable, str(Path(__file__).resolve()), "--stamped-serve",
                                              "--host", "127.0.0.1", "--port", str(port), "--processes", "1"],
                             port, "/sparql", {"BPKG_TIMELINE_OUT": str(out),
                                               "BPKG_DATA_DIR": str(bench_http.OUT / "no-submissions")})
    try:
        ours.wait_ready(120)
        windows = {label: sequential(port, "/sparql", text, requests) for label, text in chosen}
    finally:
        ours.stop()  # SIGTERM: the server writes its stamps as it exits
    stamps = json.loads(out.read_text())
    for label, times in windows.items():
        report["queries"][label] = {"p50_us": p50_us(times, warm_up), **stages(times, stamps, warm_up)}

    port = free_port()
    bare = bench_http.Server("waitress-alone", [sys.executable, str(Path(__file__).resolve()), "--constant-serve",
                                                str(port)], port, "/sparql")
    try:
        bare.wait_ready(60)
        report["floors"]["waitress alone, constant answer"] = p50_us(sequential(port, "/sparql", "ASK {}", requests),
                                                                     warm_up)
    finally:
        bare.stop()
    report["floors"]["two processes, a socketpair round trip"] = ping_pong_us()

    peer = bench_http.start_oxigraph(bpkg.load())
    report["oxigraph_p50_us"] = None
    if peer:
        try:
            report["oxigraph_p50_us"] = {label: p50_us(sequential(peer.port, "/query", text, requests), warm_up)
                                         for label, text in chosen}
        finally:
            peer.stop()
    return report


def as_markdown(report: dict) -> list[str]:
    """The section of docs/benchmarks.md (``run_all.py`` puts it under the serving tables)."""
    labels = list(report["queries"])
    lines = ["#### One request, stage by stage (ours, bundled, 1 client)", "",
             f"`python bench/timeline.py`: {report['requests']:,} requests per query, one at a time, each a new text; "
             "medians of the time between two stamps (CLOCK_MONOTONIC, one clock for every process), taken where "
             "the request changes hands. Stages do not add up exactly to the end-to-end median (medians of parts).", "",
             "| stage ends when | what happens in it | " + " | ".join(f"`{q}`" for q in labels) + " |",
             "|---|---|" + "---:|" * len(labels)]
    for name in STAMPS[1:]:
        cells = [report["queries"][q]["stages_us"].get(name) for q in labels]
        lines.append(f"| {name} | {WHAT[name]} | " + " | ".join("–" if c is None else f"{c:.0f} µs" for c in cells) + " |")
    lines.append("| **end to end, p50** | | " + " | ".join(f"**{report['queries'][q]['p50_us']:.0f} µs**"
                                                        for q in labels) + " |")
    oxi = report.get("oxigraph_p50_us")
    if oxi:
        lines.append("| `oxigraph serve`, p50 | the same client and query | " +
                     " | ".join(f"{oxi[q]:.0f} µs" for q in labels) + " |")
    lines += ["", "Floors, measured in the same run with the same client: " +
              "; ".join(f"{name}: {us:.0f} µs" for name, us in report["floors"].items()) + "."]
    return lines


def floor_argument(report: dict) -> str | None:
    """What the ASK target leaves room for, from this run's own figures (for the explanations)."""
    oxi = (report.get("oxigraph_p50_us") or {}).get("ASK {}")
    floors = report["floors"]
    waitress_alone = floors.get("waitress alone, constant answer")
    hand_off = floors.get("two processes, a socketpair round trip")
    if not (oxi and waitress_alone and hand_off):
        return None
    ask = report["queries"].get("ASK {}", {}).get("stages_us", {})
    engine_side = ask.get("the query process has the answer")
    return (f"- **The floor of this design, for `ASK {{}}`** (`bench/timeline.py`): 1.5 × Oxigraph's {oxi:.0f} µs "
            f"leaves {1.5 * oxi:.0f} µs. waitress alone, answering a constant result with no work at all, takes "
            f"{waitress_alone:.0f} µs, and the bare round trip to another process {hand_off:.0f} µs: "
            f"{waitress_alone + hand_off:.0f} µs before the first line of bpkg runs, ×{(waitress_alone + hand_off) / oxi:.2f} "
            "Oxigraph. Every new query text must be scanned and parsed in a query process (a parser bomb must not "
            "take the server down), so an uncached request cannot skip the hand-off. Add the query process's own "
            f"job ({engine_side:.0f} µs here, cold caches after a wake-up) and bpkg's request handling, and the "
            "target is out of reach for sub-millisecond queries with a Python HTTP front and process isolation; "
            "at 2M triples, where the engine's time dominates, the same design meets it.")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--stamped-serve"]:
        return stamped_serve(argv[1:])
    if argv[:1] == ["--constant-serve"]:
        constant_serve(int(argv[1]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", nargs="+", default=list(DEFAULT_QUERIES),
                        help=f"labels from bench_http.cases() and 'ASK {{}}' (default: {', '.join(DEFAULT_QUERIES)})")
    parser.add_argument("--requests", type=int, default=2000, help="per query (default 2000)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report = measure(args.queries, args.requests)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    print("\n".join(as_markdown(report)))
    argument = floor_argument(report)
    if argument:
        print(argument)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
