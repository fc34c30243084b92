// PoolGuard console: reads and writes go to the console's API with the signed-in user's
// bearer token; the console passes them to the Kubernetes API server as that user.
// Every value from the cluster is shown with textContent (never parsed as HTML).
"use strict";

const state = {
  token: sessionStorage.getItem("poolguard.token") || "",
  namespace: sessionStorage.getItem("poolguard.namespace") || "",
  user: "",
  remediations: [],
  experiments: [],
  rv: { remediations: "", chaosexperiments: "" },
  selected: sessionStorage.getItem("poolguard.selected") || "",
  series: {}, // by "ns/name": {errorRatio, poolSaturation} from /api/series, or {error}
  generation: 0, // bumped on sign-out: stale loops stop
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: Object.assign(
      { Authorization: "Bearer " + state.token },
      body ? { "Content-Type": "application/json" } : {}),
    body: body ? JSON.stringify(body) : undefined,
  });
  let data = null;
  try { data = await res.json(); } catch (_) { /* not JSON */ }
  if (!res.ok) {
    const msg = data && data.error ? data.error.message : res.statusText;
    const err = new Error(res.status + " " + msg);
    err.status = res.status;
    throw err;
  }
  return data;
}

function nsQuery(ns) { return ns ? "?namespace=" + encodeURIComponent(ns) : ""; }
function showError(msg) { $("error").textContent = msg || ""; }

// ---- sign in ----
async function signIn(token, namespace) {
  state.token = token;
  state.namespace = namespace;
  const who = await api("GET", "/api/whoami");
  state.user = who.username;
  sessionStorage.setItem("poolguard.token", token);
  sessionStorage.setItem("poolguard.namespace", namespace);
  $("who").textContent = "signed in as " + state.user + (namespace ? " · namespace " + namespace : "");
  $("signin").hidden = true;
  $("app").hidden = false;
  $("signout").hidden = false;
  const form = $("break-form");
  if (namespace && !form.namespace.value) form.namespace.value = namespace;
  const gen = ++state.generation;
  await refresh();
  loadSeries();
  watchLoop("remediations", gen);
  watchLoop("chaosexperiments", gen);
}

function signOut() {
  state.generation++;
  sessionStorage.clear();
  location.reload();
}

// ---- reads ----
async function refresh() {
  try {
    const [rems, exps] = await Promise.all([
      api("GET", "/api/remediations" + nsQuery(state.namespace)),
      api("GET", "/api/experiments" + nsQuery(state.namespace)),
    ]);
    state.remediations = rems.items;
    state.experiments = exps.items;
    state.truncated = Boolean(rems.truncated || exps.truncated);
    state.rv.remediations = rems.resourceVersion;
    state.rv.chaosexperiments = exps.resourceVersion;
    $("live").classList.add("on");
    $("live").textContent = "live";
    showError(state.truncated ? "Showing the first 500 objects: sign in with a namespace to see the rest." : "");
  } catch (e) {
    $("live").classList.remove("on");
    $("live").textContent = "";
    showError(e.status === 403
      ? "Forbidden: " + e.message + (state.namespace ? "" : " (sign in with the namespace you may read)")
      : e.message);
  }
  render();
}

