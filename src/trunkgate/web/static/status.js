// The status page: every pipeline live, drawn in place.
"use strict";

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
    ? el("a", { href: changeHref(item.change, item.project), class: "title", text: item.title })
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
