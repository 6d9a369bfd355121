/* Memoria's IIIF viewer switch: Mirador 4 or Universal Viewer 4 for one manifest.
   The reader's choice is kept in localStorage; ?viewer=mirador|uv picks one for a link. */
(function () {
  "use strict";
  var KEY = "memoria.viewer";
  var VIEWERS = ["mirador", "uv"];

  function stored() {
    try { return window.localStorage.getItem(KEY); } catch (e) { return null; }
  }

  function remember(name) {
    try { window.localStorage.setItem(KEY, name); } catch (e) { /* private mode: not kept */ }
  }

  function chosen() {
    var asked = new URLSearchParams(window.location.search).get("viewer");
    if (VIEWERS.indexOf(asked) >= 0) { remember(asked); return asked; }
    var kept = stored();
    return VIEWERS.indexOf(kept) >= 0 ? kept : "mirador";
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = function () { reject(new Error("could not load " + src)); };
      document.head.appendChild(s);
    });
  }

  function loadCss(href) {
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = href;
    document.head.appendChild(link);
  }

  function sized(frame) {
    // Set through the CSSOM: the page's Content-Security-Policy refuses inline style attributes.
    frame.style.position = "relative";
    frame.style.width = "100%";
    frame.style.height = "70vh";
    frame.style.minHeight = "420px";
    frame.style.border = "1px solid #d8d2c4";
  }

  function showMirador(root, frame, manifest) {
    return loadScript(root.dataset.miradorJs).then(function () {
      window.memoriaViewer = window.Mirador.viewer({
        id: frame.id,
        windows: [{ manifestId: manifest, thumbnailNavigationPosition: "far-bottom" }],
        window: { allowClose: false, allowMaximize: false, sideBarOpenByDefault: false,
                  hideWindowTitle: false },
        workspaceControlPanel: { enabled: false },
        workspace: { showZoomControls: true }
      });
    });
  }

  function showUv(root, frame, manifest) {
    loadCss(root.dataset.uvCss);
    frame.classList.add("uv");
    return loadScript(root.dataset.uvJs).then(function () {
      window.memoriaViewer = window.UV.init(frame.id, { manifest: manifest, embedded: true });
    });
  }

  function start(root) {
    var frame = root.querySelector("[data-viewer-frame]");
    var manifest = root.dataset.manifest;
    var name = chosen();
    sized(frame);
    root.dataset.viewer = name;
    root.querySelectorAll("[data-viewer]").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.dataset.viewer === name));
      button.addEventListener("click", function () {
        if (button.dataset.viewer === name) { return; }
        remember(button.dataset.viewer);
        // Both viewers bundle their own OpenSeadragon and React: a fresh page keeps them apart.
        var url = new URL(window.location.href);
        url.searchParams.delete("viewer");
        window.location.assign(url.toString());
      });
    });
    var show = name === "uv" ? showUv : showMirador;
    show(root, frame, manifest).then(function () {
      root.dataset.viewerReady = "true";
    }).catch(function (err) {
      root.dataset.viewerReady = "error";
      var p = document.createElement("p");
      p.className = "viewer-error";
      p.textContent = "The viewer could not start (" + err.message + "). The IIIF manifest " +
        "link below opens the images in any IIIF viewer.";
      frame.replaceChildren(p);
    });
  }

  function ready() {
    document.querySelectorAll("[data-memoria-viewer]").forEach(start);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
}());
