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

// A page restored from htmx's history cache keeps the DOM but not what was
// typed: put the search box back in step with the URL.
document.addEventListener("htmx:historyRestore", () => {
  const box = document.getElementById("q");
  if (box) {
    box.value = new URLSearchParams(window.location.search).get("q") || "";
  }
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
