// Search filters (issue #21). The live search sends the whole search form, so a
// control still at its default (its data-default attribute) is dropped from the
// request: the address a live search pushes stays /search?q=… until a reader sets a
// filter. The controls say what their defaults are, so this script knows no names.
document.addEventListener("htmx:configRequest", (event) => {
  const form = event.detail.elt.closest && event.detail.elt.closest("#search-form");
  if (!form) {
    return;
  }
  const parameters = event.detail.parameters;
  for (const control of form.querySelectorAll("[data-default]")) {
    if (parameters[control.name] === control.dataset.default) {
      delete parameters[control.name];
    }
  }
});
