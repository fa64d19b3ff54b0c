// KPI dashboard: live updates over /ws/kpi/. When the stored numbers change the
// server says so; we fetch the board fragment for the same filters and swap it in.
(function () {
  "use strict";
  var board = document.getElementById("kpi-board");
  var live = document.getElementById("kpi-live");
  if (!board) return;
  var pending = null;
  var retry = 1000;

  function refresh() {
    var url = new URL(window.location.href);
    url.searchParams.set("partial", "1");
    return fetch(url.toString(), { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var before = {};
        board.querySelectorAll(".kpi-card").forEach(function (c) { before[c.id] = c.dataset.value; });
        board.innerHTML = html;
        board.querySelectorAll(".kpi-card").forEach(function (c) {
          if (before[c.id] !== undefined && before[c.id] !== c.dataset.value) {
            c.classList.add("changed");
            setTimeout(function () { c.classList.remove("changed"); }, 2500);
          }
        });
        live.classList.add("flash");
        setTimeout(function () { live.classList.remove("flash"); }, 600);
      })
      .catch(function () { /* the next change tries again */ });
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + "/ws/kpi/");
    socket.onopen = function () { live.classList.add("on"); retry = 1000; };
    socket.onmessage = function (event) {
      var data = JSON.parse(event.data);
      if (data.type !== "kpi.changed") return;
      // Bursts of changes: one fetch.
      clearTimeout(pending);
      pending = setTimeout(refresh, 300);
    };
    socket.onclose = function () {
      live.classList.remove("on");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    };
  }
  connect();
})();
