/*
 * The search page's enhancements; without them the page works as a plain form.
 * - facet checkboxes and the sort / page-size selects submit the form when they change;
 * - empty fields are left out of the URL, so every state is a short shareable link;
 * - the year histogram (SVG) is drawn from the embedded JSON (#search-data) and brushed with
 *   the mouse, or with the keyboard (arrows move, Shift+arrows widen, Enter applies), setting
 *   the from/to inputs (the no-JS fallback) and submitting;
 * - the map facet (MemoriaMap from maps.js) shows the results; after a pan or zoom a
 *   "Search this area" button applies bbox=south,west,north,east.
 */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var W = 300, H = 90, PAD = 14;

  function readData() {
    var node = document.getElementById("search-data");
    if (!node) return null;
    try { return JSON.parse(node.textContent); } catch (e) { return null; }
  }

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function submit(form) {
    if (typeof form.requestSubmit === "function") form.requestSubmit();
    else { dropEmpty(form); form.submit(); }
  }

  function dropEmpty(form) {
    Array.prototype.forEach.call(form.elements, function (f) {
      if (f.name && (f.type === "number" || f.type === "search" || f.type === "hidden" ||
                     f.type === "text") && f.value === "") {
        f.disabled = true;
      }
      // A select left at its default need not be in the URL either.
      if (f.tagName === "SELECT" && f.getAttribute("data-default") === f.value) f.disabled = true;
    });
  }

  function autoSubmit(form) {
    form.addEventListener("change", function (ev) {
      var t = ev.target;
      if (t.type === "checkbox" || t.tagName === "SELECT") submit(form);
    });
    form.addEventListener("submit", function () { dropEmpty(form); });
  }

  // -- the year histogram ---------------------------------------------------------------

  function histogram(box, data, form, labels) {
    var buckets = data.buckets || [];
    var step = data.interval || 10;
    var fromInput = document.getElementById("year-from");
    var toInput = document.getElementById("year-to");
    if (!buckets.length) return;
    var lo = buckets[0].start, hi = buckets[buckets.length - 1].start + step;
    if (data.from != null) lo = Math.min(lo, Math.floor(data.from / step) * step);
    if (data.to != null) hi = Math.max(hi, Math.floor(data.to / step) * step + step);
    var max = Math.max.apply(null, buckets.map(function (b) { return b.count; }));
    var span = Math.max(hi - lo, step);
    var x = function (year) { return PAD + (year - lo) / span * (W - 2 * PAD); };
    var yearAt = function (px) { return lo + (px - PAD) / (W - 2 * PAD) * span; };

    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, "class": "histogram", tabindex: "0",
      role: "slider", "aria-label": labels.histogram, "aria-valuemin": lo,
      "aria-valuemax": hi - 1 }, null);
    var bars = el("g", { "class": "bars" }, svg);
    buckets.forEach(function (b) {
      var h = Math.max(2, (H - 2 * PAD) * b.count / max);
      var r = el("rect", { x: x(b.start) + 0.5, y: H - PAD - h,
        width: Math.max(1, x(b.start + step) - x(b.start) - 1), height: h }, bars);
      var t = el("title", {}, r);
      t.textContent = b.start + "–" + (b.start + step - 1) + ": " + b.count + " " + labels.records;
    });
    el("line", { x1: PAD, x2: W - PAD, y1: H - PAD, y2: H - PAD, "class": "axis" }, svg);
    var lt = el("text", { x: PAD, y: H - 2, "class": "tick" }, svg);
    lt.textContent = String(lo);
    var rt = el("text", { x: W - PAD, y: H - 2, "class": "tick", "text-anchor": "end" }, svg);
    rt.textContent = String(hi - 1);
    var brush = el("rect", { "class": "brush", y: PAD / 2, height: H - 1.5 * PAD, x: 0,
      width: 0 }, svg);
    box.appendChild(svg);

    var sel = { from: data.from, to: data.to };
    function snapFrom(year) { return Math.floor(year / step) * step; }
    function snapTo(year) { return Math.floor(year / step) * step + step - 1; }
    function draw() {
      if (sel.from == null && sel.to == null) {
        brush.setAttribute("width", 0);
        svg.setAttribute("aria-valuenow", lo);
        svg.setAttribute("aria-valuetext", lo + "–" + (hi - 1));
        return;
      }
      var a = sel.from == null ? lo : sel.from, b = sel.to == null ? hi - 1 : sel.to;
      brush.setAttribute("x", x(Math.max(a, lo)));
      brush.setAttribute("width", Math.max(2, x(Math.min(b + 1, hi)) - x(Math.max(a, lo))));
      svg.setAttribute("aria-valuenow", a);
      svg.setAttribute("aria-valuetext", a + "–" + b);
    }
    function apply() {
      fromInput.value = sel.from == null ? "" : sel.from;
      toInput.value = sel.to == null ? "" : sel.to;
      submit(form);
    }
    function svgX(ev) {
      var rect = svg.getBoundingClientRect();
      return (ev.clientX - rect.left) / rect.width * W;
    }

    var start = null;
    svg.addEventListener("pointerdown", function (ev) {
      start = yearAt(svgX(ev));
      svg.setPointerCapture(ev.pointerId);
      sel = { from: snapFrom(start), to: snapTo(start) };
      draw();
      ev.preventDefault();
    });
    svg.addEventListener("pointermove", function (ev) {
      if (start == null) return;
      var now = yearAt(svgX(ev));
      var a = Math.max(lo, Math.min(start, now)), b = Math.min(hi - 1, Math.max(start, now));
      sel = { from: snapFrom(a), to: snapTo(b) };
      draw();
    });
    svg.addEventListener("pointerup", function () {
      if (start == null) return;
      start = null;
      apply();
    });
    svg.addEventListener("keydown", function (ev) {
      var key = ev.key;
      if (key === "Enter") { apply(); ev.preventDefault(); return; }
      if (key !== "ArrowLeft" && key !== "ArrowRight") return;
      ev.preventDefault();
      if (sel.from == null || sel.to == null) {
        sel = { from: lo, to: lo + step - 1 };
      } else if (ev.shiftKey) {
        sel.to = Math.min(hi - 1, Math.max(sel.from + step - 1,
                                           sel.to + (key === "ArrowRight" ? step : -step)));
      } else {
        var d = key === "ArrowRight" ? step : -step;
        if (sel.from + d >= lo && sel.to + d <= hi - 1) { sel.from += d; sel.to += d; }
      }
      fromInput.value = sel.from;
      toInput.value = sel.to;
      draw();
    });
    function fromInputs() {
      var a = fromInput.value === "" ? null : parseInt(fromInput.value, 10);
      var b = toInput.value === "" ? null : parseInt(toInput.value, 10);
      sel = { from: isNaN(a) ? null : a, to: isNaN(b) ? null : b };
      draw();
    }
    fromInput.addEventListener("input", fromInputs);
    toInput.addEventListener("input", fromInputs);
    draw();
  }

  // -- the map facet ----------------------------------------------------------------------

  function searchMap(node, data, labels) {
    if (!window.MemoriaMap || !window.L) return;
    var button = document.getElementById("search-area");
    var pending = null;
    var opts = {};
    Object.keys(data).forEach(function (k) { opts[k] = data[k]; });
    opts.onMoveEnd = function (bbox) {
      pending = bbox;
      if (button) button.hidden = false;
    };
    var m = window.MemoriaMap.create(node, opts);
    node.memoriaMap = m;  // for the browser tests and the console
    if (button) {
      button.textContent = labels.searchArea || button.textContent;
      button.addEventListener("click", function () {
        var params = new URLSearchParams(window.location.search);
        params.set("bbox", window.MemoriaMap.bboxParam(pending || m.bbox()));
        params.delete("page");
        params.delete("after");
        window.location.search = params.toString();
      });
    }
  }

  function init() {
    var form = document.getElementById("search-form");
    var data = readData();
    if (!form || !data) return;
    var labels = data.labels || {};
    autoSubmit(form);
    var hist = document.getElementById("year-histogram");
    if (hist && data.histogram) histogram(hist, data.histogram, form, labels);
    var map = document.getElementById("search-map");
    if (map && data.map) searchMap(map, data.map, labels);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
