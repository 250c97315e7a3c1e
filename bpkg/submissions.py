"""Submissions that last: durable intake, curator review and versioned publication.

The system of record is one SQLite database, ``submissions.sqlite3`` in the data directory
(``bpkg serve --data-dir DIR``, ``BPKG_DATA_DIR``, default :func:`default_data_dir`):

* WAL journal, ``synchronous=FULL``: a transaction that has returned is on disk, and
  survives ``kill -9`` of the server and a power cut after it; a crash in the middle of
  one leaves the database as it was before (SQLite rolls the journal back on the next
  open), so there is never a partial submission. Each state change is one transaction.
* Many writers, one at a time: ``BEGIN IMMEDIATE`` takes the write lock up front and
  waits up to :data:`BUSY_TIMEOUT_S` for it, from any thread or process (the server and
  ``bpkg submissions`` on the same directory).
* Each submission keeps the document verbatim (bytes, media type, SHA-256), the triples it
  was read as (N-Triples), its validation report, the submitter's label and *token id*
  (a keyed hash of the token, never the token), and the review: who accepted, rejected or
  revoked it, when, and why. An ``events`` table keeps the whole history.

Why SQLite rather than pyoxigraph's on-disk store: what must last is a record with a
state machine (pending -> accepted/rejected, accepted -> revoked), a verbatim document
and an audit trail, written by several threads and processes; SQLite gives atomic,
durable, serialised transactions for exactly that, from the standard library. The RDF
that is served is derived from it: at start-up and after every accept or revoke,
:func:`publish` builds a fresh in-memory store from the bundled graph plus each accepted
submission as its own named graph (``…/graph/submission/<id>``) with its provenance
(``…/graph/submission/<id>/provenance``). The bundled files are never written.

The served dataset's version is the bundled version plus the database's *generation*, a
counter that every accept and revoke increments: ETags, cache keys, VoID ``dcat:version``
and ``bpkg stats`` all change with it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyoxigraph as ox
from rdflib import URIRef

from . import formats
from .namespaces import GRAPH_BASE, PREFIXES
from .store import DERIVED_GRAPH, KnowledgeGraph, SourceFile, derive

SUBMISSION_BASE = GRAPH_BASE + "submission/"
DB_NAME = "submissions.sqlite3"
DEFAULT_MAX_PENDING = 1000  # pending submissions kept at most: a bound on the disk a flood can take
STATES = ("pending", "accepted", "rejected", "revoked")
ID_PATTERN = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")
BUSY_TIMEOUT_S = 30.0
MAX_REASON_CHARS = 2000

_N, _L = ox.NamedNode, ox.Literal
_RDF, _RDFS, _XSD = PREFIXES["rdf"], PREFIXES["rdfs"], PREFIXES["xsd"]
_PROV, _DCT, _DCAT, _VOID = PREFIXES["prov"], PREFIXES["dct"], PREFIXES["dcat"], PREFIXES["void"]
_SPDX = "http://spdx.org/rdf/terms#"  # DCAT 3 describes checksums with SPDX
_IANA = "https://www.iana.org/assignments/media-types/"
_TYPE = _N(_RDF + "type")
EXPORT_PREFIXES = {**PREFIXES, "spdx": _SPDX}


class SubmissionStateError(Exception):
    """The action does not apply to the submission in its present state (or it is unknown)."""

    def __init__(self, message: str, status: int = 409):
        self.status = status
        super().__init__(message)


def default_data_dir() -> Path:
    """``$BPKG_DATA_DIR``, else ``$XDG_DATA_HOME/bpkg``, else ``~/.local/share/bpkg``."""
    if os.environ.get("BPKG_DATA_DIR"):
        return Path(os.environ["BPKG_DATA_DIR"])
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "bpkg"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def graph_of(sid: str) -> str:
    return SUBMISSION_BASE + sid


def provenance_graph_of(sid: str) -> str:
    return SUBMISSION_BASE + sid + "/provenance"


# -- the record ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Record:
    """One submission as the database holds it."""

    id: str
    state: str
    submitted_at: str
    submitter: str  # the label the submitter gave (X-Submitter)
    submitter_id: str  # "token-<hex>": a keyed hash of the submitter's token
    source: str  # the file name, or "the submission"
    media_type: str
    sha256: str
    size: int
    triples: int
    data_nt: str  # the triples as read and validated, N-Triples
    report: dict  # the validation report (Report.as_dict()) when submitted or last accepted
    report_ttl: str  # the same report as SHACL Turtle
    accepted_at: str | None = None
    accepted_by: str | None = None
    rejected_at: str | None = None
    rejected_by: str | None = None
    revoked_at: str | None = None
    revoked_by: str | None = None
    reason: str | None = None

    @property
    def graph(self) -> str:
        return graph_of(self.id)

    def summary(self) -> dict:
        review = {k: getattr(self, k) for k in ("accepted_at", "accepted_by", "rejected_at", "rejected_by",
                                               "revoked_at", "revoked_by", "reason") if getattr(self, k)}
        return {"id": self.id, "status": self.state, "graph": self.graph, "submitted_at": self.submitted_at,
                "submitter": self.submitter, "submitter_id": self.submitter_id, "source": self.source,
                "media_type": self.media_type, "sha256": self.sha256, "bytes": self.size,
                "triples": self.triples, "counts": self.report.get("counts", {}), **review}

    def quads(self) -> list[ox.Quad]:
        name = _N(self.graph)
        return [ox.Quad(t.subject, t.predicate, t.object, name)
                for t in ox.parse(self.data_nt.encode("utf-8"), format=ox.RdfFormat.N_TRIPLES)]


_COLUMNS = ("id", "state", "submitted_at", "submitter", "submitter_id", "source", "media_type", "sha256", "size",
            "triples", "data_nt", "report_json", "report_ttl", "accepted_at", "accepted_by", "rejected_at",
            "rejected_by", "revoked_at", "revoked_by", "reason")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'rejected', 'revoked')),
    submitted_at TEXT NOT NULL,
    submitter TEXT NOT NULL,
    submitter_id TEXT NOT NULL,
    source TEXT NOT NULL,
    media_type TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    document BLOB NOT NULL,
    triples INTEGER NOT NULL,
    data_nt TEXT NOT NULL,
    report_json TEXT NOT NULL,
    report_ttl TEXT NOT NULL,
    accepted_at TEXT, accepted_by TEXT,
    rejected_at TEXT, rejected_by TEXT,
    revoked_at TEXT, revoked_by TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS submissions_by_state ON submissions (state, submitted_at);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    submission TEXT NOT NULL REFERENCES submissions (id),
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    reason TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Inbox:
    """The submissions database of one data directory. Safe across threads and processes:
    each call opens its own connection, and each change is one transaction."""

    def __init__(self, data_dir: Path | str, create: bool = True):
        self.dir = Path(data_dir)
        self.path = self.dir / DB_NAME
        if not create and not self.path.is_file():
            raise FileNotFoundError(f"no submissions database at {self.path}")
        if create:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._connect() as db:
            db.executescript(_SCHEMA)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('generation', '0')")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('token-key', ?)", (secrets.token_hex(32),))
            db.execute("INSERT OR IGNORE INTO meta VALUES ('published-at', '')")
        self._key = bytes.fromhex(self._meta("token-key"))

    @staticmethod
    def exists(data_dir: Path | str) -> bool:
        return (Path(data_dir) / DB_NAME).is_file()

    @contextmanager
    def _connect(self):
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            yield db
        finally:
            db.close()

    @contextmanager
    def _transaction(self):
        """One write transaction: the write lock first, committed or rolled back as a whole."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _meta(self, key: str) -> str:
        with self._connect() as db:
            return db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]

    # -- identities

    def token_id(self, token: str) -> str:
        """A stable, non-reversible name for a token (HMAC-SHA256 with this database's key)."""
        return "token-" + hmac.new(self._key, token.encode("utf-8"), hashlib.sha256).hexdigest()[:16]

    # -- reading

    def generation(self) -> int:
        return int(self._meta("generation"))

    def published_at(self) -> str | None:
        return self._meta("published-at") or None

    def get(self, sid: str) -> Record | None:
        if not ID_PATTERN.match(sid or ""):
            return None
        with self._connect() as db:
            row = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM submissions WHERE id = ?", (sid,)).fetchone()
        return _record(row) if row else None

    def document(self, sid: str) -> bytes | None:
        with self._connect() as db:
            row = db.execute("SELECT document FROM submissions WHERE id = ?", (sid,)).fetchone()
        return bytes(row[0]) if row else None

    def records(self, state: str | None = None, submitter_id: str | None = None) -> list[Record]:
        where, args = [], []
        if state:
            where.append("state = ?")
            args.append(state)
        if submitter_id:
            where.append("submitter_id = ?")
            args.append(submitter_id)
        sql = f"SELECT {', '.join(_COLUMNS)} FROM submissions"
        sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY submitted_at, id"
        with self._connect() as db:
            return [_record(row) for row in db.execute(sql, args)]

    def counts(self) -> dict[str, int]:
        with self._connect() as db:
            found = dict(db.execute("SELECT state, COUNT(*) FROM submissions GROUP BY state").fetchall())
        return {s: found.get(s, 0) for s in STATES}

    def events(self, sid: str) -> list[dict]:
        with self._connect() as db:
            rows = db.execute("SELECT action, actor, at, reason FROM events WHERE submission = ? ORDER BY seq",
                              (sid,)).fetchall()
        return [{"action": a, "actor": who, "at": at, **({"reason": r} if r else {})} for a, who, at, r in rows]

    def accepted(self) -> list[Record]:
        with self._connect() as db:
            rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM submissions WHERE state = 'accepted' "
                              "ORDER BY accepted_at, id").fetchall()
        return [_record(row) for row in rows]

    def snapshot(self) -> tuple[int, str | None, list[Record]]:
        """(generation, published-at, accepted records), read in one transaction."""
        with self._connect() as db:
            db.execute("BEGIN")
            generation = int(db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
            when = db.execute("SELECT value FROM meta WHERE key = 'published-at'").fetchone()[0] or None
            rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM submissions WHERE state = 'accepted' "
                              "ORDER BY accepted_at, id").fetchall()
            db.execute("COMMIT")
        return generation, when, [_record(row) for row in rows]

    # -- changes

    def add(self, *, raw: bytes, media_type: str, source: str, data_nt: str, triples: int, report: dict,
            report_ttl: str, submitter: str, submitter_id: str, max_pending: int | None = None) -> Record:
        """Record a new pending submission (one transaction; the answer is sent after it)."""
        when = now()
        sid = f"{when.replace('-', '').replace(':', '')}-{secrets.token_hex(4)}"
        row = (sid, "pending", when, submitter, submitter_id, source, media_type, hashlib.sha256(raw).hexdigest(),
               len(raw), raw, triples, data_nt, json.dumps(report, ensure_ascii=False), report_ttl)
        with self._transaction() as db:
            if max_pending is not None:
                pending = db.execute("SELECT COUNT(*) FROM submissions WHERE state = 'pending'").fetchone()[0]
                if pending >= max_pending:
                    raise InboxFull(f"{pending} submissions are already waiting for review (the limit is "
                                    f"{max_pending}); try again once curators have reviewed some")
            db.execute("INSERT INTO submissions (id, state, submitted_at, submitter, submitter_id, source, media_type, "
                       "sha256, size, document, triples, data_nt, report_json, report_ttl) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            db.execute("INSERT INTO events (submission, action, actor, at) VALUES (?, 'submitted', ?, ?)",
                       (sid, submitter_id, when))
        return self.get(sid)

    def decide(self, sid: str, action: str, actor: str, *, reason: str | None = None,
               generation: int | None = None, report: dict | None = None, report_ttl: str | None = None) -> Record:
        """Accept, reject or revoke, in one transaction.

        ``generation``: the generation the accept was validated against; when another accept
        or revoke has happened since, :class:`StaleValidation` is raised and nothing changes.
        """
        source_state, target_state, column = {"accept": ("pending", "accepted", "accepted"),
                                              "reject": ("pending", "rejected", "rejected"),
                                              "revoke": ("accepted", "revoked", "revoked")}[action]
        when = now()
        with self._transaction() as db:
            row = db.execute("SELECT state FROM submissions WHERE id = ?", (sid,)).fetchone()
            if row is None:
                raise SubmissionStateError(f"no submission {sid!r}", 404)
            if row[0] != source_state:
                raise SubmissionStateError(f"submission {sid} is {row[0]}; only a {source_state} submission "
                                           f"can be {target_state}")
            changes_data = action in ("accept", "revoke")
            if changes_data:
                current = int(db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
                if generation is not None and current != generation:
                    raise StaleValidation(current)
                db.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (str(current + 1),))
                db.execute("UPDATE meta SET value = ? WHERE key = 'published-at'", (when,))
            sets = [f"state = '{target_state}'", f"{column}_at = ?", f"{column}_by = ?"]
            args: list = [when, actor]
            if reason is not None:
                sets.append("reason = ?")
                args.append(reason)
            if report is not None:
                sets += ["report_json = ?", "report_ttl = ?"]
                args += [json.dumps(report, ensure_ascii=False), report_ttl]
            db.execute(f"UPDATE submissions SET {', '.join(sets)} WHERE id = ?", (*args, sid))
            db.execute("INSERT INTO events (submission, action, actor, at, reason) VALUES (?, ?, ?, ?, ?)",
                       (sid, target_state, actor, when, reason))
        return self.get(sid)

    def note(self, sid: str, action: str, actor: str, reason: str | None = None) -> None:
        """An event in a submission's history that changes nothing else."""
        with self._transaction() as db:
            db.execute("INSERT INTO events (submission, action, actor, at, reason) VALUES (?, ?, ?, ?, ?)",
                       (sid, action, actor, now(), reason))


