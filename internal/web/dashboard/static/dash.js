// Live updates for the dashboard. The pages work without this script: it
// only listens to /dash/events (Server-Sent Events) and, when something the
// viewer may see changes, reloads the <main> of list pages in place, or, on
// a case page, says that the case changed.
(function () {
  "use strict";
  var body = document.body;
  if (!body || body.getAttribute("data-live") !== "1" || !window.EventSource || !window.fetch) {
    return;
  }
  var page = body.getAttribute("data-page");
  var caseID = body.getAttribute("data-case");
  var status = document.getElementById("live-status");
  var timer = null;
  var version = 0;

  function say(text) {
    if (!status) { return; }
    status.textContent = text;
    status.hidden = !text;
  }

  function busy() {
    // Never replace a form someone is typing in.
    var a = document.activeElement;
    return a && (a.tagName === "TEXTAREA" || a.tagName === "INPUT" || a.tagName === "SELECT");
  }

  function refresh() {
    timer = null;
    if (busy()) { timer = setTimeout(refresh, 2000); return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Live": "1" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("live");
        var main = document.getElementById("live");
        if (fresh && main) {
          main.innerHTML = fresh.innerHTML;
          version++;
          body.setAttribute("data-live-version", String(version));
        }
      })
      .catch(function () { say("实时更新失败，请手动刷新页面。"); });
  }

  var es = new EventSource("/dash/events");
  es.addEventListener("open", function () {
    body.setAttribute("data-live-connected", "1");
    say("");
  });
  es.addEventListener("error", function () {
    body.setAttribute("data-live-connected", "0");
  });
  es.addEventListener("change", function (ev) {
    var e;
    try { e = JSON.parse(ev.data); } catch (x) { return; }
    if (page === "case") {
      if (e.case_id === caseID) {
        say("此案件已更新，请刷新页面查看。");
        body.setAttribute("data-case-changed", "1");
      }
      return;
    }
    if (!timer) { timer = setTimeout(refresh, 300); }
  });
})();
