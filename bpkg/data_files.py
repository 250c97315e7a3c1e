"""Where bpkg finds the files it reads at run time: the one module that knows.

The ontology, the graph, the shapes, the named queries and the examples live in the
top-level folders ``ontology/``, ``kg/``, ``shapes/``, ``queries/``, ``examples/`` and ``docs/`` of
the source tree, their single source. The browser assets (YASGUI, Vega, the world
geometry) come from the npm registry, pinned by ``package-lock.json``.

- In a checkout (an editable install, ``scripts/setup.sh``) ``ROOT`` is the source tree
  and the assets are in its ``node_modules/`` (``npm ci``).
- In an installed wheel, the build (``setup.py``) has copied those folders, and only the
  asset files listed in ``NPM_FILES``, into the package as ``bpkg/data/``, with the same
  layout: ``ROOT`` is that folder.

Every path below ``ROOT`` is therefore the same in both: a named graph is called after its
file's path from ``ROOT`` (``kg/states.ttl``), so graph IRIs and the data version do not
depend on how bpkg was installed.

This module imports nothing but the standard library: ``setup.py`` reads ``NPM_FILES``
from it at build time, before any dependency is installed.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

# The npm packages whose files bpkg serves or reads, and exactly those files (paths inside
# the package). The wheel carries these and nothing else from npm, beside each package's
# licence. Versions are the ones package-lock.json pins.
NPM_FILES = {
    "@zazuko/yasgui": ("build/yasgui.min.js", "build/yasgui.min.css"),
    "vega": ("build/vega.min.js",),
    "vega-lite": ("build/vega-lite.min.js",),
    "vega-embed": ("build/vega-embed.min.js",),
    "world-atlas": ("countries-50m.json",),
}
# The top-level folders of the source tree that the wheel carries as they are.
DATA_FOLDERS = ("ontology", "kg", "shapes", "queries", "examples", "docs")  # docs: the /guide page reads docs/querying.md
PACKAGED = "data"  # bpkg/data/ in the wheel


def _root() -> Path:
    packaged = Path(str(files(__package__))) / PACKAGED
    if (packaged / "ontology").is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent  # a checkout: the folder holding bpkg/


ROOT = _root()
NODE_MODULES = ROOT / "node_modules"


def npm_file(package: str, path: str) -> Path:
    """One of the files in NPM_FILES, where it is (it may be missing in a checkout
    without ``npm ci``; callers say so)."""
    if path not in NPM_FILES.get(package, ()):
        raise KeyError(f"{package}/{path} is not in bpkg.data_files.NPM_FILES, so a wheel would not carry it")
    return NODE_MODULES / package / path
