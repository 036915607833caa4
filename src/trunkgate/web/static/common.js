// trunkgate's dashboard, the parts every page uses: elements made with
// textContent only (text from changes, jobs and nodes is never markup), the
// API and its token, times, tables, ANSI colours. The other scripts draw
// the pages: status.js, builds.js, pages.js (which also routes).
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

// A change's page: its project named, as a change number is only unique
// within its review source.
function changeHref(number, project) {
  return `/change/${number}${project ? `?project=${encodeURIComponent(project)}` : ""}`;
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
  // The page may be drawn again meanwhile (a token entered just before the
  // click): the answer goes to the place of the same id that is shown.
  const tell = (text, kind) => {
    const shown = said.isConnected ? said : (said.id && document.getElementById(said.id)) || said;
    shown.textContent = text;
    shown.className = "said " + kind;
  };
  try {
    const answer = await work();
    tell(done(answer), "ok");
  } catch (error) {
    tell(error.message, "error");
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
