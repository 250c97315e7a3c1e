// The curators' review page (/submissions/review): a script file, so the site's CSP needs no
// inline script. Everything a submitter wrote is shown with textContent, never parsed as HTML.
(() => {
  const base = document.getElementById("token-form").dataset.submissions;
  const $ = (id) => document.getElementById(id);
  let chosen = null;
  const token = () => sessionStorage.getItem("bpkg-curator-token") || "";
  const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
  const say = (text) => { $("message").textContent = text; };

  async function call(path, options = {}) {
    const response = await fetch(base + path, {...options, headers: {...(options.headers || {}),
      "Authorization": "Bearer " + token(), "Accept": "application/json"}});
    const body = await response.json().catch(() => ({}));
    return {status: response.status, body};
  }

  async function list() {
    const state = $("state").value;
    const {status, body} = await call(state ? "?state=" + state : "");
    if (status !== 200) { say(body.message || "could not list the submissions (" + status + ")"); return; }
    if (body.role !== "curator") { say("this is a submitter token: reviewing needs a curator token"); return; }
    $("counts").textContent = Object.entries(body.counts).map(([k, n]) => n + " " + k).join(", ")
      + " · dataset version " + body.dataset_version;
    const rows = $("list").tBodies[0];
    rows.replaceChildren();
    for (const s of body.submissions) {
      const tr = el("tr");
      tr.append(el("td", s.submitted_at), el("td", s.status, "state " + s.status), el("td", s.source),
                el("td", s.submitter), el("td", String(s.triples)));
      const td = el("td"); const a = el("a", s.id); a.href = "#" + s.id;
      a.addEventListener("click", (event) => { event.preventDefault(); show(s.id); });
      td.append(a); tr.append(td);
      if (s.id === chosen) tr.className = "chosen";
      rows.append(tr);
    }
    if (!body.submissions.length) { const tr = el("tr"); const td = el("td", "none"); td.colSpan = 6; tr.append(td); rows.append(tr); }
  }

  async function show(id) {
    chosen = id;
    const [{body: s}, {body: d}] = await Promise.all([call("/" + id), call("/" + id + "/diff")]);
    $("detail").hidden = false;
    $("detail-title").textContent = "Submission " + s.id + " — " + s.status;
    const facts = $("facts"); facts.replaceChildren();
    for (const key of ["submitted_at", "submitter", "submitter_id", "source", "media_type", "bytes", "sha256", "graph",
                       "accepted_at", "accepted_by", "rejected_at", "rejected_by", "revoked_at", "revoked_by", "reason"]) {
      if (s[key] === undefined || s[key] === null) continue;
      const tr = el("tr"); tr.append(el("th", key.replace("_", " ")), el("td", String(s[key]))); facts.append(tr);
    }
    const report = $("report"); report.replaceChildren();
    report.append(el("p", s.report.conforms ? "Conforms" : "Does not conform", "muted"));
    for (const r of s.report.results) {
      const div = el("div", undefined, "result");
      div.append(el("span", r.severity, "sev " + r.severity), el("code", r.focus_node_label + (r.path ? "  " + r.path : "")),
                 el("div", r.message));
      report.append(div);
    }
    const diff = $("diff"); diff.replaceChildren();
    diff.append(el("p", d.added.length + " triple(s) added, " + d.already_published + " already published; "
      + d.new_entities.length + " new entities; " + d.existing_entities.length + " existing entities referenced."));
    diff.append(el("pre", d.added.map((t) => "+ " + t).join("\n")));
    diff.append(el("p", "Existing entities: " + d.existing_entities.join(", "), "muted"));
    $("accept").disabled = $("reject").disabled = s.status !== "pending";
    $("revoke").disabled = s.status !== "accepted";
    list();
  }

  async function decide(action) {
    if (!chosen) return;
    say(action + "ing " + chosen + " …");
    const {status, body} = await call("/" + chosen + "/" + action, {method: "POST",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify({reason: $("reason").value})});
    if (status === 200) { say(chosen + ": " + body.status + "; dataset version " + body.dataset_version); $("reason").value = ""; }
    else { say(body.message || (action + " failed (" + status + ")")); }
    show(chosen);
  }

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("bpkg-curator-token", $("token").value.trim());
    $("token").value = "";
    say("");  // a new token: the last message was about the old one (a decision's outcome stays otherwise)
    list();
  });
  $("state").addEventListener("change", list);
  for (const action of ["accept", "reject", "revoke"]) $(action).addEventListener("click", () => decide(action));
  if (token()) list();
})();
