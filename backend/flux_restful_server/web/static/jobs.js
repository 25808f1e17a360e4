// The live jobs table: data from /v1/jobs/search with the browser's own credentials,
// refreshed on /v1/events (server-sent events) or, without that feed, every few seconds.
"use strict";
(function () {
  var table = document.getElementById("jobs");
  if (!table) return;
  var body = table.tBodies[0];
  var input = document.getElementById("q");
  var live = document.getElementById("live");
  var range = document.getElementById("range");
  var prev = document.getElementById("prev");
  var next = document.getElementById("next");
  var pageSize = parseInt(table.dataset.pageSize, 10) || 50;
  var start = parseInt(table.dataset.start, 10) || 0;
  var draw = 0;
  var lastRows = 0;
  var timer = null;
  var poller = null;

  function signIn() {
    // Credentials cached for another path are not sent to /v1: ask for them at /login
    // (directory "/"), once, then come back here.
    var key = "flux-restful-login";
    var last = parseInt(sessionStorage.getItem(key) || "0", 10);
    if (Date.now() - last < 30000) {
      live.textContent = "Not signed in: reload the page.";
      return;
    }
    sessionStorage.setItem(key, String(Date.now()));
    location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
  }

  function text(tag, value, cls) {
    var el = document.createElement(tag);
    el.textContent = value === null || value === undefined ? "" : String(value);
    if (cls) el.className = cls;
    return el;
  }

  function badge(kind, value) {
    var shown = value ? String(value) : "-";
    return text("span", shown, "badge " + kind + "-" + shown.toLowerCase());
  }

  // The state badge and, for a pending job, why it waits (as the server renders it).
  function stateCell(job) {
    if (!job.pending_reason) return badge("state", job.state);
    var cell = document.createDocumentFragment();
    cell.appendChild(badge("state", job.state));
    cell.appendChild(text("small", job.pending_reason, "reason"));
    return cell;
  }

  function when(t) {
    if (!t) return "";
    return new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function row(job) {
    var tr = document.createElement("tr");
    var link = text("a", job.id);
    link.href = "/job/" + encodeURIComponent(job.id);
    var cells = [
      link,
      document.createTextNode(job.name || ""),
      document.createTextNode(job.user || ""),
      stateCell(job),
      job.result ? badge("result", job.result) : document.createTextNode(""),
      document.createTextNode(job.returncode === "" ? "" : String(job.returncode)),
      document.createTextNode(job.runtime === "" ? "" : Number(job.runtime).toFixed(1) + "s"),
      document.createTextNode(job.ntasks === undefined ? "" : String(job.ntasks)),
      document.createTextNode(when(job.t_submit)),
    ];
    cells.forEach(function (node) {
      var td = document.createElement("td");
      td.appendChild(node);
      tr.appendChild(td);
    });
    return tr;
  }

  function showRange(total, rows) {
    range.textContent = rows ? (start + 1) + "-" + (start + rows) + " of " + total : total + " jobs";
    prev.disabled = start === 0;
    next.disabled = rows < pageSize;
  }

  function refresh() {
    var mine = ++draw;
    var url = "/v1/jobs/search?start=" + start + "&length=" + pageSize + "&draw=" + mine +
      "&search=" + encodeURIComponent(input.value.trim());
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) { signIn(); throw new Error("not signed in"); }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (page) {
        if (String(page.draw) !== String(mine)) return; // a newer answer is on its way
        var fragment = document.createDocumentFragment();
        page.data.forEach(function (job) { fragment.appendChild(row(job)); });
        if (!page.data.length) {
          var tr = document.createElement("tr");
          var td = text("td", input.value.trim() ? "No matching jobs." : "No jobs yet.");
          td.colSpan = 9;
          tr.appendChild(td);
          fragment.appendChild(tr);
        }
        body.replaceChildren(fragment);
        lastRows = page.data.length;
        showRange(page.recordsTotal, lastRows);
      })
      .catch(function (err) { if (live && err.message !== "not signed in") live.textContent = "update failed: " + err.message; });
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  }

  function poll(label) {
    if (poller) return;
    live.textContent = label;
    poller = setInterval(refresh, 3000);
  }

  function follow() {
    if (!window.EventSource) { poll("refreshing every 3 s"); return; }
    var source = new EventSource("/v1/events");
    var onEvent = function (e) {
      if (e.data && e.data.indexOf('"ping"') !== -1) return;
      soon();
    };
    ["message", "state", "event", "job", "submit", "end"].forEach(function (name) {
      source.addEventListener(name, onEvent);
    });
    source.onopen = function () {
      live.textContent = "live";
      if (poller) { clearInterval(poller); poller = null; }
    };
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) poll("refreshing every 3 s");
    };
  }

  input.addEventListener("input", function () {
    start = 0;
    var q = input.value.trim();
    history.replaceState(null, "", q ? "/jobs?q=" + encodeURIComponent(q) : "/jobs");
    soon();
  });
  prev.addEventListener("click", function () { start = Math.max(0, start - pageSize); refresh(); });
  next.addEventListener("click", function () { start += pageSize; refresh(); });
  showRange(parseInt(range.dataset.total, 10) || 0, body.querySelectorAll("a").length);
  refresh();
  follow();
  setInterval(refresh, 15000); // a safety net for missed events (runtimes keep moving too)
})();
