// The hall wallboard (issue 18): each desk's figures live over the websocket, no reloads.
// The snapshot on connect carries every desk's figures; desk.figures events update who waits
// and the agents by state; a call's events make it fetch today's counts again (at most every
// 300 ms); the hourly chart is fetched at start, on each ended call (at most every 5 s) and
// every minute. A lost socket reconnects and resumes from its last sequence number.
"use strict";
const setup = JSON.parse(document.getElementById("setup").textContent);
const T = setup.text;
const HOTLINE = "all";
const STATES = ["ready", "on_call", "offered", "wrap_up", "paused"];
let desks = {};
let dueCallbacks = null;

function later(action, ms) {
  let timer = null;
  return () => { if (timer === null) timer = setTimeout(() => { timer = null; action(); }, ms); };
}

function cell(row, value, className) {
  const td = row.insertCell();
  td.textContent = value;
  if (className) td.className = className;
  return td;
}

function pct(value) { return value === null || value === undefined ? "—" : `${value}%`; }

function wait(seconds) {
  const s = Math.round(seconds || 0);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function render() {
  const table = document.getElementById("desks");
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  for (const key of ["wall.desk", "wall.waiting", "wall.longest", "wall.agents", "wall.in_target",
                     "wall.answer_rate", "wall.abandoned"]) {
    const th = document.createElement("th");
    th.textContent = T[key];
    head.appendChild(th);
  }
  const body = table.createTBody();
  const names = Object.keys(desks).filter((d) => d !== HOTLINE).sort();
  if (desks[HOTLINE]) names.push(HOTLINE);
  for (const name of names) {
    const f = desks[name];
    const row = body.insertRow();
    row.dataset.desk = name;
    const missed = (f.service_level_pct !== null && f.service_level_pct !== undefined
                    && f.service_level_pct < setup.target_pct);
    row.className = missed ? "miss" : "";
    cell(row, name === HOTLINE ? T["wall.all"] : (setup.desks[name] || name), "name");
    cell(row, f.waiting ?? "—", "waiting");
    cell(row, f.longest_wait === null || f.longest_wait === undefined ? "—" : wait(f.longest_wait), "longest");
    cell(row, f.agents ? STATES.map((s) => f.agents[s] || 0).join(" / ") : "—", "agents");
    cell(row, f.answered_in_target ?? 0, "in-target");
    cell(row, pct(f.answer_rate_pct), "answer-rate");
    cell(row, f.lost ?? 0, "lost");
  }
  const done = desks[HOTLINE] && desks[HOTLINE].callbacks ? desks[HOTLINE].callbacks.dialed : 0;
  document.getElementById("callbacks").textContent =
    T["wall.callbacks"].replace("{due}", dueCallbacks ?? "—").replace("{done}", done);
}

async function refreshCounts() {
  const [today, callbacks] = await Promise.all([fetch("/api/desks"), fetch("/api/callbacks/figures")]);
  if (today.ok) {
    const fresh = await today.json();
    for (const [name, figures] of Object.entries(fresh)) desks[name] = { ...(desks[name] || {}), ...figures };
  }
  if (callbacks.ok) dueCallbacks = (await callbacks.json()).due;
  render();
}

const SVG = "http://www.w3.org/2000/svg";
async function refreshHourly() {
  const answer = await fetch("/api/figures/hourly");
  if (!answer.ok) return;
  const volume = await answer.json();
  const width = 960, height = 240, top = 10, bottom = 24, slot = width / 24;
  const most = Math.max(1, ...volume.offered, ...volume.offered_compared);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", T["wall.hourly"]);
  const bar = (hour, value, offset, className) => {
    const h = (height - top - bottom) * value / most;
    const rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("x", hour * slot + offset);
    rect.setAttribute("y", height - bottom - h);
    rect.setAttribute("width", slot / 2 - 3);
    rect.setAttribute("height", h);
    rect.setAttribute("class", className);
    const title = document.createElementNS(SVG, "title");
    title.textContent = `${hour}:00 ${className === "today" ? T["wall.today"] : T["wall.last_week"]} ${value}`;
    rect.appendChild(title);
    svg.appendChild(rect);
  };
  for (let hour = 0; hour < 24; hour++) {
    bar(hour, volume.offered_compared[hour], 2, "last-week");
    bar(hour, volume.offered[hour], slot / 2, "today");
    if (hour % 3 === 0) {
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", hour * slot + 2);
      label.setAttribute("y", height - 6);
      label.textContent = `${hour}:00`;
      svg.appendChild(label);
    }
  }
  const chart = document.getElementById("hourly");
  chart.replaceChildren(svg);
  chart.dataset.today = volume.offered.reduce((a, b) => a + b, 0);
}

const countsSoon = later(refreshCounts, 300);
const hourlySoon = later(refreshHourly, 5000);

function onMessage(m) {
  if (m.type === "snapshot") {
    desks = m.desks || {};
    render();
    countsSoon();
  } else if (m.type === "resumed") {
    countsSoon();
  } else if (m.kind === "desk.figures") {
    desks[m.data.desk] = { ...(desks[m.data.desk] || {}), ...m.data };
    render();
  } else if (m.kind.startsWith("call.")) {
    countsSoon();
    if (m.kind === "call.ended" || m.kind === "call.arrived") hourlySoon();
  }
}

render();
refreshHourly();
setInterval(refreshHourly, 60000);
hotline.live(onMessage);
