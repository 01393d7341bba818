// The reader's setup: their Keras line, release and backend, picked once.
//
// Data: window.CLAIM_SETUPS (claims-setups.js, written at build time from the grid's results).
// The choice comes from `?setup=<id>` (a link can share it), else from localStorage, and is
// carried to every page by adding `?setup=` to the site's own links (from file://, some
// browsers give every page its own storage). With a setup: each claim box leads with one line
// for it and folds its ranges; version tabs switch to its line; the grid highlights it.
// Without JavaScript nothing of this runs and every page shows everything.
(function () {
  "use strict";
  const DATA = window.CLAIM_SETUPS;
  if (!DATA) return;
  // Each claim carries its distinct lines once and, per environment, the index of its line.
  for (const claim of Object.values(DATA.claims)) {
    if (!claim.lines) continue;
    for (const [env, i] of Object.entries(claim.envs)) claim.envs[env] = claim.lines[i];
  }
  const KEY = "layer-losses-setup";
  const OUTCOME_CLASS = {
    holds: "holds",
    "does not hold": "fails",
    "Keras refuses": "refuses",
    "not tested": "untested",
    "n/a": "na",
  };

  function vparts(v) {
    return v.split(".").map((x) => parseInt(x, 10) || 0);
  }
  function vcmp(a, b) {
    const x = vparts(a), y = vparts(b);
    for (let i = 0; i < Math.max(x.length, y.length); i++) {
      const d = (x[i] || 0) - (y[i] || 0);
      if (d) return d;
    }
    return 0;
  }
  function minorOf(v) {
    return v.split(".").slice(0, 2).join(".");
  }
  // The lines the grid runs on more than one backend (Keras 3; standalone Keras 2 on its
  // TensorFlow and on Theano): their setups' ids and names say the backend, as the grid's do.
  const MULTI = new Set(
    [...new Set(DATA.setups.map((s) => s.line + "|" + s.backend))]
      .map((k) => k.split("|")[0])
      .filter((line, i, all) => all.indexOf(line) !== i),
  );
  // Whether a setup's name says its backend: a choice on its line, or not the usual TensorFlow.
  function named(s) {
    return MULTI.has(s.line) || s.backend !== "tensorflow";
  }
  function runsOf(line, backend) {
    return DATA.setups
      .filter((s) => s.line === line && s.backend === backend)
      .sort((a, b) => vcmp(a.release, b.release));
  }
  function lineBackends() {
    const seen = new Map();
    for (const s of DATA.setups) {
      const k = s.line + "|" + s.backend;
      if (!seen.has(k)) seen.set(k, s);
    }
    return [...seen.values()];
  }

  // "keras-3.12.1-jax" (any release), "keras-3.12-jax" (the newest 3.12 the grid runs),
  // "keras-newest-jax", "tf.keras-2.13", or a cited line's id ("tf-2.2").
  function resolve(id) {
    if (!id) return null;
    const cited = DATA.cited.find((c) => c.id === id);
    if (cited) return { id, cited, label: cited.label, tabs: cited.tabs };
    const exact = DATA.setups.find((s) => s.id === id);
    if (exact) return { id, env: exact, label: exact.label, tabs: exact.tabs };
    const m = /^(keras|keras2|tf\.keras|tf_keras)-(newest|\d+(?:\.\d+){0,2})(?:-(jax|tensorflow|torch|theano))?$/.exec(id);
    if (!m) return null;
    // Without a backend: TensorFlow, or Theano for standalone Keras 2 (its only backend
    // before its TensorFlow ran: links made then still mean it).
    const runs = runsOf(m[1], m[3] || (m[1] === "keras2" ? "theano" : "tensorflow"));
    if (!runs.length) return null;
    if (m[2] === "newest") {
      const env = runs[runs.length - 1];
      return { id, env, label: env.label, tabs: env.tabs, newest: true };
    }
    const typed = m[2];
    // A release of a cited-only line (tf.keras 2.2-2.4) is that line.
    const asCited = DATA.cited.find((c) => c.line === m[1] &&
      vcmp(minorOf(typed), c.first) >= 0 && vcmp(minorOf(typed), c.last) <= 0);
    if (asCited) return { id: asCited.id, cited: asCited, label: asCited.label, tabs: asCited.tabs };
    const same = runs.find((s) => s.release === typed) ||
      runs.filter((s) => s.minor === typed).pop();
    if (same) return { id, env: same, label: same.label, tabs: same.tabs };
    // Only a release inside the line's span: 3.16 or tf-keras 2.10 is not one the grid knows.
    if (vcmp(minorOf(typed), runs[0].minor) < 0 || vcmp(minorOf(typed), runs[runs.length - 1].minor) > 0) return null;
    const below = runs.filter((s) => vcmp(s.release, typed) < 0).pop() || null;
    const above = runs.find((s) => vcmp(s.release, typed) > 0) || null;
    const near = below || above;
    const label = `${near.lineLabel} ${typed}` + (named(near) ? ` on ${near.backendLabel}` : "");
    return { id, between: [below, above].filter(Boolean), typed, label, tabs: near.tabs };
  }

  function chosenId() {
    const fromUrl = new URLSearchParams(window.location.search).get("setup");
    if (fromUrl) {
      remember(fromUrl);
      return fromUrl;
    }
    try {
      return window.localStorage.getItem(KEY);
    } catch (err) {
      return null;
    }
  }
  function remember(id) {
    try {
      if (id) window.localStorage.setItem(KEY, id);
      else window.localStorage.removeItem(KEY);
    } catch (err) {
      /* storage refused: the ?setup= links still carry the choice */
    }
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const c of children) node.append(c);
    return node;
  }

  // --- the picker -----------------------------------------------------------------------
  function picker(current) {
    const box = el("form", { class: "setup-picker", role: "search", "aria-label": "Your setup" });
    const lineSel = el("select", { "aria-label": "Keras line and backend", name: "line" });
    lineSel.append(el("option", { value: "" }, "Your Keras line…"));
    for (const s of lineBackends()) {
      const name = named(s) ? `${s.lineLabel} on ${s.backendLabel}` : s.lineLabel;
      lineSel.append(el("option", { value: s.line + "|" + s.backend }, name));
    }
    for (const c of DATA.cited) lineSel.append(el("option", { value: "cited|" + c.id }, c.label + " (cited)"));
    const relSel = el("select", { "aria-label": "Release", name: "release" });
    const typed = el("input", {
      type: "text", name: "typed", size: "7", placeholder: "or 3.12.1",
      "aria-label": "Your exact release", inputmode: "decimal",
    });
    const clear = el("button", { type: "button", class: "setup-clear" }, "Clear");
    const fill = () => {
      relSel.textContent = "";
      const [line, backend] = lineSel.value.split("|");
      if (!line || line === "cited") {
        // Nothing to pick before a line: no empty box (a cited line has no releases).
        relSel.disabled = relSel.hidden = true;
        typed.disabled = typed.hidden = true;
        return;
      }
      relSel.disabled = relSel.hidden = false;
      typed.disabled = typed.hidden = false;
      // The example is a release of the chosen line: "or 3.12.1", "or 2.9.2".
      const newest = runsOf(line, backend).slice(-1)[0];
      if (newest) typed.placeholder = `or ${newest.minor}.0`;
      relSel.append(el("option", { value: "" }, "Release…"));
      relSel.append(el("option", { value: "newest" }, "not sure: the newest"));
      for (const s of runsOf(line, backend).reverse()) relSel.append(el("option", { value: s.release }, s.release));
    };
    const idFor = () => {
      const [line, backend] = lineSel.value.split("|");
      if (!line) return null;
      if (line === "cited") return backend;
      const release = typed.value.trim() || relSel.value;
      if (!release) return undefined; // a line without its release yet: nothing to apply
      const b = MULTI.has(line) ? "-" + backend : "";
      return `${line}-${release}${b}`;
    };
    if (current) {
      const env = current.env || (current.between && current.between[0]);
      if (current.cited) lineSel.value = "cited|" + current.cited.id;
      else if (env) lineSel.value = env.line + "|" + env.backend;
      fill();
      if (current.newest) relSel.value = "newest";
      else if (current.env) relSel.value = current.env.release;
      else if (current.typed) {
        relSel.value = ""; // a release between two the grid runs: it is in the text field
        typed.value = current.typed;
      }
    } else fill();
    let leaving = false; // Enter fires the field's change and the form's submit: go once
    const apply = () => {
      const id = idFor();
      if (id === undefined || leaving) return;
      if (id && !resolve(id)) {
        const [line, backend] = lineSel.value.split("|");
        const runs = runsOf(line, backend);
        typed.setCustomValidity(runs.length
          ? `The grid runs ${runs[0].release} to ${runs[runs.length - 1].release} of this line`
          : "Not a release of this line");
        typed.reportValidity();
        return;
      }
      typed.setCustomValidity("");
      const chosen = id && resolve(id);
      const canonical = chosen ? chosen.id : id; // "tf.keras-2.2" is the cited tf-2.2
      remember(canonical);
      const url = new URL(window.location.href);
      if (canonical) url.searchParams.set("setup", canonical);
      else url.searchParams.delete("setup");
      leaving = true;
      window.location.replace(url.toString());
    };
    lineSel.addEventListener("change", () => {
      fill();
      typed.value = "";
      apply(); // applies a cited line at once; a grid line waits for its release
      if (!relSel.disabled) relSel.focus();
    });
    relSel.addEventListener("change", () => {
      typed.value = "";
      apply();
    });
    typed.addEventListener("change", apply);
    box.addEventListener("submit", (e) => {
      e.preventDefault();
      apply();
    });
    clear.addEventListener("click", () => {
      lineSel.value = "";
      typed.value = "";
      apply();
    });
    const status = el("span", { class: "setup-status" },
      current ? `Showing: ${current.label}` : "Pick your setup: every box then leads with it.");
    box.append(el("span", { class: "setup-title" }, "Your setup"), lineSel, relSel, typed, clear, status);
    return box;
  }

  // --- what each claim says for the setup ------------------------------------------------
  let citedWhySaid = false;
  function lineFor(claimId, setup) {
    const claim = DATA.claims[claimId];
    if (!claim) return null;
    const p = el("p", { class: "claim-yours" });
    if (setup.cited) {
      p.classList.add("claim-yours-cited");
      // The reason once per page; the other boxes say only what it is.
      const why = citedWhySaid ? "" : " (" + setup.cited.why + ")";
      citedWhySaid = true;
      p.append(el("strong", {}, setup.label + ": "), "cited, not executed" + why + ". ");
      // Where its own code is: the call chain has a tab for every cited line.
      const root = document.documentElement.dataset.content_root || "";
      p.append(el("a", { href: `${root}call-chain.html?setup=${encodeURIComponent(setup.id)}` },
        `Read ${setup.label}'s own code`), ".");
      return p;
    }
    const one = (env) => {
      const r = claim.envs[env.id];
      const span = el("span", { class: "claim-yours-" + (OUTCOME_CLASS[r.outcome] || "na") });
      span.append(el("strong", {}, env.label + ": "), r.text);
      return span;
    };
    if (setup.env) {
      p.classList.add("outcome-" + (OUTCOME_CLASS[claim.envs[setup.env.id].outcome] || "na"));
      p.append(one(setup.env));
      return p;
    }
    p.classList.add("claim-yours-between");
    p.append(el("strong", {}, setup.label + " is not run by the grid. "),
      "Nearest executed releases:");
    for (const env of setup.between) p.append(el("br"), one(env));
    return p;
  }

  function boxes(setup) {
    for (const box of document.querySelectorAll(".claim.admonition[id^='claim-']")) {
      const id = box.id.slice("claim-".length);
      const line = lineFor(id, setup);
      if (!line) continue;
      const statement = box.querySelector(":scope > p:not(.admonition-title)");
      (statement || box.firstElementChild).after(line);
      for (const d of box.querySelectorAll("details.claim-details")) d.open = false;
    }
    const near = setup.cited ? nearestExecuted(setup.cited) : null;
    if (setup.cited) citedDigest(setup, near);
    for (const item of document.querySelectorAll("[data-setup-claim]")) {
      const r = DATA.claims[item.dataset.setupClaim];
      if (!r || (setup.cited && !near)) continue;
      // The outcome only (the box it links to has the numbers); between two executed
      // releases, both neighbours' outcomes; for a cited line, its nearest executed release's.
      const envs = setup.env ? [setup.env] : setup.cited ? [near] : setup.between;
      for (const env of envs) {
        const res = r.envs[env.id];
        if (!res) continue;
        const said = res.short; // the outcome and its variant count, without the numbers
        item.append(el("span", { class: "digest-outcome claim-yours-" + (OUTCOME_CLASS[res.outcome] || "na") },
          setup.env ? said : `${env.release}: ${said}`));
      }
    }
  }

  // The first release the grid runs after a cited line, in the same major version
  // (tf.keras 2.5 for 2.2-2.4).
  function nearestExecuted(cited) {
    const major = (v) => v.split(".")[0];
    return runsOf(cited.line, "tensorflow")
      .find((s) => major(s.minor) === major(cited.last) && vcmp(s.minor, cited.last) > 0) || null;
  }

  // A cited line has no measured outcomes: the digest says whose outcomes it shows instead,
  // and leads to the line's own code on the page.
  function citedDigest(setup, near) {
    const own = [...document.querySelectorAll(".sd-tab-set > label[data-sync-id]")]
      .find((l) => l.dataset.syncId === setup.tabs[0]);
    for (const digest of document.querySelectorAll(".claim-digest")) {
      const said = near
        ? `cited, not executed. Each line below is what the grid measured on ${near.label}, the nearest executed release. `
        : "cited, not executed, so nothing below was measured on it. ";
      const p = el("p", { class: "claim-yours claim-yours-cited" }, el("strong", {}, setup.label + ": "), said);
      if (own) {
        // The section's heading, so the link lands on it (not below it); else the tab set.
        const set = own.closest(".sd-tab-set");
        const section = set.closest("section[id]");
        if (!section && !set.id) set.id = "setup-own-code";
        const target = section ? section.id : set.id;
        p.append(el("a", { href: "#" + target }, `Its own code, line by line: “${own.textContent.trim()}”`), ".");
      }
      digest.before(p);
    }
  }

  // --- tabs: the setup's line, or the nearest one the page has ----------------------------
  function tabs(setup) {
    if (!setup.tabs.length) return;
    for (const set of document.querySelectorAll(".sd-tab-set")) {
      const labels = [...set.querySelectorAll(":scope > label[data-sync-id]")];
      if (!labels.length) continue;
      const want = setup.tabs.find((t) => labels.some((l) => l.dataset.syncId === t));
      if (!want) continue;
      const label = labels.find((l) => l.dataset.syncId === want);
      // Check the radio itself: a click would also scroll the page to keep the label in place.
      const input = label.previousElementSibling;
      if (input instanceof HTMLInputElement) input.checked = true;
      if (want !== setup.tabs[0]) {
        const note = el("p", { class: "setup-tab-note" },
          `No tab for ${setup.label} on this page: showing “${label.textContent.trim()}”, the nearest.`);
        set.before(note);
      }
    }
  }

  // --- code blocks: whose code is shown, when it is another release of the reader's line ------
  // The claims a block stands for: those the paragraphs just before it link to.
  function claimsBefore(node) {
    const ids = [];
    let prev = node.previousElementSibling;
    for (let i = 0; prev && i < 3 && !/^H[1-6]$/.test(prev.tagName) && !prev.matches("section"); i++) {
      for (const a of prev.querySelectorAll("a[href*='#claim-']")) {
        const id = a.getAttribute("href").split("#claim-")[1];
        if (DATA.claims[id] && !ids.includes(id)) ids.push(id);
      }
      prev = prev.previousElementSibling;
    }
    return ids;
  }
  // A claim's box: on this page, or on the page that holds it.
  function claimHref(id) {
    const here = document.getElementById("claim-" + id);
    const page = DATA.claims[id] && DATA.claims[id].page;
    if (here || !page) return "#claim-" + id;
    return (document.documentElement.dataset.content_root || "") + page + "#claim-" + id;
  }
  function codeNotes(setup) {
    const env = setup.env || (setup.between && setup.between[0]);
    if (!env || !DATA.code) return;
    for (const block of document.querySelectorAll(".pincite-source")) {
      const cls = [...block.classList].find((c) => c.startsWith("pincite-release-"));
      const code = cls && DATA.code[cls.slice("pincite-release-".length)];
      if (!code || code.line !== env.line) continue;
      // tf.keras's code is the `keras` package of its minor, whichever TensorFlow patch.
      if (code.line === "tf.keras" ? code.minor === env.minor : code.release === env.release) continue;
      const anchor = block.closest(".sd-tab-set") || block;
      const note = el("div", { class: "setup-code-note", role: "note" });
      note.append(el("strong", {}, `This is ${code.label}'s code, not ${setup.label}'s.`),
        " Measured on yours:");
      const ids = claimsBefore(anchor);
      if (!ids.length) note.append(" no claim is tied to this block; the boxes on this page say what differs.");
      for (const id of ids) {
        const r = DATA.claims[id].envs[env.id];
        const link = el("a", { href: claimHref(id) }, DATA.claims[id].title);
        note.append(el("br"), link, ": ",
          el("span", { class: "claim-yours-" + (OUTCOME_CLASS[r.outcome] || "na") }, r.text));
      }
      block.before(note);
    }
  }

  // --- the grid: the setup's cells ------------------------------------------------------------
  function grid(setup) {
    // A cited line has no cells: its nearest executed release is outlined, and said to be.
    const near = setup.cited ? nearestExecuted(setup.cited) : null;
    const envs = setup.env ? [setup.env] : near ? [near] : setup.between || [];
    let outlined = 0;
    for (const env of envs) {
      for (const cell of document.querySelectorAll(`[data-env="${CSS.escape(env.id)}"]`)) {
        cell.classList.add("yours");
        outlined += 1;
      }
    }
    const legend = document.querySelector(".grid-legend");
    if (setup.cited && legend) {
      const said = near && outlined
        ? `cited, not executed: no cell is yours. Outlined is ${near.label}, the nearest executed release.`
        : "cited, not executed: no cell is yours.";
      legend.before(el("p", { class: "claim-yours claim-yours-cited grid-cited" }, el("strong", {}, setup.label + ": "), said));
    }
  }

  // --- every link of the site carries the choice ------------------------------------------------
  function links(id, root) {
    for (const a of (root || document).querySelectorAll("a[href]")) {
      const href = a.getAttribute("href");
      if (!href || /^[a-z]+:/i.test(href) || href.startsWith("#") || href.startsWith("//")) continue;
      if (!/\.html(?:$|[?#])|\/(?:$|[?#])/.test(href)) continue;
      const [path, hash] = href.split("#");
      const [file, query] = path.split("?");
      const params = new URLSearchParams(query || "");
      if (params.get("setup") === id) continue;
      params.set("setup", id);
      a.setAttribute("href", `${file}?${params}` + (hash !== undefined ? "#" + hash : ""));
    }
  }
  // Search results arrive after the page has loaded: their links carry the choice too.
  function searchLinks(id) {
    const results = document.getElementById("search-results");
    if (!results) return;
    new MutationObserver(() => links(id, results)).observe(results, { childList: true, subtree: true });
  }

  // A tap on a cell (a phone has no hover for its tooltip) says what the cell is, below the
  // claim's title.
  function cellTaps() {
    document.addEventListener("click", (e) => {
      const cell = e.target instanceof Element && e.target.closest(".grid-cell[data-env]");
      const claim = cell && cell.closest(".grid-claim");
      if (!claim) return;
      let said = claim.querySelector(":scope > .grid-tap");
      if (!said) {
        said = el("p", { class: "grid-tap", "aria-live": "polite" });
        const title = claim.querySelector(".grid-claim-title");
        if (title) title.after(said);
        else claim.prepend(said);
      }
      said.textContent = cell.getAttribute("title");
    });
  }

  function main() {
    cellTaps();
    const id = chosenId();
    const setup = resolve(id);
    const article = document.querySelector("article[role=main]") || document.querySelector("main") || document.body;
    article.prepend(picker(setup));
    // With JavaScript the boxes are short: statement, the setup's line, ranges folded.
    for (const d of document.querySelectorAll("details.claim-details")) d.open = false;
    if (!setup) return;
    document.documentElement.dataset.setup = setup.id;
    boxes(setup);
    tabs(setup);
    codeNotes(setup);
    grid(setup);
    links(setup.id);
    searchLinks(setup.id);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", main);
  else main();
})();
