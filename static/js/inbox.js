// The agent inbox: live updates over /ws/agent/, collision detection, composer
// helpers (canned responses, drafts), keyboard shortcuts. Plain ES module, no build.

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const csrf = () => ($("[name=csrfmiddlewaretoken]") || {}).value || "";

const convPage = $("[data-conversation-page]");
const listPane = $("[data-list]");
const conversationId = convPage ? Number(convPage.dataset.conversationPage) : null;
const me = convPage ? Number(convPage.dataset.agent) : null;

// --- toasts and the bell -------------------------------------------------------------
function toast(text) {
  const box = $("[data-toasts]");
  if (!box) return;
  const el = document.createElement("div");
  el.className = "toast";
  el.textContent = text;
  box.appendChild(el);
  setTimeout(() => el.remove(), 5000);
}

async function refreshBell() {
  const count = $("[data-bell-count]");
  if (!count) return;
  try {
    const r = await fetch("/inbox/notifications/?format=json", { credentials: "same-origin" });
    if (!r.ok) return;
    const data = await r.json();
    count.textContent = String(data.unread);
    count.hidden = !data.unread;
  } catch (_) { /* offline: try again on the next event */ }
}

function browserNotify(title, body) {
  if (!("Notification" in window) || document.hasFocus()) return;
  if (Notification.permission === "granted") new Notification(title, { body });
}

// --- the socket, with reconnect and catch-up --------------------------------------------
let socket = null;
let retryDelay = 500;
const liveDot = $("[data-live]");

function setLive(on) {
  if (!liveDot) return;
  liveDot.classList.toggle("on", on);
  const text = $("[data-live-text]");
  if (text) text.textContent = on ? "Live" : "Reconnecting";
  document.body.dataset.live = on ? "on" : "off";
}

function send(frame) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/agent/`);
  socket.addEventListener("open", () => {
    retryDelay = 500;
    setLive(true);
    if (conversationId) {
      send({ type: "subscribe", conversation: conversationId });
      catchUp(true);
    }
    if (listPane) refreshList();
    refreshBell();
  });
  socket.addEventListener("message", (e) => handle(JSON.parse(e.data)));
  socket.addEventListener("close", () => {
    setLive(false);
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 10000);
  });
}

function handle(msg) {
  switch (msg.type) {
    case "entry.created":
      if (msg.entry && msg.entry.conversation === conversationId) catchUp(false);
      break;
    case "entry.updated":
      if (msg.entry && msg.entry.conversation === conversationId) updateEntry(msg.entry);
      break;
    case "conversation.created":
    case "conversation.updated":
      if (listPane) refreshList(msg.conversation && msg.conversation.id);
      if (msg.conversation && msg.conversation.id === conversationId) updateHeader(msg.conversation);
      if (msg.type === "conversation.created") browserNotify("New conversation", `#${msg.conversation.id}`);
      break;
    case "catch_up":
      if (msg.conversation === conversationId) applyEntries(msg.entries);
      break;
    case "agent.activity":
      if (msg.conversation === conversationId) showActivity(msg);
      break;
    case "typing":
      if (msg.conversation === conversationId && msg.who !== "agent") showTyping(msg.typing);
      break;
    case "notification":
      refreshBell();
      if (msg.text) { toast(msg.text); browserNotify("Helpdesk", msg.text); }
      break;
  }
}

// --- the open conversation --------------------------------------------------------------
const timelineEl = $("[data-timeline]");
const wrap = $("[data-timeline-wrap]");

function lastEntryId() {
  const items = timelineEl ? $$("[data-entry]", timelineEl) : [];
  return items.length ? items[items.length - 1].dataset.entry : (convPage ? convPage.dataset.lastEntry : "");
}

function pendingIds() {
  return $$("[data-delivery]")
    .filter((d) => ["queued", "sending", "sent"].includes(d.dataset.delivery))
    .map((d) => d.closest("[data-entry]").dataset.entry)
    .slice(-50);
}

function catchUp(withPending) {
  if (!conversationId) return;
  send({ type: "catch_up", conversation: conversationId, after: lastEntryId(), also: withPending ? pendingIds() : [] });
}

