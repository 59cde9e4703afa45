// The update page's timeline: while the update runs (or more events wait), fetch the next
// events every 2 seconds and append them (the server renders and escapes the rows).
(function () {
  "use strict";
  function poll(table) {
    var url = table.dataset.eventsUrl + "?after=" + encodeURIComponent(table.dataset.after);
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (page) {
        if (page.html.trim()) {
          table.tBodies[0].insertAdjacentHTML("beforeend", page.html);
          var empty = document.getElementById("no-events");
          if (empty) { empty.remove(); }
        }
        table.dataset.after = page.after;
        var status = document.querySelector("#status .badge");
        if (status) { status.textContent = page.status; status.className = "badge " + page.status; }
        if (page.more) { setTimeout(function () { poll(table); }, 2000); }
        else { var live = document.getElementById("live"); if (live) { live.hidden = true; } }
      })
      .catch(function () { setTimeout(function () { poll(table); }, 5000); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var table = document.getElementById("timeline");
    if (table && table.dataset.more === "true") { setTimeout(function () { poll(table); }, 1000); }
  });
})();
