// The explore page: three Vega-Lite figures over the JSON of /explore/data/*.json.
// The data is prepared on the server (bpkg/plots.py) from the named queries; this file
// only turns it into chart specifications. vega, vega-lite and vega-embed are loaded from
// /explore/assets (node_modules); nothing is fetched from elsewhere.
"use strict";

const EMBED_OPTIONS = {
  actions: { export: true, source: false, compiled: false, editor: false },  // the editor is online
  renderer: "svg",
  tooltip: { theme: "light" },
};
const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";  // an identifier, never fetched

function showNoData(container, message) {
  container.innerHTML = "";
  const box = document.createElement("p");
  box.className = "no-data";
  box.textContent = "No data: " + message;
  container.appendChild(box);
}

// -- map ---------------------------------------------------------------------------------

// The view frames the states (points along their main polygons, from the server), not the
// whole world: fitted here with Vega's own projection, so Vega-Lite keeps scale and translate.
function mapProjection(points, width, height) {
  const projection = vega.projection("equalEarth")();
  if (points.length) {
    projection.fitExtent([[8, 8], [width - 8, height - 8]],
      { type: "Feature", geometry: { type: "MultiPoint", coordinates: points }, properties: {} });
  } else {
    projection.fitSize([width, height], { type: "Sphere" });
  }
  return { type: "equalEarth", scale: projection.scale(), translate: projection.translate() };
}

function mapSpec(data, worldUrl, width) {
  const height = Math.round(Math.min(640, Math.max(360, width * 0.62)));
  const roles = data.roles.filter((r) => r.count > 0);  // no empty legend entries
  const regions = data.regions.filter((r) => r.memberCount > 0);  // nothing to highlight otherwise
  const regionOptions = [""].concat(regions.map((r) => r.region));
  const regionLabels = ["All regions"].concat(regions.map((r) => `${r.label} (${r.memberCount})`));
  return {
    $schema: SCHEMA,
    width,
    height,
    projection: mapProjection(data.view, width, height),
    params: [{
      name: "region", value: "",
      bind: { input: "select", options: regionOptions, labels: regionLabels, name: "Region " },
    }],
    layer: [
      { data: { sphere: true }, mark: { type: "geoshape", fill: "#f4f8fb", clip: true } },
      {
        data: { url: worldUrl, format: { type: "topojson", feature: "countries" } },
        transform: [{ filter: "datum.id !== '010'" }],  // Antarctica
        mark: { type: "geoshape", fill: "#e3e3e3", stroke: "white", strokeWidth: 0.3, clip: true },
      },
      {
        // The features are the primary data and the states are looked up into them (the
        // other way round, a looked-up feature in a field, Vega 6 draws only a fragment of).
        data: { url: worldUrl, format: { type: "topojson", feature: "countries" } },
        transform: [{
          lookup: "id",
          from: { data: { values: data.states.filter((s) => s.numeric).map((s) => ({ ...s, iri: s.id })) }, key: "numeric",
                  fields: ["label", "roleLabel", "roleClassLabel", "period", "regionLabels", "regions", "iri", "page"] },
        }, { filter: "isValid(datum.label)" }],
        mark: { type: "geoshape", stroke: "white", strokeWidth: 0.4, clip: true, cursor: "pointer" },
        encoding: {
          color: {
            field: "roleClassLabel", type: "nominal", title: "Role in the dialogue",
            scale: { domain: roles.map((r) => r.label), range: roles.map((r) => r.colour) },
            legend: { orient: "bottom-left", labelLimit: 400, fillColor: "rgba(255,255,255,0.85)", padding: 6 },
          },
          href: { field: "page" },  // a click opens the state's page
          opacity: {
            condition: { test: "region === '' || indexof(datum.regions, region) >= 0", value: 1 },
            value: 0.25,
          },
          tooltip: [
            { field: "label", title: "State" },
            { field: "roleLabel", title: "Role" },
            { field: "period", title: "Period" },
            { field: "regionLabels", title: "Regions" },
            { field: "iri", title: "IRI" },
          ],
        },
      },
    ],
    config: { view: { stroke: null } },
  };
}

