// AOS console: plain DOM, no framework, nothing fetched from elsewhere. Every value shown comes
// from the JSON API with the session's token and is put in the page as text, never as HTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const main = document.getElementById("main");
let stopped = []; // what the current view must stop when another view replaces it

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const k of kids.flat()) e.append(k instanceof Node ? k : document.createTextNode(String(k ?? "")));
  return e;
}

function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function badge(status) { return el("span", { class: "status s-" + status }, status); }
function when(t) { return t ? new Date(t).toLocaleString() : "—"; }

// The token lives in this tab's session only: closing the tab forgets it.
const token = {
  get: () => sessionStorage.getItem("aos.token") || "",
  set: (t) => sessionStorage.setItem("aos.token", t),
  clear: () => sessionStorage.removeItem("aos.token"),
};

class Unauthorized extends Error {}

async function api(path, opts = {}) {
  const headers = { Accept: "application/json", ...(opts.headers || {}) };
  if (token.get()) headers.Authorization = "Bearer " + token.get();
  const res = await fetch(path, { ...opts, headers });
  if (res.status === 401) throw new Unauthorized("sign in");
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error((body.error && body.error.message) || res.status + " " + res.statusText);
  return body;
}

function show(...kids) {
  for (const stop of stopped) stop();
  stopped = [];
  main.replaceChildren(...kids);
}

function login(message) {
  document.getElementById("logout").hidden = true;
  document.getElementById("who").textContent = "";
  const input = el("input", { type: "password", id: "token", autocomplete: "off", placeholder: "API token" });
  const err = el("p", { class: "error", id: "login-error" }, message || "");
  const form = el("form", { class: "login", id: "login", onsubmit: async (ev) => {
    ev.preventDefault();
    token.set(input.value.trim());
    try {
      await api("/v1/stacks?limit=1");
      route();
    } catch (e) {
      token.clear();
      err.textContent = e instanceof Unauthorized ? "That token is not valid." : e.message;
    }
  } }, el("h1", {}, "Sign in to AOS"), el("label", { for: "token" }, "Token (as aos serve --token-file lists it)"), input, el("button", { type: "submit" }, "Sign in"), err);
  show(form);
  input.focus();
}

// ---- stacks list ----

async function stacksView() {
  const filter = el("input", { id: "filter", placeholder: "filter by name, project or status" });
  const body = el("tbody");
  const cols = [["name", "Stack"], ["project", "Project"], ["status", "Status"], ["ready", "Nodes ready"], ["operation", "Last operation"], ["startedBy", "Started by"], ["updatedAt", "Updated"]];
  let sort = { key: "name", dir: 1 };
  let rows = [];
  const head = el("tr", {}, cols.map(([k, label]) => el("th", { "data-key": k, onclick: () => { sort = { key: k, dir: sort.key === k ? -sort.dir : 1 }; draw(); } }, label)));
  const table = el("table", { id: "stacks" }, el("thead", {}, head), body);
  const note = el("p", { class: "muted" });
  function draw() {
    const q = filter.value.toLowerCase();
    const shown = rows.filter((s) => !q || [s.name, s.project, s.status].some((v) => String(v).toLowerCase().includes(q)))
      .sort((a, b) => (a[sort.key] > b[sort.key] ? 1 : a[sort.key] < b[sort.key] ? -1 : 0) * sort.dir);
    body.replaceChildren(...shown.map((s) => el("tr", { "data-stack": s.name },
      el("td", {}, el("a", { href: "#/stacks/" + encodeURIComponent(s.name) }, s.name)),
      el("td", {}, s.project), el("td", {}, badge(s.status)),
      el("td", {}, s.nodes ? `${s.nodes.ready} / ${s.nodes.total}` : "—"),
      el("td", {}, s.operation || "—"), el("td", {}, s.startedBy || "—"), el("td", {}, when(s.updatedAt)))));
    note.textContent = shown.length ? "" : "No stacks you may see.";
  }
  filter.addEventListener("input", draw);
  show(el("h1", {}, "Stacks ", el("a", { href: "#/new", id: "new-stack", class: "button" }, "New stack from the library")), filter, table, note);
  async function load() {
    const got = await api("/v1/stacks?nodes=1&limit=200");
    rows = got.stacks.map((s) => ({ ...s, ready: s.nodes ? s.nodes.ready : 0 }));
    draw();
  }
  await load();
  const timer = setInterval(() => load().catch(fail), 3000);
  stopped.push(() => clearInterval(timer));
}


