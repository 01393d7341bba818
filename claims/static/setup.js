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

  // "keras-3.12-jax" (a release the grid runs), "keras-3.12.1-jax" (any release),
  // "keras-newest-jax", "tf.keras-2.13", or a cited line's id ("tf-2.2").
  function resolve(id) {
    if (!id) return null;
    const cited = DATA.cited.find((c) => c.id === id);
    if (cited) return { id, cited, label: cited.label, tabs: cited.tabs };
    const exact = DATA.setups.find((s) => s.id === id);
    if (exact) return { id, env: exact, label: exact.label, tabs: exact.tabs };
    const m = /^(keras|tf\.keras|tf_keras)-(newest|\d+(?:\.\d+){0,2})(?:-(jax|tensorflow|torch))?$/.exec(id);
    if (!m) return null;
    const runs = runsOf(m[1], m[3] || "tensorflow");
    if (!runs.length) return null;
    if (m[2] === "newest") {
      const env = runs[runs.length - 1];
      return { id, env, label: env.label, tabs: env.tabs, newest: true };
    }
    const typed = m[2];
    const same = runs.find((s) => s.release === typed || s.minor === typed);
    if (same) return { id, env: same, label: same.label, tabs: same.tabs };
    const below = runs.filter((s) => vcmp(s.release, typed) < 0).pop() || null;
    const above = runs.find((s) => vcmp(s.release, typed) > 0) || null;
    const near = below || above;
    const label = `${near.lineLabel} ${typed}` + (near.line === "keras" ? ` on ${near.backendLabel}` : "");
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
      const name = s.line === "keras" ? `${s.lineLabel} on ${s.backendLabel}` : s.lineLabel;
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
        relSel.disabled = true;
        typed.disabled = true;
        return;
      }
      relSel.disabled = false;
      typed.disabled = false;
      relSel.append(el("option", { value: "newest" }, "not sure: the newest"));
      for (const s of runsOf(line, backend).reverse()) relSel.append(el("option", { value: s.minor }, s.release));
    };
    const idFor = () => {
      const [line, backend] = lineSel.value.split("|");
      if (!line) return null;
      if (line === "cited") return backend;
      const release = typed.value.trim() || relSel.value;
      const b = line === "keras" ? "-" + backend : "";
      return `${line}-${release}${b}`;
    };
    if (current) {
      const env = current.env || (current.between && current.between[0]);
      if (current.cited) lineSel.value = "cited|" + current.cited.id;
      else if (env) lineSel.value = env.line + "|" + env.backend;
      fill();
      if (current.newest) relSel.value = "newest";
      else if (current.env) relSel.value = current.env.minor;
      else if (current.typed) typed.value = current.typed;
    } else fill();
    const apply = () => {
      const id = idFor();
      if (id && !resolve(id)) {
        typed.setCustomValidity("Not a release of this line");
        typed.reportValidity();
        return;
      }
      typed.setCustomValidity("");
      remember(id);
      const url = new URL(window.location.href);
      if (id) url.searchParams.set("setup", id);
      else url.searchParams.delete("setup");
      window.location.replace(url.toString());
    };
    lineSel.addEventListener("change", () => {
      fill();
      typed.value = "";
      apply();
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
  function lineFor(claimId, setup) {
    const claim = DATA.claims[claimId];
    if (!claim) return null;
    const p = el("p", { class: "claim-yours" });
    if (setup.cited) {
      p.classList.add("claim-yours-cited");
      p.append(el("strong", {}, setup.label + ": "), "cited, not executed (" + setup.cited.why + ").");
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
    for (const item of document.querySelectorAll("[data-setup-claim]")) {
      const r = DATA.claims[item.dataset.setupClaim];
      if (!r || !setup.env) continue;
      const res = r.envs[setup.env.id];
      // The outcome only (the box it links to has the numbers).
      item.append(el("span", { class: "digest-outcome claim-yours-" + (OUTCOME_CLASS[res.outcome] || "na") },
        res.text.split(": ")[0]));
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

  // --- the grid: the setup's cells ------------------------------------------------------------
  function grid(setup) {
    const envs = setup.env ? [setup.env] : setup.between || [];
    for (const env of envs) {
      for (const cell of document.querySelectorAll(`[data-env="${CSS.escape(env.id)}"]`)) cell.classList.add("yours");
    }
  }

  // --- every link of the site carries the choice ------------------------------------------------
  function links(id) {
    for (const a of document.querySelectorAll("a[href]")) {
      const href = a.getAttribute("href");
      if (!href || /^[a-z]+:/i.test(href) || href.startsWith("#") || href.startsWith("//")) continue;
      if (!/\.html(?:$|[?#])|\/(?:$|[?#])/.test(href)) continue;
      const [path, hash] = href.split("#");
      const [file, query] = path.split("?");
      const params = new URLSearchParams(query || "");
      params.set("setup", id);
      a.setAttribute("href", `${file}?${params}` + (hash !== undefined ? "#" + hash : ""));
    }
  }

  function main() {
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
    grid(setup);
    links(setup.id);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", main);
  else main();
})();