function applyEntries(entries) {
  if (!timelineEl) return;
  const nearBottom = wrap && wrap.scrollHeight - wrap.scrollTop - wrap.clientHeight < 120;
  for (const item of entries) {
    const tpl = document.createElement("template");
    tpl.innerHTML = item.html.trim();
    const el = tpl.content.firstElementChild;
    const existing = document.getElementById(`e-${item.id}`);
    if (existing) { existing.replaceWith(el); continue; }  // no duplicates, ever
    el.classList.add("fresh");
    timelineEl.appendChild(el);
  }
  if (nearBottom && wrap) wrap.scrollTop = wrap.scrollHeight;
  if (entries.some((e) => e.kind === "inbound")) showTyping(false);
}

function updateEntry(entry) {
  const el = document.getElementById(`e-${entry.id}`);
  if (!el) return catchUp(false);
  if (entry.delivery_status === "failed") {
    send({ type: "catch_up", conversation: conversationId, after: lastEntryId(), also: [entry.id] });
    return;
  }
  const box = $("[data-delivery]", el);
  const label = $("[data-delivery-label]", el);
  if (box && label) {
    box.dataset.delivery = entry.delivery_status;
    label.className = `dstatus ${entry.delivery_status}`;
    label.textContent = entry.delivery_status.charAt(0).toUpperCase() + entry.delivery_status.slice(1);
  }
}

function updateHeader(summary) {
  const pill = $("[data-status]");
  if (pill) {
    pill.className = `pill status ${summary.status}`;
    pill.textContent = summary.status.charAt(0).toUpperCase() + summary.status.slice(1);
  }
  const select = $("#assignee");
  if (select && document.activeElement !== select) select.value = summary.assignee ? String(summary.assignee) : "none";
}

const others = new Map();  // agent id -> {name, state}
function showActivity(msg) {
  if (msg.agent === me) return;
  if (msg.state === "left") others.delete(msg.agent);
  else others.set(msg.agent, { name: msg.name, state: msg.state });
  const box = $("[data-presence]");
  if (!box) return;
  box.replaceChildren(...Array.from(others.values()).map(({ name, state }) => {
    const span = document.createElement("span");
    span.className = state === "replying" ? "replying" : "viewing";
    span.textContent = state === "replying" ? `${name} is replying` : `${name} is viewing`;
    span.style.marginRight = "12px";
    return span;
  }));
}

let typingTimer = null;
function showTyping(on) {
  const el = $("[data-typing]");
  if (!el) return;
  el.hidden = !on;
  clearTimeout(typingTimer);
  if (on) typingTimer = setTimeout(() => { el.hidden = true; }, 8000);
}

// Tell the others what we are doing: "replying" while the reply box has text.
let myState = "viewing";
let idleTimer = null;
function setState(state) {
  if (state === myState) return;
  myState = state;
  send({ type: "activity", conversation: conversationId, state });
}
function composing(form) {
  const body = $("[data-body]", form);
  const busy = body && body.value.trim().length > 0;
  setState(busy ? "replying" : "viewing");
  if (form.matches("[data-reply]")) send({ type: "typing", conversation: conversationId, typing: busy });
  clearTimeout(idleTimer);
  if (busy) idleTimer = setTimeout(() => setState("viewing"), 30000);
}

// --- forms: submitted with fetch, answered by live events --------------------------------
async function submit(form, submitter) {
  const error = $("[data-form-error]", form);
  if (error) error.textContent = "";
  const data = new FormData(form);
  if (submitter && submitter.name) data.append(submitter.name, submitter.value);
  const r = await fetch(form.action, {
    method: "POST",
    body: data,
    credentials: "same-origin",
    headers: { "X-Requested-With": "fetch", "X-CSRFToken": csrf() },
  });
  let answer = {};
  try { answer = await r.json(); } catch (_) { answer = { ok: r.ok }; }
  if (!r.ok || !answer.ok) {
    const text = answer.error || `Error ${r.status}`;
    if (error) error.textContent = text; else toast(text);
    return false;
  }
  return true;
}

document.addEventListener("submit", async (e) => {
    const form = e.target.closest && e.target.closest("form[data-ajax]");
    if (!form) return;
    e.preventDefault();
    const ok = await submit(form, e.submitter);
    if (!ok) return;
    if (form.matches("[data-reply], [data-note]")) {
      const body = $("[data-body]", form);
      body.value = "";
      localStorage.removeItem(form.dataset.draftKey);
      const files = $("input[type=file]", form);
      if (files) files.value = "";
      composing(form);
    }
    if (!socket || socket.readyState !== WebSocket.OPEN) location.reload();
    else catchUp(false);
});
for (const select of $$("[data-autosubmit]")) {
  select.addEventListener("change", () => select.form.requestSubmit());
}

