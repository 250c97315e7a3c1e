"""bpkg: the Budapest Process knowledge graph.

``bpkg.load()`` returns the loaded, read-only :class:`~bpkg.store.KnowledgeGraph` that
every other part (queries, validation, the web app, the CLI) reads through.
"""

__version__ = "1.0.0"  # the one place the release is set: pyproject.toml, --version and the descriptions read it

from .store import KnowledgeGraph, LoadError, load

__all__ = ["KnowledgeGraph", "LoadError", "load"]
