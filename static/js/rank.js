/* PrefLoop ranking page: drag-and-drop (pointer events: mouse, pen and touch) and a key map.
 *
 * The cards of <ol data-rank-list> are the ranking, best first; a card with class "tied" has
 * the same rank as the card above it. Every change rewrites the hidden rank selects that the
 * plain (no-JS) form also uses, so the server reads one format: rank_<response id> = 1..K.
 * Listeners sit on the document, so comparisons swapped in by htmx need no re-binding.
 */
(function () {
  "use strict";

  var EDGE_PX = 70; // auto-scroll while dragging near the top/bottom of the window
  var drag = null;

  function currentForm() { return document.querySelector("#rank-stage form[data-rank-form]"); }
  function listOf(form) { return form ? form.querySelector("[data-rank-list]") : null; }
  function cardsOf(list) { return Array.prototype.filter.call(list.children, function (el) { return el.classList.contains("rank-card"); }); }
  function tiesAllowed(form) { return form.getAttribute("data-allow-ties") === "true"; }
  function labelOf(card) { return card.getAttribute("data-label"); }

  function announce(form, message) {
    var live = form.querySelector("[data-announce]");
    if (live) live.textContent = message;
  }

  /* ---- the arrangement as tie groups: [[card], [card, card], ...], best first ---- */

  function readGroups(list) {
    var groups = [];
    cardsOf(list).forEach(function (card) {
      if (card.classList.contains("tied") && groups.length) groups[groups.length - 1].push(card);
      else groups.push([card]);
    });
    return groups;
  }

  function locate(groups, card) {
    for (var g = 0; g < groups.length; g++) {
      var c = groups[g].indexOf(card);
      if (c !== -1) return [g, c];
    }
    return [-1, -1];
  }

  function without(groups, card) {
    return groups.map(function (g) { return g.filter(function (c) { return c !== card; }); })
      .filter(function (g) { return g.length > 0; });
  }

  function writeGroups(list, groups) {
    var focused = document.activeElement;
    var flat = [];
    groups.forEach(function (group, g) {
      group.forEach(function (card, c) {
        flat.push(card);
        var rank = g + 1;
        card.classList.toggle("tied", c > 0);
        var badge = card.querySelector("[data-rank-badge]");
        if (badge) badge.textContent = String(rank);
        var select = card.querySelector("[data-rank-select]");
        if (select) select.value = String(rank);
        card.setAttribute("aria-label", "Response " + labelOf(card) + ", rank " + rank + " of " + groups.length +
          (group.length > 1 ? ", tied" : ""));
      });
    });
    flat.forEach(function (card, i) {
      if (list.children[i] !== card) list.insertBefore(card, list.children[i] || null);
    });
    // Moving a focused node in the DOM blurs it; give focus back so key presses keep working.
    if (focused && focused !== document.activeElement && list.contains(focused)) focused.focus({ preventScroll: true });
  }

  function rankText(groups, card) {
    var pos = locate(groups, card);
    return "Response " + labelOf(card) + " is now rank " + (pos[0] + 1) + " of " + groups.length +
      (groups[pos[0]].length > 1 ? ", tied" : "") + ".";
  }

  /* ---- keyboard operations ---- */

  function placeAt(form, card, n) {
    var list = listOf(form);
    var groups = without(readGroups(list), card);
    groups.splice(Math.min(n - 1, groups.length), 0, [card]);
    settle(form, list, groups, card);
  }

  function moveBy(form, card, dir) {
    var list = listOf(form);
    var groups = readGroups(list);
    var pos = locate(groups, card);
    if (groups[pos[0]].length > 1) {
      // A tied card first steps out of its group, to just above or below it.
      groups = without(groups, card);
      groups.splice(pos[0] + (dir > 0 ? 1 : 0), 0, [card]);
    } else {
      var target = pos[0] + dir;
      if (target < 0 || target >= groups.length) return;
      groups.splice(pos[0], 1);
      groups.splice(target, 0, [card]);
    }
    settle(form, list, groups, card);
  }

  function tieWithAbove(form, card) {
    if (!tiesAllowed(form)) { announce(form, "Ties are not allowed in this project."); return; }
    var list = listOf(form);
    var cards = cardsOf(list);
    var i = cards.indexOf(card);
    if (i < 1) { announce(form, "The top card has nothing above it to tie with."); return; }
    var above = cards[i - 1];
    var groups = readGroups(list);
    var g = locate(groups, card)[0];
    if (locate(groups, above)[0] === g) {
      groups = without(groups, card); // already tied: untie, just below its old group
      groups.splice(g + 1, 0, [card]);
    } else {
      groups = without(groups, card);
      groups[locate(groups, above)[0]].push(card);
    }
    settle(form, list, groups, card);
  }

  function settle(form, list, groups, card) {
    writeGroups(list, groups);
    card.focus({ preventScroll: true });
    card.scrollIntoView({ block: "nearest" });
    announce(form, rankText(readGroups(list), card));
  }

  /* ---- drag and drop with pointer events ---- */

  function naturalTop(card) {
    // offsetTop ignores the transform that makes the card follow the pointer.
    return drag.list.getBoundingClientRect().top + card.offsetTop;
  }

  function follow() {
    var card = drag.card;
    var before = null;
    var others = cardsOf(drag.list);
    for (var i = 0; i < others.length; i++) {
      if (others[i] === card) continue;
      var r = others[i].getBoundingClientRect();
      if (drag.y < r.top + r.height / 2) { before = others[i]; break; }
    }
    if (card.nextElementSibling !== before) drag.list.insertBefore(card, before);
    card.style.transform = "translateY(" + Math.round(drag.y - drag.grab - naturalTop(card)) + "px)";
  }

  function autoScroll() {
    if (!drag) return;
    var step = 0;
    if (drag.y < EDGE_PX) step = -Math.ceil((EDGE_PX - drag.y) / 5);
    else if (drag.y > window.innerHeight - EDGE_PX) step = Math.ceil((drag.y - window.innerHeight + EDGE_PX) / 5);
    if (step) { window.scrollBy(0, step); follow(); }
    drag.frame = window.requestAnimationFrame(autoScroll);
  }

  function startDrag(event, card, handle) {
    var list = card.parentElement;
    var snapshot = cardsOf(list).map(function (c) { return [c, c.classList.contains("tied")]; });
    // Lift the card out of its tie group; the group keeps its other members together.
    var next = card.nextElementSibling;
    if (!card.classList.contains("tied") && next && next.classList.contains("tied")) next.classList.remove("tied");
    card.classList.remove("tied");
    var barHeight = handle.offsetHeight;
    var grab = Math.min(Math.max(event.clientY - card.getBoundingClientRect().top, 4), barHeight);
    drag = { list: list, card: card, handle: handle, pointerId: event.pointerId, y: event.clientY, grab: grab,
      startIndex: cardsOf(list).indexOf(card), snapshot: snapshot, moved: false, frame: 0 };
    list.classList.add("is-dragging");
    card.classList.add("dragging");
    try { handle.setPointerCapture(event.pointerId); } catch (e) { /* pointer already gone */ }
    follow();
    drag.frame = window.requestAnimationFrame(autoScroll);
  }

  function endDrag(cancelled) {
    var d = drag;
    drag = null;
    window.cancelAnimationFrame(d.frame);
    d.card.style.transform = "";
    d.card.classList.remove("dragging");
    d.list.classList.remove("is-dragging");
    var form = d.list.closest("form");
    var index = cardsOf(d.list).indexOf(d.card);
    if (cancelled || index === d.startIndex) {
      d.snapshot.forEach(function (pair) { d.list.appendChild(pair[0]); pair[0].classList.toggle("tied", pair[1]); });
    } else {
      var prev = d.card.previousElementSibling, next = d.card.nextElementSibling;
      // Dropped between two tied cards: it joins their group.
      if (tiesAllowed(form) && prev && next && next.classList.contains("tied")) d.card.classList.add("tied");
    }
    writeGroups(d.list, readGroups(d.list));
    d.card.focus({ preventScroll: true });
    if (index !== d.startIndex && !cancelled) {
      d.card.classList.add("dropped");
      setTimeout(function () { d.card.classList.remove("dropped"); }, 600);
      announce(form, rankText(readGroups(d.list), d.card));
    }
  }

  document.addEventListener("pointerdown", function (event) {
    var handle = event.target.closest("[data-drag-handle]");
    if (!handle || drag || event.button !== 0) return;
    if (event.target.closest("button, select, a, input, label, textarea")) return;
    var card = handle.closest(".rank-card");
    if (!card || !card.parentElement.matches("[data-rank-list]")) return;
    event.preventDefault(); // no text selection, no focus jump
    startDrag(event, card, handle);
  });

  document.addEventListener("pointermove", function (event) {
    if (!drag || event.pointerId !== drag.pointerId) return;
    drag.y = event.clientY;
    drag.moved = true;
    follow();
  });

  document.addEventListener("pointerup", function (event) {
    if (drag && event.pointerId === drag.pointerId) endDrag(false);
  });

  document.addEventListener("pointercancel", function (event) {
    if (drag && event.pointerId === drag.pointerId) endDrag(true);
  });

  /* ---- pairwise mode (K = 2) ---- */

  function choose(form, name, value) {
    var input = form.querySelector("input[name='" + name + "'][value='" + value + "']");
    if (!input) return false;
    input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  function updatePair(form) {
    var checked = form.querySelector("input[name=choice]:checked");
    var choice = checked ? checked.value : "";
    Array.prototype.forEach.call(form.querySelectorAll(".pair-card"), function (card) {
      card.classList.toggle("chosen", card.getAttribute("data-side") === choice);
    });
    var strength = form.querySelector("[data-strength]");
    if (strength) strength.classList.toggle("is-off", choice !== "a" && choice !== "b");
  }

  document.addEventListener("change", function (event) {
    var form = event.target.closest("form[data-rank-form]");
    if (form && event.target.name === "choice") updatePair(form);
  });

  /* ---- keys ---- */

  function isTyping(el) {
    if (!el || !el.tagName) return false;
    if (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
    return el.tagName === "INPUT" && !/^(checkbox|radio|button|submit|hidden)$/.test(el.type);
  }

  function toggle(form, selector) {
    var box = form.querySelector(selector);
    if (box) { box.checked = !box.checked; announce(form, box.parentElement.textContent.trim() + (box.checked ? ": on" : ": off")); }
  }

  function submit(form) {
    var button = form.querySelector("[data-submit]");
    if (form.requestSubmit) form.requestSubmit(button); else button.click();
  }

  function focusedCard(form) {
    var el = document.activeElement;
    return el && el.classList && el.classList.contains("rank-card") && form.contains(el) ? el : null;
  }

  function rankingKey(form, event) {
    var list = listOf(form);
    var cards = cardsOf(list);
    var card = focusedCard(form);
    var key = event.key;
    var index = card ? cards.indexOf(card) : -1;
    if (key === "ArrowDown" || key === "ArrowUp" || key === "j" || key === "k" || key === "J" || key === "K") {
      var dir = key === "ArrowDown" || key === "j" || key === "J" ? 1 : -1;
      if (card && event.shiftKey) moveBy(form, card, dir);
      else if (cards.length) cards[Math.max(0, Math.min(cards.length - 1, index + dir))].focus();
      return true;
    }
    if (/^[1-9]$/.test(key)) {
      var n = Number(key);
      if (n > cards.length) { announce(form, "There are only " + cards.length + " places."); return true; }
      if (!card) { cards[0].focus(); announce(form, "Focus a card first (arrow keys), then press its place."); return true; }
      placeAt(form, card, n);
      return true;
    }
    if (key === "t" && card) { tieWithAbove(form, card); return true; }
    if (key === "x") { toggle(form, "input[data-flag=all_bad]"); return true; }
    return false;
  }

  function pairKey(form, event) {
    var key = event.key;
    if (key === "a" || key === "ArrowLeft") return choose(form, "choice", "a");
    if (key === "b" || key === "ArrowRight") return choose(form, "choice", "b");
    if (key === "t") return choose(form, "choice", "tie") || true;
    if (key === "x") return choose(form, "choice", "both_bad");
    if (key === "1" || key === "2" || key === "3") return choose(form, "strength", key);
    return false;
  }

  function commonKey(form, event) {
    var target = event.target;
    switch (event.key) {
      case "Enter":
        if (target.closest && target.closest("button, a, summary")) return false; // let it click
        submit(form);
        return true;
      case "s": { var skip = form.querySelector("[data-skip]"); if (skip) skip.click(); return true; }
      case "u": { var undo = document.querySelector("#rank-stage [data-undo]"); if (undo) undo.click(); return true; }
      case "f": toggle(form, "input[data-flag=unsafe]"); return true;
      default: return false;
    }
  }

  function openHelp() {
    var dialog = document.getElementById("keymap-dialog");
    if (dialog && !dialog.open && dialog.showModal) dialog.showModal();
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || drag) return;
    var dialog = document.getElementById("keymap-dialog");
    if (dialog && dialog.open) return;
    if (isTyping(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    if (event.key === "?") { openHelp(); event.preventDefault(); return; }
    var form = currentForm();
    if (!form) {
      var undo = event.key === "u" && document.querySelector("#rank-stage [data-undo]");
      if (undo) { undo.click(); event.preventDefault(); }
      return;
    }
    var handled = listOf(form) ? rankingKey(form, event) : pairKey(form, event);
    if (handled || commonKey(form, event)) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var expand = event.target.closest("[data-expand]");
    if (expand) { toggleExpand(expand); return; }
    var tie = event.target.closest("[data-tie]");
    if (tie) { tieWithAbove(tie.closest("form"), tie.closest(".rank-card")); return; }
    if (event.target.closest("[data-keymap-open]")) openHelp();
  });

  /* ---- instructions remember being collapsed (per project, in this browser) ---- */

  function restoreDetails() {
    Array.prototype.forEach.call(document.querySelectorAll("details[data-remember]"), function (box) {
      var key = "prefloop:" + box.getAttribute("data-remember");
      try { if (window.localStorage.getItem(key) === "closed") box.open = false; } catch (e) { /* storage off */ }
      box.addEventListener("toggle", function () {
        try { window.localStorage.setItem(key, box.open ? "open" : "closed"); } catch (e) { /* storage off */ }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", restoreDetails);

  /* ---- long responses expand in place ---- */

  function markLong(root) {
    Array.prototype.forEach.call(root.querySelectorAll("[data-response-text]"), function (box) {
      var clip = box.querySelector("[data-clip]");
      var button = box.querySelector("[data-expand]");
      if (!clip || !button || box.classList.contains("is-expanded")) return;
      var long = clip.scrollHeight > clip.clientHeight + 8;
      box.classList.toggle("is-long", long);
      button.hidden = !long;
    });
  }

  function toggleExpand(button) {
    var box = button.closest("[data-response-text]");
    var open = !box.classList.contains("is-expanded");
    box.classList.toggle("is-expanded", open);
    button.setAttribute("aria-expanded", String(open));
    button.textContent = open ? "Show less" : "Show all";
    if (!open) box.scrollIntoView({ block: "nearest" });
  }

  /* ---- time spent, and wiring each comparison as it appears ---- */

  function activeMs(form) {
    return form._activeMs + (form._since === null ? 0 : performance.now() - form._since);
  }

  document.addEventListener("visibilitychange", function () {
    var form = currentForm();
    if (!form || form._activeMs === undefined) return;
    if (document.hidden) { form._activeMs = activeMs(form); form._since = null; }
    else form._since = performance.now();
  });

  // Capture phase: runs before htmx reads the form on the same submit event.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-rank-form]")) return;
    var spent = form.querySelector("input[name=time_spent_ms]");
    if (spent && form._activeMs !== undefined) spent.value = String(Math.round(activeMs(form)));
    var list = listOf(form);
    if (list) writeGroups(list, readGroups(list));
  }, true);

  function initStage() {
    var form = currentForm();
    if (!form || form._activeMs !== undefined) return;
    form._activeMs = 0;
    form._since = document.hidden ? null : performance.now();
    markLong(form);
    var list = listOf(form);
    if (list) {
      writeGroups(list, readGroups(list));
      var first = cardsOf(list)[0];
      if (first) first.focus({ preventScroll: true });
    } else {
      updatePair(form);
      var card = form.querySelector(".pair-card");
      if (card) card.focus({ preventScroll: true });
    }
  }

  document.addEventListener("DOMContentLoaded", initStage);
  document.addEventListener("htmx:load", initStage);
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id === "rank-feedback") {
      // A refused submit: bring its message into view and move focus there (screen readers too).
      var feedback = event.detail.target;
      feedback.scrollIntoView({ block: "nearest" });
      feedback.focus({ preventScroll: true });
      return;
    }
    var stage = document.getElementById("rank-stage");
    if (!stage || event.detail.target.id !== "rank-stage") return;
    initStage();
    if (stage.getBoundingClientRect().top < 0) stage.scrollIntoView({ block: "start" });
  });
})();