// ---- forms from the inputs' JSON Schemas ----

// inputForm builds a field per input: a choice for an enum, a number with its bounds, a
// checkbox, JSON for lists and objects, a password field for a secret. values prefill it
// (an update's current inputs); a secret is never prefilled, and left empty keeps its value.
function inputForm(inputs, values, updating) {
  const fields = new Map();
  const rows = inputs.map((input) => {
    const sc = input.schema || {};
    const id = "in-" + input.name;
    const cur = values && input.name in values ? values[input.name] : input.default;
    let ctl;
    if (Array.isArray(sc.enum)) {
      ctl = el("select", { id }, sc.enum.map((v) => el("option", { value: JSON.stringify(v) }, String(v))));
      if (cur !== undefined) ctl.value = JSON.stringify(cur);
    } else if (sc.type === "boolean") {
      ctl = el("input", { id, type: "checkbox" });
      ctl.checked = cur === true;
    } else if (sc.type === "integer" || sc.type === "number") {
      ctl = el("input", { id, type: "number", step: sc.type === "integer" ? "1" : "any", min: sc.minimum, max: sc.maximum });
      if (cur !== undefined) ctl.value = String(cur);
    } else if (sc.type === "array" || sc.type === "object") {
      ctl = el("textarea", { id, rows: 3, cols: 50 });
      if (cur !== undefined) ctl.value = JSON.stringify(cur);
    } else {
      ctl = el("input", { id, type: input.secret ? "password" : "text", autocomplete: "off", placeholder: input.secret && updating ? "(unchanged)" : "" });
      if (cur !== undefined && !input.secret) ctl.value = String(cur);
    }
    const err = el("div", { class: "field-error error", id: "err-" + input.name });
    fields.set(input.name, { input, ctl, err });
    const hint = [sc.type, input.secret && "secret", input.required && !updating && "required",
      sc.minimum !== undefined && "≥ " + sc.minimum, sc.maximum !== undefined && "≤ " + sc.maximum, sc.minLength && "at least " + sc.minLength + " characters"].filter(Boolean).join(", ");
    return el("div", { class: "field" }, el("label", { for: id }, input.name, " ", el("span", { class: "muted" }, hint)), input.description ? el("div", { class: "muted" }, input.description) : "", ctl, err);
  });
  // values reads the form: only what was given (an empty field leaves the input to its
  // default, or, in an update, to its current value); a field that cannot be read is
  // marked and left out.
  function read() {
    const out = {};
    let ok = true;
    for (const [name, { input, ctl, err }] of fields) {
      err.textContent = "";
      const sc = input.schema || {};
      try {
        if (ctl.type === "checkbox") out[name] = ctl.checked;
        else if (ctl.tagName === "SELECT") out[name] = JSON.parse(ctl.value);
        else if (ctl.value.trim() === "") continue;
        else if (sc.type === "integer" || sc.type === "number") out[name] = Number(ctl.value);
        else if (sc.type === "array" || sc.type === "object") out[name] = JSON.parse(ctl.value);
        else out[name] = ctl.value;
      } catch (e) {
        err.textContent = "not valid JSON: " + e.message;
        ok = false;
      }
    }
    return ok ? out : null;
  }
  function clear() { for (const { err } of fields.values()) err.textContent = ""; }
  // problems puts each problem at its field when it names an input, and lists the rest
  // with where they are in the template.
  function problems(list, into) {
    clear();
    const rest = [];
    for (const p of list || []) {
      const m = /(?:input|-p) "?([A-Za-z_][A-Za-z0-9_]*)"?[:\s]/.exec(p.message);
      const f = m && fields.get(m[1]);
      if (f) f.err.textContent = p.message;
      else rest.push(el("li", {}, (p.line ? `${p.file}:${p.line}:${p.column}: ` : "") + (p.node ? `node "${p.node}": ` : "") + p.message));
    }
    into.replaceChildren(rest.length ? el("ul", { class: "error" }, rest) : "");
  }
  return { el: el("div", { class: "form" }, rows), read, problems, clear };
}

