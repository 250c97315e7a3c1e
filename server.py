"""Entry point: ``python server.py`` serves the bundled graph on 127.0.0.1:5000.

All the work is in :mod:`bpkg.web`; this file only builds the app and serves it.
"""


if __name__ == "__main__":
    from bpkg.cli import main

    raise SystemExit(main(["serve"]))
