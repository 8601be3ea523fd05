// Live list: follow the SSE feed and let htmx re-fetch the list fragment after each batch.
// Without JavaScript (or EventSource) the server-rendered list stays as it is.
(function () {
  "use strict";
  var target = document.querySelector("[data-live-feed]");
  if (!target || !window.EventSource || !window.htmx) return;
  var status = document.getElementById("live-status");
  var source = new EventSource(target.getAttribute("data-live-feed"));
  var pending = null;

  function say(text) { if (status) status.textContent = text; }

  source.addEventListener("open", function () { say("· following"); });
  source.addEventListener("error", function () { say("· reconnecting…"); });
  source.addEventListener("batch", function () {
    if (pending) return;  // at most one refresh per 300 ms, however busy the feed
    pending = setTimeout(function () {
      pending = null;
      htmx.trigger(target, "live-refresh");
    }, 300);
  });
  target.addEventListener("htmx:afterSwap", function () {
    var now = new Date();
    say("· updated " + now.toLocaleTimeString());
    target.classList.remove("flash");
    void target.offsetWidth;
    target.classList.add("flash");
  });
  window.addEventListener("pagehide", function () { source.close(); });
})();
