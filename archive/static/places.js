/*
 * Page glue for the home, places and place pages: draw every map the page declares
 * (<div data-memoria-map="ID"> with its options in <script type="application/json" id="ID">)
 * through MemoriaMap (maps.js). No inline scripts: the CSP forbids them.
 */
(function () {
  "use strict";
  function start() {
    if (window.MemoriaMap && window.L) window.MemoriaMap.auto();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
