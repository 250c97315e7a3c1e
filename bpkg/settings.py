"""Every setting of the web application, with its default and what it does: the one list.

``create_app`` starts ``app.config`` from :data:`DEFAULTS`, then reads the environment
(``BPKG_<NAME>``), then the caller's mapping, so every blueprint reads ``config[NAME]``
and no default is written anywhere else. The SPARQL limits are the fields of
:class:`bpkg.sparql.Limits` (``SPARQL_TIMEOUT`` is ``Limits.timeout``), whose defaults stay
with the executor that enforces them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from .cache import DEFAULT_MAX_BYTES as CACHE_MAX_BYTES
from .cache import DEFAULT_MAX_ENTRIES as CACHE_MAX_ENTRIES
from .data_files import npm_file
from .queries import QUERY_DIR
from .sparql import Limits
from .sparql.cores import SERVER_CPUS
from .submissions import DEFAULT_MAX_PENDING
from .validation import DEFAULT_MAX_BYTES as VALIDATE_MAX_BYTES


@dataclass(frozen=True)
class Setting:
    name: str  # the app.config key; the environment variable is BPKG_<name>
    default: object
    doc: str

    @property
    def public(self) -> bool:
        """Shown in the service description: a limit or a switch a client may plan around,
        never a token, a path or an address of this machine."""
        return isinstance(self.default, (bool, int, float)) and not self.name.endswith(("_TOKEN", "_TOKENS"))


SETTINGS = (
    Setting("KG_PATHS", None, "files or folders to load; None = the bundled ontology/ and kg/"),
    Setting("STORE", None, "URL of an external SPARQL store to serve from instead (bpkg serve --store)"),
    Setting("CHECK_CONFORMANCE", True, "validate the served graph against the shapes before serving it, and refuse "
                                       "to serve one that does not conform; off (bpkg serve --no-conformance-check) "
                                       "only for a graph of one's own that was checked elsewhere or is too large "
                                       "for the in-memory validator"),
    Setting("PUBLIC_BASE", "https://w3id.org/bpkg/", "the base IRI this server answers for (/id/... pages)"),
    Setting("PUBLIC_URL", None, "the URL clients reach this server by (bpkg serve --public-url; default the address "
                                "it listens on); every URL the site writes uses it, never the Host header"),
    Setting("MAX_CONTENT_LENGTH", 10 * 1024 * 1024, "largest request body, in bytes (Flask's own setting)"),
    Setting("QUERIES_DIR", str(QUERY_DIR), "the named query library"),
    Setting("SHAPES_PATH", "shapes", "the SHACL shapes, for /validate and /shapes alike (relative: from the project root)"),
    Setting("YASGUI_DIR", str(npm_file("@zazuko/yasgui", "build/yasgui.min.js").parent), "the query editor's files"),
    Setting("VALIDATE_MAX_BYTES", VALIDATE_MAX_BYTES, "largest submission to /validate and /submissions, in bytes"),
    Setting("VALIDATE_TIMEOUT", 15.0, "seconds a /validate run may take (in a disposable process, then killed)"),
    Setting("VALIDATE_MEMORY_MB", 1024, "extra memory a /validate run may use, in MB"),
    Setting("VALIDATE_PARALLEL", 2, "/validate runs at once; more wait, then get 503"),
    Setting("DATA_DIR", None, "where submissions are kept (SQLite); None: BPKG_DATA_DIR's default folder when "
                              "submissions are on (see bpkg.submissions.default_data_dir)"),
    Setting("SUBMITTER_TOKENS", None, "comma-separated bearer tokens of submitters (at least 16 characters each)"),
    Setting("CURATOR_TOKENS", None, "comma-separated bearer tokens of curators; with SUBMITTER_TOKENS, "
                                    "turns /submissions on"),
    Setting("SUBMISSIONS_MAX_PENDING", DEFAULT_MAX_PENDING, "pending submissions kept at most (then 409)"),
    Setting("AUTH_FAILURES", 10, "wrong bearer tokens one address may send within AUTH_WINDOW (then 429)"),
    Setting("AUTH_WINDOW", 60, "seconds over which wrong bearer tokens are counted"),
    Setting("PROCESSES", 0, "front processes answering HTTP (bpkg serve --processes N): small queries are answered "
                            "on N cores; 0 (the default): one per core, at most 4 (the service description shows "
                            "the number running). The query slots and /validate runs are the whole server's, "
                            "taken by any front, as are the waiting room for a slot and the result cache; the connections are "
                            "shared out among them, so the totals here hold for the whole server"),
    Setting("PIN_CPUS", True, "each front process runs on one core, and a query it runs alone on that core too, so "
                              "that handing it over wakes no other core (bpkg.sparql.cores); false: the kernel "
                              "places every process"),
    Setting("SPARQL_MAX_REQUEST_BYTES", 256 * 1024, "largest /sparql request body, in bytes"),
    Setting("SPARQL_POOL", True, "long-lived query workers (False: a forked child per query)"),
    Setting("SPARQL_CACHE_ENTRIES", CACHE_MAX_ENTRIES, "results kept in the result cache; 0 turns it off"),
    Setting("SPARQL_CACHE_BYTES", CACHE_MAX_BYTES, "bytes kept in the result cache"),
    Setting("SPARQL_UPDATE_ENABLED", False, "test instances only: the update sandbox (bpkg serve --update-sandbox)"),
    Setting("SPARQL_UPDATE_TOKEN", None, "the update sandbox's path token (at least 16 characters)"),
    *(Setting("SPARQL_" + f.name.upper(), f.default, f"SPARQL limit: Limits.{f.name}") for f in fields(Limits)),
)
DEFAULTS = {s.name: s.default for s in SETTINGS}
MAX_PROCESSES_BY_DEFAULT = 4  # the query processes need cores too


def processes_by_default() -> int:
    """``PROCESSES`` = 0: one front per core this process may run on (a container's CPU set,
    not the whole machine's: the cores the fronts are pinned to), at most
    :data:`MAX_PROCESSES_BY_DEFAULT`."""
    return max(1, min(len(SERVER_CPUS) or os.cpu_count() or 1, MAX_PROCESSES_BY_DEFAULT))


def published(config) -> list[tuple[Setting, object]]:
    """The public settings with the values this application runs with."""
    return [(s, config.get(s.name, s.default)) for s in SETTINGS if s.public]
