// The dashboard: vanilla JS, no build step. The bearer token lives in sessionStorage and goes out as
// the Authorization header (no cookie: nothing a cross-site request could carry). Every text from the
// server is set with textContent, never innerHTML. The server authorizes every call; this page only
// shows what it is given.
"use strict";

const TOKEN_KEY = "tgw.token";
const LANG_KEY = "tgw.lang";
let dict = {};
let lang = localStorage.getItem(LANG_KEY) || "zh";
let me = null;
let clockView = null;
let liveAbort = null;

const $ = (sel) => document.querySelector(sel);
const t = (key) => (dict[lang] && dict[lang][key]) || key;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

function yuan(fen) {
  const neg = fen < 0; const f = Math.abs(fen);
  const s = Math.floor(f / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "." + String(f % 100).padStart(2, "0");
  return (neg ? "-" : "") + s;
}

async function api(path, options) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = Object.assign({ "Authorization": "Bearer " + token }, (options && options.headers) || {});
  const resp = await fetch(path, Object.assign({}, options || {}, { headers, cache: "no-store" }));
  let body = null;
  try { body = await resp.json(); } catch (e) { body = null; }
  if (resp.status === 401) { logout(); }
  return { status: resp.status, body };
}

function applyI18n() {
  document.documentElement.lang = lang === "zh" ? "zh" : "en";
  document.querySelectorAll("[data-i18n]").forEach((n) => { n.textContent = t(n.dataset.i18n); });
  $("#lang").textContent = t("lang.switch");
  $("#token").placeholder = "token";
}

function table(headers, rows) {
  const thead = el("thead", {}, el("tr", {}, ...headers.map(([key, cls]) => el("th", { class: cls || "" }, t(key)))));
  const tbody = el("tbody", {}, ...rows);
  return el("table", {}, thead, tbody);
}

function pill(state) { return el("span", { class: "pill " + state }, t("state." + state) !== "state." + state ? t("state." + state) : state); }

function voucherLink(row) {
  return el("a", { href: `#/trace/${row.adm_div_code}/${row.st_year}/${row.vtcode}/${row.voucher_no}`, class: "voucher-link" },
    row.voucher_no);
}

// ------------------------------------------------------------------------------------- pages

async function pageOverview(page) {
  const { status, body } = await api("/v1/overview");
  if (status !== 200) { page.append(el("p", { class: "error" }, t("error"))); return; }
  page.append(el("h1", {}, t("overview.title"), " · ", body.date));
  const totals = el("div", { class: "grid" },
    stat(t("overview.count"), body.totals.count, "ov-count"),
    stat(t("overview.amount"), yuan(body.totals.amount_fen), "ov-amount"),
    stat(t("overview.cutoff"), cutoffText(body.clock), "ov-cutoff"));
  page.append(totals);
  const banks = Object.entries(body.banks).filter(([b]) => b !== "-").map(([b, v]) => el("tr", {}, el("td", {}, b),
    el("td", { class: "num" }, yuan(v.paid_fen)), el("td", { class: "num" }, yuan(v.clearing_filed_fen)),
    el("td", { class: "num" }, yuan(v.cleared_fen)),
    el("td", { class: "num" }, yuan(v.advances_outstanding_fen)), el("td", { class: "num" }, yuan(v.quota_fen)),
    el("td", { class: "num" }, v.quota_fen ? (100 * v.cleared_fen / v.quota_fen).toFixed(1) + "%" : "-")));
  page.append(el("div", { class: "card" }, el("h2", {}, t("overview.banks")),
    table([["col.bank"], ["overview.paid", "num"], ["overview.filed", "num"], ["overview.cleared", "num"], ["overview.advances", "num"],
      ["overview.quota", "num"], ["overview.clearing_vs_quota", "num"]], banks)));
  const rows = body.groups.map((g) => el("tr", {}, el("td", {}, g.bank || "-"),
    el("td", {}, g.vtcode + " " + ((body.vtcode_names[g.vtcode] || {})[lang] || "")),
    el("td", {}, g.flag ? "✓" : ""), el("td", { class: "num" }, g.count), el("td", { class: "num" }, yuan(g.amount_fen))));
  page.append(el("div", { class: "card" }, el("h2", {}, t("overview.by")),
    table([["col.bank"], ["col.vtcode"], ["col.flag"], ["overview.count", "num"], ["overview.amount", "num"]], rows)));
}

function stat(label, value, id) {
  return el("div", { class: "stat" }, el("div", { class: "k" }, label), el("div", { class: "v", id }, value));
}

