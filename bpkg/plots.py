"""Pictures for analysts: a map, an alignment matrix and a timeline.

One flow per figure: named queries -> rows -> ``prepare_*`` (plain dicts, also served as
JSON to the explore page, which draws them with Vega-Lite) -> ``draw_*`` (a static
matplotlib figure for ``bpkg plot ... --out FILE.png|FILE.svg``). Every figure comes from
the live graph through the named queries in ``queries/``; nothing here holds data.

World geometry is the npm package world-atlas (Natural Earth, TopoJSON, keyed by ISO 3166-1
numeric codes), installed by ``npm install`` into ``node_modules/`` and read from disk:
nothing is fetched at run time. pycountry maps our alpha-2 keys to those numeric codes.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from functools import lru_cache
from pathlib import Path

import pyoxigraph as ox

from . import queries
from .namespaces import PREFIXES, curie

ROOT = Path(__file__).resolve().parent.parent
WORLD_ATLAS = ROOT / "node_modules" / "world-atlas" / "countries-50m.json"
FORMATS = (".png", ".svg")

ROLE = PREFIXES["role"]
# The colour key of the map: the three participation roles of the membership-roles scheme,
# and a fourth class for states that no source gives a participation role. observer-state
# has no instances yet; it keeps its colour so that the legend means the same every time.
ROLE_CLASSES = [
    {"key": "participating-state", "role": ROLE + "participating-state",
     "label": "Participating state", "colour": "#1f6fb4"},
    {"key": "observer-state", "role": ROLE + "observer-state",
     "label": "Observer state", "colour": "#e08a1e"},
    {"key": "participating-or-observer-state", "role": ROLE + "participating-or-observer-state",
     "label": "Participating or observer state (sources do not say which)", "colour": "#7fb7de"},
    {"key": "unknown", "role": None, "label": "Role not known", "colour": "#9e9e9e"},
]
NO_DATA = "No data"


class PlotError(Exception):
    """A figure cannot be drawn (bad output name, geometry not installed)."""


# -- running the named queries ---------------------------------------------------------------

def _plain(term):
    """An IRI or literal as its text; None stays None (unbound)."""
    if term is None:
        return None
    return term.value if isinstance(term, (ox.NamedNode, ox.Literal, ox.BlankNode)) else str(term)


def query_rows(kg, name: str, **params) -> list[dict]:
    """Rows of the named query ``name`` as dicts of plain text (IRIs in full)."""
    result = queries.evaluate_in_process(kg, queries.get(name), params)
    return [{k: _plain(v) for k, v in row.items()} for row in result.rows]


# -- dates of mixed precision ------------------------------------------------------------------

def day(text: str | None, end: bool = False) -> str | None:
    """An xsd:date / gYearMonth / gYear lexical form as a day (YYYY-MM-DD).

    A start given as a year or month counts from its first day; an end from its last day,
    so that a bar covers everything the source vouches for and no more.
    """
    if not text:
        return None
    core = text[:10]
    parts = core.split("-")
    try:
        if len(parts) == 1:
            return f"{int(parts[0]):04d}-12-31" if end else f"{int(parts[0]):04d}-01-01"
        if len(parts) == 2:
            year, month = int(parts[0]), int(parts[1])
            last = calendar.monthrange(year, month)[1] if end else 1
            return f"{year:04d}-{month:02d}-{last:02d}"
        return dt.date.fromisoformat(core).isoformat()
    except ValueError:
        return None


def period(start: str | None, end: str | None) -> str:
    """A period in words, saying plainly what the sources do not give."""
    if start and end:
        return f"{start} to {end}"
    if start:
        return f"since {start} (no end known)"
    if end:
        return f"until {end} (start not known)"
    return "dates not known"


def _notation_key(value) -> tuple:
    text = str(value or "")
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


# -- map -------------------------------------------------------------------------------------

def numeric_code(iso2: str | None) -> str | None:
    """ISO 3166-1 numeric code (as world-atlas spells it, '004') for an alpha-2 code."""
    import pycountry

    if not iso2:
        return None
    country = pycountry.countries.get(alpha_2=iso2.upper())
    return country.numeric if country else None


def prepare_map(state_rows: list[dict], region_rows: list[dict]) -> dict:
    """Rows of state-map and regions -> one record per state, coloured by participation role.

    A state with several participation memberships keeps the most specific role in this
    order: participating, observer, participating-or-observer (the sources' own words).
    """
    order = {c["role"]: i for i, c in enumerate(ROLE_CLASSES) if c["role"]}
    by_role = {c["role"]: c for c in ROLE_CLASSES if c["role"]}
    unknown = ROLE_CLASSES[-1]
    states: dict[str, dict] = {}
    for row in state_rows:
        iri = row["state"]
        role = row.get("role")
        cls = by_role.get(role, unknown)
        record = states.get(iri)
        if record and order.get(record["role"], 99) <= order.get(role, 99):
            continue
        states[iri] = {
            "state": iri, "id": curie(iri), "label": row.get("label") or curie(iri),
            "iso2": row.get("iso2"), "numeric": numeric_code(row.get("iso2")),
            "role": role if cls is not unknown else None,
            "roleLabel": row.get("roleLabel") if cls is not unknown else unknown["label"],
            "roleClass": cls["key"], "roleClassLabel": cls["label"],
            "start": row.get("start"), "end": row.get("end"),
            "period": period(row.get("start"), row.get("end")),
            "regions": (row.get("regions") or "").split(),
        }
    records = sorted(states.values(), key=lambda r: r["label"])
    region_labels = {r["region"]: r["label"] for r in region_rows}
    for record in records:
        record["regionLabels"] = "; ".join(region_labels.get(r, curie(r)) for r in record["regions"]) or "none recorded"
    counts = {c["key"]: sum(1 for r in records if r["roleClass"] == c["key"]) for c in ROLE_CLASSES}
    return {
        "figure": "map", "queries": ["state-map", "regions"],
        "roles": [dict(c, count=counts[c["key"]]) for c in ROLE_CLASSES],
        "regions": [{"region": r["region"], "id": curie(r["region"]), "label": r["label"],
                     "memberCount": int(r.get("memberCount") or 0)} for r in region_rows],
        "states": records,
    }


# -- alignment matrix --------------------------------------------------------------------------

def prepare_matrix(goal_rows: list[dict], objective_rows: list[dict], alignment_rows: list[dict]) -> dict:
    """Rows of priority-goals, gcm-objectives and goal-gcm-alignments -> a goal x objective grid.

    One cell per (goal, objective) pair with an alignment; several sources for one pair stay
    one cell listing them all.
    """
    goals = sorted(goal_rows, key=lambda r: _notation_key(r["notation"]))
    objectives = sorted(objective_rows, key=lambda r: _notation_key(r["notation"]))
    cells: dict[tuple[str, str], dict] = {}
    for row in alignment_rows:
        key = (row["goal"], row["objective"])
        cell = cells.setdefault(key, {
            "goal": row["goal"], "goalNotation": str(row["goalNotation"]),
            "objective": row["objective"], "objectiveNotation": str(row["objectiveNotation"]),
            "objectiveLabel": row.get("objectiveLabel"), "sources": [],
            "id": f"alignment-{curie(row['goal']).replace(':', '-')}--{curie(row['objective']).replace(':', '-')}",
        })
        source = curie(row["source"]) if row.get("source") else None
        if source and source not in cell["sources"]:
            cell["sources"].append(source)
    marked = sorted(cells.values(), key=lambda c: (_notation_key(c["goalNotation"]), _notation_key(c["objectiveNotation"])))
    return {
        "figure": "matrix", "queries": ["priority-goals", "gcm-objectives", "goal-gcm-alignments"],
        "goals": [{"goal": g["goal"], "notation": str(g["notation"]), "label": g["label"],
                   "total": sum(1 for c in marked if c["goal"] == g["goal"])} for g in goals],
        "objectives": [{"objective": o["objective"], "notation": str(o["notation"]), "label": o["label"],
                        "crossCutting": str(o.get("crossCutting")).lower() == "true",
                        "total": sum(1 for c in marked if c["objective"] == o["objective"])} for o in objectives],
        "cells": marked,
    }


# -- timeline ----------------------------------------------------------------------------------

MARKER_LANES = ["Ministerial conferences", "Other meetings", "Other events", "Membership starts"]


def prepare_timeline(project_rows: list[dict], meeting_rows: list[dict], timeline_rows: list[dict]) -> dict:
    """Rows of projects, meetings and timeline -> project bars and marker lanes.

    Projects without a known start cannot be placed and are listed by name; a project
    without a known end is drawn open. Membership starts on the same date share a marker.
    """
    projects, undated = [], []
    for row in project_rows:
        start = day(row.get("start"))
        if not start:
            undated.append(row.get("label"))
            continue
        end = day(row.get("end"), end=True)
        projects.append({
            "project": row["project"], "id": curie(row["project"]).replace(":", "-"),
            "label": row.get("label"), "name": row.get("acronym") or row.get("label"),
            "start": start, "end": end, "endKnown": bool(end),
            "startText": row.get("start"), "endText": row.get("end") or "not known",
            "period": period(row.get("start"), row.get("end")),
            "funders": row.get("funders") or "", "implementers": row.get("implementers") or "",
        })
    markers = []
    for row in meeting_rows:
        date = day(row.get("start"))
        if not date:
            continue
        ministerial = (row.get("kind") or "").endswith("/ministerial-conference")
        markers.append({"lane": MARKER_LANES[0] if ministerial else MARKER_LANES[1], "date": date,
                        "dateText": row["start"], "label": row.get("label"), "item": curie(row["meeting"]),
                        "place": row.get("place") or ""})
    memberships: dict[str, list[str]] = {}
    for row in timeline_rows:
        date = day(row.get("date"))
        if not date:
            continue
        if row.get("kind") == "event":
            markers.append({"lane": MARKER_LANES[2], "date": date, "dateText": row["date"],
                            "label": row.get("label"), "item": curie(row["item"]), "place": ""})
        elif row.get("kind") == "membership start":
            memberships.setdefault(row["date"], []).append(row.get("label") or curie(row["item"]))
    for text, labels in sorted(memberships.items()):
        count = len(labels)
        markers.append({"lane": MARKER_LANES[3], "date": day(text), "dateText": text,
                        "label": f"{count} membership{'s' if count != 1 else ''} start: " + "; ".join(sorted(labels)),
                        "item": "", "place": "", "count": count})
    markers.sort(key=lambda m: (MARKER_LANES.index(m["lane"]), m["date"]))
    return {
        "figure": "timeline", "queries": ["projects", "meetings", "timeline"],
        "projects": sorted(projects, key=lambda p: (p["start"], p["name"] or "")),
        "markers": markers, "lanes": MARKER_LANES, "undatedProjects": sorted(filter(None, undated)),
    }


# -- from the graph ------------------------------------------------------------------------------

FIGURES = {
    "map": (prepare_map, ("state-map", "regions")),
    "matrix": (prepare_matrix, ("priority-goals", "gcm-objectives", "goal-gcm-alignments")),
    "timeline": (prepare_timeline, ("projects", "meetings", "timeline")),
}


def figure_data(kg, name: str) -> dict:
    """The prepared data of one figure, from the named queries over ``kg``."""
    prepare, names = FIGURES[name]
    return prepare(*(query_rows(kg, q) for q in names))


def is_empty(data: dict) -> bool:
    key = {"map": "states", "matrix": "goals", "timeline": None}[data["figure"]]
    if key is None:
        return not data["projects"] and not data["markers"]
    return not data[key] or (data["figure"] == "matrix" and not data["objectives"])


# -- world geometry (TopoJSON -> rings of lon/lat) ----------------------------------------------

@lru_cache(maxsize=2)
def world_shapes(path: Path = WORLD_ATLAS) -> dict[str, list[list[list[tuple[float, float]]]]]:
    """Country id -> polygons -> rings of (lon, lat), decoded from a quantised TopoJSON file.

    Rings that cross the antimeridian are unwrapped (longitudes kept continuous, so they
    may pass 180); the drawing repeats them shifted by 360 degrees inside a clip path.
    """
    try:
        topology = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError:
        raise PlotError(f"world geometry not found at {path}: run `npm install` in {ROOT}") from None
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:  # delta-encoded, quantised positions
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)

    def ring(indexes):
        points: list[tuple[float, float]] = []
        for i in indexes:
            arc = arcs[i] if i >= 0 else arcs[~i][::-1]
            points.extend(arc if not points else arc[1:])
        shift, out, previous = 0.0, [], None
        for lon, lat in points:
            if previous is not None and abs(lon + shift - previous) > 180:
                shift += 360 if previous > lon + shift else -360
            out.append((lon + shift, lat))
            previous = lon + shift
        return out

    shapes: dict[str, list] = {}
    for geometry in topology["objects"]["countries"]["geometries"]:
        if geometry.get("type") == "Polygon":
            polygons = [geometry["arcs"]]
        elif geometry.get("type") == "MultiPolygon":
            polygons = geometry["arcs"]
        else:
            continue
        key = geometry.get("id") or geometry.get("properties", {}).get("name", "")
        shapes.setdefault(key, []).extend([ring(r) for r in polygon] for polygon in polygons)
    return shapes


def view_points(data: dict, per_state: int = 24) -> list[list[float]]:
    """[lon, lat] points along the main polygon of every mapped state: what a view must show.

    Overseas parts (French Guiana, Réunion) would stretch the view across the world, so
    each state counts with its largest ring only. Both the static map and the page's
    projection (Vega-Lite ``fit``) frame these points.
    """
    shapes = world_shapes()
    points = []
    for state in data["states"]:
        if state["numeric"] not in shapes:
            continue
        ring = max((r for polygon in shapes[state["numeric"]] for r in polygon), key=len)
        step = max(1, len(ring) // per_state)
        points += [[round(min(lon, 180.0), 3), round(lat, 3)] for lon, lat in ring[::step]]
    return points


def equal_earth(lon, lat):
    """The Equal Earth projection (Šavrič, Patterson, Jenny 2018), as Vega-Lite's equalEarth."""
    import numpy as np

    a1, a2, a3, a4 = 1.340264, -0.081106, 0.000893, 0.003796
    m = np.sqrt(3) / 2
    lam, phi = np.radians(np.asarray(lon, dtype=float)), np.radians(np.asarray(lat, dtype=float))
    theta = np.arcsin(m * np.sin(phi))
    t2 = theta * theta
    t6 = t2 * t2 * t2
    x = lam * np.cos(theta) / (m * (a1 + 3 * a2 * t2 + t6 * (7 * a3 + 9 * a4 * t2)))
    y = theta * (a1 + a2 * t2 + t6 * (a3 + a4 * t2))
    return x, y


# -- static drawing (matplotlib, no browser) ------------------------------------------------------

def _figure(width: float, height: float):
    # The object API, not pyplot: no global figure state, safe inside a server too.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=150, layout="constrained")


def no_data(fig, title: str, what: str):
    """Write a plain "no data" message on an empty figure instead of failing."""
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title, loc="left", fontsize=13)
    ax.text(0.5, 0.5, f"{NO_DATA}: {what}", ha="center", va="center", fontsize=14, color="#555555",
            transform=ax.transAxes, gid="no-data")
    return fig


