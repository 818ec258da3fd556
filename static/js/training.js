/* Training pages: show the tag field of the generate form only when "Prompts with a tag" is chosen. */
(function () {
  "use strict";

  function syncTagField(form) {
    var tagField = form.querySelector(".generate-tag");
    var picked = form.querySelector("input[name=which]:checked");
    if (tagField && picked) tagField.hidden = picked.value !== "tag";
  }

  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest(".generate-form");
    if (form && event.target.name === "which") syncTagField(form);
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".generate-form").forEach(syncTagField);
  });
})();
