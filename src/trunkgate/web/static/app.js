// trunkgate's dashboard: every page drawn from the JSON API. Text from
// changes, jobs and nodes goes in with textContent only, never as markup.
"use strict";

const main = () => document.getElementById("main");

// ---- small helpers ---------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "href") node.setAttribute("href", safeHref(value));
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// replaceChildren without the nothings (null, false) a page leaves out.
function show(parent, ...children) {
  parent.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

function safeHref(value) {
  const text = String(value);
  // Only our own paths and anchors: never javascript: or another origin.
  return text.startsWith("/") && !text.startsWith("//") ? text : text.startsWith("#") ? text : "#";
}

function token() {
  return sessionStorage.getItem("trunkgate-token") || "";
}

function headers(extra) {
  const all = Object.assign({}, extra || {});
  if (token()) all.Authorization = "Bearer " + token();
  return all;
}

async function api(path, options) {
  const answer = await fetch(path, Object.assign({ headers: headers() }, options || {}));
  let body = null;
  try {
    body = await answer.json();
  } catch (error) {
    body = null;
  }
  if (!answer.ok) {
    const message = body && body.error ? body.error : answer.status + " " + answer.statusText;
    const failure = new Error(message);
    failure.status = answer.status;
    throw failure;
  }
  return body;
}

async function act(path, body) {
  return api(path, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body || {}),
  });
}

