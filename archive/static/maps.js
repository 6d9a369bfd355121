/*
 * MemoriaMap — a small wrapper around Leaflet (static/vendor/leaflet/leaflet.js, load it first)
 * shared by the search, home and place pages. Plain script, no build step, no inline code.
 *
 *   var m = MemoriaMap.create(element, {
 *     tileUrl: "https://tile.openstreetmap.org/{z}/{x}/{y}.png",  // "" or null: blank background
 *     attribution: "© OpenStreetMap contributors",
 *     markers: [{lat: 17.06, lon: -96.72, label: "Oaxaca", url: "/item/x", count: 3}],
 *     bbox: [south, west, north, east],   // optional: the view to show; else fit the markers
 *     center: [lat, lon], zoom: 5,        // optional fallback view (default: whole world)
 *     onMoveEnd: function (bbox) {},      // optional: called with [s, w, n, e] after pan/zoom
 *     label: "Map of places"              // optional: aria-label of the map region
 *   });
 *   m.map                 // the Leaflet map
 *   m.bbox()              // the current view as [south, west, north, east] (rounded, clamped)
 *   m.setMarkers(list)    // replace the markers (same shape as options.markers)
 *   m.fit()               // fit the view to the markers
 *
 *   MemoriaMap.auto()     // create a map in every element with data-memoria-map="ID", reading
 *                         // the options from <script type="application/json" id="ID">
 *                         // (the CSP forbids inline scripts; this is how pages pass data).
 *   MemoriaMap.bboxParam(bbox)  // "s,w,n,e" for a URL (bbox=...)
 *
 * A marker with count > 1 is drawn as a cluster bubble showing the count, under the points;
 * labels are set with textContent (never as HTML) and only http(s) or same-site URLs become links.
 * Markers are circle markers and div icons, so no marker images are loaded.
 * Include static/vendor/leaflet/leaflet.css and static/maps.css (cluster bubbles, blank
 * background, the default height of class "memoria-map"); an element with no height gets 20rem.
 */
(function (global) {
  "use strict";

  var CLUSTER_PANE = "memoriaClusters";

  function round(x) { return Math.round(x * 1e4) / 1e4; }
  function clamp(x, lo, hi) { return Math.max(lo, Math.min(hi, x)); }

  function safeUrl(url) {
    if (typeof url !== "string" || !url) return null;
    try {
      var u = new URL(url, global.location.href);
      if (u.protocol === "http:" || u.protocol === "https:") return u.href;
    } catch (e) { /* not a URL */ }
    return null;
  }

  function popupContent(marker) {
    var box = document.createElement("div");
    var href = safeUrl(marker.url);
    var text = String(marker.label == null ? "" : marker.label);
    var node;
    if (href) {
      node = document.createElement("a");
      node.href = href;
    } else {
      node = document.createElement("span");
    }
    node.textContent = text;
    box.appendChild(node);
    if (marker.count > 1) {
      var c = document.createElement("span");
      c.className = "memoria-map-count";
      c.textContent = " (" + marker.count + ")";
      box.appendChild(c);
    }
    return box;
  }

  function clusterIcon(count) {
    var size = count < 10 ? 28 : count < 100 ? 34 : count < 1000 ? 40 : 48;
    var el = document.createElement("span");
    el.textContent = String(count);
    return L.divIcon({ html: el, className: "memoria-map-cluster", iconSize: [size, size] });
  }

  function toLayer(marker) {
    var lat = Number(marker.lat), lon = Number(marker.lon);
    if (!isFinite(lat) || !isFinite(lon)) return null;
    var layer;
    if (marker.count > 1) {
      layer = L.marker([lat, lon], { icon: clusterIcon(marker.count), keyboard: true,
        pane: CLUSTER_PANE,
        title: String(marker.label || "") + " (" + marker.count + ")" });
    } else {
      layer = L.circleMarker([lat, lon], { radius: 7, weight: 2, color: "#7a2e0e",
        fillColor: "#d9822b", fillOpacity: 0.9 });
    }
    layer.bindPopup(popupContent(marker));
    if (marker.label) {
      var tip = document.createElement("span");
      tip.textContent = String(marker.label);
      layer.bindTooltip(tip);
    }
    return layer;
  }

  function create(element, options) {
    options = options || {};
    if (!element.style.height && element.clientHeight === 0) element.style.height = "20rem";
    if (options.label) {
      element.setAttribute("role", "region");
      element.setAttribute("aria-label", options.label);
    }
    var map = L.map(element, { worldCopyJump: true, minZoom: 0 });
    if (options.tileUrl) {
      L.tileLayer(options.tileUrl, { maxZoom: 19, attribution: options.attribution || "" })
        .addTo(map);
    } else {
      element.classList.add("memoria-map-blank");
    }
    // Bubbles lie under the points (overlayPane is 400), so a point is never hidden.
    map.createPane(CLUSTER_PANE).style.zIndex = 350;
    var group = L.featureGroup().addTo(map);
    var markers = [];

    function setMarkers(list) {
      group.clearLayers();
      markers = list || [];
      markers.forEach(function (m) {
        var layer = toLayer(m);
        if (layer) group.addLayer(layer);
      });
    }

    function fit() {
      if (group.getLayers().length) {
        map.fitBounds(group.getBounds(), { padding: [24, 24], maxZoom: 12 });
      } else {
        map.setView(options.center || [20, 0], options.zoom || 0);
      }
    }

    function bbox() {
      var b = map.getBounds();
      var west = b.getWest(), east = b.getEast();
      if (east - west >= 360) { west = -180; east = 180; }
      else {
        // Wrap into [-180, 180]; west > east then means the box crosses the antimeridian.
        west = ((west + 540) % 360) - 180;
        east = ((east + 540) % 360) - 180;
      }
      return [round(clamp(b.getSouth(), -90, 90)), round(west),
              round(clamp(b.getNorth(), -90, 90)), round(east)];
    }

    setMarkers(options.markers);
    var box = options.bbox;
    if (box && box.length === 4) {
      map.fitBounds([[box[0], box[1]], [box[2], box[3]]]);
    } else {
      fit();
    }
    if (typeof options.onMoveEnd === "function") {
      // Leaflet fires moveend for the first view too; only report moves made after it.
      map.whenReady(function () {
        global.setTimeout(function () {
          map.on("moveend", function () { options.onMoveEnd(bbox()); });
        }, 0);
      });
    }
    return { map: map, bbox: bbox, setMarkers: setMarkers, fit: fit };
  }

  function auto() {
    var made = [];
    var nodes = document.querySelectorAll("[data-memoria-map]");
    Array.prototype.forEach.call(nodes, function (el) {
      var src = document.getElementById(el.getAttribute("data-memoria-map"));
      var opts = {};
      if (src) {
        try { opts = JSON.parse(src.textContent); } catch (e) { opts = {}; }
      }
      made.push(create(el, opts));
    });
    return made;
  }

  function bboxParam(b) { return b.join(","); }

  global.MemoriaMap = { create: create, auto: auto, bboxParam: bboxParam };
})(window);
