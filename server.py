"""Entry point: ``python server.py [OPTIONS]`` = ``bpkg serve [OPTIONS]`` (127.0.0.1:5000 by default).

All the work is in :mod:`bpkg.web`; this file only passes its arguments on.
"""


if __name__ == "__main__":
    from bpkg.cli import main

    import sys

    raise SystemExit(main(["serve", *sys.argv[1:]]))
