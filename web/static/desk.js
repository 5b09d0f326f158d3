// The agent's desk (issue 18): the seat's state and its buttons, the screen pop when a call is
// answered (the caller masked, their open orders, the desk, the wait), the work order saved
// against the call (直办 or 转办), the three-way with the emergency lines. Live over the
// websocket: the agent's own socket carries only their seat and their calls.
"use strict";
const setup = JSON.parse(document.getElementById("setup").textContent);
const T = setup.text;
const ME = setup.agent;
const REASONS = ["break", "meal", "training", "meeting", "after_call_work"];
const EMERGENCY = ["110", "119", "120", "122"];
let csrf = "";
let seat = { state: "logged_out", reason: "", since: 0 };
let wrapUpUntil = 0;
let catalog = null;
let popped = "";
let deskOfCall = "";

const el = hotline.el;

function masked(number) {
  return number && number.length > 4 ? "*".repeat(number.length - 4) + number.slice(-4) : (number || "");
}

function say(text, kind = "status") {
  const note = document.getElementById("note") || el("p", { id: "note" });
  note.setAttribute("role", kind);
  note.className = kind === "alert" ? "error" : "note";
  note.textContent = text;
  document.getElementById("seat").after(note);
}

async function api(method, path, body, headers = {}) {
  const answer = await fetch(path, {
    method, headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = answer.headers.get("Content-Type")?.includes("json") ? await answer.json() : null;
  if (!answer.ok) {
    say(T["desk.error"].replace("{e}", (data && data.error) || answer.status), "alert");
    throw new Error(String(answer.status));
  }
  return { data, etag: answer.headers.get("ETag") };
}

const seatOp = (op, reason) => api("POST", `/api/agents/${ME}/${op}`, reason ? { reason } : {});

function renderSeat() {
  const box = document.getElementById("seat");
  const state = el("strong", { id: "state", "data-state": seat.state,
                               text: T[`state.${seat.state}`] + (seat.reason && seat.state === "paused"
                                 ? ` · ${T[`reason.${seat.reason}`] || seat.reason}` : "") });
  const reason = el("select", { id: "reason", "aria-label": T["desk.reason"] },
                    ...REASONS.map((r) => el("option", { value: r, text: T[`reason.${r}`] })));
  const controls = seat.state === "logged_out"
    ? [el("button", { id: "login", text: T["desk.login"], onclick: () => seatOp("login") })]
    : [el("button", { id: "ready", text: T["desk.ready"], onclick: () => seatOp("ready") }), reason,
       el("button", { id: "pause", text: T["desk.pause"], onclick: () => seatOp("pause", reason.value) }),
       el("button", { id: "logout", text: T["desk.logout"], onclick: () => seatOp("logout") })];
  const countdown = el("span", { id: "wrap-up" });
  box.replaceChildren(el("p", {}, `${T["desk.state"]}: `, state, " ", countdown), el("p", {}, ...controls));
  tick();
}

function tick() {
  const countdown = document.getElementById("wrap-up");
  if (!countdown) return;
  const left = Math.ceil(wrapUpUntil - Date.now() / 1000);
  countdown.textContent = seat.state === "wrap_up" && left > 0 ? T["desk.wrap_up_left"].replace("{s}", left) : "";
}
setInterval(tick, 1000);

async function pop() {
  const { data } = await api("GET", `/api/agents/${ME}/call`);
  const call = data && data.call;
  if (!call || popped === call.linkedid) return;
  popped = call.linkedid;
  deskOfCall = call.desk;
  catalog = catalog || (await api("GET", "/api/catalog")).data;
  const waited = Math.round(Number(call.waited ?? (Date.now() / 1000 - Date.parse(call.arrived_at) / 1000)));
  const earlier = call.open_orders.length
    ? el("ul", { id: "earlier" }, ...call.open_orders.map((o) => el("li", { text: `${o.number} ${o.category_name || o.category} · ${o.state}` })))
    : el("p", { id: "earlier", text: T["desk.none"] });
  const category = el("select", { id: "category", name: "category", required: "" },
                      ...catalog.categories.map((c) => el("option", { value: c.code, text: c.name })));
  const department = el("select", { id: "department", name: "department" },
                        ...catalog.departments.map((d) => el("option", { value: d.code, text: d.name })));
  const content = el("textarea", { id: "content", name: "content", rows: "4", required: "", maxlength: "4000" });
  const direct = el("input", { type: "radio", name: "how", value: "answer_directly", checked: "" });
  const dispatch = el("input", { type: "radio", name: "how", value: "dispatch" });
  const form = el("form", { id: "order", onsubmit: (e) => { e.preventDefault(); save(call, form); } },
    el("h3", { text: T["desk.order"] }),
    el("label", {}, T["desk.category"], category),
    el("label", {}, T["desk.content"], content),
    el("label", {}, direct, T["desk.direct"]), el("label", {}, dispatch, T["desk.dispatch"]),
    el("label", {}, T["desk.department"], department),
    el("button", { type: "submit", id: "save", text: T["desk.save"] }));
  const threeway = el("p", { id: "threeway" }, `${T["desk.threeway"]}: `,
    ...EMERGENCY.map((n) => el("button", { type: "button", "data-target": n, text: n,
      onclick: () => api("POST", `/api/agents/${ME}/threeway`, { kind: "emergency", target: n }) })),
    ...catalog.departments.filter((d) => d.three_way).map((d) => el("button", {
      type: "button", "data-target": d.code, text: d.name,
      onclick: () => api("POST", `/api/agents/${ME}/threeway`, { kind: "department", target: d.code, private: true }) })));
  const steps = el("p", { id: "steps" }, ...["join", "complete", "leave", "cancel"].map((step) => el("button", {
    type: "button", "data-step": step, text: T[`desk.step.${step}`],
    onclick: () => api("POST", `/api/agents/${ME}/handover/${step}`, {}) })));
  const transfer = el("p", { id: "transfer" }, `${T["desk.transfer"]}: `,
    ...Object.entries(setup.desks).filter(([name]) => name !== call.desk).map(([name, label]) => el("button", {
      type: "button", "data-desk": name, text: label,
      onclick: () => api("POST", `/api/agents/${ME}/transfer`, { kind: "desk", target: name, warm: false }) })));
  const losses = call.callback_losses.length ? [el("h3", { text: T["desk.callback"] }), el("ul", { id: "losses" },
    ...call.callback_losses.map((l) => el("li", { text: `${new Date(l.at * 1000).toLocaleString()} · ${T["desk.waited"]} ${Math.round(l.waited)} s · ${T[`loss.${l.reason}`] || l.reason}` })))] : [];
  document.getElementById("pop").replaceChildren(
    el("dl", { id: "caller" },
       el("dt", { text: T["desk.caller"] }), el("dd", { id: "number", text: masked(call.caller_number) }),
       el("dt", { text: T["desk.desk"] }), el("dd", { text: setup.desks[call.desk] || call.desk }),
       el("dt", { text: T["desk.waited"] }), el("dd", { id: "waited", text: `${waited} s` })),
    ...losses, el("h3", { text: T["desk.earlier"] }), earlier, threeway, steps, transfer, form);
  content.focus();
}

async function save(call, form) {
  const values = new FormData(form);
  const created = await api("POST", "/api/orders", {
    caller_number: call.caller_number, category: values.get("category"), content: values.get("content"),
    linkedid: call.linkedid });
  const number = created.data.number;
  const how = values.get("how");
  await api("POST", `/api/orders/${number}/${how}`, how === "dispatch" ? { department: values.get("department") } : {});
  say(T["desk.saved"].replace("{n}", number));
  form.querySelector("#save").disabled = true;
}

function onEvent(m) {
  if (m.kind === "agent.state" && m.agent === ME) {
    seat = { state: m.data.state, reason: m.data.reason, since: m.data.since };
    if (m.data.state === "on_call") pop();  // an answered call, or a callback (no call.answered for it)
    if (m.data.state === "wrap_up") wrapUpUntil = Number(m.data.since) + Number(setup.wrap_up[deskOfCall] || 0);
    renderSeat();
  } else if (m.kind === "call.answered" && m.agent === ME) {
    pop();
  } else if (m.kind === "call.handover" && m.agent === ME) {
    const box = document.getElementById("threeway");
    if (box) box.dataset.stage = m.data.stage;
    say(T["desk.handover"].replace("{stage}", `${m.data.target} ${m.data.stage}`));
  }
}

function onMessage(m) {
  if (m.type === "snapshot") {
    const mine = (m.agents || []).find((a) => a.agent_id === ME);
    if (mine) {
      seat = { state: mine.state, reason: mine.reason, since: mine.since };
      if (mine.call_id && mine.state === "on_call") pop();
    }
    renderSeat();
  } else if (m.type === "event") {
    onEvent(m);
  }
}

document.addEventListener("keydown", (e) => {
  if (e.key === "F2") { e.preventDefault(); seatOp("ready"); }
  else if (e.key === "F3") { e.preventDefault(); seatOp("pause", document.getElementById("reason")?.value || "break"); }
  else if (e.key === "F9" && document.getElementById("threeway")) {
    e.preventDefault(); api("POST", `/api/agents/${ME}/threeway`, { kind: "emergency", target: "110" });
  } else if (e.key === "s" && e.ctrlKey && document.getElementById("order")) {
    e.preventDefault(); document.getElementById("order").requestSubmit();
  }
});

(async () => {
  csrf = await hotline.csrf();
  renderSeat();
  hotline.live(onMessage);
})();
