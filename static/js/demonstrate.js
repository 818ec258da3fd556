/* Demonstrations on the ranking page: "w" opens the editor; choosing a response copies its text in.
   Listeners are delegated on document, so they survive htmx swapping the stage. */
(function () {
  "use strict";

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "w" || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var panel = document.getElementById("demonstrate");
    if (!panel) return;
    event.preventDefault();
    panel.open = true;
    var text = panel.querySelector("[data-demonstrate-text]");
    if (text) text.focus();
  });

  document.addEventListener("change", function (event) {
    var select = event.target.closest && event.target.closest("[data-demonstrate-source]");
    if (!select) return;
    var option = select.options[select.selectedIndex];
    var text = select.form.querySelector("[data-demonstrate-text]");
    if (text && option && option.dataset.text !== undefined) text.value = option.dataset.text;
  });
})();
