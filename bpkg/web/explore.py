"""The explore page: the map, the alignment matrix and the timeline, interactive.

GET /explore                       the page (Vega-Lite, drawn in the browser)
GET /explore/data/NAME.json        a figure's data (map, matrix, timeline), from the named queries
GET /explore/assets/NAME           vega, vega-lite, vega-embed and the world geometry, served
                                   from node_modules (installed by ``npm install``; nothing
                                   is fetched from the internet, by the server or the page)

The data is prepared by :mod:`bpkg.plots`, the same functions that draw the static figures
of ``bpkg plot``, so the page and the reports always show the same thing.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, jsonify, render_template, request, send_file, url_for

from .. import plots
from .context import get_kg

bp = Blueprint("explore", __name__)

NODE_MODULES = plots.ROOT / "node_modules"
# Only these files leave node_modules: a fixed list, so no path from a URL reaches the disk.
ASSETS = {
    "vega.min.js": ("vega/build/vega.min.js", "text/javascript"),
    "vega-lite.min.js": ("vega-lite/build/vega-lite.min.js", "text/javascript"),
    "vega-embed.min.js": ("vega-embed/build/vega-embed.min.js", "text/javascript"),
    "countries-50m.json": (plots.WORLD_ATLAS.relative_to(NODE_MODULES).as_posix(), "application/json"),
}


def _asset_path(name: str) -> Path:
    return NODE_MODULES / ASSETS[name][0]


def _missing_assets() -> list[str]:
    return [name for name in ASSETS if not _asset_path(name).is_file()]


def _error(status: int, message: str) -> Response:
    response = jsonify({"error": message, "status": status})
    response.status_code = status
    return response


@bp.get("/explore")
@bp.get("/explore/")
def page():
    figures = {name: url_for("explore.data", name=name) for name in plots.FIGURES}
    return render_template("explore.html", figures=figures, missing=_missing_assets(),
                           world=url_for("explore.asset", name=plots.WORLD_ATLAS.name))


@bp.get("/explore/data/<name>.json")
def data(name: str):
    if name not in plots.FIGURES:
        return _error(404, f"no figure named {name!r}; there are: {', '.join(plots.FIGURES)}")
    kg = get_kg()
    payload = plots.figure_data(kg, name)
    if name == "map":
        try:
            payload["view"] = plots.view_points(payload)
        except plots.PlotError:
            payload["view"] = []  # geometry not installed: the page says so itself
    response = jsonify(payload)
    # The graph is read-only while served: its version names the content.
    response.set_etag(f"{kg.version}-{name}")
    response.cache_control.no_cache = True
    return response.make_conditional(request)


@bp.get("/explore/assets/<name>")
def asset(name: str):
    if name not in ASSETS:
        return _error(404, f"no asset named {name!r}")
    path = _asset_path(name)
    if not path.is_file():
        return _error(404, f"{name} is not installed: run `npm install` in the project folder")
    return send_file(path, mimetype=ASSETS[name][1], max_age=86400, conditional=True)