// request sends a write and answers {ok, status, body}: errors are the caller's to show.
async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  if (token.get()) headers.Authorization = "Bearer " + token.get();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401) throw new Unauthorized("sign in");
  const got = await res.json().catch(() => ({}));
  return { ok: res.ok, status: res.status, body: got };
}

function planTable(plan) {
  const rows = plan.nodes.map((n) => el("tr", { "data-node": n.id, "data-action": n.action },
    el("td", {}, n.id), el("td", {}, n.action), el("td", {}, n.kind), el("td", {}, n.name), el("td", {}, (n.dependsOn || []).join(", ") || "—"),
    el("td", {}, n.detail || "", (n.diff || []).map((c) => el("div", { class: "change" }, `${c.path}: ${JSON.stringify(c.old)} → ${JSON.stringify(c.new)}`)), n.when ? el("div", { class: "muted" }, "when " + n.when) : "")));
  const inputs = (plan.inputs || []).map((c) => el("li", { class: "input-change" }, c.sensitive ? `${c.name}: (sensitive) changed` : `${c.name}: ${JSON.stringify(c.old)} → ${JSON.stringify(c.new)}`));
  const count = (a) => plan.nodes.filter((n) => n.action === a).length;
  return el("div", { id: "plan" },
    el("p", {}, `${count("create")} to create, ${count("update") + count("replace")} to update, ${count("delete")} to delete, ${count("unchanged")} unchanged; longest chain ${(plan.longestChain || []).length}`),
    inputs.length ? el("ul", {}, inputs) : "",
    el("table", {}, el("thead", {}, el("tr", {}, ["Node", "Action", "Kind", "Name", "After", "Changes"].map((h) => el("th", {}, h)))), el("tbody", {}, rows)),
    (plan.skipped || []).length ? el("p", { class: "muted" }, "left out by when: " + plan.skipped.join(", ")) : "");
}

// ---- a new stack from the library ----

