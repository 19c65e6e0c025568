// Shelfmark's only script: wiring htmx to the server's conventions.
// Everything works without it (plain links and forms); it adds the live parts.
"use strict";

// htmx requests carry the CSRF token in a header; plain forms carry a field.
document.addEventListener("htmx:configRequest", (event) => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) {
    event.detail.headers["X-CSRF-Token"] = meta.content;
  }
});

// Enter submits the search form at once (an exact ISBN then opens its book),
// while the box's own live request for the same text may still be waiting out
// its typing delay. Sent after the submit, it would replace it (hx-sync), so
// skip it: the submitted request already asks for exactly that text.
let submittedSearch = null;
document.addEventListener("htmx:confirm", (event) => {
  const source = event.detail.elt;
  if (source.id === "search-form") {
    submittedSearch = source.elements.q.value;
  } else if (source.id === "q") {
    if (source.value === submittedSearch) {
      event.preventDefault();
    }
    submittedSearch = null;
  }
});

// A page restored from htmx's history cache keeps the DOM but not what was
// typed: put the search box back in step with the URL.
document.addEventListener("htmx:historyRestore", () => {
  const box = document.getElementById("q");
  if (box) {
    box.value = new URLSearchParams(window.location.search).get("q") || "";
  }
});

// A message has been read by the time the reader moves on: the snapshot htmx keeps for
// Back is taken without it, so Back does not say "Signed in" or "Saved" a second time.
document.addEventListener("htmx:beforeHistorySave", () => {
  const region = document.getElementById("flash");
  if (region) {
    region.replaceChildren();
  }
});

// Error answers land in #flash (base.html's htmx config); a request that got no
// answer at all says so there too, instead of silently doing nothing.
document.addEventListener("htmx:sendError", () => {
  const region = document.getElementById("flash");
  if (region) {
    const message = document.createElement("p");
    message.className = "flash error";
    message.setAttribute("role", "alert");
    message.textContent = "The library could not be reached. Check your connection and try again.";
    region.replaceChildren(message);
  }
});

// A region being reloaded is marked busy, so screen readers announce its new
// content once, when it has arrived, rather than the half-swapped state.
document.addEventListener("htmx:beforeRequest", (event) => {
  event.detail.target.setAttribute("aria-busy", "true");
});
document.addEventListener("htmx:afterRequest", (event) => {
  event.detail.target.removeAttribute("aria-busy");
});

// Elements marked data-autofocus take the focus back after every swap, so a
// barcode scanner's next scan always lands in the scan box.
document.addEventListener("htmx:afterSettle", () => {
  const target = document.querySelector("[data-autofocus]");
  if (target && document.activeElement !== target) {
    target.focus();
    if (typeof target.select === "function") {
      target.select();
    }
  }
});

