// Offline excerpts for search results. Sphinx's search fetches each result page to show an
// excerpt; browsers refuse that from file://. On the search page, those requests are answered
// from page-texts.js (each page's text, written at build time), so excerpts show offline and
// no request leaves the site.
(function () {
  "use strict";
  if (!/(^|\/)search\.html$/.test(window.location.pathname)) return;
  const root = new URL(document.documentElement.dataset.content_root || "./", window.location.href);
  const texts = new Promise((resolve) => {
    const script = document.createElement("script");
    script.src = new URL("_static/page-texts.js", root).href;
    script.onload = () => resolve(window.PAGE_TEXTS || {});
    script.onerror = () => resolve({});
    document.head.append(script);
  });
  const original = window.fetch ? window.fetch.bind(window) : null;
  function docname(input) {
    const url = new URL(typeof input === "string" ? input : input.url, window.location.href);
    if (!url.href.startsWith(root.href) || !url.pathname.endsWith(".html")) return null;
    return decodeURIComponent(url.href.slice(root.href.length).replace(/\.html(?:[?#].*)?$/, ""));
  }
  window.fetch = function (input, init) {
    const doc = docname(input);
    if (doc === null) return original(input, init);
    return texts.then((all) => {
      if (!(doc in all)) return original(input, init);
      // The page as its sections, each with its own text and id: Sphinx takes a section
      // hit's excerpt from the element with that id, and a page hit's from all of them.
      const main = document.createElement("div");
      main.setAttribute("role", "main");
      for (const [id, text] of all[doc]) {
        const section = document.createElement("section");
        if (id) section.id = id;
        section.textContent = text + " ";
        main.append(section);
      }
      return new Response("<!DOCTYPE html><html><body>" + main.outerHTML + "</body></html>", {
        headers: { "Content-Type": "text/html; charset=utf-8" },
      });
    });
  };
})();
