// The recordings page: a day's calls from /api/recordings (an agent's own; any agent's for
// supervisors and quality inspectors), each played in the one player (the browser asks the API
// for byte ranges as it buffers and seeks) or downloaded. Every play is in the access log.
"use strict";
(() => {
  const { el } = hotline;
  const setup = JSON.parse(document.getElementById("setup").textContent);
  const T = setup.text;
  const form = document.getElementById("find");
  const table = document.getElementById("recordings");
  const note = document.getElementById("note");
  const player = document.getElementById("player");
  const when = new Intl.DateTimeFormat(document.documentElement.lang, { timeZone: setup.zone, dateStyle: "short", timeStyle: "medium" });
  const today = new Intl.DateTimeFormat("en-CA", { timeZone: setup.zone }).format(new Date());  // YYYY-MM-DD in the city
  form.elements.day.value = today;

  function row(r) {
    const actions = r.audio ? [
      el("button", { type: "button", class: "play", "data-linkedid": r.linkedid, text: T["rec.play"],
                     onclick: () => { player.src = r.audio; player.play().catch(() => {}); } }),
      " ",
      el("a", { href: `${r.audio}?download=true`, text: T["rec.download"] }),
    ] : [];
    const loud = r.loudness === null ? "" : `${r.loudness.toFixed(1)} dBFS${r.silent ? ` · ${T["rec.silent"]}` : ""}`;
    return el("tr", { "data-linkedid": r.linkedid, class: r.silent ? "alarm" : "" },
      el("td", { text: when.format(new Date(r.ended_at)) }),
      el("td", { text: r.agent }),
      el("td", { text: r.duration === null ? "" : `${Math.round(r.duration)} s` }),
      el("td", { text: loud }),
      el("td", { text: T[`rec.state.${r.state}`] || r.state }),
      el("td", {}, ...actions));
  }

  async function show() {
    const query = new URLSearchParams({ day: form.elements.day.value, limit: "500" });
    if (form.elements.agent && form.elements.agent.value) query.set("agent", form.elements.agent.value);
    const response = await fetch(`/api/recordings?${query}`);
    if (!response.ok) {
      note.textContent = `${T["desk.error"]}: ${(await response.json()).error}`;
      return;
    }
    const found = await response.json();
    note.textContent = found.length ? "" : T["rec.none"];
    table.replaceChildren(
      el("tr", {}, ...["rec.ended", "rec.agent", "rec.duration", "rec.loudness", "rec.state", "rec.play"]
        .map((k) => el("th", { text: T[k] }))),
      ...found.map(row));
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); show(); });
  show();
})();
