// A change, the pool, images, providers and config pages; and the routing.
"use strict";

// ---- a change --------------------------------------------------------------

async function pageChange(number) {
  setTitle(`Change ${number}`);
  try {
    const project = new URLSearchParams(location.search).get("project");
    const change = await api(`/api/changes/${number}${project ? `?project=${encodeURIComponent(project)}` : ""}`);
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
    acting(said, () => act(`/api/changes/${change.change}/retrigger`, { pipeline: choice.value, project: change.project }), () => `change ${change.change} sent to ${choice.value}`),
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
