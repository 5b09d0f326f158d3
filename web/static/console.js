// The supervisor's console (issue 18): every agent with their state and time in it (a ringing
// agent, one paused for not answering and an unreachable phone stand out), every live call,
// listen/whisper/barge (the supervisor's phone rings), forced pause or logout with a reason,
// callbacks due, the do-not-call list, alerts. Live: the websocket's facts make it read the
// agents and calls again (at most every 300 ms); the lists are read again every 10 s.
"use strict";
const setup = JSON.parse(document.getElementById("setup").textContent);
const T = setup.text;
let csrf = "";
let agents = [];

const el = hotline.el;

function say(text, alert = false) {
  const note = document.getElementById("note");
  note.setAttribute("role", alert ? "alert" : "status");
  note.className = alert ? "error" : "note";
  note.textContent = text;
}

async function get(path) {
  const answer = await fetch(path);
  return answer.ok ? answer.json() : null;
}

async function post(path, body) {
  const answer = await fetch(path, { method: "POST", body: JSON.stringify(body),
                                     headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf } });
  const data = await answer.json().catch(() => null);
  if (!answer.ok) say(T["desk.error"].replace("{e}", (data && data.error) || answer.status), true);
  return answer.ok ? data : null;
}

function since(epoch) {
  const s = Math.max(0, Math.round(Date.now() / 1000 - epoch));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function table(headers, rows) {
  if (!rows.length) return el("p", { text: T["console.none"] });
  return el("table", { class: "console" },
            el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { text: h })))),
            el("tbody", {}, ...rows));
}

function renderAgents() {
  const rows = agents.map((a) => {
    const reason = a.state === "paused" && a.reason ? ` · ${T[`reason.${a.reason}`] || a.reason}` : "";
    const flagged = a.state === "offered" || a.reason === "auto_no_answer" || !a.reachable;
    const monitor = (mode) => el("button", { type: "button", "data-mode": mode, text: T[`console.${mode}`],
      onclick: async () => {
        if (await post("/api/monitor", { agent: a.agent_id, mode })) {
          say(T["console.started"].replace("{mode}", T[`console.${mode}`]).replace("{agent}", a.name));
        }
      } });
    const force = (op) => el("button", { type: "button", "data-force": op, text: T[`console.force_${op}`],
      onclick: async () => {
        const reason = (row.querySelector("input.why").value || "").trim();
        if (!reason) { say(T["console.why"], true); return; }
        if (await post(`/api/supervision/agents/${a.agent_id}/force`, { op, reason })) refreshSoon();
      } });
    const row = el("tr", { "data-agent": a.agent_id, class: flagged ? "flag" : "" },
      el("td", { text: `${a.name} (${a.agent_id})` }),
      el("td", { class: "state", text: T[`state.${a.state}`] + reason }),
      el("td", { class: "for", "data-since": a.since, text: since(a.since) }),
      el("td", { class: "phone", text: a.reachable ? (a.line || "") : T["console.unreachable"] }),
      el("td", {}, ...(a.call_id ? ["listen", "whisper", "barge"].map(monitor) : [])),
      el("td", {}, el("input", { class: "why", "aria-label": `${T["console.why"]} ${a.agent_id}`, maxlength: "200" }),
         ...(a.state !== "logged_out" ? ["pause", "logout"].map(force) : [])));
    return row;
  });
  document.getElementById("agents").replaceChildren(table(
    [T["console.agent"], T["console.state"], T["console.for"], T["console.phone"], "", ""], rows));
  const alerts = agents.filter((a) => a.poor_quality).map((a) =>
    el("li", { text: T["console.poor"].replace("{agent}", a.name).replace("{why}", a.poor_quality) }));
  return alerts;
}

async function refresh() {
  const [seen, calls] = await Promise.all([get("/api/agents"), get("/api/calls")]);
  if (seen) agents = seen;
  const alerts = renderAgents();
  if (calls) {
    document.getElementById("calls").replaceChildren(table(
      [T["console.caller"], T["console.dialed"], T["console.state"], T["console.since"]],
      calls.map((c) => el("tr", { "data-call": c.linkedid }, el("td", { text: c.caller }), el("td", { text: c.dialed }),
                          el("td", { text: c.state }), el("td", { text: since(Date.parse(c.arrived_at) / 1000) })))));
  }
  const blocks = (await get("/api/supervision/blocks")) || [];
  alerts.push(...blocks.map((b) => el("li", { text: T["console.blocked"].replace("{a}", b.address) })));
  document.getElementById("alerts").replaceChildren(alerts.length ? el("ul", {}, ...alerts)
                                                                  : el("p", { text: T["console.none"] }));
}

async function refreshLists() {
  const [due, blocked] = await Promise.all([get("/api/callbacks"), get("/api/callbacks/do-not-call")]);
  if (due) {
    document.getElementById("callbacks").replaceChildren(table([T["console.caller"], T["console.since"]],
      due.map((e) => el("tr", {}, el("td", { text: e.number }), el("td", { text: new Date(e.due_at * 1000).toLocaleTimeString() })))));
  }
  if (blocked) {
    document.getElementById("do-not-call").replaceChildren(table([T["console.caller"]],
      blocked.map((e) => el("tr", {}, el("td", { text: e.number })))));
  }
}

let timer = null;
function refreshSoon() {
  if (timer === null) timer = setTimeout(() => { timer = null; refresh(); }, 300);
}

setInterval(() => {
  for (const cell of document.querySelectorAll("td.for")) cell.textContent = since(Number(cell.dataset.since));
}, 1000);
setInterval(refreshLists, 10000);

(async () => {
  csrf = await hotline.csrf();
  await refresh();
  refreshLists();
  hotline.live((m) => {  // a snapshot or a resume after a lost socket: read everything again
    if (m.type !== "event" || m.kind.startsWith("agent.") || m.kind.startsWith("call.")) refreshSoon();
  });
})();
