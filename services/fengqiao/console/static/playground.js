// The policy playground: the YAML editor checked as you type (debounced; one check in
// flight at a time, a result for text that has changed since is dropped), and the tools
// that post the editor's text: run the cases, explain a dispute, replay history, publish,
// roll back. The server answers each tool with an HTML fragment (escaped by its
// templates), or a plain-text refusal (sign-in, role, CSRF) shown as text.
(function () {
  "use strict";
  const root = document.getElementById("playground");
  if (!root) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const state = document.getElementById("check-state");
  const problemList = document.getElementById("problems");
  const notesBox = document.getElementById("notes");
  const CHECK_DELAY_MS = 400;

  const editor = fengqiaoEditor.create(
    document.getElementById("editor"),
    JSON.parse(document.getElementById("active-text").textContent),
    { onChange: scheduleCheck },
  );

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    return { status: response.status, type: response.headers.get("content-type") || "",
             text: await response.text() };
  }

  // A tool's answer into its box: HTML fragments as they are, anything else as text.
  function show(box, answer) {
    box.dataset.status = String(answer.status);
    if (answer.type.startsWith("text/html")) {
      box.innerHTML = answer.text;
    } else {
      const p = document.createElement("p");
      p.className = "error";
      p.setAttribute("role", "alert");
      p.textContent = answer.text;
      box.replaceChildren(p);
    }
  }

  async function run(box, button, url, body) {
    box.setAttribute("aria-busy", "true");
    if (button) button.disabled = true;
    try {
      show(box, await post(url, body));
    } catch (e) {
      show(box, { status: 0, type: "text/plain", text: "连接失败，请稍后重试（" + e + "）" });
    } finally {
      box.removeAttribute("aria-busy");
      if (button) button.disabled = false;
    }
  }

  // -- check as you type ---------------------------------------------------------------
  let timer = null;
  let checking = false;
  let again = false;

  function scheduleCheck() {
    clearTimeout(timer);
    state.dataset.state = "pending";
    state.textContent = "正在检查…";
    timer = setTimeout(check, CHECK_DELAY_MS);
  }

  function goTo(line) {
    const view = editor.view;
    const number = Math.min(Math.max(line, 1), view.state.doc.lines);
    view.dispatch({ selection: { anchor: view.state.doc.line(number).from }, scrollIntoView: true });
    view.focus();
  }

  function showProblems(result) {
    editor.setProblems(result.problems);
    problemList.replaceChildren(...result.problems.map((p) => {
      const li = document.createElement("li");
      li.className = p.severity;
      li.dataset.line = String(p.line);
      const at = document.createElement("button");
      at.type = "button";
      at.className = "at";
      at.dataset.goto = String(p.line);
      at.textContent = p.column ? `第 ${p.line} 行第 ${p.column} 列` : `第 ${p.line} 行`;
      const kind = document.createElement("strong");
      kind.textContent = p.severity === "error" ? "错误" : "警告";
      const detail = document.createElement("small");
      detail.textContent = p.detail;
      li.append(at, kind, "：" + p.message, detail);
      return li;
    }));
    notesBox.replaceChildren(...result.notes.map((n) => {
      const p = document.createElement("p");
      p.className = "hint";
      p.textContent = n;
      return p;
    }));
    const errors = result.problems.some((p) => p.severity === "error");
    state.dataset.state = result.ok ? "ok" : errors ? "error" : "warning";
    state.textContent = result.summary;
  }

  async function check() {
    if (checking) { again = true; return; }
    checking = true;
    const text = editor.getText();
    try {
      const answer = await post("/playground/check", { text });
      if (editor.getText() !== text) return;  // typed since: another check is scheduled
      if (answer.status === 200) showProblems(JSON.parse(answer.text));
      else { state.dataset.state = "error"; state.textContent = answer.text; }
    } catch (e) {
      state.dataset.state = "error";
      state.textContent = "检查失败：" + e;
    } finally {
      checking = false;
      if (again) { again = false; check(); }
    }
  }

  // -- the version in force: reset, diff -------------------------------------------------
  async function activeVersion() {
    const response = await fetch("/playground/active", { credentials: "same-origin" });
    return response.json();
  }

  document.getElementById("reset").addEventListener("click", async () => {
    const active = await activeVersion();
    editor.setText(active.text);
    scheduleCheck();
  });

  const diff = document.getElementById("diff");
  const diffButton = document.getElementById("show-diff");
  diffButton.addEventListener("click", async () => {
    const open = diff.hidden;
    diffButton.setAttribute("aria-pressed", String(open));
    diffButton.textContent = open ? "关闭对比" : "与现行版本对比";
    if (!open) { diff.hidden = true; return; }
    const active = await activeVersion();
    const view = document.getElementById("diff-view");
    view.replaceChildren();
    diff.hidden = false;
    const merged = fengqiaoEditor.merge(view, active.text, editor.getText());
    const chunks = merged.chunks || [];
    document.getElementById("diff-count").textContent =
      chunks.length ? `　共 ${chunks.length} 处改动` : "　草案与现行版本相同";
    if (chunks.length) {
      // Straight to the first change: unchanged lines are shown in full.
      const b = merged.b;
      b.dispatch({ effects: b.constructor.scrollIntoView(chunks[0].fromB, { y: "start" }) });
    }
  });

  // A line named in a result ("第 12 行") takes the editor there.
  root.addEventListener("click", (e) => {
    const at = e.target.closest("[data-goto]");
    if (at) goTo(Number(at.dataset.goto));
  });

  // -- the tools -------------------------------------------------------------------------
  function fields(form) {
    const out = {};
    for (const [name, value] of new FormData(form).entries()) out[name] = String(value);
    return out;
  }

  document.getElementById("run-tests").addEventListener("click", (e) => {
    run(document.getElementById("tests-result"), e.currentTarget, "/playground/test",
        { text: editor.getText() });
  });

  function onSubmit(id, url, box, after) {
    const form = document.getElementById(id);
    if (!form) return;
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const target = document.getElementById(box);
      await run(target, form.querySelector("button[type=submit]"), url,
                { ...fields(form), text: editor.getText() });
      if (after) after(target);
    });
  }

  // After a publish or a rollback: the versions list and the header's version in force.
  async function refreshVersions() {
    const response = await fetch("/playground/versions", { credentials: "same-origin" });
    if (response.ok) document.getElementById("versions").outerHTML = await response.text();
    const active = await activeVersion();
    const note = document.getElementById("in-force");
    const code = document.createElement("code");
    code.textContent = active.version.slice(0, 12) || "—";
    note.replaceChildren("现行版本 ", code, `（${active.label || active.where}）`);
    note.title = "读自：" + active.where;
  }

  onSubmit("explain-form", "/playground/explain", "explain-result");
  onSubmit("replay-form", "/playground/replay", "replay-result");
  onSubmit("publish-form", "/playground/publish", "publish-result", (box) => {
    if (box.dataset.status === "200") refreshVersions();
  });

  document.getElementById("tool-versions").addEventListener("submit", async (e) => {
    const form = e.target.closest("form.rollback");
    if (!form) return;
    e.preventDefault();
    const box = document.getElementById("rollback-result");
    await run(box, form.querySelector("button"), "/playground/rollback",
              { version: form.dataset.version, comment: fields(form).comment || "" });
    if (box.dataset.status === "200") refreshVersions();
  });

  check();
})();