// -- alignment matrix ----------------------------------------------------------------------

function matrixSpec(data) {
  const goalName = (g) => `${g.notation}. ${g.label}`;
  const goalNames = data.goals.map(goalName);
  const byGoal = Object.fromEntries(data.goals.map((g) => [g.goal, goalName(g)]));
  const xDomain = data.objectives.map((o) => o.notation).concat(["total"]);
  const yDomain = goalNames.concat(["total"]);
  const crossCutting = data.objectives.filter((o) => o.crossCutting);
  const cells = data.cells.map((c) => ({
    ...c, goalName: byGoal[c.goal], sourceList: c.sources.join("; "),
  }));
  const x = { field: "x", type: "ordinal", scale: { domain: xDomain }, title: "GCM objective",
              axis: { orient: "top", labelAngle: 0 } };
  const y = { field: "y", type: "ordinal", scale: { domain: yDomain }, title: null,
              axis: { labelLimit: 340 } };
  return {
    $schema: SCHEMA,
    width: "container",
    height: 36 * yDomain.length,
    encoding: { x, y },
    layer: [
      {
        // Shading behind the cross-cutting columns: one tinted cell per goal.
        data: { values: crossCutting.flatMap((o) => goalNames.map((name) => ({ x: o.notation, y: name, label: o.label }))) },
        mark: { type: "rect", fill: "#fbe7c6" },
        encoding: { tooltip: [{ field: "x", title: "Cross-cutting objective" }, { field: "label", title: "Objective" }] },
      },
      {
        data: { values: cells },
        transform: [{ calculate: "datum.objectiveNotation", as: "x" }, { calculate: "datum.goalName", as: "y" }],
        mark: { type: "rect", fill: "#1f6fb4", stroke: "white", strokeWidth: 4, cursor: "pointer" },
        encoding: {
          tooltip: [
            { field: "goalName", title: "Priority goal" },
            { field: "objectiveNotation", title: "GCM objective" },
            { field: "objectiveLabel", title: "Objective" },
            { field: "sourceList", title: "Source" },
          ],
        },
      },
      {
        data: { values: data.goals.map((g) => ({ x: "total", y: goalName(g), total: g.total })) },
        mark: { type: "text", fontWeight: "bold" },
        encoding: { text: { field: "total" } },
      },
      {
        data: { values: data.objectives.map((o) => ({ x: o.notation, y: "total", total: o.total })) },
        mark: { type: "text", fontWeight: "bold" },
        encoding: { text: { field: "total" } },
      },
    ],
    config: { view: { stroke: "#dddddd" }, axis: { grid: false, domain: false, ticks: false } },
  };
}

// -- timeline ------------------------------------------------------------------------------