// The scan box of the circulation desk (templates/desk/desk.html) and of a stocktake
// (templates/stocktake/stocktake.html): one queue, set up by the form's data- attributes.
// A barcode scanner types a code in about 50 ms and presses Enter, and the next scan may
// follow before the answer to this one is back. So each scan is taken the moment Enter is
// pressed (the code read and the box emptied in the submit handler, before any network),
// given its own line in the scan log, and queued; the queue sends one scan at a time, in
// order, each after the answer to the one before. A form submitted later by htmx would
// read the box only when it is sent, merging or splitting codes typed meanwhile.
//
// The form's attributes: data-scan-queue marks it; data-scan-message names the element
// of each answer holding the result (a .flash, moved into the scan's line) and of the page
// holding a result shown without JavaScript; data-scan-panel names the element the rest
// of the answer replaces; data-scan-fresh lists fields read when a scan is sent rather
// than when it was taken.
//
// At the desk that is the patron the desk shows (the hidden "patron" field, which every
// desk answer updates). Answers arrive in scan order, so when a scan is sent it is the
// patron the screen showed after every earlier scan, which is what the librarian meant
// (a card scanned and then four copies lends all four to that card's patron), and the
// server refuses the copy if the desk's patron has changed behind the screen's back
// (loans.desk_scan).
//
// A result may carry a form (.scan-question): the desk's question about a copy on loan to
// someone else, which holds the queue until it is answered (data-kind "ask"), or a
// stocktake's offer to check a copy in, which does not. Either is sent through the same
// queue, ahead of the scans waiting, and its answer replaces its line's result. A result
// marked data-attention (a stocktake's misplaced or found copy) sounds the attention tone.
(() => {
  const form = document.querySelector("form[data-scan-queue]");
  const logSection = document.getElementById("scan-log-section");
  if (!form || !logSection) {
    return;
  }
  const box = form.elements.code;
  const log = document.getElementById("scan-log");
  const panel = document.getElementById(form.dataset.scanPanel);
  const pageMessage = document.getElementById(form.dataset.scanMessage);
  const fresh = (form.dataset.scanFresh || "").split(" ").filter(Boolean);
  const said = document.getElementById("scan-said");
  const refusedRegion = document.getElementById("scan-refused");
  const soundsBox = document.getElementById("scan-sounds");
  const MAX_LINES = 200;
  const SOUNDS_KEY = "shelfmark.desk.sounds";
  const queue = [];
  let sending = false;
  let question = null; // the line whose question must be answered before the queue goes on

  logSection.hidden = false;
  soundsBox.checked = localStorage.getItem(SOUNDS_KEY) !== "off";
  soundsBox.addEventListener("change", () => {
    localStorage.setItem(SOUNDS_KEY, soundsBox.checked ? "on" : "off");
  });

  // Short tones from an oscillator: no media file to load or to be refused by the CSP.
  let audio = null;
  const TONES = {
    ok: [[880, 0.06]],
    refused: [
      [330, 0.18],
      [220, 0.3],
    ],
    attention: [
      [660, 0.15],
      [880, 0.15],
      [660, 0.15],
      [880, 0.25],
    ],
  };
  function play(kind) {
    if (!soundsBox.checked || !window.AudioContext) {
      return;
    }
    audio = audio || new AudioContext();
    let at = audio.currentTime;
    for (const [frequency, seconds] of TONES[kind]) {
      const oscillator = audio.createOscillator();
      const gain = audio.createGain();
      oscillator.type = kind === "refused" ? "square" : "sine";
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.12, at);
      gain.gain.exponentialRampToValueAtTime(0.001, at + seconds);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start(at);
      oscillator.stop(at + seconds);
      at += seconds + 0.04;
    }
  }

  function announce(region, text) {
    region.textContent = text;
  }

  function note(line, text, className) {
    const message = document.createElement("p");
    message.className = `flash ${className}`;
    message.textContent = text;
    line.querySelector(".flash")?.remove();
    line.append(message);
  }

  function addLine(code) {
    const line = document.createElement("li");
    const label = document.createElement("span");
    label.className = "scan-code";
    label.textContent = code;
    line.append(label);
    note(line, "Waiting to be sent…", "info");
    log.prepend(line);
    while (log.children.length > MAX_LINES) {
      log.lastElementChild.remove();
    }
    return line;
  }

  // A scan that got no answer: it and every scan after it are marked "not done" rather
  // than sent, since at the desk a card among them may have changed the patron.
  function stop(line, reason) {
    const text = `Not done: ${reason} Scan it again.`;
    note(line, text, "error");
    for (const waiting of queue.splice(0)) {
      note(waiting.line, "Not sent: an earlier scan failed. Scan it again.", "error");
    }
    announce(refusedRegion, text);
    play("refused");
  }

  async function send(action, fields, line) {
    const meta = document.querySelector('meta[name="csrf-token"]');
    let response;
    let body;
    try {
      response = await fetch(action, {
        method: "POST",
        body: new URLSearchParams(fields),
        headers: { "HX-Request": "true", "X-CSRF-Token": meta ? meta.content : "" },
        credentials: "same-origin",
      });
      body = await response.text();
    } catch {
      stop(line, "the library could not be reached.");
      return;
    }
    const answer = document.createElement("div");
    answer.innerHTML = body;
    const message = answer.querySelector(`#${CSS.escape(form.dataset.scanMessage)}`);
    const result = message && message.querySelector(".flash");
    if (!result) {
      stop(line, `the library did not answer (HTTP ${response.status}).`);
      return;
    }
    message.remove();
    line.querySelector(".flash")?.remove();
    line.append(result);
    // Only the line answered last offers what is marked data-latest-only (the desk's
    // Undo, which takes back the desk's last action).
    for (const latest of log.querySelectorAll("[data-latest-only]")) {
      if (!line.contains(latest)) {
        latest.remove();
      }
    }
    htmx.process(line);
    if (panel && answer.innerHTML.trim()) {
      htmx.swap(panel, answer.innerHTML, { swapStyle: "innerHTML" });
    }
    pageMessage?.replaceChildren();
    const kind = result.dataset.kind;
    const text = result.querySelector("p").textContent;
    if (!response.ok) {
      line.classList.add("refused");
      announce(refusedRegion, text);
      play("refused");
    } else if (kind === "ask") {
      question = line;
      announce(refusedRegion, `${text} The answers follow the scan box.`);
      play("attention");
    } else {
      announce(said, text);
      const dialog = result.querySelector("dialog");
      if (dialog) {
        dialog.addEventListener("close", () => box.focus());
        dialog.showModal();
        play("attention");
      } else {
        play(result.hasAttribute("data-attention") ? "attention" : "ok");
      }
    }
  }

  async function pump() {
    // An answer to a question goes first; scans wait while a question is open.
    if (sending || !queue.length || (question && !queue[0].answer)) {
      return;
    }
    const next = queue.shift();
    sending = true;
    if (!next.answer) {
      for (const name of fresh) {
        next.fields.set(name, form.elements[name].value);
      }
      note(next.line, "Sending…", "info");
    }
    await send(next.action, next.fields, next.line);
    sending = false;
    if (next.answer) {
      if (question === next.line) {
        question = null;
      }
      box.focus();
    }
    if (question) {
      for (const waiting of queue) {
        note(waiting.line, "Waiting: answer the question about the copy above first.", "info");
      }
    }
    pump();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const code = box.value.trim();
    box.value = "";
    if (!code) {
      return;
    }
    const fields = new FormData(form);
    fields.set("code", code);
    const line = addLine(code);
    if (question) {
      note(line, "Waiting: answer the question about the copy above first.", "info");
    }
    queue.push({ action: form.action, fields, line, answer: false });
    pump();
  });

  // An answer to a question (or an offer taken) is sent in its own line, ahead of the scans.
  log.addEventListener("submit", (event) => {
    const answerForm = event.target.closest(".scan-question");
    if (!answerForm) {
      return;
    }
    event.preventDefault();
    const line = answerForm.closest("li");
    const fields = new FormData(answerForm, event.submitter);
    answerForm.remove();
    queue.unshift({ action: answerForm.action, fields, line, answer: true });
    pump();
  });
})();

