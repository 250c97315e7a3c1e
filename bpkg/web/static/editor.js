// The query editor (YASGUI from npm, configured here, never copied): the project's
// predeclared prefixes count as declared, completion comes from this site's own graph,
// result IRIs open the local pages, and the user's tabs are kept across navigation.
(function () {
  const config = JSON.parse(document.getElementById("editor-config").textContent);
  const { endpoint, prefixes, examples, defaultQuery, publicBase, siteRoot } = config;
  const Yasqe = Yasgui.Yasqe;

  // 1. The endpoint predeclares the project's prefixes, so the syntax check must not call
  //    `bp:State` undefined: every parse starts with them known.
  const sparqlMode = Yasqe.modes.sparql11;
  Yasqe.defineMode("sparql11", function (cmConfig, modeConfig) {
    const mode = sparqlMode(cmConfig, modeConfig);
    const startState = mode.startState;
    mode.startState = function () {
      const state = startState.apply(this, arguments);
      Object.assign(state.prefixes, prefixes);
      return state;
    };
    return mode;
  });

  // 2. Property and class completion from the graph itself (YASQE's defaults ask an outside
  //    vocabulary service, which is unreachable offline and knows nothing of bp:).
  const known = { ...prefixes };
  function expand(yasqe, token) {
    const text = token.string.trim();
    const colon = text.indexOf(":");
    if (text[0] !== "<" && colon >= 0) {
      const declared = { ...known, ...yasqe.getPrefixesFromQuery() };
      const prefix = text.slice(0, colon);
      if (declared[prefix]) {
        token.tokenPrefix = prefix + ":";
        token.tokenPrefixUri = declared[prefix];
        token.autocompletionString = declared[prefix] + text.slice(colon + 1);
        return token;
      }
    }
    token.autocompletionString = text.replace(/^</, "").replace(/>$/, "");
    return token;
  }
  function compact(yasqe, token, iri) {
    if (token.tokenPrefixUri && iri.startsWith(token.tokenPrefixUri)) {
      return token.tokenPrefix + iri.slice(token.tokenPrefixUri.length);
    }
    return "<" + iri + ">";
  }
  function termsOf(kind) {
    const query = kind === "property"
      ? "SELECT DISTINCT ?term WHERE { ?s ?term ?o }"
      : "SELECT DISTINCT ?term WHERE { ?s a ?term }";
    return fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/sparql-query", Accept: "application/sparql-results+json" },
      body: query,
    }).then((r) => r.json()).then((data) => data.results.bindings.map((b) => b.term.value));
  }
  for (const kind of ["property", "class"]) {
    const original = Yasqe.Autocompleters[kind];
    Yasqe.registerAutocompleter({
      ...original,
      name: kind,
      bulk: true,
      autoShow: false,
      get: () => termsOf(kind),
      preProcessToken: expand,
      postProcessSuggestion: compact,
    });
  }

  // 3. One tab to start with; the named queries open on demand; tabs persist.
  const yasgui = new Yasgui(document.getElementById("yasgui"), {
    requestConfig: { endpoint: endpoint, method: "POST" },
    copyEndpointOnNewTab: true,
    persistenceId: "bpkg-query-editor",
    yasqe: { value: defaultQuery },
    yasr: { prefixes: prefixes },
  });
  const select = document.getElementById("examples");
  select.addEventListener("change", () => {
    const example = examples.find((ex) => ex.name === select.value);
    select.value = "";
    if (!example) return;
    const open = Object.values(yasgui._tabs).find((tab) => tab.getName() === example.name);
    if (open) {
      yasgui.selectTabId(open.getId());
      return;
    }
    const tab = yasgui.addTab(true, { ...Yasgui.Tab.getDefaults(), name: example.name,
                                      yasqe: { value: example.query }, requestConfig: { endpoint: endpoint } });
    yasgui.selectTabId(tab.getId());
  });
  document.getElementById("add-prefixes").addEventListener("click", () => {
    yasgui.getTab().getYasqe().addPrefixes(prefixes);
  });

  // 4. Result IRIs lead to this site's pages, not to the public base (which may not resolve).
  function localHref(iri) {
    if (iri.startsWith(publicBase)) return siteRoot + "/" + iri.slice(publicBase.length);
    if (iri.startsWith("http://metadata.un.org/sdg/")) return siteRoot + "/resource?iri=" + encodeURIComponent(iri);
    return null;
  }
  function relink(root) {
    root.querySelectorAll("a.iri, a[href^='" + publicBase + "']").forEach((a) => {
      const href = localHref(a.getAttribute("href") || "");
      if (href) {
        a.title = a.getAttribute("href");
        a.setAttribute("href", href);
      }
    });
  }
  new MutationObserver(() => relink(document.getElementById("yasgui")))
    .observe(document.getElementById("yasgui"), { childList: true, subtree: true });

  window.bpkgYasgui = yasgui;
})();