class InboxFull(Exception):
    """Too many submissions are waiting for review."""


class StaleValidation(Exception):
    """The published dataset changed while an accept was being validated: validate again."""

    def __init__(self, generation: int):
        self.generation = generation
        super().__init__(f"the published dataset changed (generation {generation}) during validation")


def _record(row) -> Record:
    values = dict(zip(_COLUMNS, row))
    values["report"] = json.loads(values.pop("report_json"))
    return Record(**values)


# -- publication ----------------------------------------------------------------------------

def publish(bundled: KnowledgeGraph, generation: int, records: list[Record],
            published_at: str | None = None) -> KnowledgeGraph:
    """The served dataset: the bundled graphs, each accepted submission as its own named graph
    with its provenance graph, and the derived shortcuts recomputed over all of them.

    The bundled store is never changed: a new store is built. Without any accept or revoke
    ever (generation 0) the bundled graph itself is returned.
    """
    if generation == 0 and not records:
        return bundled
    store = ox.Store()
    derived = _N(str(DERIVED_GRAPH))
    store.bulk_extend(q for q in bundled.store if q.graph_name != derived)
    files = list(bundled.files)
    owners: dict[str, str] = {}
    bundled_subjects = {q.subject for q in bundled.store if q.graph_name != derived}
    for record in records:
        data = record.quads()
        provenance = list(provenance_quads(record))
        store.bulk_extend(data)
        store.bulk_extend(provenance)
        files.append(SourceFile(f"submission/{record.id}", URIRef(record.graph), len(data)))
        files.append(SourceFile(f"submission/{record.id}/provenance", URIRef(provenance_graph_of(record.id)),
                                len(provenance)))
        for q in data:
            if isinstance(q.subject, ox.NamedNode) and q.subject not in bundled_subjects:
                owners.setdefault(q.subject.value, record.submitter_id)
    store.bulk_extend(ox.Quad(t.subject, t.predicate, t.object, derived) for t in derive(store))
    return KnowledgeGraph(store, files, f"{bundled.version}-g{generation}", owners=owners,
                          generation=generation, modified=published_at)