// Regions that reload while the librarian works elsewhere must not pull the focus back to
// the scan box (data-autofocus above): the desk's hold box, whose list follows the typing,
// and regions marked data-leaves-focus (a stocktake's progress, polled). Stopped here, in
// the capture phase, before that listener sees the swap.
document.addEventListener("htmx:afterSettle", (event) => {
  if (event.target.matches("#hold-results, [data-leaves-focus]")) {
    event.stopPropagation();
  }
}, true);

// Arrow keys move between the hold box and its "Hold for …" buttons; Escape
// goes back to the box. Tab reaches the same buttons without this.
document.addEventListener("keydown", (event) => {
  const box = document.getElementById("hold-book");
  const choices = Array.from(document.querySelectorAll("#hold-results [data-hold-choice]"));
  if (!box || !choices.length || !["ArrowDown", "ArrowUp", "Escape"].includes(event.key)) {
    return;
  }
  const index = choices.indexOf(document.activeElement);
  if (event.target !== box && index < 0) {
    return;
  }
  event.preventDefault();
  if (event.key === "Escape" || (event.key === "ArrowUp" && index <= 0)) {
    box.focus();
  } else if (event.key === "ArrowDown") {
    choices[Math.min(index + 1, choices.length - 1)].focus();
  } else {
    choices[index - 1].focus();
  }
});