function when(value) {
  if (value === null || value === undefined || value === "") return "-";
  const moment = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (isNaN(moment.getTime())) return String(value);
  return moment.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function seconds(value) {
  if (value === null || value === undefined) return "-";
  const whole = Math.max(0, Math.round(value));
  const h = Math.floor(whole / 3600), m = Math.floor((whole % 3600) / 60), s = whole % 60;
  if (h) return `${h}h ${String(m).padStart(2, "0")}m`;
  if (m) return `${m}m ${String(s).padStart(2, "0")}s`;
  return `${s}s`;
}

function resultClass(result) {
  if (!result) return "result running";
  return "result " + String(result).toLowerCase().replace(/[^a-z_]/g, "");
}

function table(columns, rows, cells) {
  return el(
    "table",
    { class: "listing" },
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", { text: c })))),
    el("tbody", {}, rows.map((row) => el("tr", {}, cells(row).map((c) => el("td", {}, c))))),
  );
}

// An admin action: its outcome said beside the button that asked for it.
async function acting(said, work, done) {
  try {
    const answer = await work();
    said.textContent = done(answer);
    said.className = "said ok";
  } catch (error) {
    said.textContent = error.message;
    said.className = "said error";
  }
}

function showError(where, error) {
  const hint =
    error.status === 401 ? " Enter the site's token at the top right and try again." : "";
  show(where, el("p", { class: "error", text: String(error.message) + hint }));
}

function setTitle(text) {
  document.title = text + " - trunkgate";
}

// ---- the token box ---------------------------------------------------------

function tokenBox() {
  const box = document.getElementById("token-box");
  const input = el("input", {
    type: "password",
    placeholder: "token (admin actions)",
    autocomplete: "off",
    id: "token",
  });
  input.value = token();
  input.addEventListener("change", async () => {
    sessionStorage.setItem("trunkgate-token", input.value.trim());
    // A site that needs a token to read: the page's event streams and links
    // send no header, the session cookie stands for it.
    await fetch("/api/session", { method: "POST", headers: headers() }).catch(() => null);
    route();
  });
  show(box, input);
}

// ---- ANSI colours ----------------------------------------------------------

const ANSI = /\x1b\[([0-9;]*)m|\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)?|\x1b./g;

function ansiSpans(text) {
  const parts = [];
  let style = {};
  let last = 0;
  const push = (chunk) => {
    // Other control characters are shown as nothing but tabs.
    const clean = chunk.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
    if (!clean) return;
    const span = el("span", { text: clean });
    if (style.fg) span.classList.add("fg" + style.fg);
    if (style.bg) span.classList.add("bg" + style.bg);
    if (style.bold) span.classList.add("bold");
    if (style.italic) span.classList.add("italic");
    if (style.underline) span.classList.add("underline");
    if (style.color) span.style.color = style.color;
    if (style.background) span.style.backgroundColor = style.background;
    parts.push(span);
  };
  text.replace(ANSI, (match, codes, _end, offset) => {
    push(text.slice(last, offset));
    last = offset + match.length;
    if (codes !== undefined) style = applySgr(style, codes);
    return "";
  });
  push(text.slice(last));
  return parts;
}

function applySgr(style, codes) {
  const next = Object.assign({}, style);
  const list = codes === "" ? [0] : codes.split(";").map((c) => parseInt(c || "0", 10));
  for (let i = 0; i < list.length; i++) {
    const code = list[i];
    if (code === 0) Object.keys(next).forEach((k) => delete next[k]);
    else if (code === 1) next.bold = true;
    else if (code === 3) next.italic = true;
    else if (code === 4) next.underline = true;
    else if (code === 22) delete next.bold;
    else if (code === 23) delete next.italic;
    else if (code === 24) delete next.underline;
    else if ((code >= 30 && code <= 37) || (code >= 90 && code <= 97)) {
      next.fg = code;
      delete next.color;
    } else if ((code >= 40 && code <= 47) || (code >= 100 && code <= 107)) {
      next.bg = code;
      delete next.background;
    } else if (code === 39) {
      delete next.fg;
      delete next.color;
    } else if (code === 49) {
      delete next.bg;
      delete next.background;
    } else if (code === 38 || code === 48) {
      const key = code === 38 ? "color" : "background";
      if (list[i + 1] === 5 && i + 2 < list.length) {
        next[key] = xterm256(list[i + 2]);
        i += 2;
      } else if (list[i + 1] === 2 && i + 4 < list.length) {
        const [r, g, b] = list.slice(i + 2, i + 5).map((v) => Math.min(255, Math.max(0, v)));
        next[key] = `rgb(${r}, ${g}, ${b})`;
        i += 4;
      }
      delete next[code === 38 ? "fg" : "bg"];
    }
  }
  return next;
}

function xterm256(n) {
  const basic = [
    "#000", "#c33", "#3a3", "#cc3", "#36c", "#c3c", "#3cc", "#ccc",
    "#666", "#f55", "#5f5", "#ff5", "#58f", "#f5f", "#5ff", "#fff",
  ];
  if (n < 16) return basic[Math.max(0, n)];
  if (n < 232) {
    const v = n - 16, steps = [0, 95, 135, 175, 215, 255];
    return `rgb(${steps[Math.floor(v / 36)]}, ${steps[Math.floor(v / 6) % 6]}, ${steps[v % 6]})`;
  }
  const grey = 8 + (Math.min(n, 255) - 232) * 10;
  return `rgb(${grey}, ${grey}, ${grey})`;
}

// ---- status ----------------------------------------------------------------

const statusView = {
  expanded: new Set(JSON.parse(sessionStorage.getItem("trunkgate-expanded") || "[]")),
  rows: [],
  source: null,
  nodes: new Map(),
  seen: new Set(),
};

function itemKey(pipeline, queue, item) {
  return [pipeline, queue, item.project, item.change, item.branch].join("|");
}

function saveExpanded() {
  sessionStorage.setItem("trunkgate-expanded", JSON.stringify([...statusView.expanded]));
}

function statusFilters() {
  const params = new URLSearchParams(location.search);
  return {
    text: params.get("q") || "",
    pipeline: params.get("pipeline") || "",
    failing: params.get("failing") === "1",
  };
}

function setFilter(name, value) {
  const params = new URLSearchParams(location.search);
  if (value) params.set(name, value);
  else params.delete(name);
  const query = params.toString();
  history.replaceState(null, "", location.pathname + (query ? "?" + query : ""));
  drawStatus();
}

function matches(filters, pipeline, item) {
  if (filters.pipeline && pipeline !== filters.pipeline) return false;
  if (filters.failing && !item.failing) return false;
  if (!filters.text) return true;
  const needle = filters.text.toLowerCase();
  return [item.title, item.project, String(item.change), pipeline].some((hay) =>
    String(hay).toLowerCase().includes(needle),
  );
}

function pageStatus() {
  setTitle("Status");
  const filters = statusFilters();
  const search = el("input", {
    type: "search",
    id: "filter",
    placeholder: "filter: project, change, pipeline",
    value: filters.text,
  });
  search.addEventListener("input", () => setFilter("q", search.value.trim()));
  const failing = el("input", { type: "checkbox", id: "failing-only" });
  failing.checked = filters.failing;
  failing.addEventListener("change", () => setFilter("failing", failing.checked ? "1" : ""));
  const pipelines = el("select", { id: "pipeline-filter" }, el("option", { value: "", text: "all pipelines" }));
  pipelines.addEventListener("change", () => setFilter("pipeline", pipelines.value));
  const bar = el(
    "div",
    { class: "toolbar" },
    search,
    pipelines,
    el("label", {}, failing, " failing only"),
    el("button", { id: "expand-all", onclick: () => expandAll(true), text: "Expand all" }),
    el("button", { id: "collapse-all", onclick: () => expandAll(false), text: "Collapse all" }),
    el("button", { id: "first-failing", onclick: jumpToFailing, text: "First failing" }),
    el("span", { id: "live", class: "live", text: "connecting..." }),
  );
  show(main(), bar, el("div", { id: "pipelines" }));
  statusView.nodes.clear();
  if (statusView.source) statusView.source.close();
  const source = new EventSource("/api/status/events");
  statusView.source = source;
  source.addEventListener("status", (event) => {
    statusView.rows = JSON.parse(event.data);
    document.getElementById("live").textContent = "live";
    fillPipelineChoices(pipelines);
    drawStatus();
  });
  source.addEventListener("error", () => {
    const live = document.getElementById("live");
    if (live) live.textContent = "reconnecting...";
  });
}

function fillPipelineChoices(select) {
  const names = statusView.rows.map((row) => row.pipeline);
  const have = [...select.options].map((o) => o.value).filter(Boolean);
  if (names.join() === have.join()) return;
  const current = statusFilters().pipeline;
  show(select, 
    el("option", { value: "", text: "all pipelines" }),
    ...names.map((name) => el("option", { value: name, text: name, selected: name === current })),
  );
}

function expandAll(open) {
  for (const row of statusView.rows)
    for (const queue of row.queues)
      for (const item of queue.items) {
        const key = itemKey(row.pipeline, queue.name, item);
        if (open) statusView.expanded.add(key);
        else statusView.expanded.delete(key);
      }
  saveExpanded();
  drawStatus();
}

function jumpToFailing() {
  const first = document.querySelector(".item.failing");
  if (first) {
    first.scrollIntoView({ block: "center" });
    first.classList.add("flash");
    setTimeout(() => first.classList.remove("flash"), 1500);
  }
}

// The status is drawn in place: an item whose data did not change keeps its
// element, and elements are only moved when their order changed, so the
// browser keeps what the reader looks at where it is (scroll anchoring).
function setChildren(parent, wanted) {
  const keep = new Set(wanted);
  for (const child of [...parent.children]) if (!keep.has(child)) child.remove();
  let cursor = parent.firstElementChild;
  for (const node of wanted) {
    if (node === cursor) cursor = cursor.nextElementSibling;
    else parent.insertBefore(node, cursor);
  }
}

function kept(key, signature, make) {
  const known = statusView.nodes.get(key);
  statusView.seen.add(key);
  if (known && known.signature === signature) return known.node;
  const node = make();
  statusView.nodes.set(key, { signature, node });
  return node;
}

function drawStatus() {
  const where = document.getElementById("pipelines");
  if (!where) return;
  const filters = statusFilters();
  const now = Date.now() / 1000;
  statusView.seen = new Set();
  const sections = [];
  for (const row of statusView.rows) {
    if (filters.pipeline && filters.pipeline !== row.pipeline) continue;
    const count = row.queues.reduce((sum, q) => sum + q.items.length, 0);
    const section = kept(`pipeline|${row.pipeline}`, "", () =>
      el(
        "section",
        { class: "pipeline", "data-pipeline": row.pipeline },
        el("h2", {}, row.pipeline, el("span", { class: "count" })),
        el("div", { class: "queues" }),
      ),
    );
    section.querySelector(".count").textContent = ` ${count} item(s)`;
    const queues = [];
    for (const queue of row.queues) {
      const items = queue.items.filter((item) => matches(filters, row.pipeline, item));
      if (!items.length) continue;
      const window = queue.window === null ? "" : ` (window ${queue.window})`;
      const node = kept(`queue|${row.pipeline}|${queue.name}`, "", () =>
        el("div", { class: "queue", "data-queue": queue.name }, el("h3"), el("div", { class: "items" })),
      );
      node.querySelector("h3").textContent = `${queue.name}${window}`;
      setChildren(
        node.querySelector(".items"),
        items.map((item) => {
          const key = itemKey(row.pipeline, queue.name, item);
          // Its place is not part of it: items ahead leaving move every
          // place, and only the number is changed for that.
          const signature = JSON.stringify({ ...item, position: 0 }) + statusView.expanded.has(key);
          const node = kept(`item|${key}`, signature, () => drawItem(row.pipeline, queue.name, item, now));
          node.querySelector(".position").textContent = `#${item.position}`;
          return node;
        }),
      );
      queues.push(node);
    }
    if (!queues.length) {
      const text = "nothing queued" + (count ? " that matches" : "");
      queues.push(kept(`empty|${row.pipeline}|${text}`, "", () => el("p", { class: "empty", text })));
    }
    setChildren(section.querySelector(".queues"), queues);
    sections.push(section);
  }
  setChildren(where, sections);
  for (const key of [...statusView.nodes.keys()]) {
    if (!statusView.seen.has(key)) statusView.nodes.delete(key);
  }
}

function drawItem(pipeline, queueName, item, now) {
  const key = itemKey(pipeline, queueName, item);
  const open = statusView.expanded.has(key);
  const done = item.jobs.filter((j) => j.result).length;
  const toggle = () => {
    if (statusView.expanded.has(key)) statusView.expanded.delete(key);
    else statusView.expanded.add(key);
    saveExpanded();
    drawStatus();
  };
  const title = item.change
    ? el("a", { href: `/change/${item.change}`, class: "title", text: item.title })
    : el("span", { class: "title", text: item.title });
  const head = el(
    "div",
    { class: "item-head" },
    el("button", { class: "toggle", "aria-expanded": String(open), onclick: toggle, text: open ? "-" : "+" }),
    el("span", { class: "position", text: `#${item.position}` }),
    title,
    el("span", { class: "phase " + String(item.phase).toLowerCase(), text: item.phase }),
    el("span", { class: "progress", text: `${done}/${item.jobs.length} jobs` }),
    el("span", { class: "chips" }, item.jobs.map((job) => el("span", {
      class: "chip " + resultClass(job.result || (job.state === "RUNNING" ? null : "waiting")),
      title: `${job.job}: ${job.result || job.state}`,
    }))),
  );
  const body = open
    ? el(
        "div",
        { class: "item-body" },
        item.ahead.length ? el("p", { class: "ahead", text: "tested on top of: " + item.ahead.join(" + ") }) : null,
        item.reason ? el("p", { class: "reason", text: item.reason }) : null,
        el("ul", { class: "jobs" }, item.jobs.map((job) => drawJob(job, now))),
        item.change ? queueActions(pipeline, item) : null,
      )
    : null;
  return el(
    "div",
    {
      class: "item" + (item.failing ? " failing" : ""),
      "data-change": item.change,
      "data-project": item.project,
    },
    head,
    body,
  );
}

function queueActions(pipeline, item) {
  const said = el("span", { class: "said" });
  const send = (verb) => () =>
    acting(said, () => act(`/api/${verb}`, { pipeline, change: item.change }), () => `${verb} of change ${item.change} sent`);
  return el(
    "div",
    { class: "actions" },
    el("button", { class: "promote", onclick: send("promote"), text: "Promote" }),
    el("button", { class: "dequeue", onclick: send("dequeue"), text: "Dequeue" }),
    said,
  );
}

function drawJob(job, now) {
  const started = job.started ? Date.parse(job.started) / 1000 : null;
  let timing = "";
  if (started && !job.result) {
    const elapsed = now - started;
    timing = seconds(elapsed) + (job.estimate ? ` of ~${seconds(job.estimate)}` : "");
  } else if (!job.result && job.estimate) {
    timing = `~${seconds(job.estimate)}`;
  }
  const name = job.build
    ? el("a", { href: `/build/${job.build}`, text: job.job })
    : el("span", { text: job.job });
  return el(
    "li",
    { class: "job", "data-job": job.job },
    name,
    job.voting ? null : el("span", { class: "nv", text: " (non-voting)" }),
    el("span", { class: resultClass(job.result), text: job.result || job.state }),
    el("span", { class: "timing", "data-started": started || "", "data-estimate": job.estimate || "", text: timing }),
  );
}

function tickTimings() {
  const now = Date.now() / 1000;
  for (const span of document.querySelectorAll(".timing[data-started]")) {
    const started = parseFloat(span.dataset.started);
    if (!started) continue;
    const result = span.previousElementSibling;
    if (result && !result.classList.contains("running")) continue;
    const estimate = parseFloat(span.dataset.estimate);
    span.textContent = seconds(now - started) + (estimate ? ` of ~${seconds(estimate)}` : "");
  }
}

// ---- builds ----------------------------------------------------------------

const BUILD_FILTERS = ["project", "change", "job", "pipeline", "result", "node_provider", "since", "until"];
const RESULTS = ["", "SUCCESS", "FAILURE", "TIMED_OUT", "NODE_FAILURE", "MERGE_CONFLICT", "CANCELED", "ERROR"];

async function pageBuilds() {
  setTitle("Builds");
  const params = new URLSearchParams(location.search);
  const form = el("form", { class: "toolbar", id: "build-search" });
  for (const name of BUILD_FILTERS) {
    const input =
      name === "result"
        ? el("select", { name }, RESULTS.map((r) => el("option", { value: r, text: r || "any result", selected: r === (params.get(name) || "") })))
        : el("input", { name, placeholder: name.replace("_", " "), value: params.get(name) || "" });
    form.append(input);
  }
  form.append(el("button", { type: "submit", text: "Search" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(form).entries()) if (value) next.set(key, value);
    history.pushState(null, "", "/builds?" + next.toString());
    pageBuilds();
  });
  const results = el("div", { id: "build-results" }, el("p", { class: "loading", text: "Loading..." }));
  show(main(), el("h1", { text: "Builds" }), form, results);
  try {
    const offset = parseInt(params.get("offset") || "0", 10);
    const query = new URLSearchParams(params);
    query.set("limit", "50");
    const answer = await api("/api/builds?" + query.toString());
    const pager = el("div", { class: "pager" });
    const move = (to) => {
      const next = new URLSearchParams(params);
      next.set("offset", String(Math.max(0, to)));
      history.pushState(null, "", "/builds?" + next.toString());
      pageBuilds();
    };
    if (offset > 0) pager.append(el("button", { id: "newer", onclick: () => move(offset - 50), text: "Newer" }));
    pager.append(el("span", { text: ` builds ${answer.builds.length ? offset + 1 : 0}-${offset + answer.builds.length} ` }));
    if (answer.more) pager.append(el("button", { id: "older", onclick: () => move(offset + 50), text: "Older" }));
    show(results, buildTable(answer.builds), pager);
  } catch (error) {
    showError(results, error);
  }
}

function buildTable(builds) {
  return table(
    ["Job", "Project", "Change", "Pipeline", "Result", "Provider", "Duration", "Started"],
    builds,
    (b) => [
      el("a", { href: `/build/${b.id}`, text: b.job }),
      b.project,
      b.change ? el("a", { href: `/change/${b.change}`, text: `${b.change},${b.patchset}` }) : "-",
      b.pipeline,
      el("span", { class: resultClass(b.result), text: b.result || "RUNNING" }),
      b.node_provider || "-",
      seconds(b.duration),
      when(b.started),
    ],
  );
}

// ---- one build -------------------------------------------------------------

const consoleView = { source: null };
const LONGEST_LINE = 8192;

async function pageBuild(id) {
  setTitle("Build");
  try {
    const build = await api(`/api/builds/${encodeURIComponent(id)}`);
    setTitle(`${build.job} ${build.result || "RUNNING"}`);
    const retrigger = el("button", {
      id: "retrigger",
      text: "Retrigger",
      onclick: () =>
        acting(
          document.getElementById("retrigger-said"),
          () => act(`/api/builds/${build.id}/retrigger`),
          () => `change ${build.change} sent to ${build.pipeline} again`,
        ),
    });
    const summary = table(["", ""], [
      ["Result", el("span", { id: "build-result", class: resultClass(build.result), text: build.result || "RUNNING" })],
      ["Job", build.job + (build.voting ? "" : " (non-voting)")],
      ["Project", build.project],
      ["Change", build.change ? el("a", { href: `/change/${build.change}`, text: `${build.change},${build.patchset}` }) : "-"],
      ["Pipeline", build.pipeline],
      ["Node provider", build.node_provider || "-"],
      ["Started", when(build.started)],
      ["Ended", when(build.ended)],
      ["Duration", seconds(build.duration)],
      ["Retries", String(build.retries)],
      ["Error", build.error || "-"],
    ], (r) => r);
    summary.classList.add("summary");
    const tree = table(["Repository", "HEAD", "Subject"], build.tree, (r) => [
      r.project,
      el("code", { text: r.commit.slice(0, 12) }),
      r.subject || "",
    ]);
    const nodes = table(["Node", "Label", "Image", "Image build"], build.nodes, (n) => [
      n.name, n.label, n.image || "-", n.image_build || "-",
    ]);
    const held = build.held_nodes.length
      ? el("div", { class: "held" }, el("h2", { text: "Held nodes" }), heldNodes(build.held_nodes))
      : null;
    const consoleBox = el("div", { id: "console-box" });
    show(main(), 
      el("h1", {}, `${build.job} `, el("span", { class: resultClass(build.result), text: build.result || "RUNNING" })),
      el(
        "div",
        { class: "actions" },
        retrigger,
        el("button", { id: "autohold", text: "Hold its nodes when it fails next", onclick: () => {
          const reason = prompt("Why hold them? (shown with the nodes)");
          if (!reason) return;
          acting(
            document.getElementById("retrigger-said"),
            () => act("/api/autoholds", { project: build.project, job: build.job, change: build.change || undefined, reason }),
            (answer) => `autohold ${answer.autohold} added`,
          );
        } }),
        el("span", { id: "retrigger-said", class: "said" }),
      ),
      summary,
      el("h2", { text: "Tree" }), tree,
      el("h2", { text: "Nodes" }), nodes,
      held,
      el("h2", {}, "Console ", build.raw_console ? el("a", { href: build.raw_console, id: "raw-console", text: "raw" }) : null),
      consoleBox,
      el("h2", { text: "Artifacts" }),
      el("div", { id: "artifacts" }),
    );
    if (build.console) await showConsole(build, consoleBox);
    else consoleBox.append(el("p", { text: "no console log yet" }));
    showArtifacts(build);
  } catch (error) {
    showError(main(), error);
  }
}

async function showConsole(build, box, first) {
  const wanted = first || lineFromHash();
  const count = 1000;
  let query = `?count=${count}`;
  if (wanted) query += `&first=${Math.max(1, wanted - ((wanted - 1) % count))}`;
  const page = await api(build.console + query);
  const lines = el("div", { class: "console", id: "console" });
  page.lines.forEach((text, index) => lines.append(consoleLine(page.first + index, text)));
  const last = page.first + page.lines.length - 1;
  const go = (to) => showConsole(build, box, to);
  const pager = el(
    "div",
    { class: "pager" },
    page.first > 1 ? el("button", { onclick: () => go(1), text: "First" }) : null,
    page.first > 1 ? el("button", { onclick: () => go(Math.max(1, page.first - count)), text: "Previous" }) : null,
    el("span", { id: "console-range", text: ` lines ${page.lines.length ? page.first : 0}-${last} of ${page.total} ` }),
    last < page.total ? el("button", { onclick: () => go(last + 1), text: "Next" }) : null,
    last < page.total ? el("button", { onclick: () => go(Math.max(1, page.total - count + 1)), text: "Last" }) : null,
  );
  show(box, pager, lines);
  const target = wanted && document.getElementById(`L${wanted}`);
  if (target) {
    target.classList.add("picked");
    target.scrollIntoView({ block: "center" });
  }
  if (consoleView.source) consoleView.source.close();
  if (!page.finished && last >= page.total) follow(build, lines, page.end, last);
}

function follow(build, lines, offset, lastLine) {
  let number = lastLine;
  const live = el("p", { id: "console-live", class: "live", text: "live: following the console" });
  lines.after(live);
  const source = new EventSource(`/api/builds/${build.id}/console/events?offset=${offset}`);
  consoleView.source = source;
  // A line longer than an event comes in parts: shown as it grows, up to
  // LONGEST_LINE characters (the raw log has the rest).
  let open = null; // the line still coming: { text, cut, row }
  const openLine = (text, cut) => {
    const row = consoleLine(++number, text + (cut ? " [line cut]" : ""));
    lines.append(row);
    return { text, cut, row };
  };
  source.addEventListener("lines", (event) => {
    const data = JSON.parse(event.data);
    const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    let text = data.text;
    if (open) {
      const end = text.indexOf("\n");
      const more = end >= 0 ? text.slice(0, end) : text;
      const whole = open.text + more;
      open.row.remove();
      number--;
      open = openLine(whole.slice(0, LONGEST_LINE), open.cut || whole.length > LONGEST_LINE);
      if (end < 0) return;
      open = null;
      text = text.slice(end + 1);
    }
    const parts = text.split("\n");
    const last = parts.pop();
    for (const part of parts) lines.append(consoleLine(++number, part));
    if (data.continues) open = openLine(last.slice(0, LONGEST_LINE), last.length > LONGEST_LINE);
    if (atBottom) window.scrollTo(0, document.body.scrollHeight);
  });
  source.addEventListener("end", (event) => {
    const data = JSON.parse(event.data);
    source.close();
    live.textContent = `the build ended: ${data.result}`;
    const shown = document.getElementById("build-result");
    if (shown) {
      shown.textContent = data.result;
      shown.className = resultClass(data.result);
    }
  });
}

function consoleLine(number, text) {
  const parts = text.split(" | ");
  const row = el("div", { class: "line", id: `L${number}` });
  row.append(el("a", { class: "number", href: `#L${number}`, text: String(number) }));
  const body = el("span", { class: "text" });
  if (parts.length >= 3 && /^\d{4}-\d\d-\d\d /.test(parts[0])) {
    body.append(el("span", { class: "stamp", text: parts[0].slice(11, 19) + " " }));
    body.append(el("span", { class: "source", text: parts[1] + " " }));
    body.append(...ansiSpans(parts.slice(2).join(" | ")));
  } else {
    body.append(...ansiSpans(text));
  }
  row.append(body);
  return row;
}

function lineFromHash() {
  const match = /^#L(\d+)$/.exec(location.hash);
  return match ? parseInt(match[1], 10) : null;
}

// Artifacts shown in the page at most this big; a larger one opens on its own.
const INLINE_BYTES = 1 << 20;

async function showArtifacts(build) {
  const where = document.getElementById("artifacts");
  try {
    const answer = await api(`/api/builds/${build.id}/artifacts`);
    const viewer = el("pre", { id: "artifact-view", class: "artifact-view", hidden: true });
    const rows = answer.entries.filter((e) => e.kind !== "directory");
    show(where, 
      table(["File", "Size"], rows, (e) => {
        const href = `/builds/${build.id}/artifacts/${e.path.split("/").map(encodeURIComponent).join("/")}`;
        if (e.kind === "link") return [el("span", { text: e.path + " (a link, not followed)" }), "-"];
        const link = el("a", { href, text: e.path, class: "artifact" });
        link.addEventListener("click", async (event) => {
          if (event.ctrlKey || event.metaKey || e.size > INLINE_BYTES) return;
          event.preventDefault();
          const answer = await fetch(href, { headers: headers() });
          const kind = answer.headers.get("content-type") || "";
          if (!kind.startsWith("text/plain")) {
            location.href = href;
            return;
          }
          viewer.hidden = false;
          show(viewer, el("strong", { text: e.path + "\n" }), ...ansiSpans(await answer.text()));
        });
        return [link, String(e.size)];
      }),
      viewer,
    );
  } catch (error) {
    showError(where, error);
  }
}

// A report names build pages by their full address: those on this dashboard
// become links; any other text stays text.
function linked(text) {
  const parts = [];
  const pattern = /https?:\/\/[^\s/]+(\/build\/[0-9a-f]+)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    parts.push(text.slice(last, match.index));
    const own = match[0].startsWith(location.origin + "/");
    parts.push(own ? el("a", { href: match[1], text: match[0] }) : match[0]);
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

function heldNodes(nodes) {
  return table(["Node", "Label", "State", "Held until", "Reason", "Log in"], nodes, (n) => [
    n.id, n.label, n.state, n.hold_until || "released by hand", n.hold_reason || "-",
    n.login ? el("code", { class: "login", text: n.login }) : "-",
  ]);
}

// ---- a change --------------------------------------------------------------

async function pageChange(number) {
  setTitle(`Change ${number}`);
  try {
    const change = await api(`/api/changes/${number}`);
    const votes = Object.entries(change.votes || {}).map(([k, v]) => `${k} ${v > 0 ? "+" : ""}${v}`).join(", ");
    const parts = [
      el("h1", { text: `Change ${change.change}: ${change.subject}` }),
      table(["", ""], [
        ["Project", change.project], ["Branch", change.branch], ["Owner", change.owner],
        ["Status", change.status], ["Votes", votes || "-"],
      ], (r) => r),
      enqueueForm(change),
      el("h2", { text: "Queues" }),
      change.queues.length
        ? table(["Pipeline", "Queue", "Position", "Phase", "Patchset"], change.queues, (q) => [
            el("a", { href: `/status?q=${change.change}`, text: q.pipeline }), q.queue, `#${q.position}`, q.phase, String(q.patchset),
          ])
        : el("p", { text: "in no queue now" }),
      el("h2", { text: "Patchsets" }),
      table(["Patchset", "Commit", "Subject", "Author", "Created"], change.patchsets, (p) => [
        String(p.patchset), el("code", { text: p.commit.slice(0, 12) }), p.subject, p.author, when(p.created),
      ]),
      el("h2", { text: "Builds" }),
    ];
    const pipelines = Object.keys(change.builds);
    if (!pipelines.length) parts.push(el("p", { text: "no builds yet" }));
    for (const pipeline of pipelines) {
      parts.push(el("h3", { text: pipeline }), buildTable(change.builds[pipeline]));
    }
    parts.push(el("h2", { text: "Votes and comments" }));
    parts.push(table(["When", "Patchset", "Label", "Value", "By"], change.vote_history, (v) => [
      when(v.at), String(v.patchset), v.label, String(v.value), v.by,
    ]));
    for (const comment of change.comments) {
      parts.push(el("div", { class: "comment" },
        el("div", { class: "comment-head", text: `${when(comment.at)}, patchset ${comment.patchset}, ${comment.author}` }),
        el("pre", { class: "comment-text" }, linked(comment.text))));
    }
    show(main(), ...parts);
  } catch (error) {
    showError(main(), error);
  }
}

function enqueueForm(change) {
  const choice = el("select", { id: "enqueue-pipeline" });
  api("/api/info").then((info) => {
    for (const name of info.pipelines) choice.append(el("option", { value: name, text: name }));
  });
  const said = el("span", { class: "said" });
  const button = el("button", { id: "enqueue", text: "Enqueue", onclick: () =>
    acting(said, () => act(`/api/changes/${change.change}/retrigger`, { pipeline: choice.value }), () => `change ${change.change} sent to ${choice.value}`),
  });
  return el("div", { class: "actions" }, choice, button, said);
}

// ---- pool, images, providers, config -----------------------------------------

async function pageNodes() {
  setTitle("Nodes");
  try {
    const rows = await api("/api/nodes");
    show(main(), 
      el("h1", { text: "Nodes" }),
      table(["Id", "State", "Provider", "Label", "Image", "Address", "Build", "Held until", "Reason", "Log in", ""], rows, (n) => [
        n.id, n.state, n.provider, n.label, `${n.image || "-"} ${n.image_build || ""}`, n.address || "-",
        n.build ? el("a", { href: `/build/${n.build}`, text: n.build.slice(0, 8) }) : "-",
        n.state === "hold" ? n.hold_until || "released by hand" : "-",
        n.hold_reason || "-",
        n.login ? el("code", { class: "login", text: n.login }) : "-",
        nodeButton(n),
      ]),
    );
  } catch (error) {
    showError(main(), error);
  }
}

function nodeButton(node) {
  if (node.state === "hold") {
    return el("button", { class: "release", onclick: async (event) => {
      try {
        await act(`/api/nodes/${node.id}/release`);
        pageNodes();
      } catch (error) {
        event.target.after(el("span", { class: "said error", text: error.message }));
      }
    }, text: "Release" });
  }
  if (node.state === "ready" || node.state === "in-use" || node.state === "used") {
    return el("button", { class: "hold", onclick: async (event) => {
      const reason = prompt("Why hold it? (shown with the node)");
      if (!reason) return;
      try {
        await act(`/api/nodes/${node.id}/hold`, { reason, for: "1d" });
        pageNodes();
      } catch (error) {
        event.target.after(el("span", { class: "said error", text: error.message }));
      }
    }, text: "Hold" });
  }
  return "";
}

async function pageList(title, path, columns, cells, pick) {
  setTitle(title);
  try {
    const answer = await api(path);
    const rows = pick ? pick(answer) : answer;
    show(main(), 
      el("h1", { text: title }),
      rows.length ? table(columns, rows, cells) : el("p", { text: `no ${title.toLowerCase()}` }),
    );
  } catch (error) {
    showError(main(), error);
  }
}

async function pageProviders() {
  setTitle("Providers");
  try {
    const answer = await api("/api/providers");
    const flagged = answer.rates.filter((r) => r.flagged);
    show(main(), 
      el("h1", { text: "Providers" }),
      table(["Provider", "Driver", "Labels", "Now"], answer.providers, (p) => [
        p.provider, p.driver, p.labels.join(", "), p.holding_back.join("; ") || "launching",
      ]),
      el("h2", { text: `Failure rates, last ${answer.days} days` }),
      flagged.length
        ? el("ul", { class: "flagged" }, flagged.map((r) => el("li", {
            text: `${r.scope} ${r.name} fails ${(100 * r.failure_rate).toFixed(1)}% of builds; the others ${(100 * r.others_failure_rate).toFixed(1)}%`,
          })))
        : el("p", { text: "no provider or job stands out" }),
      table(["Scope", "Name", "Builds", "Failures", "Rate", "Passed on retry", "Others' rate", ""], answer.rates, (r) => [
        r.scope, r.name, String(r.builds), String(r.failures), `${(100 * r.failure_rate).toFixed(1)}%`,
        String(r.likely_false_negatives), `${(100 * r.others_failure_rate).toFixed(1)}%`,
        r.flagged ? el("span", { class: "stands-out", text: "stands out" }) : "",
      ]),
    );
  } catch (error) {
    showError(main(), error);
  }
}

async function pageConfigErrors() {
  setTitle("Config");
  try {
    const answer = await api("/api/config-errors");
    show(main(), 
      el("h1", { text: "Configuration" }),
      el("p", { text: `The site's config: ${answer.config}` }),
      answer.errors.length
        ? el("ul", { class: "config-errors" }, answer.errors.map((e) => el("li", { text: `${e.file}:${e.line}:${e.column}: ${e.message}` })))
        : el("p", { id: "config-ok", text: "no problems: the config on disk is the one a restart would run" }),
    );
  } catch (error) {
    showError(main(), error);
  }
}

// ---- routing -----------------------------------------------------------------

function route() {
  const path = location.pathname;
  let match;
  if (statusView.source && path !== "/" && path !== "/status") {
    statusView.source.close();
    statusView.source = null;
  }
  if (path === "/" || path === "/status") return pageStatus();
  if (path === "/builds") return pageBuilds();
  if ((match = /^\/build\/([0-9a-f]+)$/.exec(path))) return pageBuild(match[1]);
  if ((match = /^\/change\/(\d+)$/.exec(path))) return pageChange(match[1]);
  if (path === "/nodes") return pageNodes();
  if (path === "/requests")
    return pageList("Requests", "/api/requests", ["Id", "State", "Labels", "Requestor", "Provider", "Age", "Reason"], (r) => [
      r.id, r.state, r.labels.join(", "), r.requestor, r.provider || "-", r.age, r.reason || "-",
    ]);
  if (path === "/images")
    return pageList("Images", "/api/images", ["Image", "Build", "Provider", "State", "Created", "Size"], (r) => [
      r.image, r.build || "-", r.provider || "-", r.state, r.created || "-", r.size === undefined || r.size === null ? "-" : String(r.size),
    ]);
  if (path === "/providers") return pageProviders();
  if (path === "/config-errors") return pageConfigErrors();
  show(main(), el("p", { class: "error", text: "no such page" }));
}

window.addEventListener("popstate", route);
window.addEventListener("hashchange", () => {
  const wanted = lineFromHash();
  const target = wanted && document.getElementById(`L${wanted}`);
  if (target) {
    document.querySelectorAll(".line.picked").forEach((l) => l.classList.remove("picked"));
    target.classList.add("picked");
  }
});
document.addEventListener("DOMContentLoaded", () => {
  tokenBox();
  route();
  setInterval(tickTimings, 1000);
});