class Publisher:
    """Keeps the published dataset in step with the database (thread-safe).

    :meth:`current` rebuilds only when the database's generation has moved, so a change
    made by ``bpkg submissions accept`` in another process is picked up too.
    """

    def __init__(self, bundled: KnowledgeGraph, inbox: Inbox):
        self.bundled, self.inbox = bundled, inbox
        self._lock = threading.Lock()
        self._kg: KnowledgeGraph | None = None

    def current(self) -> KnowledgeGraph:
        with self._lock:
            generation = self.inbox.generation()
            if self._kg is None or self._kg.generation != generation:
                gen, when, records = self.inbox.snapshot()
                self._kg = publish(self.bundled, gen, records, when)
            return self._kg


def load_published(data_dir: Path | str | None = None, bundled: KnowledgeGraph | None = None) -> KnowledgeGraph:
    """The bundled graph plus the accepted submissions of ``data_dir`` (default
    :func:`default_data_dir`); the bundled graph alone when that has no database."""
    from .store import load

    bundled = bundled or load()
    folder = Path(data_dir) if data_dir else default_data_dir()
    if not Inbox.exists(folder):
        return bundled
    return Publisher(bundled, Inbox(folder, create=False)).current()


# -- the review -------------------------------------------------------------------------

def review(inbox: Inbox, kg: KnowledgeGraph, record: Record, action: str, actor: str,
           reason: str | None = None, *, republish=None):
    """Accept, reject or revoke ``record``: returns (record, report or None).

    An accept re-validates the submission against the published dataset as it is at that
    moment; with violations nothing changes and the report is returned with the record
    still pending. ``republish()`` returns the published dataset after another process's
    change (used to retry an accept whose validation went stale).
    """
    from . import validation

    if action == "reject" and not (reason and reason.strip()):
        raise SubmissionStateError("a rejection needs a reason the submitter can act on", 400)
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        raise SubmissionStateError(f"the reason is longer than {MAX_REASON_CHARS} characters", 400)
    if action != "accept":
        return inbox.decide(record.id, action, actor, reason=reason), None
    if record.state != "pending":
        raise SubmissionStateError(f"submission {record.id} is {record.state}; only a pending submission "
                                   "can be accepted")
    for _ in range(5):
        generation = kg.generation
        validator = validation.validator_for(kg)
        submission = validation.parse_submission(record.data_nt, fmt=formats.syntax("ntriples"),
                                                 source=record.source, max_bytes=len(record.data_nt.encode("utf-8")) + 1,
                                                 max_triples=max(record.triples, 1))
        report = validator.validate_submission(submission, owner=record.submitter_id)
        if not report.conforms:  # it stays pending; the history says why it was not accepted
            inbox.note(record.id, "accept-refused", actor,
                       f"{report.counts['Violation']} violation(s) against the published dataset {kg.version}")
            return record, report
        try:
            ttl = report.render("turtle", validator.shapes)
            return inbox.decide(record.id, "accept", actor, reason=reason, generation=generation,
                                report=report.as_dict(), report_ttl=ttl), report
        except StaleValidation:
            if republish is None:
                raise
            kg = republish()
    raise SubmissionStateError("the published dataset kept changing during the review; try again", 503)