async function newView() {
  const lib = (await api("/v1/templates")).templates;
  const pick = el("select", { id: "template" }, el("option", { value: "" }, "choose a template…"), lib.map((t) => el("option", { value: t.file }, `${t.name} — ${t.description || t.file}`)));
  const area = el("div", { id: "new-form" });
  show(el("p", {}, el("a", { href: "#/" }, "← Stacks")), el("h1", {}, "New stack"), el("label", { for: "template" }, "Template "), pick, area);
  pick.addEventListener("change", async () => {
    if (!pick.value) return area.replaceChildren();
    const t = await api("/v1/templates/" + encodeURIComponent(pick.value));
    const stack = el("input", { id: "f-stack", value: t.name, autocomplete: "off" });
    const project = el("input", { id: "f-project", placeholder: "default", autocomplete: "off" });
    const form = inputForm(t.inputs, null, false);
    const probs = el("div", { id: "problems" });
    const planned = el("div", { id: "planned" });
    const create = el("button", { id: "create", disabled: "" }, "Create");
    const body = () => {
      const params = form.read();
      return params && { template: t.template, file: t.file, stack: stack.value.trim(), project: project.value.trim() || undefined, params };
    };
    const preview = el("button", { id: "preview", onclick: async () => {
      create.disabled = true;
      planned.replaceChildren();
      const b = body();
      if (!b) return;
      const r = await request("POST", "/v1/plan?dryRun=false", b);
      if (!r.ok) return form.problems(r.body.error?.details || [{ message: r.body.error?.message || "refused" }], probs);
      form.problems([], probs);
      planned.replaceChildren(planTable(r.body));
      create.disabled = false;
    } }, "Preview");
    create.addEventListener("click", async () => {
      const b = body();
      if (!b) return;
      const r = await request("POST", "/v1/stacks", b);
      if (!r.ok) return form.problems(r.body.error?.details || [{ message: r.body.error?.message || "refused" }], probs);
      location.hash = "#/stacks/" + encodeURIComponent(b.stack);
    });
    area.replaceChildren(el("h2", {}, t.name), el("p", { class: "muted" }, t.description || ""),
      el("div", { class: "field" }, el("label", { for: "f-stack" }, "Stack name"), stack),
      el("div", { class: "field" }, el("label", { for: "f-project" }, "Project"), project),
      el("h3", {}, "Inputs"), form.el, probs, el("p", {}, preview, " ", create), planned);
  });
}

// ---- a stack's actions: update with a preview, history, rebuild, copy, delete ----

