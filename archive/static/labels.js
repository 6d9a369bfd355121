// QR label sheet: the "Print" button (no inline scripts: the CSP refuses them).
(function () {
  "use strict";
  var button = document.querySelector("[data-print]");
  if (button) {
    button.addEventListener("click", function () { window.print(); });
  }
}());