// Long polls on the API server's watch: a change there re-reads at once.
async function watchLoop(resource, gen) {
  while (gen === state.generation) {
    try {
      const rv = state.rv[resource];
      if (!rv) { await sleep(1000); continue; }
      const q = "/api/watch?resource=" + resource + "&resourceVersion=" + encodeURIComponent(rv) +
        (state.namespace ? "&namespace=" + encodeURIComponent(state.namespace) : "");
      const r = await api("GET", q);
      $("live").classList.add("on");
      $("live").textContent = "live";
      if (r.changed && gen === state.generation) await refresh();
    } catch (e) {
      $("live").classList.remove("on");
      $("live").textContent = "reconnecting";
      await sleep(2000);
      if (gen === state.generation) await refresh();
    }
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- rendering ----
function keyOf(o) { return o.metadata.namespace + "/" + o.metadata.name; }
function phaseCell(p) { return el("span", { class: "pill " + (p || "") }, p || "—"); }
// The incident's report (a game day's): a link when it is an http(s) URL (nothing else is
// ever made a link: no javascript: or data: from a status field), else its text.
function reportLink(url) {
  if (!url) return "";
  if (/^https?:\/\//i.test(url)) {
    return el("span", {}, " · ", el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, "report"));
  }
  return " · report " + url;
}

function secs(v) { return v === undefined || v === null ? "—" : Number(v).toFixed(1) + " s"; }

function render() {
  renderTargets();
  renderIncident();
  renderExperiments();
}

function renderTargets() {
  const body = $("targets").tBodies[0];
  body.replaceChildren();
  if (state.remediations.length === 0) {
    body.append(el("tr", {}, el("td", { colspan: 7 }, "No Remediation you may read.")));
  }
  for (const r of state.remediations) {
    const st = r.status || {};
    const det = st.detection || {};
    const inc = st.incident || {};
    const sig = inc.signals || {};
    const open = inc.id && !inc.closedAt;
    const poolText = [
      sig.poolSaturated ? "pool saturated" : null,
      sig.poolTimeouts ? sig.poolTimeouts + " pool timeouts" : null,
      sig.errorRatio !== undefined ? "errors " + (100 * sig.errorRatio).toFixed(1) + "%" : null,
    ].filter(Boolean).join(" · ") || (det.health === "Healthy" ? "ok" : "—");
    const row = el("tr", { "data-key": keyOf(r), class: keyOf(r) === state.selected ? "selected" : "" },
      el("td", {}, el("a", { href: "#", onclick: (ev) => { ev.preventDefault(); select(keyOf(r)); } },
        r.metadata.namespace + "/" + r.metadata.name)),
      el("td", {}, ((r.spec || {}).target || {}).deployment || "—"),
      el("td", {}, el("span", { class: det.health || "" }, det.health || "—"),
        det.reason ? el("div", { class: "muted" }, det.reason) : null),
      el("td", {}, sparkline(state.series[keyOf(r)]),
        el("div", { class: "muted" }, open ? poolText : (det.health === "Healthy" ? "ok" : "—"))),
      el("td", {}, phaseCell(st.phase)),
      el("td", {}, open ? inc.id : "—"),
      el("td", {}, decisionButtons(r), manualButtons(r)));
    body.append(row);
  }
}

// Error ratio (red) and pool saturation (blue) over the last 10 minutes, 0 to 1.
function sparkline(s) {
  if (!s) return el("span", { class: "muted" }, "…");
  if (s.error) return el("span", { class: "muted", title: s.error }, "no chart");
  const W = 140, H = 34;
  const all = [...(s.errorRatio || []), ...(s.poolSaturation || [])];
  if (all.length === 0) return el("span", { class: "muted" }, "no data yet");
  const t0 = Math.min(...all.map((p) => p[0])), t1 = Math.max(...all.map((p) => p[0]));
  const x = (t) => (t1 === t0 ? W : ((t - t0) / (t1 - t0)) * W);
  const y = (v) => H - 1 - Math.max(0, Math.min(1, v)) * (H - 2);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  svg.setAttribute("class", "spark");
  const last = (a) => (a && a.length ? a[a.length - 1][1] : null);
  const title = document.createElementNS(ns, "title");
  title.textContent = "last 10 min: error ratio (red) " + (last(s.errorRatio) ?? "—") +
    ", pool saturation (blue) " + (last(s.poolSaturation) ?? "—");
  svg.append(title);
  for (const [points, color] of [[s.poolSaturation, "#0969da"], [s.errorRatio, "#cf222e"]]) {
    if (!points || !points.length) continue;
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", points.map((p) => x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", color);
    line.setAttribute("stroke-width", "1.5");
    svg.append(line);
  }
  return svg;
}

async function loadSeries() {
  for (const r of state.remediations) {
    const key = keyOf(r);
    try {
      state.series[key] = await api("GET", "/api/series?namespace=" + encodeURIComponent(r.metadata.namespace) +
        "&name=" + encodeURIComponent(r.metadata.name) + "&minutes=10");
    } catch (e) {
      state.series[key] = { error: e.message };
    }
  }
  renderTargets();
}

function decisionButtons(r) {
  const st = r.status || {};
  if (st.phase !== "AwaitingApproval") return null;
  const ref = { namespace: r.metadata.namespace, remediation: r.metadata.name, incident: (st.incident || {}).id };
  return el("span", {},
    el("button", { class: "approve", onclick: () => decide("approve", ref) }, "Approve"), " ",
    el("button", { class: "danger reject", onclick: () => decide("reject", ref) }, "Reject"));
}

