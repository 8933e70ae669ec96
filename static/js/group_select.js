/*
 * The group page's member selection for a split, and its M key (the Merge page).
 *
 * Each member card carries a plain checkbox of the split form, so the page works without this
 * script. With it: Shift+click ticks the range from the last box ticked; on a focused box the
 * arrows move to the previous / next card, Shift+arrows extend the selection as they move,
 * Shift+Space ticks a range, S splits the selection off, Esc clears it. The count of selected
 * members is shown beside the Split button. The members section may be redrawn by htmx (a
 * removal, a pager link): the handlers are delegated, the count is refreshed after a swap.
 */
(function () {
  "use strict";

  var SELECT = "[data-select-member]";
  var anchor = null;

  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll(SELECT));
  }

  function refreshCount() {
    var all = boxes();
    var chosen = all.filter(function (box) { return box.checked; }).length;
    document.querySelectorAll("[data-selected-count]").forEach(function (element) {
      element.textContent = chosen ? chosen + " selected" : "";
    });
    document.querySelectorAll("[data-split-button]").forEach(function (button) {
      button.disabled = chosen === 0;
    });
    all.forEach(function (box) {
      var card = box.closest(".member-card");
      if (card) {
        card.classList.toggle("is-selected", box.checked);
      }
    });
  }

  function tickRange(from, to, checked) {
    var all = boxes();
    var start = all.indexOf(from);
    var end = all.indexOf(to);
    if (start < 0 || end < 0) {
      return;
    }
    var low = Math.min(start, end);
    var high = Math.max(start, end);
    for (var i = low; i <= high; i += 1) {
      all[i].checked = checked;
    }
  }

  document.addEventListener("click", function (event) {
    var box = event.target.closest && event.target.closest(SELECT);
    if (!box) {
      return;
    }
    if (event.shiftKey && anchor && anchor !== box && document.contains(anchor)) {
      tickRange(anchor, box, box.checked);
    }
    anchor = box;
    refreshCount();
  });

  function move(box, step, extend) {
    var all = boxes();
    var next = all[all.indexOf(box) + step];
    if (!next) {
      return;
    }
    if (extend) {
      if (!anchor || !document.contains(anchor)) {
        anchor = box;
      }
      box.checked = true;
      next.checked = true;
    }
    next.focus();
    next.closest(".member-card").scrollIntoView({ block: "nearest" });
    refreshCount();
  }

  document.addEventListener("keydown", function (event) {
    var box = event.target.closest && event.target.closest(SELECT);
    if (!box || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    var handled = true;
    switch (event.key) {
      case "ArrowRight":
      case "ArrowDown":
        move(box, 1, event.shiftKey);
        break;
      case "ArrowLeft":
      case "ArrowUp":
        move(box, -1, event.shiftKey);
        break;
      case " ":
        if (event.shiftKey && anchor && anchor !== box && document.contains(anchor)) {
          box.checked = !box.checked;
          tickRange(anchor, box, box.checked);
          anchor = box;
          refreshCount();
        } else {
          handled = false;  // the box's own toggle, then its click event
        }
        break;
      case "Escape":
        boxes().forEach(function (other) { other.checked = false; });
        anchor = null;
        refreshCount();
        break;
      case "s":
      case "S": {
        var button = document.querySelector("[data-split-button]");
        if (button && !button.disabled) {
          button.click();
        }
        break;
      }
      default:
        handled = false;
    }
    if (handled) {
      event.preventDefault();
    }
  });

  // M opens the Merge page (outside text fields; site.js leaves this key alone).
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    var target = event.target;
    if (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) {
      return;
    }
    if (event.key.toLowerCase() === "m") {
      var link = document.querySelector('[data-shortcut="m"]');
      if (link && link.href) {
        event.preventDefault();
        window.location.href = link.href;
      }
    }
  });

  document.addEventListener("DOMContentLoaded", refreshCount);
  document.addEventListener("htmx:afterSettle", refreshCount);
})();