def _path_of(rings, shift: float = 0.0):
    """A matplotlib Path of projected rings (holes by even-odd, as TopoJSON rings wind)."""
    import numpy as np
    from matplotlib.path import Path as MplPath

    vertices, codes = [], []
    for r in rings:
        lon = np.array([p[0] for p in r]) + shift
        lat = np.array([p[1] for p in r])
        x, y = equal_earth(lon, lat)
        vertices.extend(zip(x, y))
        codes.extend([MplPath.MOVETO] + [MplPath.LINETO] * (len(r) - 2) + [MplPath.CLOSEPOLY])
    return MplPath(vertices, codes)


def draw_map(data: dict, region: str | None = None):
    """The states coloured by participation role, on packaged world geometry.

    ``region`` (an IRI) dims the states outside it, as the page's region selector does.
    Each state is one SVG group with id ``state-XX``.
    """
    import numpy as np
    from matplotlib.patches import Patch, PathPatch

    title = "Who takes part in the Budapest Process"
    fig = _figure(11, 8)
    if not data["states"]:
        return no_data(fig, title, "the state-map query returned no states")
    shapes = world_shapes()
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_aspect("equal")
    colour = {c["key"]: c["colour"] for c in ROLE_CLASSES}
    by_numeric = {s["numeric"]: s for s in data["states"] if s["numeric"]}
    # The world's outline clips rings that were unwrapped past the antimeridian.
    edge = np.linspace(-90, 90, 181)
    rim = list(zip(np.r_[np.full(181, 180.0), np.full(181, -180.0)], np.r_[edge, edge[::-1]]))
    outline = PathPatch(_path_of([rim]), facecolor="#f4f8fb", edgecolor="#c8d3dc", linewidth=0.5)
    ax.add_artist(outline)
    ax.set_xlim(-2.75, 2.75)  # the whole world until the states narrow the view
    ax.set_ylim(-1.4, 1.4)
    for key, polygons in shapes.items():
        if key == "010":  # Antarctica: no state of the dialogue, and half the height
            continue
        state = by_numeric.get(key)
        dimmed = state is not None and region is not None and region not in state["regions"]
        for shift in (0.0, -360.0):
            rings = [r for polygon in polygons for r in polygon
                     if shift == 0.0 or max(p[0] for p in r) > 180]
            if not rings:
                continue
            patch = PathPatch(_path_of(rings, shift), linewidth=0.25, edgecolor="white",
                              facecolor=colour[state["roleClass"]] if state else "#e3e3e3",
                              alpha=0.3 if dimmed else 1.0, zorder=2 if state else 1)
            # add_artist, not add_patch: the view is set below, and add_patch would walk
            # every curve to update the data limits (9 s for the 50m geometry).
            ax.add_artist(patch)  # before set_clip_path, so that the axes box clips it too
            patch.set_clip_path(outline)
            if state and shift == 0.0:
                patch.set_gid(f"state-{state['iso2']}")
    points = view_points(data)
    if points:
        xs, ys = equal_earth([p[0] for p in points], [p[1] for p in points])
        pad = 0.06
        ax.set_xlim(xs.min() - pad, xs.max() + pad)
        ax.set_ylim(ys.min() - pad, ys.max() + pad)
        # A figure of the view's shape leaves no wide blank margins.
        ratio = (xs.max() - xs.min() + 2 * pad) / (ys.max() - ys.min() + 2 * pad)
        fig.set_size_inches(min(16, max(8, 8 * ratio)), 8 + 1.2)
    handles = [Patch(facecolor=c["colour"], edgecolor="#666666", linewidth=0.4,
                     label=f"{c['label']} ({c['count']})") for c in data["roles"]]
    ax.legend(handles=handles, loc="lower left", fontsize=9, frameon=True, framealpha=0.9)
    region_label = next((r["label"] for r in data["regions"] if r["region"] == region), None)
    subtitle = f"{len(by_numeric)} states by role in the dialogue" + (f"; highlighted: {region_label}" if region_label else "")
    ax.set_title(f"{title}\n{subtitle}", loc="left", fontsize=13)
    _note(fig, "Source: bpkg named queries state-map, regions. Geometry: Natural Earth (world-atlas).")
    return fig


