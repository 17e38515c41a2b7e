"""The inline CSS and JavaScript of the HTML timeline, as string constants.

They live apart from :mod:`pytest_partition.report.timeline` so that the Python
that builds the page reads on its own. Neither refers to anything outside the
page (no fonts, images or scripts to fetch), and neither contains ``</``, so
both can sit inside ``<style>`` and ``<script>`` as they are.

The script reads one JSON blob (``<script id="timeline-data">``) and draws the
lanes on a canvas sized to the visible area: a spacer ``div`` inside a
scrolling ``div`` gives native scrollbars, and every scroll redraws only what
is visible, which keeps 10k operations smooth where 10k SVG nodes would not.
"""

from __future__ import annotations

__all__ = ["SCRIPT", "STYLE"]

STYLE = """
:root { color-scheme: light; }
body { font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       margin: 0; color: #1d2330; background: #fff; }
header { padding: 12px 16px 2px; }
h1 { font-size: 19px; margin: 0 0 4px; }
h2 { font-size: 13px; margin: 10px 0 3px; }
code, td.v { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.verdict { font-weight: 600; white-space: pre-wrap; margin: 4px 0 6px; }
.meta { display: flex; flex-wrap: wrap; gap: 2px 20px; margin: 4px 0; padding: 0; }
.meta div { white-space: nowrap; }
.meta dt { display: inline; color: #5d6577; }
.meta dd { display: inline; margin: 0 0 0 5px; }
.row { display: flex; flex-wrap: wrap; gap: 4px 36px; align-items: flex-start; }
table.counts { border-collapse: collapse; }
table.counts th, table.counts td { padding: 1px 9px; text-align: right; }
table.counts th:first-child, table.counts td:first-child { text-align: left; }
table.counts thead th { border-bottom: 1px solid #d8dce6; color: #5d6577; font-weight: 600; }
table.counts tr.total td { border-top: 1px solid #d8dce6; font-weight: 600; }
.blamed ol { margin: 2px 0; padding-left: 24px; max-height: 10em; overflow: auto; }
.blamed a { color: #a3106f; }
.replicas { max-width: 100%; }
.replicas p { margin: 2px 0; }
.replicas .silent { color: #a33; }
.replicas table { border-collapse: collapse; display: block; max-height: 11em; overflow: auto; }
.replicas th, .replicas td { padding: 1px 10px 1px 0; text-align: left; white-space: nowrap; }
.replicas thead th { color: #5d6577; font-weight: 600; border-bottom: 1px solid #d8dce6;
                     position: sticky; top: 0; background: #fff; }
.replicas td.odd { color: #b3261e; font-weight: 700; }
.replicas a { color: #1b4fb0; }
#view { color: #3a4252; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 10px 0 4px; color: #3a4252; }
.sw { display: inline-block; width: 22px; height: 10px; vertical-align: -1px;
      margin-right: 5px; border-radius: 2px; }
.sw.ok { background: #2e9d55; }
.sw.fail { background: #d33f38; }
.sw.info { background: #e0a020; }
.sw.open { background: repeating-linear-gradient(135deg, #e0a020 0 2px, #fff 2px 5px); }
.sw.partition { background: rgba(66, 104, 214, 0.22); box-shadow: inset 0 0 0 1px #4f74d0; }
.sw.kill { background: repeating-linear-gradient(135deg, #555 0 2px, #e4e4e4 2px 5px); }
.sw.pause { background: rgba(139, 92, 199, 0.35); }
.sw.latency { background: #f08a24; height: 4px; vertical-align: 2px; }
.sw.blamed { background: #2e9d55; box-shadow: 0 0 0 2.5px #c2188f; }
.toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 10px; padding: 6px 16px;
           position: sticky; top: 0; z-index: 3; background: #fff; border-top: 1px solid #e3e6ee; }
.toolbar button { font: inherit; padding: 1px 9px; }
.toolbar input[type=range] { width: 180px; }
.toolbar .hint { color: #6b7385; }
#cursor { font-family: ui-monospace, Menlo, Consolas, monospace; }
#wrap { position: relative; margin: 0 16px; border: 1px solid #d8dce6; }
#viewport { overflow: auto; position: relative; }
#viewport.dragging { cursor: grabbing; }
#canvas { position: absolute; top: 0; left: 0; pointer-events: none; }
#tip { position: fixed; z-index: 10; background: #fff; border: 1px solid #a9b0c2; border-radius: 4px;
       box-shadow: 0 3px 12px rgba(20, 30, 60, 0.18); padding: 5px 8px; max-width: 520px;
       pointer-events: none; font-size: 12px; }
#tip table, #details table { border-collapse: collapse; }
#tip th, #details th { text-align: left; color: #5d6577; font-weight: normal; padding: 0 12px 0 0;
                       vertical-align: top; white-space: nowrap; }
#tip td, #details td { word-break: break-all; white-space: pre-wrap; padding: 0; }
#details { margin: 10px 16px; }
#details .hint { color: #6b7385; margin: 0; }
details.faults { margin: 10px 16px 28px; }
details.faults table { border-collapse: collapse; margin-top: 4px; }
details.faults th, details.faults td { text-align: left; padding: 1px 10px 1px 0; vertical-align: top; }
details.faults td.v { word-break: break-all; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("timeline-data").textContent);
  var strings = data.strings, lanes = data.lanes, ops = data.ops;
  var BEGIN = data.begin, END = Math.max(data.end, data.begin + 1);
  var SPAN = (END - BEGIN) * 1.02;  // a little room after the last event
  var LANE_H = 16, BAR_H = 10, AXIS_H = 22;
  var LANE = 0, START = 1, DONE = 2, TYPE = 3, INV = 4, COMP = 5, F = 6, NODE = 7,
      KEY = 8, VALUE = 9, OUT = 10, ERR = 11, BLAMED = 12, PROC = 13;
  var COLOR = ["#2e9d55", "#d33f38", "#e0a020"], NAMES = ["ok", "fail", "info"];
  var MAGENTA = "#c2188f";
  var FONT = "11px system-ui, -apple-system, 'Segoe UI', sans-serif";

  // The strip above the lanes: only the rows this history needs (Python chose them).
  var ROW_H = {partitions: 17, latency: 7, blamed: 17}, rowTop = [], rowH = [], TOP = AXIS_H;
  data.rows.forEach(function (name) { rowTop.push(TOP); rowH.push(ROW_H[name] || 15); TOP += rowH[rowH.length - 1]; });
  var BLAMED_ROW = data.rows.indexOf("blamed");
  if (data.rows.length) TOP += 4;

  var byInv = {}, laneOps = lanes.map(function () { return []; }), blamed = [], blamedLanes = {};
  var tailEnd = [];  // where the hatch of an unknown outcome stops: the lane's next operation
  ops.forEach(function (op, i) {
    byInv[op[INV]] = i;
    laneOps[op[LANE]].push(i);
    if (op[BLAMED]) { blamed.push(i); blamedLanes[op[LANE]] = true; }
  });
  laneOps.forEach(function (list) {
    list.forEach(function (i, k) { tailEnd[i] = k + 1 < list.length ? ops[list[k + 1]][START] : END; });
  });
  var finals = {}, replicas = data.replicas;  // key (JSON text) -> its row of final values
  if (replicas) replicas.diff.forEach(function (row) { finals[row.key] = row; });
  // Lanes arrive sorted by node, so each node's lanes are one contiguous group.
  var groups = [], groupOf = {};
  lanes.forEach(function (lane, i) {
    var g = groups[groups.length - 1];
    if (!g || g.node !== lane.node) {
      g = {node: lane.node, from: i, to: i};
      groups.push(g);
      if (lane.node !== null) groupOf[lane.node] = g;
    } else g.to = i;
  });

  var vp = document.getElementById("viewport"), spacer = document.getElementById("spacer");
  var wrap = document.getElementById("wrap");
  var canvas = document.getElementById("canvas"), ctx = canvas.getContext("2d");
  var tip = document.getElementById("tip"), tipTable = document.getElementById("tip-table");
  var detailTable = document.getElementById("detail-table");
  var detailHint = document.getElementById("detail-hint");
  var zoomInput = document.getElementById("zoom"), cursorOut = document.getElementById("cursor");
  var viewOut = document.getElementById("view");
  var dimKeys = document.getElementById("dim-keys");
  var zoom = 1, maxZoom = 1, cssW = 0, cssH = 0, gutter = 100, queued = false;
  var selected = -1, hovered = -1, hoveredFault = null, drag = null, keyFilter = null;

  function pattern(line, back) {
    var c = document.createElement("canvas"), g = c.getContext("2d");
    c.width = c.height = 6;
    if (back) { g.fillStyle = back; g.fillRect(0, 0, 6, 6); }
    g.strokeStyle = line; g.lineWidth = 1.6; g.beginPath();
    g.moveTo(0, 6); g.lineTo(6, 0); g.moveTo(-1, 1); g.lineTo(1, -1); g.moveTo(5, 7); g.lineTo(7, 5);
    g.stroke();
    return ctx.createPattern(c, "repeat");
  }
  var infoHatch = pattern("#e0a020", "rgba(255,255,255,0.6)");
  var killHatch = pattern("rgba(60,60,60,0.35)", null);

  ctx.font = FONT;
  lanes.forEach(function (lane) { gutter = Math.max(gutter, ctx.measureText(lane.label).width + 18); });
  gutter = Math.min(Math.ceil(gutter), 260);

  function ms(us) { return (us / 1000).toFixed(3) + " ms"; }
  function ppu() { return (cssW - gutter) * zoom / SPAN; }  // pixels per microsecond
  function xOf(t) { return gutter + (t - BEGIN) * ppu() - vp.scrollLeft; }
  function tOf(x) { return BEGIN + (x - gutter + vp.scrollLeft) / ppu(); }
  function yOf(lane) { return TOP + lane * LANE_H - vp.scrollTop; }
  function schedule() { if (!queued) { queued = true; window.requestAnimationFrame(draw); } }

  function layout() {
    var contentH = TOP + lanes.length * LANE_H + 6;
    // As tall as the window leaves below the header (so the first screen shows the
    // verdict and the lanes), but never too small to read.
    var top = wrap.getBoundingClientRect().top + (window.pageYOffset || 0);
    var room = Math.round(window.innerHeight - top - 14);
    var maxH = Math.max(260, Math.min(Math.round(window.innerHeight * 0.85), room));
    vp.style.height = Math.min(contentH + 18, maxH) + "px";  // 18: a horizontal scrollbar
    spacer.style.height = contentH + "px";
    for (var pass = 0; pass < 2; pass++) {  // scrollbars appearing change the client size
      cssW = vp.clientWidth; cssH = vp.clientHeight;
      // Browsers cap element sizes near 2^24 px; 2 px per microsecond is detail enough.
      maxZoom = Math.max(1, Math.min(8e6 / (cssW - gutter), SPAN * 2 / (cssW - gutter)));
      zoom = Math.min(zoom, maxZoom);
      spacer.style.width = Math.ceil(gutter + (cssW - gutter) * zoom) + "px";
    }
    var dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(cssW * dpr); canvas.height = Math.round(cssH * dpr);
    canvas.style.width = cssW + "px"; canvas.style.height = cssH + "px";
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    zoomInput.value = String(Math.round(1000 * Math.log(zoom) / Math.log(Math.max(maxZoom, 1.0001))));
  }

  function setZoom(z, anchorX) {
    var t = tOf(anchorX);
    zoom = Math.max(1, Math.min(z, maxZoom));
    layout();
    vp.scrollLeft = (t - BEGIN) * ppu() - (anchorX - gutter);
    schedule();
  }

  function ticks(a, b) {
    var minUs = 90 / ppu(), p = Math.pow(10, Math.floor(Math.log10(minUs))), step = p * 10;
    [1, 2, 5].some(function (s) { if (p * s >= minUs) { step = p * s; return true; } return false; });
    var decimals = Math.max(0, Math.ceil(-Math.log10(step / 1000) - 1e-9)), out = [];
    for (var k = Math.ceil(a / step); k * step <= b; k++) {
      out.push({t: k * step, label: (k * step / 1000).toFixed(decimals)});
    }
    return out;
  }

  function shown(op) {  // a key chosen in the replicas' table, or the selected one, dims the others
    if (!dimKeys.checked) return true;
    if (keyFilter !== null) return op[KEY] === keyFilter;
    return selected < 0 || op[KEY] === ops[selected][KEY];
  }

  function span(op) {  // x from and to of an operation's bar, at least 4 px wide
    var x0 = xOf(op[START]), x1 = op[DONE] === null ? x0 : xOf(op[DONE]);
    return [x0, Math.max(x1, x0 + 4)];
  }

  function outline(i, color, width, gap) {  // gap: room between the bar and the line
    var op = ops[i], s = span(op), y = yOf(op[LANE]) + (LANE_H - BAR_H) / 2, g = gap || 2;
    ctx.strokeStyle = color; ctx.lineWidth = width;
    ctx.strokeRect(s[0] - g, y - g, s[1] - s[0] + 2 * g, BAR_H + 2 * g);
  }

  function fit(candidates, width) {  // the first text that fits, else the last one cut short
    for (var c = 0; c < candidates.length; c++) {
      if (ctx.measureText(candidates[c]).width <= width) return candidates[c];
    }
    var t = candidates[candidates.length - 1];
    while (t.length > 1 && ctx.measureText(t + "\u2026").width > width) t = t.slice(0, -1);
    return t.length > 1 ? t + "\u2026" : "";
  }

  function barText(op, x0, x1, y) {  // what the call did, inside its own bar when it fits
    var f = strings[op[F]], said = f + (op[VALUE] === null ? "" : " " + op[VALUE]);
    if (op[TYPE] === 0 && op[OUT] !== null && f !== "put" && f !== "write") said += " \u2192 " + op[OUT];
    var left = Math.max(x0, gutter) + 3, room = Math.min(x1, cssW) - left - 2;
    ctx.font = "10px system-ui, sans-serif";
    if (room < 12 || ctx.measureText(said).width > room) return;
    ctx.fillStyle = op[TYPE] === 2 ? "#3b2a00" : "#fff"; ctx.textBaseline = "middle";
    ctx.fillText(said, left, y + BAR_H / 2 + 0.5);
  }

  function draw() {
    queued = false;
    var W = cssW, H = cssH, first = Math.max(0, Math.floor(vp.scrollTop / LANE_H));
    var last = Math.min(lanes.length - 1, Math.ceil((vp.scrollTop + H - TOP) / LANE_H));
    var tLeft = tOf(gutter), tRight = tOf(W), marks = ticks(tLeft, tRight), l, k, op, x0, x1, y;
    var picked = dimKeys.checked && (keyFilter !== null || selected >= 0);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
    ctx.save(); ctx.beginPath(); ctx.rect(gutter, TOP, W - gutter, H - TOP); ctx.clip();
    groups.forEach(function (g, gi) {
      var y0 = yOf(g.from), y1 = yOf(g.to + 1);
      if (gi % 2) { ctx.fillStyle = "#f3f5f9"; ctx.fillRect(gutter, y0, W - gutter, y1 - y0); }
      ctx.fillStyle = "#cfd4df"; ctx.fillRect(gutter, y0, W - gutter, 1);
    });
    ctx.fillStyle = "#e8eaf0";
    marks.forEach(function (m) { ctx.fillRect(Math.round(xOf(m.t)), TOP, 1, H - TOP); });
    data.windows.forEach(function (w) {
      var a = xOf(w.start), b = Math.max(xOf(w.end), a + 2), g = groupOf[w.node];
      if (b < gutter || a > W) return;
      if (w.kind === "partition") {
        ctx.fillStyle = "rgba(66, 104, 214, 0.12)"; ctx.fillRect(a, TOP, b - a, H - TOP);
        ctx.fillStyle = "rgba(66, 104, 214, 0.5)"; ctx.fillRect(a, TOP, 1, H - TOP);
      } else if ((w.kind === "kill" || w.kind === "pause") && g) {
        ctx.fillStyle = w.kind === "kill" ? killHatch : "rgba(139, 92, 199, 0.16)";
        ctx.fillRect(a, yOf(g.from), b - a, (g.to - g.from + 1) * LANE_H);
      } else if (w.kind === "latency") {
        ctx.fillStyle = "rgba(240, 138, 36, 0.55)"; ctx.fillRect(a, TOP, b - a, 3);
      }
    });
    data.marks.forEach(function (m) {
      var g = groupOf[m.node], x = Math.round(xOf(m.t));
      ctx.fillStyle = "rgba(60, 60, 60, 0.55)";
      for (y = g ? yOf(g.from) : TOP; y < (g ? yOf(g.to + 1) : H); y += 6) ctx.fillRect(x, y, 1, 3);
    });
    blamed.forEach(function (b) {  // a column down every lane, so the eye finds the blamed one
      var s = span(ops[b]);
      if (s[1] < gutter || s[0] > W) return;
      ctx.fillStyle = "rgba(194, 24, 143, 0.10)"; ctx.fillRect(s[0] - 3, TOP, s[1] - s[0] + 6, H - TOP);
    });
    for (l = first; l <= last; l++) {  // unknown outcomes first: hatched up to the end
      y = yOf(l) + (LANE_H - BAR_H) / 2;
      for (k = 0; k < laneOps[l].length; k++) {
        op = ops[laneOps[l][k]];
        if (op[TYPE] !== 2) continue;
        x0 = Math.max(xOf(op[DONE] === null ? op[START] : op[DONE]), gutter - 1); x1 = xOf(tailEnd[laneOps[l][k]]);
        if (x1 < gutter || x0 > W) continue;
        ctx.globalAlpha = shown(op) ? 1 : 0.15;
        ctx.fillStyle = infoHatch; ctx.fillRect(x0, y + 2, x1 - x0, BAR_H - 4);
        if (op[DONE] === null) { ctx.fillStyle = COLOR[2]; ctx.fillRect(xOf(op[START]), y, 2, BAR_H); }
      }
    }
    for (l = first; l <= last; l++) {
      y = yOf(l) + (LANE_H - BAR_H) / 2;
      for (k = 0; k < laneOps[l].length; k++) {
        op = ops[laneOps[l][k]];
        if (op[DONE] === null) continue;
        x0 = xOf(op[START]); x1 = xOf(op[DONE]);
        if (x1 < gutter - 1 || x0 > W) continue;
        ctx.globalAlpha = shown(op) ? 1 : 0.15;
        // With one key picked out, its operations are few: make each one findable.
        ctx.fillStyle = COLOR[op[TYPE]]; ctx.fillRect(x0, y, Math.max(x1 - x0, picked && shown(op) ? 3 : 1), BAR_H);
        if (x1 - x0 > 30 && shown(op)) barText(op, x0, x1, y);
      }
    }
    ctx.globalAlpha = 1;
    blamed.forEach(function (b) { outline(b, MAGENTA, 2.5); });
    if (hovered >= 0) outline(hovered, "#1d2330", 1);
    if (selected >= 0) {
      op = ops[selected];
      outline(selected, "#1b6ef3", 1.5, op[BLAMED] ? 4.5 : 2);  // around a blamed outline
      ctx.strokeStyle = "rgba(27, 110, 243, 0.7)"; ctx.lineWidth = 1; ctx.setLineDash([4, 3]);
      ctx.beginPath();
      [op[START], op[DONE]].forEach(function (t) {
        if (t === null) return;
        ctx.moveTo(Math.round(xOf(t)) + 0.5, TOP); ctx.lineTo(Math.round(xOf(t)) + 0.5, H);
      });
      ctx.stroke(); ctx.setLineDash([]);
    }
    ctx.restore();
    drawStrip(W);
    drawAxis(W, marks);
    drawGutter(H, first, last);
    viewOut.textContent = "showing " + (Math.max(tLeft, BEGIN) / 1000).toFixed(1) + "\u2013" +
      (Math.min(tRight, END) / 1000).toFixed(1) + " ms of " + (BEGIN / 1000).toFixed(1) + "\u2013" +
      (END / 1000).toFixed(1) + " ms" + (keyFilter === null ? "" : ", key " + keyFilter + " only (Esc: all keys)");
  }

  function rowOf(item) { return [rowTop[item.row] + 1, rowH[item.row] - 2]; }

  function drawStrip(W) {
    if (!data.rows.length) return;
    ctx.fillStyle = "#f8f9fb"; ctx.fillRect(0, AXIS_H, W, TOP - AXIS_H);
    ctx.save(); ctx.beginPath(); ctx.rect(gutter, AXIS_H, W - gutter, TOP - AXIS_H); ctx.clip();
    ctx.font = FONT; ctx.textBaseline = "middle";
    data.windows.forEach(function (w) {  // each label once, here: never over the lanes
      var a = xOf(w.start), b = Math.max(xOf(w.end), a + 2), r = rowOf(w);
      if (b < gutter || a > W) return;
      ctx.fillStyle = {partition: "#4f74d0", kill: "#4a4a4a", pause: "#8b5cc7"}[w.kind] || "#f08a24";
      ctx.fillRect(a, r[0], b - a, r[1]);
      if (w === hoveredFault) { ctx.strokeStyle = "#1d2330"; ctx.lineWidth = 1.5; ctx.strokeRect(a, r[0], b - a, r[1]); }
      if (w.kind === "latency") return;
      var left = Math.max(a, gutter) + 4, text = fit(w.short ? [w.label, w.short] : [w.label], Math.min(b, W) - left - 3);
      if (!text) return;
      ctx.fillStyle = "#fff"; ctx.fillText(text, left, r[0] + r[1] / 2 + 1);
    });
    data.marks.forEach(function (m) {
      var x = xOf(m.t), r = rowOf(m);
      if (x < gutter - 6 || x > W + 6) return;
      ctx.fillStyle = m === hoveredFault ? "#1b6ef3" : "#333";
      ctx.beginPath(); ctx.moveTo(x - 4, r[0]); ctx.lineTo(x + 4, r[0]); ctx.lineTo(x, r[0] + 7); ctx.fill();
      ctx.fillText(m.label, x + 6, r[0] + r[1] / 2 + 1);
    });
    if (BLAMED_ROW >= 0) {
      var r = [rowTop[BLAMED_ROW] + 1, rowH[BLAMED_ROW] - 2];
      blamed.forEach(function (b, n) {
        var s = span(ops[b]), next = n + 1 < blamed.length ? span(ops[blamed[n + 1]])[0] : W;
        if (s[1] < gutter - 200 || s[0] > W) return;
        ctx.fillStyle = MAGENTA;
        ctx.beginPath(); ctx.moveTo(s[0] - 5, r[0]); ctx.lineTo(s[1] + 5, r[0]);
        ctx.lineTo((s[0] + s[1]) / 2, r[0] + r[1]); ctx.fill();
        var text = fit([data.labels[ops[b][INV]], "blamed"], Math.min(next, W) - s[1] - 14);
        if (text) ctx.fillText(text, s[1] + 9, r[0] + r[1] / 2 + 1);
      });
    }
    ctx.restore();
    ctx.fillStyle = "#5d6577"; ctx.font = "10px system-ui, sans-serif"; ctx.textBaseline = "middle";
    data.rows.forEach(function (name, i) { ctx.fillText(name, 6, rowTop[i] + rowH[i] / 2); });
    ctx.fillStyle = "#cfd4df"; ctx.fillRect(0, TOP - 1, W, 1);
  }

  function drawAxis(W, marks) {
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, AXIS_H);
    ctx.fillStyle = "#cfd4df"; ctx.fillRect(0, AXIS_H - 1, W, 1);
    ctx.font = FONT; ctx.textBaseline = "middle"; ctx.fillStyle = "#3a4252";
    ctx.save(); ctx.beginPath(); ctx.rect(gutter, 0, W - gutter, AXIS_H); ctx.clip();
    marks.forEach(function (m) {
      var x = Math.round(xOf(m.t));
      ctx.fillRect(x, AXIS_H - 5, 1, 4); ctx.fillText(m.label, x + 3, AXIS_H / 2 - 1);
    });
    ctx.restore();
    ctx.fillStyle = "#5d6577"; ctx.fillText("time (ms)", 6, AXIS_H / 2);
  }

  function drawGutter(H, first, last) {
    ctx.fillStyle = "#fff"; ctx.fillRect(0, TOP, gutter, H - TOP);
    ctx.save(); ctx.beginPath(); ctx.rect(0, TOP, gutter, H - TOP); ctx.clip();
    ctx.textBaseline = "middle";
    groups.forEach(function (g) { ctx.fillStyle = "#cfd4df"; ctx.fillRect(0, yOf(g.from), gutter, 1); });
    for (var l = first; l <= last; l++) {
      ctx.font = blamedLanes[l] ? "600 " + FONT : FONT;
      ctx.fillStyle = selected >= 0 && ops[selected][LANE] === l ? "#1b6ef3" : blamedLanes[l] ? MAGENTA : "#2a3140";
      ctx.fillText(fit([lanes[l].label], gutter - 10), 6, yOf(l) + LANE_H / 2 + 1);
    }
    ctx.restore();
    ctx.fillStyle = "#cfd4df"; ctx.fillRect(gutter - 1, 0, 1, H);
  }

  function opAt(x, y) {
    if (x < gutter || x > cssW || y < TOP || y > cssH) return -1;
    var l = Math.floor((y - TOP + vp.scrollTop) / LANE_H);
    if (l < 0 || l >= lanes.length) return -1;
    var t = tOf(x), tol = 3 / ppu(), near = -1, nearDist = Infinity, open = -1;
    for (var k = 0; k < laneOps[l].length; k++) {
      var i = laneOps[l][k], op = ops[i], a = op[START], b = op[DONE] === null ? a : op[DONE];
      if (t >= a && t <= b) return i;
      var d = Math.min(Math.abs(t - a), Math.abs(t - b));
      if (d <= tol && d < nearDist) { near = i; nearDist = d; }
      if (op[TYPE] === 2 && t >= b && t <= tailEnd[i]) open = i;  // the hatch of an unknown outcome
    }
    return near >= 0 ? near : open;
  }

  function faultAt(x, y) {
    if (x < gutter || y < AXIS_H || y >= TOP) return null;
    var t = tOf(x), tol = 4 / ppu(), found = null;
    data.marks.forEach(function (m) { var r = rowOf(m); if (r[0] <= y && y <= r[0] + r[1] + 1 && Math.abs(t - m.t) <= tol) found = m; });
    if (found) return found;
    data.windows.forEach(function (w) {
      var r = rowOf(w);
      if (r[0] - 1 <= y && y <= r[0] + r[1] + 1 && t >= w.start - tol && t <= w.end + tol) found = w;
    });
    return found;
  }

  function blamedAt(x, y) {
    if (BLAMED_ROW < 0 || y < rowTop[BLAMED_ROW] || y >= rowTop[BLAMED_ROW] + rowH[BLAMED_ROW]) return -1;
    for (var n = 0; n < blamed.length; n++) {
      var s = span(ops[blamed[n]]);
      if (x >= s[0] - 6 && x <= s[1] + 6) return blamed[n];
    }
    return -1;
  }

  function text(v) { return v === null ? "\u2014" : v; }

  function opRows(i) {
    var op = ops[i], unknown = op[TYPE] === 2, rows = [
      ["operation", "#" + op[INV] + (op[BLAMED] ? "   blamed by the checker" : "")],
      ["process", strings[op[PROC]]],
      ["node", op[NODE] < 0 ? "\u2014" : strings[op[NODE]]],
      ["f", strings[op[F]]], ["key", text(op[KEY])], ["input", text(op[VALUE])],
      ["output", text(op[OUT])],
      ["type", NAMES[op[TYPE]] + (op[ERR] === null ? "" : " (" + op[ERR] + ")")],
      ["invoked", ms(op[START]) + "  (event " + op[INV] + ")"]];
    if (op[DONE] === null) rows.push(["completed", "never: it may take effect any time after the invoke"]);
    else {
      rows.push([unknown ? "gave up" : "completed", ms(op[DONE]) + "  (event " + op[COMP] + ")"]);
      rows.push(["duration", ms(op[DONE] - op[START])]);
      if (unknown) rows.push(["outcome", "unknown: it may take effect any time after the invoke"]);
    }
    var end = op[KEY] === null ? undefined : finals[op[KEY]];
    if (end) {
      rows.push(["replicas end with", replicas.nodes.map(function (n, j) {
        return n + "=" + (end.values[j] === null ? "missing" : end.values[j]);
      }).join(", ")]);
    }
    return rows;
  }

  function faultRows(w) {
    var rows = [["fault", w.label], ["node", text(w.node)]];
    if (w.t !== undefined) rows.push(["at", ms(w.t) + "  (event " + w.event + ")"]);
    else {
      rows.push(["from", ms(w.start) + "  (event " + w.event + ")"]);
      rows.push(["to", ms(w.end) + "  (" + w.until + ")"]);
    }
    if (w.detail) rows.push(["detail", w.detail]);
    return rows;
  }

  function fill(table, rows) {
    table.textContent = "";  // textContent only: recorded data never becomes markup
    rows.forEach(function (r) {
      var tr = table.insertRow(), th = document.createElement("th");
      th.textContent = r[0]; tr.appendChild(th);
      var td = tr.insertCell(); td.textContent = String(r[1]); td.className = "v";
    });
  }

  function showTip(e) {
    var rows = hovered >= 0 ? opRows(hovered) : hoveredFault ? faultRows(hoveredFault) : null;
    if (!rows) { tip.hidden = true; return; }
    fill(tipTable, rows); tip.hidden = false;
    var x = e.clientX + 14, y = e.clientY + 14;
    if (x + tip.offsetWidth > window.innerWidth - 4) x = Math.max(4, e.clientX - tip.offsetWidth - 14);
    if (y + tip.offsetHeight > window.innerHeight - 4) y = Math.max(4, e.clientY - tip.offsetHeight - 14);
    tip.style.left = x + "px"; tip.style.top = y + "px";
  }

  function select(i, quiet) {
    selected = i;
    if (i >= 0) keyFilter = null;
    detailHint.hidden = i >= 0;
    if (i >= 0) fill(detailTable, opRows(i)); else detailTable.textContent = "";
    if (!quiet) {
      try { window.history.replaceState(null, "", i >= 0 ? "#op-" + ops[i][INV] : window.location.pathname + window.location.search); } catch (err) { /* some file:// views refuse */ }
    }
    schedule();
  }

  function focusRange(a, b, exact) {
    var plotW = cssW - gutter, want = SPAN / Math.max((b - a) * (exact ? 1 : 1.6), 1);
    if (exact || want < zoom || (b - a) * ppu() < 40) setZoom(want, gutter);
    vp.scrollLeft = ((a + b) / 2 - BEGIN) * ppu() - plotW / 2;
  }

  function focusOp(i, quiet) {
    var op = ops[i], a = op[START], b = op[DONE] === null ? END : op[DONE];
    var focus = data.focus && data.focus.op === op[INV] ? data.focus : null;
    if (focus) focusRange(focus.from, focus.to, true);
    else {
      var pad = Math.max(2 * (b - a), data.pad);  // the same context as the opening view
      focusRange(Math.max(BEGIN, a - pad), Math.min(END, b + pad), true);
    }
    vp.scrollTop = op[LANE] * LANE_H - (cssH - TOP) / 2;
    if (!quiet) wrap.scrollIntoView({block: "nearest"});
    select(i, quiet);
  }

  function whole() { setZoom(1, gutter); vp.scrollLeft = 0; schedule(); }

  function showKey(key) {  // the whole run, the operations on ``key`` only (#key=... names it)
    select(-1, true); keyFilter = key; dimKeys.checked = true; whole();
    try { window.history.replaceState(null, "", "#key=" + encodeURIComponent(key)); } catch (err) { /* file:// */ }
  }

  function local(e) {
    var r = vp.getBoundingClientRect();
    return {x: e.clientX - r.left, y: e.clientY - r.top};
  }

  vp.addEventListener("scroll", schedule);
  vp.addEventListener("mousedown", function (e) {
    var p = local(e);
    if (e.button !== 0 || p.x > cssW || p.y > cssH) return;  // leave the scrollbars alone
    drag = {x: e.clientX, y: e.clientY, left: vp.scrollLeft, top: vp.scrollTop, moved: false};
  });
  window.addEventListener("mouseup", function () {
    vp.classList.remove("dragging");
    window.setTimeout(function () { drag = null; }, 0);  // after the click it may cancel
  });
  vp.addEventListener("mousemove", function (e) {
    var p = local(e);
    if (drag && (e.buttons & 1)) {
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; vp.classList.add("dragging"); }
      if (drag.moved) { vp.scrollLeft = drag.left - dx; vp.scrollTop = drag.top - dy; tip.hidden = true; return; }
    }
    hovered = opAt(p.x, p.y);
    if (hovered < 0) hovered = blamedAt(p.x, p.y);
    hoveredFault = hovered < 0 ? faultAt(p.x, p.y) : null;
    cursorOut.textContent = p.x >= gutter && p.x <= cssW ? "t = " + ms(tOf(p.x)) : "";
    showTip(e); schedule();
  });
  vp.addEventListener("mouseleave", function () {
    hovered = -1; hoveredFault = null; tip.hidden = true; schedule();
  });
  vp.addEventListener("click", function (e) {
    if (drag && drag.moved) return;
    var p = local(e), i = opAt(p.x, p.y), b = i < 0 ? blamedAt(p.x, p.y) : -1;
    var f = i < 0 && b < 0 ? faultAt(p.x, p.y) : null;
    if (b >= 0) focusOp(b);
    else if (f) focusRange(f.t !== undefined ? f.t - 1 : f.start, f.t !== undefined ? f.t + 1 : f.end);
    else select(i);
  });
  vp.addEventListener("wheel", function (e) {
    if (!(e.ctrlKey || e.metaKey)) return;  // plain wheel scrolls; ctrl+wheel (and pinch) zooms
    e.preventDefault();
    setZoom(zoom * Math.exp(-e.deltaY * 0.002), Math.max(local(e).x, gutter));
  }, {passive: false});
  zoomInput.addEventListener("input", function () {
    setZoom(Math.exp(Number(zoomInput.value) / 1000 * Math.log(maxZoom)), gutter + (cssW - gutter) / 2);
  });
  document.querySelectorAll("button[data-zoom]").forEach(function (b) {
    b.addEventListener("click", function () {
      var how = b.getAttribute("data-zoom"), mid = gutter + (cssW - gutter) / 2;
      if (how === "fit") whole();
      else if (how === "focus") { if (data.focus) focusOp(byInv[data.focus.op]); }
      else setZoom(how === "in" ? zoom * 2 : zoom / 2, mid);
    });
  });
  dimKeys.addEventListener("change", schedule);
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") { keyFilter = null; select(-1); } });
  document.addEventListener("click", function (e) {
    var a = e.target.closest ? e.target.closest("a[data-op], a[data-from], a[data-key]") : null;
    if (!a) return;
    e.preventDefault();
    if (a.hasAttribute("data-op")) {
      var i = byInv[a.getAttribute("data-op")];
      if (i !== undefined) focusOp(i);
    } else if (a.hasAttribute("data-key")) {  // a key of the replicas' table: its operations only
      showKey(a.getAttribute("data-key"));
      wrap.scrollIntoView({block: "nearest"});
    } else {
      focusRange(Number(a.getAttribute("data-from")), Number(a.getAttribute("data-to")));
      wrap.scrollIntoView({block: "nearest"});
    }
  });
  window.addEventListener("resize", function () {
    var mid = tOf(gutter + (cssW - gutter) / 2);
    layout(); vp.scrollLeft = (mid - BEGIN) * ppu() - (cssW - gutter) / 2; schedule();
  });

  layout();
  // Open on the operation the address names, else on the first blamed one (without
  // scrolling the page: the verdict above says what the lanes show).
  var m = /^#op-(\d+)$/.exec(window.location.hash), k = /^#key=(.+)$/.exec(window.location.hash);
  if (m && byInv[m[1]] !== undefined) focusOp(byInv[m[1]], true);
  else if (k) showKey(decodeURIComponent(k[1]));
  else if (data.focus && byInv[data.focus.op] !== undefined) focusOp(byInv[data.focus.op], true);
  draw();
})();
"""