// Drafts per conversation, kept in this browser.
for (const form of $$("[data-draft-key]")) {
  const body = $("[data-body]", form);
  const saved = localStorage.getItem(form.dataset.draftKey);
  if (saved && body && !body.value) body.value = saved;
  body.addEventListener("input", () => {
    if (body.value) localStorage.setItem(form.dataset.draftKey, body.value);
    else localStorage.removeItem(form.dataset.draftKey);
    composing(form);
  });
  body.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.metaKey || e.ctrlKey)) { e.preventDefault(); form.requestSubmit(); }
  });
}

// The attach button says how many files are chosen.
for (const input of $$("[data-attach]")) {
  input.addEventListener("change", () => {
    const label = $("[data-attach-label]", input.closest("label"));
    if (label) label.textContent = input.files.length ? `${input.files.length} file(s)` : "Attach files";
  });
}

// Reply / note tabs.
function showTab(name) {
  for (const tab of $$("[data-tab]")) {
    const on = tab.dataset.tab === name;
    tab.setAttribute("aria-selected", String(on));
    $(`#${tab.getAttribute("aria-controls")}`).hidden = !on;
  }
  const body = $(`#${name}-form [data-body]`);
  if (body) body.focus();
}
for (const tab of $$("[data-tab]")) tab.addEventListener("click", () => showTab(tab.dataset.tab));

// The channel picker: e-mail fields only for e-mail.
const channelSelect = $("[data-channel]");
if (channelSelect) {
  const sync = () => {
    const emailRow = $("[data-email-only]");
    if (emailRow) emailRow.hidden = channelSelect.value !== "email";
  };
  channelSelect.addEventListener("change", sync);
  sync();
}

// Canned responses: "/short" at the start of a line opens the menu.
const cannedData = $("#canned-data");
const canned = cannedData ? JSON.parse(cannedData.textContent) : [];
const cannedBox = $("[data-canned]");
const cannedMenu = $("[data-canned-menu]");
let cannedIndex = 0;
function cannedMatch() {
  const upto = cannedBox.value.slice(0, cannedBox.selectionStart);
  const m = upto.match(/(?:^|\s)\/([\w-]*)$/);
  return m ? { word: m[1], start: upto.length - m[1].length - 1 } : null;
}
function renderCanned() {
  const m = cannedMatch();
  const hits = m ? canned.filter((c) => c.shortcut.startsWith(m.word)).slice(0, 8) : [];
  cannedMenu.hidden = !hits.length;
  cannedIndex = Math.min(cannedIndex, Math.max(0, hits.length - 1));
  cannedMenu.replaceChildren(...hits.map((c, i) => {
    const li = document.createElement("li");
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", String(i === cannedIndex));
    const b = document.createElement("b");
    b.textContent = `/${c.shortcut}`;
    li.append(b, c.title || c.body.slice(0, 60));
    li.addEventListener("mousedown", (e) => { e.preventDefault(); insertCanned(c); });
    return li;
  }));
  return hits;
}
function insertCanned(c) {
  const m = cannedMatch();
  if (!m) return;
  const before = cannedBox.value.slice(0, m.start);
  const after = cannedBox.value.slice(cannedBox.selectionStart);
  cannedBox.value = before + c.body + after;
  const pos = (before + c.body).length;
  cannedBox.setSelectionRange(pos, pos);
  cannedMenu.hidden = true;
  cannedBox.dispatchEvent(new Event("input"));
}
if (cannedBox && cannedMenu && canned.length) {
  cannedBox.addEventListener("input", renderCanned);
  cannedBox.addEventListener("keydown", (e) => {
    if (cannedMenu.hidden) return;
    const hits = renderCanned();
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      cannedIndex = (cannedIndex + (e.key === "ArrowDown" ? 1 : hits.length - 1)) % hits.length;
      renderCanned();
    } else if ((e.key === "Enter" || e.key === "Tab") && hits.length) {
      e.preventDefault();
      insertCanned(hits[cannedIndex]);
    } else if (e.key === "Escape") {
      cannedMenu.hidden = true;
    }
  });
}

