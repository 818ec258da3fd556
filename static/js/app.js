/* PrefLoop, every page: mark JS as present, let htmx show 400/409 answers, report other failures. */
(function () {
  "use strict";

  // CSS shows the plain-form controls only without JS (html:not(.js)) and the richer ones with it.
  document.documentElement.classList.add("js");

  // Form errors (400), conflicts (409) and too-large bodies (413) carry a message for the user:
  // swap them in like a success instead of dropping them as htmx does by default.
  var SHOWN_ERRORS = [400, 409, 413, 422];

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (SHOWN_ERRORS.indexOf(event.detail.xhr.status) !== -1) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  var toastTimer = null;

  function toast(message) {
    var box = document.querySelector(".toast");
    if (!box) {
      box = document.createElement("div");
      box.className = "toast";
      box.setAttribute("role", "alert");
      document.body.appendChild(box);
    }
    box.textContent = message;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { box.hidden = true; }, 8000);
  }

  window.PrefLoop = window.PrefLoop || {};
  window.PrefLoop.toast = toast;

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (SHOWN_ERRORS.indexOf(status) !== -1) return;
    var why = {
      403: "You are not allowed to do that.",
      404: "That page no longer exists, or you are not a member of its project.",
      429: "Too many requests; wait a moment and try again."
    }[status] || "The server could not do that (error " + status + "). Nothing on this page was lost; try again.";
    toast(why);
  });

  document.addEventListener("htmx:sendError", function () {
    toast("Could not reach the server. Nothing on this page was lost; check the connection and try again.");
  });
})();
