"""The package's imports point down: the command line is a face the library never imports,
and a command that does not serve starts without Flask (and so stays quick)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bpkg"
FACES = {PACKAGE / "cli.py", PACKAGE / "__main__.py"}


def _imported_modules(path: Path) -> set[str]:
    """Absolute names of the bpkg modules that ``path`` imports (relative imports resolved)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    if path.name == "__init__.py":
        module = package
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            found.add(stem)
            found |= {f"{stem}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("path", sorted(set(PACKAGE.rglob("*.py")) - FACES), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_of_the_library_imports_the_cli(path):
    assert "bpkg.cli" not in _imported_modules(path), f"{path.name} imports bpkg.cli: the CLI is a face, not a library"


def test_the_import_check_sees_a_relative_import_of_the_cli():
    # The check above must not pass by failing to resolve ``from .. import cli`` or ``from .cli import x``.
    assert "bpkg.cli" in _imported_modules(PACKAGE / "__main__.py")


@pytest.mark.parametrize("argv", [["stats", "--format", "json"], ["validate", "--format", "json"]])
def test_a_command_that_does_not_serve_does_not_import_flask(argv):
    script = ("import json, sys\n"
              "from bpkg.cli import main\n"
              "import contextlib, io\n"
              "with contextlib.redirect_stdout(io.StringIO()):\n"
              f"    code = main({argv!r})\n"
              "print(json.dumps({'code': code, 'modules': sorted(m for m in sys.modules\n"
              "                  if m.split('.')[0] in ('flask', 'werkzeug', 'waitress') or m.startswith('bpkg.web'))}))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["code"] == 0
    assert outcome["modules"] == [], f"`bpkg {' '.join(argv)}` imported {outcome['modules']}"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_another_modules_private_names(path):
    private = [f"{node.module}.{alias.name}" for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] != "__future__"
               for alias in node.names if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert private == [], f"{path.name} imports private names: {private}"
