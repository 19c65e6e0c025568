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

// A scan box empties as soon as its scan is sent, so the scanner's next barcode
// starts afresh even while the answer to the last one is on its way.
document.addEventListener("htmx:beforeSend", (event) => {
  const form = event.detail.elt;
  const box = form instanceof HTMLFormElement ? form.querySelector("[data-autofocus]") : null;
  if (box) {
    box.value = "";
  }
});

// The desk's hold box lists matching titles as the librarian types. Its answer
// must not pull the focus back to the scan box (data-autofocus above): stopped
// here, in the capture phase, before that listener sees the swap.
document.addEventListener("htmx:afterSettle", (event) => {
  if (event.target.id === "hold-results") {
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