function stackActions(name, getStack) {
  const out = el("div", { id: "action-result" });
  const panel = el("div", { id: "action-panel" });
  const say = (r, what) => out.replaceChildren(el("p", { class: r.ok ? "muted" : "error" }, r.ok ? what : r.body.error?.message || `refused (${r.status})`));
  const post = async (path, body, what) => say(await request("POST", `/v1/stacks/${encodeURIComponent(name)}${path}`, body), what);

  async function update() {
    const d = await api(`/v1/stacks/${encodeURIComponent(name)}/template`);
    let form = inputForm(d.template.inputs, d.values, true);
    // A new template, uploaded: its inputs' form replaces the stack's (values carried over).
    let uploaded = null;
    const formArea = el("div", {}, form.el);
    const upload = el("input", { type: "file", id: "upload-template", accept: ".yaml,.yml,.json" });
    upload.addEventListener("change", async () => {
      const f = upload.files[0];
      if (!f) return;
      const text = await f.text();
      const r = await request("POST", "/v1/validate", { template: text, file: f.name, params: {} });
      uploaded = { template: text, file: f.name };
      const inputs = r.body.inputs || d.template.inputs;
      form = inputForm(inputs, d.values, true);
      formArea.replaceChildren(el("p", { class: "muted", id: "uploaded" }, `new template: ${f.name}`), form.el);
      apply.disabled = true;
      planned.replaceChildren();
    });
    const probs = el("div", { id: "problems" });
    const planned = el("div", { id: "planned" });
    const apply = el("button", { id: "apply-update", disabled: "" }, "Apply the update");
    const preview = el("button", { id: "preview-update", onclick: async () => {
      apply.disabled = true;
      const params = form.read();
      if (!params) return;
      const r = await request("POST", "/v1/plan", { stack: name, params, ...(uploaded || {}) });
      if (!r.ok) return form.problems(r.body.error?.details || [{ message: r.body.error?.message }], probs);
      form.problems([], probs);
      planned.replaceChildren(planTable(r.body));
      apply.disabled = false;
    } }, "Preview the change");
    apply.addEventListener("click", async () => {
      const params = form.read();
      if (!params) return;
      const r = await request("PUT", `/v1/stacks/${encodeURIComponent(name)}`, { params, ...(uploaded || {}) });
      say(r, "Update started.");
      if (r.ok) panel.replaceChildren();
    });
    panel.replaceChildren(el("h2", {}, "Change inputs or the template"),
      el("p", {}, el("label", { for: "upload-template" }, "Upload a new template (optional): "), upload), formArea, probs, el("p", {}, preview, " ", apply), planned);
  }

  async function history() {
    const revs = (await api(`/v1/stacks/${encodeURIComponent(name)}/history`)).revisions;
    const opts = () => revs.map((r) => el("option", { value: r.number }, `${r.number}: ${r.operation} ${r.status}`));
    const from = el("select", { id: "diff-from" }, opts()), to = el("select", { id: "diff-to" }, opts());
    if (revs.length > 1) from.value = revs[revs.length - 2].number;
    to.value = revs.length ? revs[revs.length - 1].number : "";
    const shown = el("div", { id: "diff" });
    const diff = el("button", { id: "show-diff", onclick: async () => {
      const d = await api(`/v1/stacks/${encodeURIComponent(name)}/history/diff?from=${from.value}&to=${to.value}`);
      shown.replaceChildren(
        el("h3", {}, `Revision ${d.From} → ${d.To}`),
        el("ul", {}, (d.inputs || []).map((c) => el("li", { class: "input-change" }, c.sensitive ? `${c.name}: (sensitive) changed` : `${c.name}: ${JSON.stringify(c.old)} → ${JSON.stringify(c.new)}`))),
        el("ul", {}, (d.template || []).map((c) => el("li", { class: "change" }, `${c.path}: ${JSON.stringify(c.old)} → ${JSON.stringify(c.new)}`))),
        !(d.inputs || []).length && !(d.template || []).length ? el("p", { class: "muted" }, "No differences.") : "");
    } }, "Show the differences");
    const rows = [...revs].reverse().map((r) => el("tr", { "data-revision": r.number },
      el("td", {}, r.number), el("td", {}, r.operation), el("td", {}, badge(r.status || "—")), el("td", {}, when(r.startedAt)), el("td", {}, r.note || ""),
      el("td", {}, el("button", { class: "rollback", "data-revision": r.number, onclick: () => post("/rollback", { revision: r.number }, `Rolling back to revision ${r.number}.`) }, "Roll back to this"))));
    panel.replaceChildren(el("h2", {}, "History"),
      el("table", { id: "history" }, el("thead", {}, el("tr", {}, ["Revision", "Operation", "Status", "Started", "Note", ""].map((h) => el("th", {}, h)))), el("tbody", {}, rows)),
      el("p", {}, "Compare ", from, " with ", to, " ", diff), shown);
  }

  const copyTo = el("input", { id: "copy-to", placeholder: "new stack name", autocomplete: "off" });
  const delName = el("input", { id: "delete-confirm", placeholder: "type the stack's name", autocomplete: "off" });
  const bar = el("div", { id: "actions", class: "actions" },
    el("button", { id: "act-update", onclick: () => update().catch(fail) }, "Change…"),
    el("button", { id: "act-history", onclick: () => history().catch(fail) }, "History…"),
    el("button", { id: "act-rebuild", onclick: () => post("/rebuild", undefined, "Rebuild started.") }, "Rebuild"),
    el("button", { id: "act-cancel", onclick: () => post("/cancel", undefined, "Cancel requested.") }, "Cancel"),
    el("button", { id: "act-resume", onclick: () => post("/resume", undefined, "Resumed.") }, "Resume"),
    el("span", {}, " ", copyTo, el("button", { id: "act-copy", onclick: () => copyTo.value.trim() && post("/copy", { to: copyTo.value.trim() }, `Copying to ${copyTo.value.trim()}.`) }, "Copy")),
    el("span", {}, " ", delName, el("button", { id: "act-delete", onclick: async () => {
      if (delName.value.trim() !== name) return out.replaceChildren(el("p", { class: "error" }, "Type the stack's name to delete it."));
      say(await request("DELETE", `/v1/stacks/${encodeURIComponent(name)}`), "Delete started.");
    } }, "Delete")));
  return el("div", {}, bar, out, panel);
}

// ---- stack page ----

