// linli staff console: keeps the queue live (Server-Sent Events) and
// prints posters. Every page works without it.
"use strict";
(function () {
  document.querySelectorAll("[data-print]").forEach(function (b) {
    b.addEventListener("click", function () { window.print(); });
  });

  var box = document.getElementById("queue-live");
  var status = document.getElementById("live-status");
  if (!box || !status || !window.EventSource) return;
  var src = box.dataset.src, beatMs = 15000, lastBeat = 0, fetching = false, again = false;

  function say(key, extra) {
    status.textContent = status.dataset[key] + (extra ? " " + extra : "");
    status.className = "live " + key;
  }
  function clock() { return new Date().toLocaleTimeString(); }

  function refresh() {
    if (fetching) { again = true; return; }
    fetching = true;
    fetch(src, { credentials: "same-origin", headers: { "X-Linli-Fragment": "1" }, cache: "no-store" })
      .then(function (res) {
        if (res.status === 401 || res.status === 403) { window.location.reload(); return null; }
        if (!res.ok) throw new Error("status " + res.status);
        return res.text();
      })
      .then(function (html) {
        if (html === null) return;
        var focused = document.activeElement && document.activeElement.id;
        box.innerHTML = html;
        if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
        say("updated", clock());
      })
      .catch(function () { say("stale"); })
      .then(function () {
        fetching = false;
        if (again) { again = false; refresh(); }
      });
  }

  var es = new EventSource(box.dataset.events);
  es.addEventListener("beat", function (e) {
    beatMs = parseInt(e.data, 10) || beatMs;
    var wasDown = lastBeat === 0 || status.classList.contains("stale") || status.classList.contains("offline");
    lastBeat = Date.now();
    if (wasDown) { say("live", clock()); if (status.dataset.seen) refresh(); }
    status.dataset.seen = "1";
  });
  es.addEventListener("change", refresh);
  es.addEventListener("signedout", function () { es.close(); window.location.reload(); });
  es.onerror = function () {
    if (es.readyState === EventSource.CLOSED) say("offline"); else say("stale");
  };
  setInterval(function () {
    if (lastBeat && Date.now() - lastBeat > 2 * beatMs && !status.classList.contains("offline")) say("stale");
  }, 2000);
})();
