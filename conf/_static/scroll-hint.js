// A code block or formula wider than the screen says so: it gets the class `scrolls`, which
// draws a fade at its right edge (pincite.css) until the reader scrolls it to the end.
(function () {
  "use strict";
  function mark() {
    for (const box of document.querySelectorAll("div.highlight, div.math")) {
      const inner = box.matches("div.highlight") ? box.querySelector("pre") : box;
      if (!inner) continue;
      const wide = inner.scrollWidth > inner.clientWidth + 1;
      box.classList.toggle("scrolls", wide);
      if (wide && !inner.dataset.scrollHint) {
        inner.dataset.scrollHint = "1";
        inner.addEventListener("scroll", () => {
          const end = inner.scrollLeft + inner.clientWidth >= inner.scrollWidth - 2;
          box.classList.toggle("scrolled-to-end", end);
        }, { passive: true });
      }
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mark);
  else mark();
  window.addEventListener("load", mark);
  window.addEventListener("resize", mark);
})();