// Slips (templates/desk/_slip_layout.html): the Print button needs JavaScript,
// so it stays hidden without it (the browser's own Print command still works).
for (const button of document.querySelectorAll("[data-print]")) {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
}

// The search page (templates/catalogue/search.html): history, title, announcements and
// scroll position. Each is a function of its own; they share only the page's elements.
(() => {
  const form = document.getElementById("search-form");
  const results = document.getElementById("search-results");
  const status = document.getElementById("search-status");
  if (!form || !results || !status) {
    return;
  }
  searchHistory(results);
  searchTitleAndAnnouncement(results, status);
  searchScrollRestore(results);
})();

// History: a search is one entry, not one per pause in the typing. The answers to live
// typing replace the current entry's address (the box's hx-replace-url); a submit, a pager
// link or opening a result then makes the search typed so far an entry of its own, so Back
// from it returns to the page as it was before the typing began.
function searchHistory(results) {
  // The address of the current entry before any typing changed it.
  let committed = window.location.href;

  function draftPending() {
    return window.location.href !== committed;
  }

  // Turn the typed search into its own entry, the entry before it keeping its address.
  function commitDraft() {
    if (draftPending()) {
      const draft = window.location.href;
      history.replaceState(history.state, "", committed);
      history.pushState(history.state, "", draft);
    }
    committed = window.location.href;
  }

  document.addEventListener("htmx:beforeHistoryUpdate", (event) => {
    const update = event.detail.history;
    if (event.detail.requestConfig.elt.id === "q") {
      update.type = "replace";
      return;
    }
    if (update.type !== "push") {
      return;
    }
    const target = new URL(update.path, window.location.href).href;
    if (target === committed) {
      update.type = "replace";
    } else if (draftPending()) {
      // htmx pushes the new address next: the entry it leaves gets its address back.
      history.replaceState(history.state, "", committed);
    }
  });
  document.addEventListener("htmx:pushedIntoHistory", () => {
    committed = window.location.href;
  });
  document.addEventListener("htmx:historyRestore", () => {
    committed = window.location.href;
  });
  results.addEventListener("click", (event) => {
    const link = event.target.closest("a[href]");
    if (link && !link.hasAttribute("hx-get") && isPlainClick(event)) {
      commitDraft();
    }
  });
}

// A click that opens the link in this tab (not a new tab or window).
function isPlainClick(event) {
  return event.button === 0 && !event.ctrlKey && !event.metaKey && !event.shiftKey && !event.altKey;
}

// The title names the search ("garden – Search – Shelfmark"), and screen readers hear only
// the count of results, politely, rather than the whole list read out at every keystroke.
function searchTitleAndAnnouncement(results, status) {
  const title = document.title;
  const suffix = title.slice(title.lastIndexOf("Search"));
  results.addEventListener("htmx:afterSettle", (event) => {
    if (event.target !== results) {
      return;
    }
    const text = (new URLSearchParams(window.location.search).get("q") || "").trim();
    document.title = text ? `${text} – ${suffix}` : suffix;
    const summary = results.querySelector(".result-count, .empty");
    status.textContent = summary ? summary.textContent.replace(/\s+/g, " ").trim() : "";
  });
}

// Back from a book returns to where the reader had scrolled in the results, and to the
// result they opened. The position is kept in the history entry itself, so each search
// in the history has its own; the search box's autofocus would otherwise scroll to the top.
function searchScrollRestore(results) {
  results.addEventListener("click", (event) => {
    const link = event.target.closest("a[href]");
    if (link && isPlainClick(event)) {
      const state = { ...(history.state || {}), scrollY: window.scrollY, opened: link.href };
      history.replaceState(state, "");
    }
  });
  const navigation = performance.getEntriesByType("navigation")[0];
  const saved = history.state;
  if (!navigation || navigation.type !== "back_forward" || !saved || saved.scrollY === undefined) {
    return;
  }
  function restore() {
    const opened = Array.from(results.querySelectorAll("a[href]")).find(
      (link) => link.href === saved.opened,
    );
    if (opened) {
      opened.focus({ preventScroll: true });
    }
    window.scrollTo(0, saved.scrollY);
  }
  if (document.readyState === "complete") {
    restore();
  } else {
    window.addEventListener("load", restore, { once: true });
  }
}

