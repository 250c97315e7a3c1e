"""The build step that makes the wheel self-contained (everything else is in pyproject.toml).

setuptools builds the ``bpkg`` package as usual; then this ``build_py`` adds ``bpkg/data/``:
- the top-level folders named in ``bpkg/data_files.py`` (``ontology/``, ``kg/``, ``shapes/``,
  ``queries/``, ``examples/``, ``docs/``), copied as they are: they stay the single source;
- the browser assets: each npm package of ``NPM_FILES`` at the version package-lock.json
  pins, fetched by ``npm pack`` from the registry npm is configured for, checked against
  the lock file's integrity hash, and only the listed files taken out of it (with the
  package's package.json and licence). Nothing from npm is ever committed.

An editable install (``pip install -e .``, ``scripts/setup.sh``) skips both: the package
then reads the checkout's folders and ``node_modules/`` directly (see bpkg/data_files.py).
Building a wheel, from the checkout or from the sdist, needs npm; installing it does not.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py as _build_py

HERE = Path(__file__).resolve().parent


def _settings() -> dict:
    """NPM_FILES, DATA_FOLDERS and PACKAGED, read from bpkg/data_files.py without importing
    bpkg (whose dependencies are not installed while it is being built)."""
    tree = ast.parse((HERE / "bpkg" / "data_files.py").read_text(encoding="utf-8"))
    return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
            if isinstance(node, ast.Assign) and len(node.targets) == 1
            and getattr(node.targets[0], "id", None) in ("NPM_FILES", "DATA_FOLDERS", "PACKAGED")}


def _locked(name: str, lock: dict) -> dict:
    entry = lock.get("packages", {}).get(f"node_modules/{name}")
    if not entry or "version" not in entry or "integrity" not in entry:
        raise SystemExit(f"build: {name} is not pinned in package-lock.json (run `npm install` and commit the lock)")
    return entry


def _check_integrity(tarball: Path, integrity: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if actual != expected:
        raise SystemExit(f"build: {tarball.name} does not match the integrity hash in package-lock.json")


def fetch_npm_files(wanted: dict[str, tuple[str, ...]], target: Path) -> None:
    """Put ``target/<package>/<path>`` for every listed file, from the locked tarballs."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("build: npm is needed to build the wheel (it bundles YASGUI, Vega and world-atlas "
                         "from the npm registry); install Node.js and npm, or install a built wheel instead")
    lock = json.loads((HERE / "package-lock.json").read_text(encoding="utf-8"))
    pinned = {name: _locked(name, lock) for name in wanted}
    with tempfile.TemporaryDirectory() as tmp:
        specs = [f"{name}@{entry['version']}" for name, entry in pinned.items()]
        done = subprocess.run([npm, "pack", "--json", "--silent", "--pack-destination", tmp, *specs],
                              cwd=tmp, check=True, capture_output=True, text=True)
        for packed in json.loads(done.stdout):
            name, tarball = packed["name"], Path(tmp) / packed["filename"]
            _check_integrity(tarball, pinned[name]["integrity"])
            with tarfile.open(tarball) as archive:
                members = {m.name.split("/", 1)[1]: m for m in archive.getmembers()
                           if m.isfile() and "/" in m.name}
                extras = [p for p in members if "/" not in p and p.upper().startswith(("LICEN", "PACKAGE.JSON"))]
                for path in (*wanted[name], *extras):
                    if path not in members:
                        raise SystemExit(f"build: {name}@{pinned[name]['version']} has no file {path}")
                    out = target / name / path
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(archive.extractfile(members[path]).read())


class build_py(_build_py):  # noqa: N801 (setuptools' command name)
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout itself
        settings = _settings()
        data = Path(self.build_lib) / "bpkg" / settings["PACKAGED"]
        if data.exists():
            shutil.rmtree(data)
        for folder in settings["DATA_FOLDERS"]:
            shutil.copytree(HERE / folder, data / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        fetch_npm_files(settings["NPM_FILES"], data / "node_modules")


setup(cmdclass={"build_py": build_py})
