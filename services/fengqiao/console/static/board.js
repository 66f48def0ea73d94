// The board, live: revisions of disputes arrive as Server-Sent Events (/live) and update
// the table in place. A row the user is acting on (focus inside it, or an action in
// flight) is not re-rendered until they are done; "暂停更新" holds every update until
// resumed. Figures and lists are reloaded (debounced) after changes.
(function () {
  "use strict";
  const board = document.getElementById("board");
  if (!board) return;
  const rows = document.getElementById("rows");
  const state = document.getElementById("live-state");
  const pauseButton = document.getElementById("pause");
  const sound = document.getElementById("sound");
  const filter = {
    street: board.dataset.street, community: board.dataset.community,
    category: board.dataset.category, route: board.dataset.route,
    colour: board.dataset.colour, overdue: board.dataset.overdue === "1",
  };
  let paused = false;
  const held = [];          // events received while paused, applied on resume
  const deferred = new Map(); // row id -> latest event, for rows being acted on
  let refreshTimer = null;
  let lastId = board.dataset.after;  // the last event received: the feed resumes after it

  sound.checked = localStorage.getItem("fq-sound") === "1";
  sound.addEventListener("change", () => localStorage.setItem("fq-sound", sound.checked ? "1" : "0"));

  function matches(d) {
    for (const key of ["street", "community", "category", "route", "colour"]) {
      if (filter[key] && d[key] !== filter[key]) return false;
    }
    return !filter.overdue || d.overdue;
  }

  function busy(row) {
    return row.contains(document.activeElement) || row.classList.contains("htmx-request")
      || row.querySelector(".htmx-request") !== null;
  }

  function beep() {
    board.dataset.beeps = String(Number(board.dataset.beeps || 0) + 1);
    try {
      const ctx = new AudioContext();
      const osc = ctx.createOscillator();
      osc.frequency.value = 880;
      osc.connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.3);
    } catch (e) { /* no audio device: nothing to play on */ }
  }

  function fragment(html) {
    const t = document.createElement("tbody");
    t.innerHTML = html.trim();
    return t.firstElementChild;
  }

  function apply(d) {
    const existing = document.getElementById("row-" + d.id);
    scheduleRefresh();  // figures and lists are not what the user is acting on
    if (existing && busy(existing)) {
      deferred.set(d.id, d);
      return;
    }
    const wasUrgent = existing ? existing.dataset.urgent === "1" : false;
    if (d.urgent && !wasUrgent && sound.checked) beep();
    if (existing) {
      const row = fragment(d.html);
      if (!matches(d)) row.classList.add("left-view");  // stays, dimmed: no row vanishes under the user
      existing.replaceWith(row);
      row.classList.add("changed");
      htmx.process(row);
    } else if (matches(d)) {
      const row = fragment(d.html);
      row.classList.add("new");
      rows.prepend(row);
      htmx.process(row);
    }
  }

  // The figures and lists, reloaded after changes (at most every 1.5 s), and every minute
  // for what the clock alone makes overdue. The console answers pages showing the same
  // filter from one computation that includes the last event this page saw.
  function scheduleRefresh() {
    if (refreshTimer !== null) return;
    refreshTimer = setTimeout(async () => {
      refreshTimer = null;
      const summary = document.getElementById("summary");
      if (summary.contains(document.activeElement)) { scheduleRefresh(); return; }
      const query = board.dataset.query ? board.dataset.query + "&" : "";
      try {
        const answer = await fetch("/board/summary?" + query + "seen=" + lastId);
        if (!answer.ok) return;
        summary.innerHTML = await answer.text();
        htmx.process(summary);
      } catch (e) { /* the console is away: the next event or minute tries again */ }
    }, 1500);
  }
  setInterval(scheduleRefresh, 60000);

  document.addEventListener("focusout", () => {
    setTimeout(() => {
      for (const [id, d] of Array.from(deferred)) {
        const row = document.getElementById("row-" + id);
        if (!row || !busy(row)) { deferred.delete(id); apply(d); }
      }
    }, 0);
  });

  pauseButton.addEventListener("click", () => {
    paused = !paused;
    pauseButton.setAttribute("aria-pressed", String(paused));
    pauseButton.textContent = paused ? "继续更新" : "暂停更新";
    if (!paused) {
      while (held.length) apply(held.shift());
    }
    showState();
  });

  function showState(text) {
    state.textContent = text || (paused ? `已暂停（${held.length} 条新动态待显示）` : "实时更新中");
    state.dataset.state = paused ? "paused" : "live";
  }

  // EventSource reconnects by itself after a dropped connection (sending Last-Event-ID);
  // after an error answer (the console could not reach the bus) it gives up, so open a
  // new one, after the last event seen.
  function connect() {
    const params = new URLSearchParams();
    if (filter.street) params.set("street", filter.street);
    if (filter.community) params.set("community", filter.community);
    params.set("after", lastId);
    const source = new EventSource("/live?" + params.toString());
    source.addEventListener("open", () => showState());
    source.addEventListener("error", () => {
      showState("连接中断，正在重连…");
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
    });
    source.addEventListener("dispute", (e) => {
      lastId = e.lastEventId || lastId;
      const d = JSON.parse(e.data);
      if (paused) { held.push(d); showState(); return; }
      apply(d);
    });
    source.addEventListener("bus", (e) => {
      const bus = JSON.parse(e.data);
      showState(bus.connected ? undefined : "消息总线中断，等待恢复…");
      if (bus.connected) scheduleRefresh();
    });
    source.addEventListener("reset", (e) => {
      lastId = e.lastEventId || lastId;
      scheduleRefresh();
    });
  }
  connect();
})();