function cutoffText(view) {
  if (!view || !view.next_cutoffs) return t("overview.none_cutoff");
  const now = new Date(view.now);
  const next = view.next_cutoffs.map((c) => [c.name, new Date(c.at)])
    .filter(([, at]) => !isNaN(at) && at > now).sort((a, b) => a[1] - b[1])[0];
  if (!next) return t("overview.none_cutoff");
  const s = Math.round((next[1] - now) / 1000);
  const label = (dict[lang] && dict[lang]["cutoff." + next[0]]) || next[0];
  return `${label} ${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

async function pageSearch(page, params) {
  page.append(el("h1", {}, t("search.title")));
  const field = (name, key, type) => el("label", {}, t(key), el("input", { name, id: "q-" + name, type: type || "text", value: params.get(name) || "" }));
  const status = el("select", { name: "status", id: "q-status" }, el("option", { value: "" }, t("search.any")),
    ...["ready", "acked", "dead", "receipted"].map((s) => el("option", { value: s }, t("state." + s))));
  status.value = params.get("status") || "";
  const form = el("form", { class: "filters", id: "search-form" },
    field("no", "search.no"), field("unit", "search.unit"), field("payee", "search.payee"),
    field("min_fen", "search.min", "number"), field("max_fen", "search.max", "number"),
    field("date", "search.date", "date"), el("label", {}, t("search.status"), status),
    el("button", { class: "act", type: "submit", id: "search-go" }, t("search.go")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form).entries()) if (v) q.set(k, v);
    location.hash = "#/search?" + q.toString();
  });
  page.append(form);
  const results = el("div", { class: "card", id: "search-results" });
  page.append(results);
  if ([...params.keys()].length === 0) return;
  const { status: code, body } = await api("/v1/search?" + params.toString());
  if (code !== 200) { results.append(el("p", { class: "error" }, (body && body.message) || t("error"))); return; }
  if (!body.items.length) { results.append(el("p", { class: "muted" }, t("search.empty"))); return; }
  results.append(table([["col.no"], ["col.vtcode"], ["col.unit"], ["col.payee"], ["col.amount", "num"], ["col.date"],
    ["col.sender"], ["col.recipient"], ["col.state"]], body.items.map(searchRow)));
  if (body.next !== null) {
    const more = new URLSearchParams(params); more.set("after", body.next);
    results.append(el("a", { href: "#/search?" + more.toString() }, t("search.more")));
  }
}

function searchRow(r) {
  return el("tr", { "data-seq": r.seq }, el("td", {}, voucherLink(r), r.flag ? " ↩" : ""), el("td", {}, r.vtcode),
    el("td", {}, r.unit_name || r.unit), el("td", {}, r.payee), el("td", { class: "num" }, yuan(r.amount_fen)),
    el("td", {}, r.date), el("td", {}, r.sender), el("td", {}, r.recipient), el("td", {}, pill(r.state)));
}

async function pageTrace(page, parts) {
  const key = parts.map(encodeURIComponent).join("/");
  page.append(el("h1", {}, t("trace.title"), " · ", parts.join("/")));
  const { status, body } = await api("/v1/trace/" + key);
  if (status !== 200) { page.append(el("p", { class: "error", id: "trace-missing" }, t("trace.missing"))); return; }
  const list = el("ol", { class: "trace", id: "trace" }, ...body.events.map((e) => el("li", {},
    el("strong", {}, e.step), " ", el("span", { class: "muted" }, e.business_time), " · ", e.participant,
    e.flag ? " (↩)" : "", el("div", { class: "muted" }, e.detail))));
  page.append(el("div", { class: "card" }, list));
  const decisions = await api("/v1/monitor/decisions?voucher=" + key);
  if (decisions.status === 200 && decisions.body.decisions.length) {
    page.append(el("div", { class: "card" }, el("h2", {}, t("risk.title")),
      table([["col.time"], ["col.rule"], ["col.grade"], ["col.state"], ["col.who"], ["col.reason"]],
        decisions.body.decisions.map((d) => el("tr", {}, el("td", {}, d.at), el("td", {}, `${d.rule_id} v${d.rule_version}`),
          el("td", {}, d.grade), el("td", {}, d.outcome), el("td", {}, d.who || ""), el("td", {}, d.reason || ""))))));
  }
}

async function pageRisk(page) {
  page.append(el("h1", {}, t("risk.title")));
  const held = await api("/v1/monitor/holds?status=held&limit=100");
  if (held.status === 404) { page.append(el("p", { class: "muted", id: "risk-disabled" }, t("risk.disabled"))); return; }
  if (held.status !== 200) { page.append(el("p", { class: "error" }, t("error"))); return; }
  const canDecide = me.role === "treasury";
  const rows = held.body.holds.map((h) => {
    const reason = el("input", { type: "text", class: "reason", placeholder: t("risk.reason") });
    const decide = async (verb) => {
      if (!reason.value.trim()) { alert(t("risk.need_reason")); return; }
      const r = await api(`/v1/monitor/holds/${encodeURIComponent(h.id)}/${verb}`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ reason: reason.value.trim() }) });
      if (r.status === 200) route(); else alert((r.body && r.body.message) || t("error"));
    };
    return el("tr", { "data-hold": h.id }, el("td", {}, voucherLink({ adm_div_code: h.voucher.adm, st_year: h.voucher.year,
      vtcode: h.voucher.vtcode, voucher_no: h.voucher.no })), el("td", {}, h.rule_id), el("td", {}, h.grade),
      el("td", { class: "num" }, yuan(h.amount_fen)), el("td", {}, h.payee), el("td", {}, h.sender), el("td", {}, h.held_at),
      el("td", {}, canDecide ? el("span", {}, reason, " ",
        el("button", { class: "act release", type: "button", onclick: () => decide("release") }, t("risk.release")), " ",
        el("button", { class: "act alt reject", type: "button", onclick: () => decide("reject") }, t("risk.reject"))) : ""));
  });
  page.append(el("div", { class: "card", id: "holds" }, el("h2", {}, t("risk.holds")),
    rows.length ? table([["col.voucher"], ["col.rule"], ["col.grade"], ["col.amount", "num"], ["col.payee"], ["col.sender"],
      ["col.held_at"], ["col.actions"]], rows) : el("p", { class: "muted" }, t("search.empty"))));
  const done = [];
  for (const s of ["released", "rejected"]) {
    const r = await api(`/v1/monitor/holds?status=${s}&limit=50`);
    if (r.status === 200) done.push(...r.body.holds);
  }
  page.append(el("div", { class: "card", id: "decided" }, el("h2", {}, t("risk.history")),
    table([["col.voucher"], ["col.rule"], ["col.state"], ["col.who"], ["col.reason"]], done.map((h) => el("tr", { "data-hold": h.id },
      el("td", {}, h.voucher.no), el("td", {}, h.rule_id), el("td", {}, el("span", { class: "pill " + h.status }, t("risk.status." + h.status))),
      el("td", {}, h.decided_by || ""), el("td", {}, h.reason || ""))))));
}

async function pageScorecard(page) {
  page.append(el("h1", {}, t("scorecard.title")));
  const { status, body } = await api("/v1/scorecard");
  if (status !== 200 || !body.available) { page.append(el("p", { class: "muted", id: "scorecard-none" }, t("scorecard.none"))); return; }
  page.append(el("p", { class: "muted" }, body.as_of || ""));
  const pct = (v) => (v === null || v === undefined ? "-" : Number(v).toFixed(1) + "%");
  page.append(el("div", { class: "card", id: "scorecard" }, table([["col.bank"], ["col.month"], ["col.score", "num"],
    ["scorecard.timeliness", "num"], ["scorecard.accuracy", "num"], ["scorecard.late", "num"], ["col.flags"]],
    body.cards.map((c) => el("tr", {}, el("td", {}, c.bank), el("td", {}, c.month),
      el("td", { class: "num" }, `${c.score} / ${c.max_points}`), el("td", { class: "num" }, pct(c.timeliness_pct)),
      el("td", { class: "num" }, pct(c.accuracy_pct)), el("td", { class: "num" }, c.late),
      el("td", {}, (c.flags || []).join("; ")))))));
}

async function pageDlq(page) {
  page.append(el("h1", {}, t("dlq.title")));
  const { status, body } = await api("/v1/dlq?limit=100");
  if (status === 404) { page.append(el("p", { class: "muted" }, t("dlq.forbidden"))); return; }
  if (status !== 200) { page.append(el("p", { class: "error" }, t("error"))); return; }
  if (!body.items.length) { page.append(el("p", { class: "muted", id: "dlq-empty" }, t("dlq.empty"))); return; }
  page.append(el("div", { class: "card", id: "dlq" }, table([["col.voucher"], ["col.recipient"], ["col.attempts", "num"], ["col.error"], ["col.actions"]],
    body.items.map((d) => el("tr", {}, el("td", {}, d.voucher), el("td", {}, d.recipient), el("td", { class: "num" }, d.attempts),
      el("td", {}, d.last_error || ""), el("td", {}, el("button", { class: "act replay", type: "button", onclick: async () => {
        const r = await api("/v1/dlq/replay", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ ids: [d.id] }) });
        if (r.status === 200) route(); else alert(t("error"));
      } }, t("dlq.replay"))))))));
}

// ------------------------------------------------------------------------------ shell, routing

async function route() {
  const page = $("#page");
  if (!me) return;
  page.replaceChildren();
  const hash = location.hash.replace(/^#\/?/, "") || "overview";
  const [path, query] = hash.split("?");
  const parts = path.split("/").map(decodeURIComponent);
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.getAttribute("href") === "#/" + parts[0]));
  page.dataset.page = parts[0];
  page.dataset.ready = "0";
  try {
    if (parts[0] === "search") await pageSearch(page, new URLSearchParams(query || ""));
    else if (parts[0] === "trace" && parts.length === 5) await pageTrace(page, parts.slice(1));
    else if (parts[0] === "risk") await pageRisk(page);
    else if (parts[0] === "scorecard") await pageScorecard(page);
    else if (parts[0] === "dlq") await pageDlq(page);
    else await pageOverview(page);
  } catch (e) {
    page.append(el("p", { class: "error" }, t("error")));
  }
  page.dataset.ready = "1";
}

function renderClock() {
  if (!clockView) return;
  $("#clock").textContent = clockView.now.replace("T", " ").slice(0, 19) + (clockView.simulated ? " (sim)" : "");
  const cut = $("#ov-cutoff");
  if (cut) cut.textContent = cutoffText(clockView);
}

async function live() {
  // Server-sent events over fetch (EventSource cannot send the Authorization header).
  if (liveAbort) liveAbort.abort();
  liveAbort = new AbortController();
  try {
    const resp = await fetch("/v1/events", { headers: { "Authorization": "Bearer " + sessionStorage.getItem(TOKEN_KEY) },
      signal: liveAbort.signal });
    if (resp.status !== 200) return;
    const reader = resp.body.getReader(); const dec = new TextDecoder(); let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut); buf = buf.slice(cut + 2);
        const ev = (block.match(/^event: (.*)$/m) || [])[1];
        const data = (block.match(/^data: (.*)$/m) || [])[1];
        if (!ev || !data) continue;
        onEvent(ev, JSON.parse(data));
      }
    }
  } catch (e) { /* aborted or the connection dropped: the page still works without live updates */ }
}

let liveCount = 0;
function onEvent(kind, data) {
  if (kind === "clock") { clockView = data; renderClock(); return; }
  if (kind === "voucher") {
    liveCount += 1;
    $("#who").dataset.live = String(liveCount);
    const page = $("#page");
    if (page.dataset.page === "overview" && page.dataset.ready === "1") {
      const c = $("#ov-count"); if (c) c.textContent = String(Number(c.textContent) + 1);
    }
  }
}

async function login(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  const { status, body } = await api("/v1/me");
  if (status !== 200) { sessionStorage.removeItem(TOKEN_KEY); return false; }
  me = body;
  $("#login").hidden = true; $("#page").hidden = false; $("#nav").hidden = false; $("#logout").hidden = false;
  $("#who").textContent = `${me.name} (${me.id}, ${me.role})`;
  $("#who").dataset.role = me.role;
  const clock = await api("/v1/clock");
  if (clock.status === 200) { clockView = clock.body; renderClock(); }
  live();
  await route();
  return true;
}

function logout() {
  sessionStorage.removeItem(TOKEN_KEY);
  me = null;
  if (liveAbort) liveAbort.abort();
  $("#login").hidden = false; $("#page").hidden = true; $("#nav").hidden = true; $("#logout").hidden = true;
  $("#who").textContent = "";
}

async function start() {
  const resp = await fetch("/ui/i18n.json");
  dict = await resp.json();
  applyI18n();
  $("#lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem(LANG_KEY, lang); applyI18n(); route(); });
  $("#logout").addEventListener("click", logout);
  $("#login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const ok = await login($("#token").value.trim());
    const err = $("#login-error");
    err.hidden = ok; err.textContent = ok ? "" : t("login.failed");
  });
  window.addEventListener("hashchange", route);
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) await login(saved);
  document.body.dataset.ready = "1";
}

start();
