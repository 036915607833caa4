// The builds search and a build's page: console (paged, live), artifacts.
"use strict";

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
      b.change ? el("a", { href: changeHref(b.change, b.project), text: `${b.change},${b.patchset}` }) : "-",
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
      ["Change", build.change ? el("a", { href: changeHref(build.change, build.project), text: `${build.change},${build.patchset}` }) : "-"],
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
