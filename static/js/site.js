/* The site's one small script: local times, keyboard shortcuts of the group pages and the
   check queue, and the remembered card size. Every control it drives is a plain link or form,
   so the pages work without it. htmx is loaded separately (vendored). */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  var CARD_SIZE_KEY = "groups.cardSize";
  var CARD_SIZES = ["small", "medium", "large"];

  /* --- <time datetime="...Z"> shown in the browser's local time ------------------------- */

  var dateFormat = { year: "numeric", month: "short", day: "numeric" };
  var dateTimeFormat = {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"
  };

  function renderTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (element) {
      if (element.dataset.localized) {
        return;
      }
      var value = element.getAttribute("datetime");
      var date = new Date(value);
      if (isNaN(date.getTime())) {
        return;
      }
      var options = element.dataset.format === "date" ? dateFormat : dateTimeFormat;
      element.title = value.replace("T", " ").replace("Z", " UTC");
      element.textContent = date.toLocaleString(undefined, options);
      element.dataset.localized = "1";
    });
  }

  /* --- card size on the group page, remembered per browser ------------------------------ */

  function storedCardSize() {
    try {
      var size = window.localStorage.getItem(CARD_SIZE_KEY);
      return CARD_SIZES.indexOf(size) >= 0 ? size : "medium";
    } catch (error) {
      return "medium";  // storage disabled: the default size
    }
  }

  function applyCardSize(size) {
    document.querySelectorAll("[data-card-grid]").forEach(function (grid) {
      grid.dataset.size = size;
    });
    document.querySelectorAll("[data-card-size]").forEach(function (button) {
      button.setAttribute("aria-pressed", button.dataset.cardSize === size ? "true" : "false");
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-card-size]");
    if (!button) {
      return;
    }
    try {
      window.localStorage.setItem(CARD_SIZE_KEY, button.dataset.cardSize);
    } catch (error) {
      /* not remembered, still applied */
    }
    applyCardSize(button.dataset.cardSize);
  });

  /* --- keyboard ------------------------------------------------------------------------- */

  function isTyping(event) {
    var target = event.target;
    if (target.isContentEditable) {
      return true;
    }
    return /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName) ||
      document.querySelector("dialog[open]") !== null;
  }

  function shortcut(name, root) {
    return (root || document).querySelector('[data-shortcut="' + name + '"]');
  }

  function follow(link) {
    if (link && link.href) {
      window.location.href = link.href;
    }
  }

  // Group page: V validates or unvalidates, J / K open the next / previous group.
  function groupPageKey(event, key) {
    if (key === "v") {
      var button = shortcut("v");
      if (button) {
        button.click();
        return true;
      }
    } else if (key === "j" || key === "k") {
      follow(shortcut(key));
      return true;
    }
    return false;
  }

  // Check queue: J / K move between cards, X is "Not this" on the focused card, C confirms the
  // focused look-closely card on its own, Enter confirms the page's other cards. After htmx
  // redraws the queue, focus returns to the card at the same position.
  var refocusIndex = null;

  function checkCards() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-check-card]"));
  }

  function focusCard(cards, index) {
    if (!cards.length) {
      return;
    }
    var card = cards[Math.max(0, Math.min(index, cards.length - 1))];
    cards.forEach(function (other) {
      other.classList.toggle("is-focused", other === card);
    });
    card.focus({ preventScroll: true });
    card.scrollIntoView({ block: "nearest" });
  }

  function checkPageKey(event, key) {
    var cards = checkCards();
    var current = document.activeElement && document.activeElement.closest("[data-check-card]");
    var index = current ? cards.indexOf(current) : -1;
    if (key === "j" || key === "k") {
      focusCard(cards, index < 0 ? 0 : index + (key === "j" ? 1 : -1));
      return true;
    }
    if ((key === "x" || key === "c") && current) {
      // Only a look-closely card has its own Confirm: C does nothing on the others.
      var button = shortcut(key, current);
      if (button) {
        refocusIndex = index;
        button.click();
        return true;
      }
    }
    if (key === "enter") {
      // Enter on a link or button keeps its own meaning.
      if (event.target.closest("a, button, summary")) {
        return false;
      }
      var confirm = shortcut("enter");
      if (confirm) {
        refocusIndex = 0;
        confirm.click();
        return true;
      }
    }
    return false;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (isTyping(event)) {
      return;
    }
    var key = event.key.toLowerCase();
    var handled = false;
    if (document.querySelector("[data-group-page]")) {
      handled = groupPageKey(event, key);
    } else if (document.querySelector("[data-check-queue]")) {
      handled = checkPageKey(event, key);
    }
    if (handled) {
      event.preventDefault();
    }
  });

  document.addEventListener("focusin", function (event) {
    var card = event.target.closest && event.target.closest("[data-check-card]");
    if (card) {
      checkCards().forEach(function (other) {
        other.classList.toggle("is-focused", other === card);
      });
    }
  });

  /* --- start, and again after every htmx swap --------------------------------------------- */

  function refresh(root) {
    renderTimes(root);
    applyCardSize(storedCardSize());
    if (refocusIndex !== null && document.querySelector("[data-check-queue]")) {
      var index = refocusIndex;
      refocusIndex = null;
      focusCard(checkCards(), index);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    refresh(document);
  });
  document.addEventListener("htmx:afterSettle", function () {
    refresh(document);
  });
})();
