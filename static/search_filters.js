// Search filters (issue #21). The live search sends the whole search form, so a
// filter left at its default is dropped from the request: the address a live
// search pushes stays /search?q=… until a reader sets a filter.
document.addEventListener("htmx:configRequest", (event) => {
  const form = event.detail.elt.closest && event.detail.elt.closest("#search-form");
  if (!form) {
    return;
  }
  const parameters = event.detail.parameters;
  for (const name of ["available", "language", "item_type", "year_from", "year_to", "sort"]) {
    const value = parameters[name];
    if (value === "" || (name === "sort" && value === "relevance")) {
      delete parameters[name];
    }
  }
});