def draw_matrix(data: dict):
    """Goals x GCM objectives, one marked square per alignment (SVG id ``alignment-…``)."""
    from matplotlib.patches import Rectangle

    title = "Priority goals aligned with GCM objectives"
    fig = _figure(13, 5.2)
    if not data["goals"] or not data["objectives"]:
        return no_data(fig, title, "the goal and objective queries returned no rows")
    goals, objectives = data["goals"], data["objectives"]
    ax = fig.add_subplot()
    rows = {g["goal"]: i for i, g in enumerate(goals)}
    cols = {o["objective"]: j for j, o in enumerate(objectives)}
    n, m = len(goals), len(objectives)
    for j, o in enumerate(objectives):
        if o["crossCutting"]:
            ax.add_patch(Rectangle((j - 0.5, -0.5), 1, n, facecolor="#fbe7c6", edgecolor="none", zorder=0,
                                   gid=f"cross-cutting-{o['notation']}"))
    ax.hlines([i - 0.5 for i in range(n + 1)], -0.5, m - 0.5, color="#dddddd", linewidth=0.6, zorder=1)
    ax.vlines([j - 0.5 for j in range(m + 1)], -0.5, n - 0.5, color="#dddddd", linewidth=0.6, zorder=1)
    for cell in data["cells"]:
        i, j = rows.get(cell["goal"]), cols.get(cell["objective"])
        if i is None or j is None:
            continue
        ax.add_patch(Rectangle((j - 0.38, i - 0.38), 0.76, 0.76, facecolor="#1f6fb4", edgecolor="none",
                               zorder=2, gid=cell["id"]))
    for i, g in enumerate(goals):
        ax.text(m - 0.5 + 0.6, i, str(g["total"]), ha="left", va="center", fontsize=10, fontweight="bold")
    for j, o in enumerate(objectives):
        ax.text(j, n - 0.5 + 0.45, str(o["total"]), ha="center", va="top", fontsize=10, fontweight="bold")
    ax.text(m - 0.5 + 0.6, -0.75, "total", ha="left", va="bottom", fontsize=9, color="#444444")
    ax.text(-0.7, n - 0.5 + 0.45, "total", ha="right", va="top", fontsize=9, color="#444444")
    ax.set_xlim(-0.5, m - 0.5 + 1.4)
    ax.set_ylim(n - 0.5 + 1.1, -0.5)
    ax.set_xticks(range(m), [o["notation"] for o in objectives], fontsize=9)
    ax.xaxis.tick_top()
    ax.set_yticks(range(n), [_short(f"{g['notation']}. {g['label']}", 58) for g in goals], fontsize=9)
    ax.tick_params(length=0)
    for tick, o in zip(ax.get_xticklabels(), objectives):
        if o["crossCutting"]:
            tick.set_color("#b86e00")
            tick.set_fontweight("bold")
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_xlabel("GCM objective", fontsize=10)
    ax.xaxis.set_label_position("top")
    cross = ", ".join(o["notation"] for o in objectives if o["crossCutting"])
    ax.set_title(f"{title}: {len(data['cells'])} alignments", loc="left", fontsize=13)
    _note(fig, f"Shaded columns: cross-cutting objectives ({cross or 'none'}), which apply to all six goals and have "
          "no goal-by-goal alignment. Source: bpkg named queries priority-goals, gcm-objectives, goal-gcm-alignments.")
    return fig