// Manual actions: the controller takes them under the Remediation's safety rules
// (allowed actions, budget, cooldown, no rung in progress) and says so in
// status.manualRequest, shown on the incident panel.
function manualButtons(r) {
  const ref = { namespace: r.metadata.namespace, remediation: r.metadata.name };
  const allowed = (r.spec || {}).actions || [];
  const buttons = [
    ["restart-api", "RestartDeployment", "Restart api"],
    ["restart-db", "RestartDatabase", "Restart db"],
    ["increase-pool", "IncreasePoolSize", "Raise pool"],
  ].filter(([, action]) => allowed.includes(action))
    .map(([route, , label]) => el("button", {
      class: "secondary manual", "data-action": route,
      onclick: () => manual(route, ref, label),
    }, label));
  return buttons.length ? el("div", { class: "manual-actions" }, buttons) : null;
}

async function manual(route, ref, label) {
  if (!window.confirm(label + " for " + ref.namespace + "/" + ref.remediation + "?")) return;
  try {
    const r = await api("POST", "/action/" + route, ref);
    showError("");
    $("break-result").textContent = label + " requested (" + r.requestId + ")";
    await refresh();
  } catch (e) { showError(route + ": " + e.message); }
}

async function decide(what, ref) {
  try {
    await api("POST", "/action/" + what, ref);
    showError("");
    await refresh();
  } catch (e) { showError(what + ": " + e.message); }
}

function select(key) {
  state.selected = key;
  sessionStorage.setItem("poolguard.selected", key);
  render();
}

async function renderIncident() {
  const r = state.remediations.find((x) => keyOf(x) === state.selected) || state.remediations[0];
  const box = $("incident");
  if (!r) { box.hidden = true; return; }
  const st = r.status || {};
  const inc = st.incident || ((st.history || []).slice(-1)[0]);
  box.hidden = false;
  $("incident-title").textContent = "Incident · " + keyOf(r);
  const body = $("incident-body");
  body.replaceChildren();
  body.append(el("p", {}, phaseCell(st.phase), " ", st.message || ""));
  const mr = st.manualRequest;
  if (mr) {
    body.append(el("p", { class: "manual-request" }, "Manual request " + mr.id + ": " + mr.action +
      " by " + (mr.by || "?") + " — ", el("span", { class: mr.state === "Accepted" ? "Verified" : "Failed" },
      mr.state), mr.message ? " (" + mr.message + ")" : ""));
  }
  if (!inc) { body.append(el("p", {}, "No incident yet.")); return; }
  const sig = inc.signals || {};
  body.append(el("p", {},
    el("strong", {}, "Incident " + inc.id), " · ",
    "detected in " + secs(inc.detectionSeconds), " · recovered in " + secs(inc.recoverySeconds),
    inc.outcome ? " · " + inc.outcome : "",
    inc.chaosExperiment ? " · experiment " + inc.chaosExperiment : "",
    reportLink(inc.chaosReport)));
  if (inc.verdict) body.append(el("p", { class: "verdict" }, inc.verdict));
  const sigText = [
    sig.health ? "health: " + sig.health : null,
    sig.errorRatio !== undefined ? "error ratio " + Number(sig.errorRatio).toFixed(3) : null,
    sig.p99LatencySeconds !== undefined ? "p99 " + Number(sig.p99LatencySeconds).toFixed(3) + " s" : null,
    sig.poolTimeouts ? sig.poolTimeouts + " pool timeouts" : null,
    sig.poolSaturated ? "pool saturated" : null,
  ].filter(Boolean).join(" · ");
  if (sigText) body.append(el("p", {}, "Signals: " + sigText));
  if (sig.logSample) body.append(el("pre", { class: "timeline" }, "log: " + sig.logSample));
  const d = inc.diagnosis;
  if (d) {
    body.append(el("h3", {}, "Diagnosis: " + d.conclusion + " (confidence " + d.confidence + ")"));
    body.append(el("table", { class: "checks" },
      el("thead", {}, el("tr", {}, el("th", {}, "Check"), el("th", {}, "Result"), el("th", {}, "Evidence"))),
      el("tbody", {}, (d.checks || []).map((c) => el("tr", {},
        el("td", {}, c.name), el("td", { class: c.result }, c.result), el("td", { class: "evidence" }, c.evidence))))));
    if (d.summary) body.append(el("p", {}, d.summary));
  }
  const actions = inc.actions || [];
  if (actions.length) {
    body.append(el("h3", {}, "Actions"));
    body.append(el("table", { class: "actions" },
      el("thead", {}, el("tr", {}, el("th", {}, "Rung"), el("th", {}, "Action"), el("th", {}, "Result"),
        el("th", {}, "Detail"), el("th", {}, "Verification"), el("th", {}, "Approved / asked by"))),
      el("tbody", {}, actions.map((a) => el("tr", {},
        el("td", {}, a.rung || "—"), el("td", {}, a.name), el("td", { class: a.result }, a.result),
        el("td", { class: "evidence" }, a.detail || ""), el("td", { class: "evidence" }, a.verification || ""),
        el("td", {}, a.approvedBy || (a.requestedBy ? "asked by " + a.requestedBy : "")))))));
  }
  const events = el("pre", { class: "timeline", id: "events" }, "");
  body.append(el("h3", {}, "Events"), events);
  try {
    const ev = await api("GET", "/api/events?namespace=" + encodeURIComponent(r.metadata.namespace) +
      "&name=" + encodeURIComponent(r.metadata.name));
    events.textContent = ev.items.map((e) =>
      (e.lastTimestamp || "") + "  " + e.reason + "  " + e.message).join("\n") || "(none)";
  } catch (e) { events.textContent = "events: " + e.message; }
}