function timelineSpec(data) {
  const rows = data.projects.map((p) => p.name).concat(data.lanes);
  const y = { field: "row", type: "ordinal", scale: { domain: rows }, title: null, axis: { labelLimit: 300 } };
  const open = data.projects.filter((p) => !p.endKnown).map((p) => {
    const until = new Date(p.start);
    until.setFullYear(until.getFullYear() + 2);
    return { ...p, row: p.name, until: until.toISOString().slice(0, 10) };
  });
  // Room on the right for the open ends and their "end not known" labels.
  const years = data.projects.map((p) => p.start).concat(data.markers.map((m) => m.date), open.map((p) => p.until))
    .map((d) => Number(d.slice(0, 4)));
  const domain = [Date.UTC(Math.min(...years) - 1, 0, 1), Date.UTC(Math.max(...years) + 6, 0, 1)];
  const projectTooltip = [
    { field: "label", title: "Project" }, { field: "period", title: "Period" },
    { field: "funders", title: "Funders" }, { field: "implementers", title: "Implementers" },
  ];
  return {
    $schema: SCHEMA,
    width: "container",
    height: 26 * rows.length,
    encoding: { y },
    layer: [
      {
        data: { values: data.projects.filter((p) => p.endKnown).map((p) => ({ ...p, row: p.name })) },
        mark: { type: "bar", color: "#1f6fb4", height: 14, cornerRadius: 2 },
        encoding: {
          x: { field: "start", type: "temporal", title: null, scale: { domainMin: domain[0], domainMax: domain[1] }, axis: { format: "%Y", grid: true } },
          x2: { field: "end" },
          tooltip: projectTooltip,
        },
      },
      {
        data: { values: open },
        mark: { type: "rule", color: "#1f6fb4", strokeDash: [5, 3], strokeWidth: 2 },
        encoding: { x: { field: "start", type: "temporal" }, x2: { field: "until" }, tooltip: projectTooltip },
      },
      {
        data: { values: open },
        mark: { type: "point", shape: "triangle-right", filled: true, color: "#1f6fb4", size: 80 },
        encoding: { x: { field: "until", type: "temporal" }, tooltip: projectTooltip },
      },
      {
        data: { values: open },
        mark: { type: "text", align: "left", dx: 8, fontSize: 10, color: "#555555", text: "end not known" },
        encoding: { x: { field: "until", type: "temporal" } },
      },
      {
        data: { values: data.markers.map((m) => ({ ...m, row: m.lane })) },
        mark: { type: "point", filled: true, size: 90, opacity: 0.9, cursor: "pointer" },
        encoding: {
          x: { field: "date", type: "temporal" },
          shape: { field: "lane", type: "nominal", legend: null,
                   scale: { domain: data.lanes, range: ["diamond", "circle", "square", "triangle-up"] } },
          color: { field: "lane", type: "nominal", legend: null,
                   scale: { domain: data.lanes, range: ["#c0392b", "#7f8c8d", "#8e44ad", "#27ae60"] } },
          tooltip: [
            { field: "label", title: "What" }, { field: "dateText", title: "When" },
            { field: "place", title: "Where" }, { field: "item", title: "IRI" },
          ],
        },
      },
    ],
    config: { view: { stroke: null } },
  };
}

// -- loading -------------------------------------------------------------------------------

const FIGURES = {
  map: { spec: (data, el) => mapSpec(data, el.dataset.world, Math.max(480, el.clientWidth - 40)), empty: (d) => !d.states.length,
         message: "the state-map query returned no states" },
  matrix: { spec: matrixSpec, empty: (d) => !d.goals.length || !d.objectives.length,
            message: "the goal and objective queries returned no rows" },
  timeline: { spec: timelineSpec, empty: (d) => !d.projects.length && !d.markers.length,
              message: "the projects, meetings and timeline queries returned no dated rows" },
};

async function draw(name) {
  const container = document.getElementById(name);
  const figure = FIGURES[name];
  const response = await fetch(container.dataset.src, { headers: { Accept: "application/json" } });
  if (!response.ok) {
    showNoData(container, `${container.dataset.src} answered ${response.status}`);
    return;
  }
  const data = await response.json();
  if (figure.empty(data)) {
    showNoData(container, figure.message);
    return;
  }
  await vegaEmbed(container, figure.spec(data, container), EMBED_OPTIONS);
  if (data.outside && data.outside.length) {  // the frame is the dialogue's area: say who is beyond it
    const note = document.createElement("p");
    note.className = "muted map-outside";
    note.textContent = "Outside this view: " + data.outside.join(", ") + ". Click a state to open its page.";
    container.after(note);
  }
  container.dataset.rendered = "true";
}

for (const name of Object.keys(FIGURES)) {
  draw(name).catch((error) => {
    showNoData(document.getElementById(name), "the figure could not be drawn");
    console.error(`explore: ${name}:`, error);
  });
}