def _note(fig, text: str) -> None:
    # supxlabel, unlike fig.text, gets room from the constrained layout.
    fig.supxlabel(text, x=0.005, ha="left", fontsize=7, color="#666666")


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def draw_timeline(data: dict):
    """Project bars (open where the end is unknown) above lanes of dated markers."""
    import matplotlib.dates as mdates

    title = "What happened when"
    projects, markers, lanes = data["projects"], data["markers"], data["lanes"]
    fig = _figure(13, 2.2 + 0.32 * (len(projects) + len(lanes)))
    if not projects and not markers:
        return no_data(fig, title, "the projects, meetings and timeline queries returned no dated rows")
    ax = fig.add_subplot()
    as_date = dt.date.fromisoformat
    labels = [_short(p["name"], 44) for p in projects] + lanes
    open_tail = dt.timedelta(days=365)
    for i, p in enumerate(projects):
        start = as_date(p["start"])
        if p["endKnown"]:
            ax.barh(i, as_date(p["end"]) - start, left=start, height=0.6, color="#1f6fb4", gid=f"project-{p['id']}")
        else:
            # Open: a short solid stub for the start, then a dashed tail and an arrow.
            ax.barh(i, dt.timedelta(days=90), left=start, height=0.6, color="#1f6fb4", gid=f"project-{p['id']}")
            ax.annotate("", xy=(start + open_tail * 2, i), xytext=(start + dt.timedelta(days=90), i),
                        arrowprops={"arrowstyle": "->", "linestyle": "--", "color": "#1f6fb4", "linewidth": 1.2})
            ax.text(start + open_tail * 2 + dt.timedelta(days=60), i, "end not known", va="center", fontsize=7,
                    color="#555555")
    style = {lanes[0]: ("D", "#c0392b", 60), lanes[1]: ("o", "#7f8c8d", 30),
             lanes[2]: ("s", "#8e44ad", 30), lanes[3]: ("^", "#27ae60", 60)}
    for lane_index, lane in enumerate(lanes):
        y = len(projects) + lane_index
        dates = [as_date(mk["date"]) for mk in markers if mk["lane"] == lane]
        if dates:
            shape, colour, size = style[lane]
            ax.scatter(dates, [y] * len(dates), marker=shape, s=size, color=colour, zorder=3,
                       edgecolors="white", linewidths=0.5, gid=f"lane-{lane_index}")
    if len(projects):
        ax.axhline(len(projects) - 0.5, color="#bbbbbb", linewidth=0.8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.7)
    ax.xaxis.set_major_locator(mdates.YearLocator(5))
    ax.xaxis.set_minor_locator(mdates.YearLocator(1))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.grid(axis="x", color="#eeeeee", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"{title}: {len(projects)} dated projects, {len(markers)} markers", loc="left", fontsize=13)
    note = "Source: bpkg named queries projects, meetings, timeline."
    if data["undatedProjects"]:
        note = f"Not shown (no known start): {'; '.join(_short(u, 50) for u in data['undatedProjects'])}. " + note
    _note(fig, note)
    return fig


DRAW = {"map": draw_map, "matrix": draw_matrix, "timeline": draw_timeline}


def save(fig, out: Path | str) -> Path:
    """Write a figure as PNG or SVG (by suffix). SVG text stays text and carries no date."""
    import matplotlib

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise PlotError(f"--out must end in .png or .svg, not {out.name!r}")
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "bpkg"}):
        metadata = {"Date": None} if suffix == ".svg" else {"Software": "bpkg"}
        fig.savefig(out, format=suffix[1:], metadata=metadata)
    return out