function renderExperiments() {
  const body = $("experiments").tBodies[0];
  body.replaceChildren();
  if (state.experiments.length === 0) {
    body.append(el("tr", {}, el("td", { colspan: 8 }, "No ChaosExperiment you may read.")));
  }
  const now = Date.now();
  for (const x of state.experiments) {
    const spec = x.spec || {};
    const st = x.status || {};
    const f = spec.fault || {};
    const leak = f.connectionLeak || {};
    const fault = f.type === "ConnectionLeak"
      ? leak.connections + " × " + (leak.mode || "Idle") + (leak.table ? " " + leak.table : "")
      : f.type + (f.trafficSurge ? " × " + f.trafficSurge.concurrency : "");
    const ends = st.endsAt ? Date.parse(st.endsAt) : NaN;
    const running = ["Injecting", "Active"].includes(st.phase);
    const left = running && !isNaN(ends) ? Math.max(0, Math.round((ends - now) / 1000)) + " s" : "—";
    const annotations = (x.metadata.annotations || {});
    const by = annotations["poolguard.dev/requested-by"] || "";
    body.append(el("tr", { "data-key": keyOf(x) },
      el("td", {}, keyOf(x)),
      el("td", {}, (spec.target || {}).deployment || "—"),
      el("td", {}, fault),
      el("td", {}, phaseCell(st.phase), st.message ? el("div", { class: "muted" }, st.message) : null),
      el("td", {}, st.leakedConnections !== undefined ? String(st.leakedConnections) : "—"),
      el("td", {}, left),
      el("td", {}, by),
      el("td", {}, running && !spec.abort
        ? el("button", { class: "danger abort", onclick: () => abort(x) }, "Abort") : null)));
  }
}

async function abort(x) {
  try {
    await api("POST", "/break/abort", { namespace: x.metadata.namespace, name: x.metadata.name });
    await refresh();
  } catch (e) { showError("abort: " + e.message); }
}

async function startExperiment(ev) {
  ev.preventDefault();
  const f = ev.target;
  const body = { namespace: f.namespace.value.trim(), mode: f.mode.value, duration: f.duration.value.trim(),
    connections: parseInt(f.connections.value, 10) };
  if (f.remediation.value.trim()) body.remediation = f.remediation.value.trim();
  if (f.mode.value === "LockTable") body.table = f.table.value.trim();
  try {
    const r = await api("POST", "/break/db_pool", body);
    $("break-result").textContent = "Started " + r.namespace + "/" + r.name + " as " + r.requestedBy;
    await refresh();
  } catch (e) { $("break-result").textContent = e.message; }
}

// ---- start ----
window.addEventListener("DOMContentLoaded", () => {
  // A notification's link: /?select=<namespace>/<remediation> opens that incident.
  const select = new URLSearchParams(location.search).get("select");
  if (select) {
    state.selected = select;
    sessionStorage.setItem("poolguard.selected", select);
  }
  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("signin-error").textContent = "";
    try {
      await signIn($("token").value.trim(), $("namespace").value.trim());
    } catch (e) {
      $("signin-error").textContent = "Sign-in failed: " + e.message;
    }
  });
  $("signout").addEventListener("click", signOut);
  $("break-form").addEventListener("submit", startExperiment);
  setInterval(() => { if (state.user) renderExperiments(); }, 1000); // time left
  setInterval(() => { if (state.user && !document.hidden) loadSeries(); }, 15000);
  if (state.token) {
    signIn(state.token, state.namespace).catch(() => { sessionStorage.clear(); });
  }
});