// --- the list ------------------------------------------------------------------------
let listTimer = null;
function refreshList(changedId) {
  if (!listPane) return;
  if ($$("[data-rows] input[type=checkbox]:checked").length) return;  // don't drop a selection
  clearTimeout(listTimer);
  listTimer = setTimeout(async () => {
    const params = new URLSearchParams(listPane.dataset.query);
    params.delete("after");
    params.set("fragment", "1");
    const r = await fetch(`/inbox/?${params}`, { credentials: "same-origin" });
    if (!r.ok) return;
    const rows = $("[data-rows]");
    const selected = $(".row.selected", rows);
    const keep = selected ? selected.dataset.conversation : null;
    rows.innerHTML = await r.text();
    if (keep) { const again = $(`[data-conversation="${keep}"]`, rows); if (again) again.classList.add("selected"); }
    if (changedId) { const row = $(`[data-conversation="${changedId}"]`, rows); if (row) row.classList.add("fresh"); }
    rememberList();
  }, 800);  // a busy inbox sends many events: refetch at most a little over once a second
}
function rememberList() {
  const ids = $$("[data-rows] [data-conversation]").map((r) => r.dataset.conversation);
  if (ids.length) sessionStorage.setItem("inbox:list", JSON.stringify(ids));
}
rememberList();

const selectAll = $("[data-select-all]");
if (selectAll) {
  selectAll.addEventListener("change", () => {
    for (const box of $$("[data-rows] input[type=checkbox]")) box.checked = selectAll.checked;
    countSelected();
  });
  document.addEventListener("change", (e) => { if (e.target.closest && e.target.closest("[data-rows]")) countSelected(); });
}
function countSelected() {
  const n = $$("[data-rows] input[type=checkbox]:checked").length;
  const label = $("[data-bulk-count]");
  if (label) label.textContent = n ? `${n} selected` : "Select conversations for bulk actions";
}

// --- keyboard ------------------------------------------------------------------------
function typingInField(e) {
  const t = e.target;
  return t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
}
function moveInList(step) {
  const rows = $$("[data-rows] [data-conversation]");
  if (!rows.length) return;
  const i = rows.findIndex((r) => r.classList.contains("selected"));
  const next = rows[Math.max(0, Math.min(rows.length - 1, i + step))] || rows[0];
  rows.forEach((r) => r.classList.remove("selected"));
  next.classList.add("selected");
  $(".row-link", next).focus();
  next.scrollIntoView({ block: "nearest" });
}
function moveFromConversation(step) {
  const ids = JSON.parse(sessionStorage.getItem("inbox:list") || "[]");
  const i = ids.indexOf(String(conversationId));
  const target = ids[i + step];
  if (i >= 0 && target) location.href = `/inbox/c/${target}/`;
}
document.addEventListener("keydown", (e) => {
  if (e.metaKey || e.ctrlKey || e.altKey) return;
  if (e.key === "Escape" && typingInField(e)) { e.target.blur(); return; }
  if (typingInField(e)) return;
  const help = $("#help");
  switch (e.key) {
    case "j": listPane ? moveInList(1) : moveFromConversation(1); break;
    case "k": listPane ? moveInList(-1) : moveFromConversation(-1); break;
    case "r": if (convPage) { e.preventDefault(); showTab("reply"); } break;
    case "n": if (convPage) { e.preventDefault(); showTab("note"); } break;
    case "e": { const f = $("form[data-resolve]"); if (f) f.requestSubmit(); break; }
    case "a": { const f = $("form[data-assign-me]"); if (f) f.requestSubmit(); break; }
    case "/": e.preventDefault(); $("#search-box").focus(); break;
    case "?": if (help) help.open ? help.close() : help.showModal(); break;
    default: return;
  }
});
const helpButton = $("[data-help]");
if (helpButton) helpButton.addEventListener("click", () => $("#help").showModal());

const navToggle = $("[data-nav-toggle]");
if (navToggle) navToggle.addEventListener("click", () => {
  const nav = $("#nav");
  const open = nav.classList.toggle("open");
  navToggle.setAttribute("aria-expanded", String(open));
});

// Browser notifications: ask once, on the first click anywhere (browsers want a gesture).
if ("Notification" in window && Notification.permission === "default") {
  document.addEventListener("click", () => Notification.requestPermission().catch(() => {}), { once: true });
}

if (wrap) wrap.scrollTop = wrap.scrollHeight;
if (location.hash && location.hash.startsWith("#e-")) {
  const target = document.getElementById(location.hash.slice(1));
  if (target) { target.scrollIntoView({ block: "center" }); target.classList.add("fresh"); }
}
connect();