def diff(kg: KnowledgeGraph, record: Record) -> dict:
    """What accepting would change: the triples not yet published, the entities that are new,
    and the existing entities it refers to."""
    union = {(q.subject, q.predicate, q.object) for q in kg.store
             if q.graph_name != _N(record.graph) and q.graph_name != _N(str(DERIVED_GRAPH))}
    subjects = {s for s, _, _ in union}
    data = [(q.subject, q.predicate, q.object) for q in record.quads()]
    added = sorted({t for t in data if t not in union}, key=lambda t: tuple(map(str, t)))
    mentioned = {n for s, _, o in data for n in (s, o) if isinstance(n, ox.NamedNode)}
    new = sorted({s.value for s, _, _ in data if isinstance(s, ox.NamedNode) and s not in subjects})
    existing = sorted(n.value for n in mentioned if n in subjects)
    return {"id": record.id, "status": record.state,
            "added": [_nt(t) for t in added], "already_published": len(data) - len(added),
            "new_entities": new, "existing_entities": existing}


def _nt(triple) -> str:
    return " ".join(str(t) for t in triple) + " ."


# -- RDF: provenance and export -------------------------------------------------------------

def provenance_quads(record: Record):
    """Who submitted, when, the document's hash, its validation report, who accepted, when
    (PROV-O, DCAT, SPDX), in the submission's provenance graph; no blank nodes."""
    name = _N(provenance_graph_of(record.id))
    graph = _N(record.graph)
    at = lambda local: _N(f"{record.graph}#{local}")  # noqa: E731
    document, submitter, curator, acceptance = at("document"), at("submitter"), at("curator"), at("acceptance")
    report, checksum = at("report"), at("checksum")
    stamp = lambda value: _L(value, datatype=_N(_XSD + "dateTime"))  # noqa: E731
    counts = record.report.get("counts", {})
    triples = [
        (graph, _TYPE, _N(_PROV + "Entity")),
        (graph, _dct("identifier"), _L(record.id)),
        (graph, _N(_PROV + "wasAttributedTo"), submitter),
        (graph, _N(_PROV + "generatedAtTime"), stamp(record.submitted_at)),
        (graph, _N(_PROV + "wasDerivedFrom"), document),
        (graph, _N(_PROV + "wasGeneratedBy"), acceptance),
        (graph, _N(_VOID + "triples"), _L(str(record.triples), datatype=_N(_XSD + "integer"))),
        (submitter, _TYPE, _N(_PROV + "Agent")),
        (submitter, _N(_RDFS + "label"), _L(record.submitter)),
        (submitter, _dct("identifier"), _L(record.submitter_id)),
        (document, _TYPE, _N(_PROV + "Entity")),
        (document, _dct("title"), _L(record.source)),
        (document, _N(_DCAT + "mediaType"), _N(_IANA + record.media_type)),
        (document, _N(_DCAT + "byteSize"), _L(str(record.size), datatype=_N(_XSD + "nonNegativeInteger"))),
        (document, _N(_SPDX + "checksum"), checksum),
        (checksum, _TYPE, _N(_SPDX + "Checksum")),
        (checksum, _N(_SPDX + "algorithm"), _N(_SPDX + "checksumAlgorithm_sha256")),
        (checksum, _N(_SPDX + "checksumValue"), _L(record.sha256, datatype=_N(_XSD + "hexBinary"))),
        (acceptance, _TYPE, _N(_PROV + "Activity")),
        (acceptance, _N(_RDFS + "label"), _L("curator review and acceptance", language="en")),
        (acceptance, _N(_PROV + "used"), document),
        (acceptance, _N(_PROV + "used"), report),
        (acceptance, _N(_PROV + "wasAssociatedWith"), curator),
        (curator, _TYPE, _N(_PROV + "Agent")),
        (curator, _dct("identifier"), _L(record.accepted_by or "")),
        (report, _TYPE, _N(PREFIXES["sh"] + "ValidationReport")),
        (report, _N(PREFIXES["sh"] + "conforms"), _L("true", datatype=_N(_XSD + "boolean"))),
        (report, _N(_PROV + "wasDerivedFrom"), document),
        (report, _N(_RDFS + "comment"), _L(
            f"Validated against the published dataset when accepted: {counts.get('violation', 0)} violations, "
            f"{counts.get('warning', 0)} warnings, {counts.get('info', 0)} notes.", language="en")),
    ]
    if record.accepted_at:
        triples.append((acceptance, _N(_PROV + "endedAtTime"), stamp(record.accepted_at)))
    for s, p, o in triples:
        yield ox.Quad(s, p, o, name)