// My account (templates/account/_account.html): Renew and Cancel answer with the whole
// account, which would drop the focus to the top of the page. It stays on the row: on
// the same form's button, or on what replaced it (a renewal used up says why, in an
// element marked with the form's address); a cancelled hold's row is gone, so the focus
// goes to the heading of its list.
(() => {
  const account = document.getElementById("account");
  if (!account) {
    return;
  }
  let kept = null;
  account.addEventListener("htmx:beforeRequest", (event) => {
    const form = event.detail.elt.closest("form");
    const section = form && form.closest("section[aria-labelledby]");
    kept = form ? { key: form.getAttribute("action"), section } : null;
  });
  account.addEventListener("htmx:afterSettle", (event) => {
    if (event.target !== account || !kept) {
      return;
    }
    const { key, section } = kept;
    kept = null;
    const form = account.querySelector(`form[action="${CSS.escape(key)}"]`);
    const replaced = account.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
    const heading = section && document.getElementById(section.getAttribute("aria-labelledby"));
    const target = form ? form.querySelector("button") : replaced || heading;
    if (target) {
      if (target === replaced) {
        target.tabIndex = -1;
      }
      target.focus();
    }
  });
})();

// Actions that cannot be taken back in a click (withdraw a title, cancel a hold at the
// desk) ask first. Their forms carry the question in data-confirm (and the answers'
// words in data-confirm-yes, else the button's, and data-confirm-no): with JavaScript a small
// dialog asks it; the form is sent only after "yes", with confirmed=yes. Without
// JavaScript the server answers the unconfirmed form with the same question as a page.
(() => {
  let dialog = null;

  function confirmDialog() {
    if (dialog) {
      return dialog;
    }
    dialog = document.createElement("dialog");
    dialog.className = "confirm-dialog";
    dialog.setAttribute("aria-labelledby", "confirm-dialog-question");
    const question = document.createElement("h2");
    question.id = "confirm-dialog-question";
    const buttons = document.createElement("form");
    buttons.method = "dialog";
    buttons.className = "button-row";
    const yes = document.createElement("button");
    yes.value = "yes";
    yes.className = "danger";
    const no = document.createElement("button");
    no.value = "no";
    no.className = "secondary";
    buttons.append(yes, no);
    dialog.append(question, buttons);
    document.body.append(dialog);
    return dialog;
  }

  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target;
      if (!form.dataset || !form.dataset.confirm || form.elements.confirmed) {
        return;
      }
      // Stopped in the capture phase, before htmx or the browser send anything.
      event.preventDefault();
      event.stopPropagation();
      const submitter = event.submitter;
      const asking = confirmDialog();
      asking.querySelector("h2").textContent = form.dataset.confirm;
      const [yes, no] = asking.querySelectorAll("button");
      yes.textContent = form.dataset.confirmYes || submitter?.textContent || "Yes";
      no.textContent = form.dataset.confirmNo || "No";
      asking.returnValue = "";
      asking.addEventListener(
        "close",
        () => {
          if (asking.returnValue !== "yes") {
            submitter?.focus();
            return;
          }
          const confirmed = document.createElement("input");
          confirmed.type = "hidden";
          confirmed.name = "confirmed";
          confirmed.value = "yes";
          form.append(confirmed);
          form.requestSubmit(submitter);
          // Read by now: htmx and the browser collect the fields as the form is submitted.
          confirmed.remove();
        },
        { once: true },
      );
      asking.showModal();
      no.focus();
    },
    true,
  );
})();
