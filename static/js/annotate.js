/*
 * The annotation page (SPEC §6.4): frame player, active cluster, keyboard map.
 *
 * The page works without this script (plain radio buttons and checkboxes, every frame shown).
 * The keys are not defined here: each control carries its key in `data-key`, rendered by the
 * server from one map. Keys are inactive while a text field or a dialog has focus.
 */
(function () {
  "use strict";

  const root = document.querySelector("[data-annotate]");
  if (!root) {
    return;
  }
  document.documentElement.classList.add("js");

  const form = root.querySelector("[data-annotate-form]");
  const cards = Array.from(root.querySelectorAll("[data-cluster-card]"));
  const player = root.querySelector("[data-player]");
  const PLAY_INTERVAL_MS = 500;

  // --- active cluster ------------------------------------------------------------------------

  let active = 0;

  function setActive(index, scroll) {
    if (!cards.length) {
      return;
    }
    active = Math.max(0, Math.min(cards.length - 1, index));
    cards.forEach(function (card, i) {
      card.classList.toggle("is-active", i === active);
      if (i === active) {
        card.setAttribute("aria-current", "true");
      } else {
        card.removeAttribute("aria-current");
      }
    });
    root.querySelectorAll(".cluster-box").forEach(function (rect) {
      rect.classList.toggle("is-active", Number(rect.dataset.cluster) === active);
    });
    if (scroll) {
      cards[active].scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  }

  cards.forEach(function (card, i) {
    card.addEventListener("focusin", function () {
      setActive(i, false);
    });
    card.addEventListener("click", function () {
      setActive(i, false);
    });
  });

  // Smoke type XOR false-positive types: choosing one kind clears the other.
  function clearSmoke(card) {
    const blank = card.querySelector('input[type="radio"][value=""]');
    if (blank) {
      blank.checked = true;
    }
    card.querySelectorAll('.smoke-choice input[type="radio"]').forEach(function (input) {
      input.checked = false;
    });
  }

  function clearFalsePositives(card) {
    card.querySelectorAll('.fp-choice input[type="checkbox"]').forEach(function (input) {
      input.checked = false;
    });
  }

  root.addEventListener("change", function (event) {
    const input = event.target;
    const card = input.closest("[data-cluster-card]");
    if (!card || !input.checked) {
      return;
    }
    if (input.closest(".smoke-choice")) {
      clearFalsePositives(card);
    } else if (input.closest(".fp-choice")) {
      clearSmoke(card);
    }
  });

  function chooseSmoke(key) {
    const card = cards[active];
    const input = card && card.querySelector('.smoke-choice input[data-key="' + key + '"]');
    if (!input) {
      return false;
    }
    input.checked = true;
    clearFalsePositives(card);
    return true;
  }

  function toggleFalsePositive(key) {
    const card = cards[active];
    const input = card && card.querySelector('.fp-choice input[data-key="' + key + '"]');
    if (!input) {
      return false;
    }
    input.checked = !input.checked;
    if (input.checked) {
      clearSmoke(card);
    }
    return true;
  }

  // Keys outside the cluster cards: missed smoke (radios) and Unsure (checkbox).
  function pressQuestion(key) {
    const input = form.querySelector('.questions input[data-key="' + key + '"]');
    if (!input) {
      return false;
    }
    input.checked = input.type === "checkbox" ? !input.checked : true;
    return true;
  }

  // A second submit button with its own key ("Save and validate the group").
  function pressSubmit(key) {
    const button = form.querySelector('button[data-submit-key="' + key + '"]');
    if (!button) {
      return false;
    }
    form.requestSubmit(button);
    return true;
  }

  // --- player --------------------------------------------------------------------------------

  const frames = player ? Array.from(player.querySelectorAll("[data-frame]")) : [];
  const controls = player && player.querySelector("[data-player-controls]");
  const slider = player && player.querySelector("[data-slider]");
  const counter = player && player.querySelector("[data-counter]");
  const playButton = player && player.querySelector("[data-play]");
  let current = 0;
  let timer = null;

  function showFrame(index) {
    if (!frames.length) {
      return;
    }
    current = (index + frames.length) % frames.length;
    frames.forEach(function (frame, i) {
      frame.classList.toggle("is-current", i === current);
    });
    slider.value = String(current + 1);
    counter.textContent = "Frame " + (current + 1) + " / " + frames.length;
  }

  function setPlaying(playing) {
    if (!playButton) {
      return;
    }
    if (timer) {
      clearInterval(timer);
      timer = null;
    }
    if (playing && frames.length > 1) {
      timer = setInterval(function () {
        showFrame(current + 1);
      }, PLAY_INTERVAL_MS);
    }
    playButton.setAttribute("aria-pressed", timer ? "true" : "false");
    playButton.textContent = timer ? "Pause" : "Play";
  }

  if (frames.length) {
    player.classList.add("is-playing-one");
    controls.hidden = false;
    slider.addEventListener("input", function () {
      showFrame(Number(slider.value) - 1);
    });
    playButton.addEventListener("click", function () {
      setPlaying(!timer);
    });
    // Warm the cache so that playing never waits for a lazy image.
    frames.forEach(function (frame) {
      frame.querySelectorAll("img").forEach(function (img) {
        new Image().src = img.currentSrc || img.src;  // the frame and its crop
      });
    });
    showFrame(0);
  }

  // --- banner --------------------------------------------------------------------------------

  document.querySelectorAll("[data-dismiss]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      const banner = link.closest("[data-banner]");
      if (banner) {
        banner.remove();
      }
    });
  });

  // --- keyboard ------------------------------------------------------------------------------

  const TEXT_INPUT_TYPES = ["text", "search", "email", "number", "password", "tel", "url",
    "date", "datetime-local", "month", "time", "week"];

  function typingInto(element) {
    if (!element || element === document.body) {
      return false;
    }
    if (element.isContentEditable || element.tagName === "TEXTAREA" || element.tagName === "SELECT") {
      return true;
    }
    return element.tagName === "INPUT" && TEXT_INPUT_TYPES.indexOf(element.type) !== -1;
  }

  function inDialog(element) {
    return Boolean(element && element.closest && element.closest("dialog, [role='dialog'], [role='alertdialog']"));
  }

  // Enter and Space keep their own meaning on links and buttons (follow, press).
  function activatable(element) {
    return Boolean(element && element.closest && element.closest("a[href], button, summary"));
  }

  document.addEventListener("keydown", function (event) {
    const target = document.activeElement;
    if (event.defaultPrevented || event.isComposing || typingInto(target) || inDialog(target)) {
      return;
    }
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "z") {
      event.preventDefault();
      form.reset();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    let handled = true;
    switch (event.key) {
      case "ArrowUp":
        setActive(active - 1, true);
        break;
      case "ArrowDown":
        setActive(active + 1, true);
        break;
      case "ArrowLeft":
        setPlaying(false);
        showFrame(current - 1);
        break;
      case "ArrowRight":
        setPlaying(false);
        showFrame(current + 1);
        break;
      case " ":
        handled = !activatable(target) && frames.length > 0;
        if (handled) {
          setPlaying(!timer);
        }
        break;
      case "Enter":
        handled = !activatable(target);
        if (handled) {
          form.requestSubmit();
        }
        break;
      default: {
        const key = event.key.length === 1 ? event.key.toUpperCase() : "";
        handled = Boolean(key) && (chooseSmoke(key) || toggleFalsePositive(key) || pressQuestion(key) ||
          pressSubmit(key));
      }
    }
    if (handled) {
      event.preventDefault();
    }
  });

  setActive(Math.max(0, cards.findIndex(function (card) {
    return card.classList.contains("has-error");
  })), false);
})();