def _dct(local: str) -> ox.NamedNode:  # noqa: N802 (reads like the prefixed name)
    return _N(_DCT + local)


def graph_quads(record: Record, parts: tuple[str, ...] = ("data",)) -> list[ox.Quad]:
    quads = record.quads() if "data" in parts else []
    if "provenance" in parts:
        quads += list(provenance_quads(record))
    return sorted(quads, key=lambda q: (str(q.graph_name), str(q.subject), q.predicate != _TYPE, str(q.predicate),
                                        str(q.object)))


def serialise(record: Record, fmt: ox.RdfFormat, parts: tuple[str, ...] = ("data",)) -> bytes:
    """``parts`` ("data", "provenance") in ``fmt``; N-Quads and TriG keep the named graphs."""
    quads = graph_quads(record, parts)
    prefixes = _prefixes_used(quads) if fmt in (ox.RdfFormat.TURTLE, ox.RdfFormat.TRIG) else {}
    if fmt in (ox.RdfFormat.N_QUADS, ox.RdfFormat.TRIG):
        return ox.serialize(quads, format=fmt, prefixes=prefixes)
    return ox.serialize([ox.Triple(q.subject, q.predicate, q.object) for q in quads], format=fmt, prefixes=prefixes)


def _prefixes_used(quads) -> dict[str, str]:
    iris = {t.value for q in quads for t in (q.subject, q.predicate, q.object, q.graph_name)
            if isinstance(t, ox.NamedNode)}
    iris |= {q.object.datatype.value for q in quads if isinstance(q.object, ox.Literal)}
    return {p: ns for p, ns in EXPORT_PREFIXES.items() if any(i.startswith(ns) for i in iris)}


def export(inbox: Inbox, out: Path | str) -> list[Path]:
    """Write each accepted submission as Turtle, ready to review and commit into ``kg/``:
    ``<out>/submission-<id>.ttl`` with its provenance as a comment header."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for record in inbox.accepted():
        header = (f"# Submission {record.id}, accepted {record.accepted_at} by {record.accepted_by}.\n"
                  f"# Submitted {record.submitted_at} by {record.submitter} ({record.submitter_id}) as "
                  f"{record.source} ({record.media_type}, {record.size} bytes, sha256 {record.sha256}).\n"
                  f"# Published as the named graph <{record.graph}>; review it, then move it into kg/ and\n"
                  f"# revoke the submission so the data is not published twice.\n\n")
        path = folder / f"submission-{record.id}.ttl"
        tmp = path.with_suffix(".ttl.tmp")
        tmp.write_bytes(header.encode("utf-8") + serialise(record, ox.RdfFormat.TURTLE))
        tmp.replace(path)
        written.append(path)
    return written
