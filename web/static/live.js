// What the pages share: building elements, the session's CSRF token, and the live events
// websocket that reconnects and resumes from its last sequence number (so no fact is missed or
// seen twice across a lost connection). Loaded before each page's own script.
"use strict";
const hotline = (() => {
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    node.append(...children);
    return node;
  }

  async function csrf() {
    return (await (await fetch("/api/session")).json()).csrf;
  }

  // onMessage gets every snapshot, "resumed" and event message; #offline shows while the socket is down
  function live(onMessage) {
    let stream = "";
    let seq = 0;
    const offline = document.getElementById("offline");
    const connect = () => {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      const resume = stream ? `?stream=${encodeURIComponent(stream)}&since=${seq}` : "";
      const socket = new WebSocket(`${scheme}${location.host}/api/events${resume}`);
      socket.onopen = () => { offline.hidden = true; };
      socket.onmessage = (message) => {
        const m = JSON.parse(message.data);
        if (m.type === "snapshot") stream = m.stream;
        if (m.seq !== undefined) seq = m.seq;
        onMessage(m);
      };
      socket.onclose = () => { offline.hidden = false; setTimeout(connect, 1000); };
    };
    connect();
  }

  return { el, csrf, live };
})();
