// The desk console's live parts (no build step; served from the binary). The queue
// reloads its lines when the server says a ticket changed; a ticket's page offers a
// reload instead of replacing what someone may be typing.
(function () {
  "use strict";
  var queue = document.querySelector("[data-live-queue]");
  var ticket = document.querySelector("[data-live-ticket]");
  if ((!queue && !ticket) || !window.EventSource) {
    return;
  }
  var busy = false;
  var again = false;
  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch("/desk/queue/rows" + window.location.search, {
      credentials: "same-origin",
      headers: { Accept: "text/html" }
    })
      .then(function (r) {
        if (!r.ok) {
          throw new Error(String(r.status));
        }
        return r.text();
      })
      .then(function (html) {
        queue.innerHTML = html;
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }
  var events = new EventSource("/desk/events");
  events.addEventListener("changed", function () {
    if (queue) {
      refresh();
    }
    if (ticket) {
      var note = document.getElementById("changed");
      if (note) {
        note.hidden = false;
      }
    }
  });
})();
