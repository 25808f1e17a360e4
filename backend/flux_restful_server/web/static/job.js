// The job page: output followed live from /v1/jobs/{id}/output/stream, facts refreshed from
// /v1/jobs/{id} until the job is inactive. Everything is inserted as text, never as HTML.
"use strict";
(function () {
  var root = document.getElementById("job");
  if (!root) return;
  var id = root.dataset.jobId;
  var pre = document.getElementById("output");
  var empty = document.getElementById("empty");
  var live = document.getElementById("live");
  var cancel = document.getElementById("cancel");
  var done = root.dataset.active !== "true";
  var api = "/v1/jobs/" + encodeURIComponent(id);

  function get(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) { signIn(); throw new Error("not signed in"); }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response;
      });
  }

  function signIn() {
    var key = "flux-restful-login";
    var last = parseInt(sessionStorage.getItem(key) || "0", 10);
    if (Date.now() - last < 30000) { live.textContent = "not signed in: reload the page"; return; }
    sessionStorage.setItem(key, String(Date.now()));
    location.href = "/login?next=" + encodeURIComponent(location.pathname);
  }

  function cell(field) { return root.querySelector('[data-field="' + field + '"]'); }

  function setText(field, value) {
    var td = cell(field);
    if (td) td.textContent = value === null || value === undefined ? "" : String(value);
  }

  function setBadge(field, kind, value) {
    var td = cell(field);
    if (!td) return;
    td.replaceChildren();
    if (!value) return;
    var span = document.createElement("span");
    span.textContent = String(value);
    span.className = "badge " + kind + "-" + String(value).toLowerCase();
    td.appendChild(span);
  }

  function showOutput(text) {
    var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = text;
    if (atBottom) pre.scrollTop = pre.scrollHeight;
    empty.textContent = text || !done ? "" : "This job did not produce any output.";
  }

  function refreshInfo() {
    return get(api).then(function (r) { return r.json(); }).then(function (job) {
      setBadge("state", "state", job.state);
      setBadge("result", "result", job.result);
      setText("returncode", job.returncode);
      setText("runtime", job.runtime === "" ? "" : Number(job.runtime).toFixed(1) + "s");
      setText("ranks", job.ranks);
      setText("priority", job.priority);
      setText("nodes", job.nodelist ? job.nnodes + " (" + job.nodelist + ")" : job.nnodes);
      setText("exception", job.exception && job.exception.occurred ? job.exception.note : "");
      if (job.state === "INACTIVE") {
        done = true;
        if (cancel) cancel.remove();
        live.textContent = "";
        if (!pre.textContent) empty.textContent = "This job did not produce any output.";
      }
      return job;
    });
  }

  function pollOutput() {
    // Without a readable stream: re-read the whole output every second until the job ends.
    get(api + "/output").then(function (r) { return r.json(); }).then(function (body) {
      if (body.Output) showOutput(body.Output.join(""));
      return refreshInfo();
    }).then(function () {
      if (!done) setTimeout(pollOutput, 1000);
    }).catch(function () { setTimeout(pollOutput, 3000); });
  }

  function stream() {
    live.textContent = "live";
    var decoder = new TextDecoder();
    var text = "";
    var started = false;
    get(api + "/output/stream").then(function (response) {
      if (!response.body) throw new Error("no stream");
      var reader = response.body.getReader();
      function read() {
        return reader.read().then(function (chunk) {
          if (chunk.done) {
            text += decoder.decode();
            showOutput(text);
            return refreshInfo();
          }
          text += decoder.decode(chunk.value, { stream: true });
          started = true;
          showOutput(text);
          return read();
        });
      }
      return read();
    }).catch(function (err) {
      if (err.message === "not signed in") return;
      if (!started) pollOutput();
      else setTimeout(stream, 1000);
    });
  }

  if (!done) {
    stream();
    var ticker = setInterval(function () {
      if (done) { clearInterval(ticker); return; }
      refreshInfo().catch(function () {});
    }, 2000);
  }
})();
