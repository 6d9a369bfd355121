// Item page: the "Copy" buttons of the citations (no inline scripts: the CSP refuses them).
(function () {
  "use strict";
  function copied(button) {
    var label = button.textContent;
    button.textContent = button.getAttribute("data-copied") || label;
    button.setAttribute("aria-live", "polite");
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }
  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) { return; }
    var text = source.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { copied(button); },
        function () { fallbackCopy(text); copied(button); });
    } else {
      fallbackCopy(text);
      copied(button);
    }
  });
}());
