/* Helpdesk live chat widget. Plain JS, no dependencies, rendered in a shadow root so
 * the host page's CSS can't reach it. The loader (/widget/<slug>.js) appends the
 * inbox's config, including every text in the inbox's language, as the argument.
 * User content is only ever set with textContent, never as HTML. */
(function (C) {
  "use strict";
  if (window.__helpdeskChat) return;
  var T = C.t;
  var KEY = "hdw:" + C.slug + ":";
  var host = window.HelpdeskChat || {};
  var identity = host.identity || null;

  function fmt(s, params) {
    return String(s).replace(/%\((\w+)\)s/g, function (_m, k) { return params[k] == null ? "" : params[k]; });
  }
  var store = {
    get: function (k) { try { return window.localStorage.getItem(KEY + k); } catch (e) { return null; } },
    set: function (k, v) { try { window.localStorage.setItem(KEY + k, v); } catch (e) { /* private mode */ } },
    del: function (k) { try { window.localStorage.removeItem(KEY + k); } catch (e) { /* private mode */ } }
  };
  function uuid4() {
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function initials(name) {
    var parts = String(name || "?").trim().split(/\s+/);
    return ((parts[0] || "?")[0] + (parts.length > 1 ? parts[parts.length - 1][0] : "")).toUpperCase();
  }
  function clock(iso) {
    var d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  var CSS = [
    ":host{all:initial}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif}",
    ".root{position:fixed;bottom:20px;" + C.position + ":20px;z-index:2147483000;--c:" + C.color + ";color:#111827;font-size:14px;line-height:1.45}",
    ".launcher{width:58px;height:58px;border-radius:50%;border:0;background:var(--c);color:#fff;cursor:pointer;box-shadow:0 8px 24px rgba(17,24,39,.25);display:flex;align-items:center;justify-content:center;transition:transform .15s;position:relative}",
    ".launcher:hover{transform:scale(1.06)}.launcher svg{width:28px;height:28px}",
    ".badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;border-radius:10px;background:#ef4444;color:#fff;font-size:12px;font-weight:600;display:flex;align-items:center;justify-content:center;padding:0 5px;border:2px solid #fff}",
    ".panel{position:absolute;bottom:74px;" + C.position + ":0;width:380px;height:min(620px,calc(100vh - 110px));background:#fff;border-radius:18px;box-shadow:0 18px 50px rgba(17,24,39,.28);display:flex;flex-direction:column;overflow:hidden;transform-origin:bottom " + C.position + ";animation:pop .18s ease-out}",
    "@keyframes pop{from{opacity:0;transform:translateY(8px) scale(.98)}to{opacity:1;transform:none}}",
    ".head{background:var(--c);color:#fff;padding:16px 16px 18px;display:flex;gap:12px;align-items:center}",
    ".head .who{flex:1;min-width:0}.title{font-weight:650;font-size:16px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}",
    ".status{font-size:12.5px;opacity:.92;display:flex;align-items:center;gap:6px}.dot{width:8px;height:8px;border-radius:50%;background:#a3a3a3}.dot.on{background:#4ade80}",
    ".x{background:rgba(255,255,255,.16);border:0;color:#fff;width:32px;height:32px;border-radius:50%;cursor:pointer;font-size:18px;line-height:1}",
    ".x:hover{background:rgba(255,255,255,.28)}",
    ".av{width:36px;height:36px;border-radius:50%;background:rgba(255,255,255,.22);color:#fff;display:flex;align-items:center;justify-content:center;font-weight:650;font-size:13px;flex:none}",
    ".log .av{width:28px;height:28px;background:var(--c);font-size:11px}",
    ".banner{background:#fef3c7;color:#92400e;font-size:12.5px;padding:7px 14px}.banner.err{background:#fee2e2;color:#991b1b}",
    ".log{flex:1;overflow-y:auto;padding:16px 14px 8px;background:#f8fafc;display:flex;flex-direction:column;gap:10px}",
    ".row{display:flex;gap:8px;align-items:flex-end;max-width:100%}.row.me{justify-content:flex-end}",
    ".col{display:flex;flex-direction:column;max-width:78%}.row.me .col{align-items:flex-end}",
    ".name{font-size:11.5px;color:#6b7280;margin:0 0 3px 4px}",
    ".bubble{padding:9px 13px;border-radius:16px;white-space:pre-wrap;word-wrap:break-word;overflow-wrap:anywhere;background:#fff;border:1px solid #e5e7eb;border-bottom-left-radius:5px}",
    ".row.me .bubble{background:var(--c);color:#fff;border-color:transparent;border-radius:16px;border-bottom-right-radius:5px}",
    ".meta{font-size:11px;color:#9ca3af;margin:3px 6px 0}.meta.fail{color:#dc2626;cursor:pointer}",
    ".file{display:block;margin-top:6px;color:inherit;font-size:13px;text-decoration:underline}.thumb{display:block;max-width:220px;max-height:180px;border-radius:10px;margin-top:6px}",
    ".typing{padding:2px 18px 8px;font-size:12px;color:#6b7280;background:#f8fafc;display:flex;align-items:center;gap:6px}",
    ".dots span{display:inline-block;width:5px;height:5px;margin-right:2px;border-radius:50%;background:#9ca3af;animation:b 1.2s infinite}",
    ".dots span:nth-child(2){animation-delay:.2s}.dots span:nth-child(3){animation-delay:.4s}",
    "@keyframes b{0%,60%,100%{transform:none;opacity:.5}30%{transform:translateY(-3px);opacity:1}}",
    ".card{margin:4px 0;background:#fff;border:1px solid #e5e7eb;border-radius:14px;padding:14px;display:flex;flex-direction:column;gap:8px}",
    ".card h3{margin:0;font-size:14.5px}.card p{margin:0;color:#4b5563;font-size:13px}",
    ".card input,.card textarea{width:100%;border:1px solid #d1d5db;border-radius:10px;padding:9px 11px;font-size:14px;outline:none;background:#fff;color:#111827}",
    ".card input:focus,.card textarea:focus,.compose textarea:focus{border-color:var(--c);box-shadow:0 0 0 3px color-mix(in srgb,var(--c) 16%,transparent)}",
    ".btn{background:var(--c);color:#fff;border:0;border-radius:10px;padding:9px 14px;font-weight:600;cursor:pointer;font-size:14px}",
    ".btn:disabled{opacity:.5;cursor:default}",
    ".stars{display:flex;gap:6px}.star{flex:1;border:1px solid #d1d5db;background:#fff;border-radius:10px;padding:8px 0;cursor:pointer;font-size:15px;color:#374151}",
    ".star.on{background:var(--c);color:#fff;border-color:transparent}",
    ".ferr{color:#dc2626;font-size:12.5px}",
    ".compose{display:flex;gap:8px;align-items:flex-end;padding:10px 12px 12px;border-top:1px solid #eef0f3;background:#fff}",
    ".compose textarea{flex:1;resize:none;border:1px solid #e5e7eb;border-radius:12px;padding:9px 12px;font-size:14px;max-height:120px;min-height:40px;outline:none;color:#111827;background:#fff}",
    ".icon{width:40px;height:40px;border-radius:12px;border:0;background:#f3f4f6;color:#4b5563;cursor:pointer;display:flex;align-items:center;justify-content:center;flex:none}",
    ".icon.send{background:var(--c);color:#fff}.icon svg{width:19px;height:19px}",
    ".foot{text-align:center;font-size:11px;color:#9ca3af;padding:0 0 8px;background:#fff}",
    "[hidden]{display:none!important}",
    "@media (max-width:480px){.root{bottom:14px;" + C.position + ":14px}.panel{position:fixed;inset:0;width:100%;height:100%;border-radius:0}}"
  ].join("\n");
  var ICON_CHAT = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z"/></svg>';
  var ICON_SEND = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round"><path d="M22 2 11 13"/><path d="M22 2 15 22l-4-9-9-4z"/></svg>';
  var ICON_CLIP = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="m21.4 11.1-9.2 9.2a6 6 0 0 1-8.5-8.5l9.2-9.2a4 4 0 0 1 5.7 5.7l-9.2 9.2a2 2 0 0 1-2.8-2.8l8.5-8.5"/></svg>';

  // --- DOM (static markup only; every dynamic text goes through textContent) ------
  var mount = document.createElement("div");
  mount.id = "helpdesk-chat";
  var shadow = mount.attachShadow({ mode: "open" });
  var style = document.createElement("style");
  style.textContent = CSS;
  shadow.appendChild(style);
  var root = el("div", "root");
  shadow.appendChild(root);

  var panel = el("div", "panel");
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", C.title);
  var head = el("div", "head");
  var headAv = el("div", "av", initials(C.title));
  var who = el("div", "who");
  var titleEl = el("div", "title", C.title);
  var statusEl = el("div", "status");
  var dot = el("span", "dot");
  var statusText = el("span", "", "");
  statusEl.appendChild(dot); statusEl.appendChild(statusText);
  who.appendChild(titleEl); who.appendChild(statusEl);
  var closeBtn = el("button", "x", "\u00d7");
  closeBtn.setAttribute("aria-label", T.close);
  head.appendChild(headAv); head.appendChild(who); head.appendChild(closeBtn);
  var banner = el("div", "banner"); banner.hidden = true;
  var log = el("div", "log"); log.setAttribute("role", "log"); log.setAttribute("aria-live", "polite");
  var typingEl = el("div", "typing"); typingEl.hidden = true;
  var dots = el("span", "dots"); dots.appendChild(el("span")); dots.appendChild(el("span")); dots.appendChild(el("span"));
  var typingText = el("span");
  typingEl.appendChild(dots); typingEl.appendChild(typingText);
  var compose = el("form", "compose");
  var fileInput = el("input"); fileInput.type = "file"; fileInput.hidden = true;
  var clip = el("button", "icon"); clip.type = "button"; clip.innerHTML = ICON_CLIP; clip.setAttribute("aria-label", T.attach); clip.title = T.attach;
  var input = el("textarea"); input.rows = 1; input.placeholder = T.placeholder; input.setAttribute("aria-label", T.placeholder);
  var sendBtn = el("button", "icon send"); sendBtn.type = "submit"; sendBtn.innerHTML = ICON_SEND; sendBtn.setAttribute("aria-label", T.send); sendBtn.title = T.send;
  compose.appendChild(fileInput); compose.appendChild(clip); compose.appendChild(input); compose.appendChild(sendBtn);
  var foot = el("div", "foot", T.poweredBy);
  panel.appendChild(head); panel.appendChild(banner); panel.appendChild(log); panel.appendChild(typingEl);
  panel.appendChild(compose); panel.appendChild(foot);

  var launcher = el("button", "launcher");
  launcher.innerHTML = ICON_CHAT;
  launcher.setAttribute("aria-label", T.open);
  launcher.title = T.open;
  var badge = el("span", "badge"); badge.hidden = true;
  launcher.appendChild(badge);
  root.appendChild(panel); root.appendChild(launcher);

  // --- state -------------------------------------------------------------------------
  var ws = null, attempts = 0, timer = null, pingTimer = null, fatal = false, ready = false;
  var token = store.get("token");
  var rendered = {};          // entry id -> row element
  var pendingRows = {};       // client_id -> row element
  var outbox = [];            // [{client_id, body}] not yet acknowledged, survives reloads
  try { outbox = JSON.parse(store.get("outbox") || "[]") || []; } catch (e) { outbox = []; }
  var lastId = null, unread = 0, conversation = null, availability = null, info = {};
  var typingTimer = null, typingSent = 0, typingOn = false;
  var greeted = false;

  function saveOutbox() { store.set("outbox", JSON.stringify(outbox)); }
  function isOpen() { return !panel.hidden; }
  function scroll() { log.scrollTop = log.scrollHeight; }
  function showBanner(text, err) { banner.textContent = text; banner.className = err ? "banner err" : "banner"; banner.hidden = !text; }

  function greet() {
    if (greeted) return;
    greeted = true;
    log.appendChild(row({ kind: "outbound", body: C.greeting, author: C.title, occurred_at: "" }, "greeting"));
  }

  function row(entry, key) {
    var me = entry.kind === "inbound";
    var r = el("div", me ? "row me" : "row");
    r.setAttribute("data-key", key);
    if (!me) r.appendChild(el("div", "av", initials(entry.author || C.title)));
    var col = el("div", "col");
    if (!me && entry.author) col.appendChild(el("div", "name", entry.author));
    var bubble = el("div", "bubble");
    if (entry.body) bubble.appendChild(document.createTextNode(entry.body));
    (entry.attachments || []).forEach(function (a) {
      if (!a.url) return;
      var link = el("a", "file", a.content_type.indexOf("image/") === 0 ? "" : "\ud83d\udcce " + a.filename);
      link.href = C.base + a.url; link.target = "_blank"; link.rel = "noopener noreferrer";
      if (a.content_type.indexOf("image/") === 0) {
        var img = el("img", "thumb"); img.src = C.base + a.url; img.alt = a.filename; link.appendChild(img);
      }
      bubble.appendChild(link);
    });
    if (!entry.body && !(entry.attachments || []).length) bubble.textContent = "\u2026";
    col.appendChild(bubble);
    var meta = el("div", "meta", entry.occurred_at ? clock(entry.occurred_at) : "");
    col.appendChild(meta);
    r.appendChild(col);
    r._meta = meta;
    return r;
  }

  function render(entry) {
    if (rendered[entry.id]) return false;
    var r = entry.client_id && pendingRows[entry.client_id];
    if (r) {
      var fresh = row(entry, entry.id);
      log.replaceChild(fresh, r);
      delete pendingRows[entry.client_id];
      r = fresh;
    } else {
      r = row(entry, entry.id);
      log.appendChild(r);
    }
    rendered[entry.id] = r;
    lastId = entry.id;
    if (entry.kind === "outbound" && entry.author) {
      headAv.textContent = initials(entry.author);
      titleEl.textContent = entry.author;
    }
    scroll();
    return true;
  }

  function setStatus() {
    var on = availability && availability.online;
    dot.className = on ? "dot on" : "dot";
    statusText.textContent = on ? T.online : T.offlineShort;
  }

  // --- forms ---------------------------------------------------------------------------
  var cardEl = null;
  function dropCard() { if (cardEl && cardEl.parentNode) cardEl.parentNode.removeChild(cardEl); cardEl = null; }
  function card(title, intro) {
    dropCard();
    cardEl = el("form", "card");
    if (title) cardEl.appendChild(el("h3", "", title));
    if (intro) cardEl.appendChild(el("p", "", intro));
    log.appendChild(cardEl);
    scroll();
    return cardEl;
  }
  function fieldInput(f) {
    var i = el("input");
    i.name = f.name; i.type = f.type || "text"; i.required = !!f.required;
    i.placeholder = f.required ? f.label + " *" : f.label;
    i.setAttribute("aria-label", f.label);
    return i;
  }
  function formError(form, text) {
    var e = form.querySelector(".ferr") || form.appendChild(el("div", "ferr"));
    e.textContent = text;
  }

  function showPrechat() {
    var form = card(T.prechatTitle, T.prechatIntro);
    form.className = "card prechat";
    var inputs = C.prechat.map(function (f) { var i = fieldInput(f); form.appendChild(i); return i; });
    var go = el("button", "btn", T.start); go.type = "submit"; form.appendChild(go);
    compose.hidden = true;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var fields = {};
      inputs.forEach(function (i) { fields[i.name] = i.value; });
      info.prechat = form;
      send({ type: "prechat", fields: fields });
    });
  }

  function showOfflineEmail() {
    var form = card("", T.offline);
    form.className = "card offline";
    var i = fieldInput({ name: "email", type: "email", label: T.emailLabel, required: true });
    var go = el("button", "btn", T.emailSave); go.type = "submit";
    form.appendChild(i); form.appendChild(go);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      info.prechat = form; info.email = i.value;
      send({ type: "prechat", fields: { email: i.value } });
    });
  }

  function showCsat(conversationId) {
    if (store.get("rated:" + conversationId)) return;
    var form = card(T.csatTitle, T.resolved);
    form.className = "card csat";
    var score = 0, stars = el("div", "stars"), buttons = [];
    [1, 2, 3, 4, 5].forEach(function (n) {
      var b = el("button", "star", String(n)); b.type = "button"; b.setAttribute("aria-label", String(n));
      b.addEventListener("click", function () {
        score = n; go.disabled = false;
        buttons.forEach(function (x, k) { x.className = k < n ? "star on" : "star"; });
      });
      buttons.push(b); stars.appendChild(b);
    });
    var comment = el("textarea"); comment.rows = 2; comment.placeholder = T.csatComment;
    var go = el("button", "btn", T.csatSend); go.type = "submit"; go.disabled = true;
    form.appendChild(stars); form.appendChild(comment); form.appendChild(go);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!score) return;
      info.csat = { form: form, conversation: conversationId };
      send({ type: "csat", conversation: conversationId, score: score, comment: comment.value });
    });
  }

  // --- connection -------------------------------------------------------------------
  function send(frame) {
    if (ws && ws.readyState === 1 && ready) { ws.send(JSON.stringify(frame)); return true; }
    return false;
  }

  function connect() {
    if (ws || fatal) return;
    try { ws = new WebSocket(C.ws); } catch (e) { schedule(); return; }
    ws.onopen = function () {
      ws.send(JSON.stringify({ type: "hello", token: token, identity: identity, after: lastId }));
    };
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      onFrame(f);
    };
    ws.onclose = function () {
      ws = null; ready = false;
      clearInterval(pingTimer);
      if (!fatal) { showBanner(T.reconnecting); schedule(); }
    };
  }
  function schedule() {
    clearTimeout(timer);
    // Exponential backoff with jitter: 0.5 s, 1 s, 2 s ... capped at 30 s.
    var delay = Math.min(30000, 500 * Math.pow(2, attempts++)) * (0.5 + Math.random() / 2);
    timer = setTimeout(connect, delay);
  }

  function flush() {
    outbox.forEach(function (m) {
      if (!pendingRows[m.client_id]) addPending(m);
      ws.send(JSON.stringify({ type: "message", client_id: m.client_id, body: m.body }));
    });
  }
  function addPending(m) {
    var r = row({ kind: "inbound", body: m.body, occurred_at: "" }, m.client_id);
    r._meta.textContent = T.sending;
    pendingRows[m.client_id] = r;
    log.appendChild(r);
    scroll();
  }

  function markRead() {
    var ids = Object.keys(rendered);
    for (var k = ids.length - 1; k >= 0; k--) {
      var r = rendered[ids[k]];
      if (r && !r.classList.contains("me")) { send({ type: "read", entry: ids[k] }); return; }
    }
  }

  function onFrame(f) {
    switch (f.type) {
      case "ready":
        ready = true; attempts = 0;
        token = f.token; store.set("token", token);
        availability = f.availability; conversation = f.conversation;
        showBanner("");
        setStatus();
        greet();
        (f.entries || []).forEach(render);
        if (f.entries && f.entries.length && isOpen()) markRead();
        flush();
        pingTimer = setInterval(function () { send({ type: "ping" }); }, 25000);
        if (C.prechat.length && !f.prechat_done && !Object.keys(rendered).length && !outbox.length) showPrechat();
        else if (availability && !availability.online && !f.known_email) showOfflineEmail();
        if (conversation && conversation.status === "resolved") showCsat(conversation.id);
        break;
      case "ack":
        outbox = outbox.filter(function (m) { return m.client_id !== f.client_id; });
        saveOutbox();
        render(f.entry);
        break;
      case "entry":
        if (render(f.entry) && f.entry.kind === "outbound") {
          typingEl.hidden = true;
          if (f.entry.author && !(availability && availability.online)) {
            // Someone is clearly here now: no need to ask for an e-mail address.
            availability = { online: true };
            setStatus();
            if (cardEl && cardEl.className.indexOf("offline") >= 0) dropCard();
          }
          if (isOpen() && document.visibilityState !== "hidden") send({ type: "read", entry: f.entry.id });
          else { unread++; badge.textContent = String(unread); badge.hidden = false; }
        }
        if (f.entry.conversation) conversation = { id: f.entry.conversation, status: "open" };
        break;
      case "typing":
        typingText.textContent = fmt(T.typing, { name: f.name || T.someone });
        typingEl.hidden = !f.typing;
        clearTimeout(info.typingHide);
        if (f.typing) info.typingHide = setTimeout(function () { typingEl.hidden = true; }, 8000);
        break;
      case "seen":
        Object.keys(rendered).forEach(function (id) {
          var r = rendered[id];
          if (r.classList.contains("me")) r._meta.textContent = T.seen;
        });
        break;
      case "conversation":
        conversation = { id: f.conversation, status: f.status };
        if (f.status === "resolved") showCsat(f.conversation);
        break;
      case "prechat_ok":
        if (info.prechat) {
          var email = info.email;
          dropCard();
          if (email) log.appendChild(el("div", "banner", fmt(T.emailSaved, { email: email })));
        }
        compose.hidden = false;
        input.focus();
        break;
      case "csat_ok":
        store.set("rated:" + f.conversation, "1");
        dropCard();
        log.appendChild(row({ kind: "outbound", body: T.csatThanks, author: C.title, occurred_at: "" }, "thanks"));
        scroll();
        break;
      case "error":
        if (f.fatal) {
          if ((f.code === "bad_token" || f.code === "session_mismatch" || f.code === "token_expired") && token) {
            // Not this visitor's session (any more): start a fresh one.
            token = null; store.del("token"); lastId = null; attempts = 0;
            return;
          }
          fatal = true;
          showBanner(f.error, true);
        } else if (f.client_id && pendingRows[f.client_id]) {
          var p = pendingRows[f.client_id];
          p._meta.textContent = f.error;
          p._meta.className = "meta fail";
          outbox = outbox.filter(function (m) { return m.client_id !== f.client_id; });
          saveOutbox();
        } else if (f.code === "prechat" && info.prechat) {
          formError(info.prechat, f.error);
        } else if (f.code === "csat" && info.csat) {
          formError(info.csat.form, f.error);
        } else {
          showBanner(f.error, true);
        }
        break;
    }
  }

  // --- composer -------------------------------------------------------------------
  function submit() {
    var body = input.value.trim();
    if (!body) return;
    if (body.length > C.maxChars) { showBanner(fmt(T.tooLong, { limit: C.maxChars }), true); return; }
    showBanner("");
    var m = { client_id: uuid4(), body: body };
    outbox.push(m); saveOutbox();
    addPending(m);
    input.value = ""; input.style.height = "";
    typingOn = false;
    if (ready) ws.send(JSON.stringify({ type: "message", client_id: m.client_id, body: m.body }));
    else connect();
  }
  compose.addEventListener("submit", function (ev) { ev.preventDefault(); submit(); });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); submit(); }
  });
  input.addEventListener("input", function () {
    input.style.height = ""; input.style.height = Math.min(120, input.scrollHeight) + "px";
    var now = Date.now();
    if (!typingOn || now - typingSent > 2500) { typingOn = send({ type: "typing", typing: true }); typingSent = now; }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { if (typingOn) { send({ type: "typing", typing: false }); typingOn = false; } }, 3000);
  });

  clip.addEventListener("click", function () { fileInput.click(); });
  fileInput.addEventListener("change", function () {
    var file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (!file) return;
    if (file.size > C.maxUpload) { showBanner(fmt(T.tooLarge, { limit: Math.floor(C.maxUpload / 1048576) }), true); return; }
    var major = (file.type || "").split("/")[0] + "/*";
    if (C.uploadTypes.indexOf(file.type) < 0 && C.uploadTypes.indexOf(major) < 0) { showBanner(T.badType, true); return; }
    var m = { client_id: uuid4(), body: file.name };
    addPending(m);
    var data = new FormData();
    data.append("file", file); data.append("client_id", m.client_id);
    fetch(C.upload, { method: "POST", body: data, headers: { "X-Widget-Token": token || "" }, mode: "cors", credentials: "omit" })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
      .then(function (res) {
        if (res.ok) { render(res.j.entry); return; }
        var p = pendingRows[m.client_id];
        if (p) { p._meta.textContent = res.j.error || T.uploadFailed; p._meta.className = "meta fail"; }
      })
      .catch(function () {
        var p = pendingRows[m.client_id];
        if (p) { p._meta.textContent = T.uploadFailed; p._meta.className = "meta fail"; }
      });
  });

  function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    unread = 0; badge.hidden = true;
    greet();
    connect();
    if (ready) markRead();
    setTimeout(function () { input.focus(); scroll(); }, 30);
  }
  function close() { panel.hidden = true; launcher.setAttribute("aria-expanded", "false"); }
  launcher.addEventListener("click", function () { if (isOpen()) close(); else open(); });
  closeBtn.addEventListener("click", close);

  function start() {
    document.body.appendChild(mount);
    // A returning visitor reconnects at once, so replies that came while away show
    // up as a badge; a first-time visitor opens a socket only when they open the chat.
    if (token || outbox.length) connect();
  }
  window.__helpdeskChat = {
    open: open,
    close: close,
    identify: function (id) { identity = id; token = null; store.del("token"); if (ws) ws.close(); }
  };
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})