// levels places each node one column after its deepest dependency.
function levels(nodes) {
  const byID = new Map(nodes.map((n) => [n.id, n]));
  const level = new Map();
  const visit = (n, seen = new Set()) => {
    if (level.has(n.id)) return level.get(n.id);
    if (seen.has(n.id)) return 0;
    seen.add(n.id);
    let l = 0;
    for (const d of n.dependsOn || []) if (byID.has(d)) l = Math.max(l, visit(byID.get(d), seen) + 1);
    level.set(n.id, l);
    return l;
  };
  nodes.forEach((n) => visit(n));
  return level;
}

function dag(nodes, selected, onpick) {
  const level = levels(nodes);
  const cols = [];
  for (const n of [...nodes].sort((a, b) => a.id.localeCompare(b.id))) (cols[level.get(n.id)] ||= []).push(n);
  const W = 150, H = 34, GX = 40, GY = 12;
  const pos = new Map();
  cols.forEach((col, x) => col.forEach((n, y) => pos.set(n.id, { x: 10 + x * (W + GX), y: 10 + y * (H + GY) })));
  const width = 20 + cols.length * (W + GX), height = 20 + Math.max(1, ...cols.map((c) => c.length)) * (H + GY);
  const g = svg("svg", { id: "dag", width, height, viewBox: `0 0 ${width} ${height}` });
  for (const n of nodes) for (const d of n.dependsOn || []) {
    const a = pos.get(d), b = pos.get(n.id);
    if (!a || !b) continue;
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
    g.append(svg("path", { class: "edge", "data-from": d, "data-to": n.id, d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}` }));
  }
  for (const n of nodes) {
    const p = pos.get(n.id);
    const label = n.id.length > 22 ? n.id.slice(0, 21) + "…" : n.id;
    g.append(svg("g", { class: `node ${n.status}${n.id === selected ? " selected" : ""}`, "data-id": n.id, "data-status": n.status, transform: `translate(${p.x},${p.y})`, onclick: () => onpick(n.id) },
      svg("title", {}, `${n.id}: ${n.status}${n.reason ? " (" + n.reason + ")" : ""}`),
      svg("rect", { width: W, height: H }),
      svg("text", { x: 8, y: 14 }, label),
      svg("text", { x: 8, y: 28, class: "muted" }, `${n.kind || ""} · ${n.status}`)));
  }
  return g;
}

// criticalPath follows, back from the node READY last, the dependency that was READY last.
function criticalPath(nodes) {
  const byID = new Map(nodes.map((n) => [n.id, n]));
  const t = (n) => (n && n.readyAt ? Date.parse(n.readyAt) : -1);
  let cur = nodes.reduce((a, n) => (t(n) > t(a) ? n : a), null);
  const path = new Set();
  while (cur && t(cur) >= 0) {
    path.add(cur.id);
    cur = (cur.dependsOn || []).map((d) => byID.get(d)).reduce((a, n) => (t(n) > t(a) ? n : a), null);
  }
  return path;
}

function timeline(nodes) {
  const started = nodes.filter((n) => n.appliedAt);
  if (!started.length) return el("p", { class: "muted" }, "Nothing applied yet.");
  const t0 = Math.min(...started.map((n) => Date.parse(n.appliedAt)));
  const now = Date.now();
  const end = Math.max(...started.map((n) => (n.readyAt ? Date.parse(n.readyAt) : now)), t0 + 1);
  const crit = criticalPath(nodes);
  const rows = [...started].sort((a, b) => Date.parse(a.appliedAt) - Date.parse(b.appliedAt));
  const L = 170, W = 640, RH = 18;
  const x = (t) => L + ((t - t0) / (end - t0)) * W;
  const g = svg("svg", { id: "timeline", width: L + W + 60, height: rows.length * RH + 26 });
  rows.forEach((n, i) => {
    const a = Date.parse(n.appliedAt), b = n.readyAt ? Date.parse(n.readyAt) : now;
    g.append(svg("text", { x: 0, y: i * RH + 13, class: "axis" }, n.id.length > 24 ? n.id.slice(0, 23) + "…" : n.id));
    g.append(svg("rect", { class: "bar" + (crit.has(n.id) ? " critical" : ""), "data-id": n.id, x: x(a), y: i * RH + 3, width: Math.max(2, x(b) - x(a)), height: RH - 6 },
      svg("title", {}, `${n.id}: applied → ${n.readyAt ? "READY" : n.status} in ${((b - a) / 1000).toFixed(1)} s`)));
  });
  g.append(svg("text", { x: L, y: rows.length * RH + 20, class: "axis" }, "0 s"));
  g.append(svg("text", { x: L + W - 30, y: rows.length * RH + 20, class: "axis" }, `${((end - t0) / 1000).toFixed(1)} s`));
  return el("div", {}, g, el("p", { class: "muted" }, "Red: the critical path, each node's last dependency to be READY."));
}

function pretty(v) { return JSON.stringify(v, null, 2); }

async function stackView(name) {
  const first = await api(`/v1/stacks/${encodeURIComponent(name)}`); // a refusal shows alone
  let selected = "";
  let after = 0;
  let events = [];
  let stack = null, nodes = [];
  const title = el("h1", {}, name, " ");
  const reason = el("p", { class: "muted", id: "reason" });
  const graph = el("div", { class: "panel", id: "graph" });
  const detail = el("div", { class: "panel", id: "detail" }, el("p", { class: "muted" }, "Click a node for its object, readiness, timings, outputs and events."));
  const times = el("div", { class: "panel", id: "times" });
  const outputs = el("div", { class: "panel", id: "outputs" });
  const evBody = el("tbody");
  const evs = el("div", { class: "panel" }, el("table", { class: "events", id: "events" }, el("thead", {}, el("tr", {}, el("th", {}, "Time"), el("th", {}, "Node"), el("th", {}, "Status"), el("th", {}, "Reason"), el("th", {}, "Message"), el("th", {}, "By"))), evBody));
  show(el("p", {}, el("a", { href: "#/" }, "← Stacks")), title, reason, stackActions(name),
    el("div", { class: "grid" }, el("div", {}, el("h2", {}, "Graph"), graph, el("h2", {}, "Timeline"), times), el("div", {}, el("h2", {}, "Node"), detail, el("h2", {}, "Outputs"), outputs)),
    el("h2", {}, "Events"), evs);

  function draw() {
    title.replaceChildren(name, " ", badge(stack.status));
    reason.textContent = [stack.operation && `last operation: ${stack.operation}`, stack.startedBy && `by ${stack.startedBy}`, `revision ${stack.revision}`, stack.reason].filter(Boolean).join(" · ");
    graph.replaceChildren(nodes.length ? dag(nodes, selected, pick) : el("p", { class: "muted" }, "No nodes yet."));
    times.replaceChildren(timeline(nodes));
    const out = Object.entries(stack.outputs || {});
    outputs.replaceChildren(out.length ? el("table", { id: "outputs-table" }, el("tbody", {}, out.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, typeof v === "string" ? v : JSON.stringify(v)))))) : el("p", { class: "muted" }, "None yet."));
  }
  async function pick(id) {
    selected = id;
    draw();
    const d = await api(`/v1/stacks/${encodeURIComponent(name)}/nodes/${encodeURIComponent(id)}`);
    const n = d.node;
    const took = n.appliedAt && n.readyAt ? ((Date.parse(n.readyAt) - Date.parse(n.appliedAt)) / 1000).toFixed(1) + " s" : "—";
    detail.replaceChildren(
      el("h3", { id: "detail-id" }, n.id, " ", badge(n.status)),
      el("dl", {},
        el("dt", {}, "Object"), el("dd", {}, [n.kind, n.namespace && n.namespace + "/", n.name].filter(Boolean).join(" ")),
        ...(n.objects ? [el("dt", {}, "Objects"), el("dd", { id: "detail-objects" }, n.objects.join(", "))] : []),
        el("dt", {}, "Readiness"), el("dd", { id: "detail-reason" }, [n.reason, n.message].filter(Boolean).join(": ") || "—"),
        el("dt", {}, "Depends on"), el("dd", {}, (n.dependsOn || []).join(", ") || "—"),
        el("dt", {}, "Applied"), el("dd", {}, when(n.appliedAt)),
        el("dt", {}, "Ready"), el("dd", {}, when(n.readyAt)),
        el("dt", {}, "Apply → READY"), el("dd", {}, took)),
      el("h4", {}, "Outputs"), el("pre", { id: "detail-outputs" }, pretty(d.outputs || {})),
      el("h4", {}, "Live values"), el("pre", { id: "detail-live" }, pretty(d.live || {})),
      el("h4", {}, "Applied manifest (secrets masked)"), el("pre", { id: "detail-applied" }, d.applied ? pretty(d.applied) : d.appliedError || "not applied yet"),
      el("h4", {}, "Manifest as the template writes it"), el("pre", { id: "detail-manifest" }, pretty(d.manifest || {})),
      el("h4", {}, "Events"), el("pre", {}, events.filter((e) => e.node === id).map((e) => `${when(e.time)}  ${e.status}  ${e.reason || ""}  ${e.message || ""}`).join("\n") || "—"));
  }
  async function refresh() {
    const d = await api(`/v1/stacks/${encodeURIComponent(name)}`);
    stack = d.stack;
    nodes = d.nodes;
    draw();
  }
  function addEvents(list) {
    events.push(...list);
    for (const e of list) evBody.prepend(el("tr", { "data-seq": e.seq }, el("td", {}, when(e.time)), el("td", {}, e.node || "(stack)"), el("td", {}, badge(e.status)), el("td", {}, e.reason || ""), el("td", {}, e.message || ""), el("td", {}, e.actor || "")));
  }
  await refresh();
  // Follow: a long poll on the events after the last one seen; any event redraws the graph.
  let live = true;
  stopped.push(() => { live = false; });
  (async () => {
    while (live) {
      try {
        const d = await api(`/v1/stacks/${encodeURIComponent(name)}/events?after=${after}&limit=500&wait=20`);
        if (!live) return;
        if (d.events.length) {
          after = d.events[d.events.length - 1].seq;
          addEvents(d.events);
          await refresh();
          if (selected) await pick(selected);
        }
      } catch (e) {
        if (!live) return;
        if (e instanceof Unauthorized) return login("Signed out: sign in again.");
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  })();
}

function fail(e) {
  if (e instanceof Unauthorized) return login();
  if (!main.querySelector("h1")) show(el("p", {}, el("a", { href: "#/" }, "← Stacks")));
  // One message, the latest: a list that fails every few seconds does not pile them up.
  const shown = document.getElementById("error") || main.appendChild(el("p", { class: "error", id: "error" }));
  shown.textContent = e.message;
}

let needsToken = null;

async function route() {
  const out = document.getElementById("logout");
  out.hidden = !token.get();
  if (needsToken === null) needsToken = (await fetch("/healthz").then((r) => r.json()).catch(() => ({ auth: true }))).auth;
  if (needsToken && !token.get()) return login();
  const [, what, name] = location.hash.split("/");
  show(el("p", { class: "muted" }, "Loading…"));
  try {
    if (what === "stacks" && name) await stackView(decodeURIComponent(name));
    else if (what === "new") await newView();
    else await stacksView();
  } catch (e) {
    fail(e);
  }
}

document.getElementById("logout").addEventListener("click", () => { token.clear(); login(); });
window.addEventListener("hashchange", route);
route();
