/* stoker dashboard: theme switch, menu, local times, selection, confirmations, live counters,
   realtime chart, live progress of running jobs and the log of one. No dependencies, no build
   step. Everything works without it but the live parts and the confirmations. */
(function () {
  "use strict";

  var body = document.body;
  var root = body.getAttribute("data-root") || "";
  var pollMs = parseInt(body.getAttribute("data-poll"), 10) || 2000;
  var SVG = "http://www.w3.org/2000/svg";

  function $(selector, scope) { return (scope || document).querySelector(selector); }
  function $all(selector, scope) {
    return Array.prototype.slice.call((scope || document).querySelectorAll(selector));
  }

  /* ---- theme ---------------------------------------------------------------------------- */
  var toggle = $("#theme-toggle");
  if (toggle) {
    toggle.addEventListener("click", function () {
      var html = document.documentElement;
      var next = html.getAttribute("data-theme") === "dark" ? "light" : "dark";
      html.setAttribute("data-theme", next);
      try { window.localStorage.setItem("stoker-theme", next); } catch (e) { /* ignore */ }
    });
  }

  /* ---- navigation menu on narrow screens ----------------------------------------------------- */
  var menu = $("#menu-toggle"), topbar = $("#topbar");
  function setMenu(open) {
    topbar.classList.toggle("open", open);
    menu.setAttribute("aria-expanded", open ? "true" : "false");
  }
  if (menu && topbar) {
    menu.addEventListener("click", function () { setMenu(!topbar.classList.contains("open")); });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && topbar.classList.contains("open")) {
        setMenu(false);
        menu.focus();
      }
    });
  }

  /* ---- times in the browser's time zone, UTC on hover ---------------------------------------- */
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function localText(date, withDate) {
    var time = pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds());
    if (!withDate) { return time; }
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + " " + time;
  }
  function zoneName() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return ""; }
  }
  function utcText(date) { return date.toISOString().replace("T", " ").slice(0, 19) + " UTC"; }
  function localizeTimes(scope) {
    var zone = zoneName();
    $all("time[datetime]", scope).forEach(function (element) {
      if (element.hasAttribute("data-localized")) { return; }
      var date = new Date(element.getAttribute("datetime"));
      if (isNaN(date.getTime())) { return; }
      var kind = element.getAttribute("data-time");  // "absolute", "clock" or relative (none)
      if (kind === "absolute") { element.textContent = localText(date, true) + (zone ? " " + zone : ""); }
      if (kind === "clock") { element.textContent = localText(date, false); }
      element.title = (kind ? "" : localText(date, true) + (zone ? " " + zone : "") + " · ") + utcText(date);
      element.setAttribute("data-localized", "");
    });
  }
  localizeTimes(document);

  /* ---- selection and confirmations ---------------------------------------------------------- */
  $all("form.selection").forEach(function (form) {
    var boxes = $all("input[name=ids]", form);
    var all = $("input[data-select-all]", form);
    var buttons = $all("[data-needs-selection]", form);
    var counter = $("[data-selection-count]", form);
    function refresh() {
      var n = boxes.filter(function (box) { return box.checked; }).length;
      buttons.forEach(function (button) { button.disabled = n === 0; });
      if (counter) { counter.textContent = n ? n + " selected" : ""; }
      if (all) {
        all.checked = n > 0 && n === boxes.length;
        all.indeterminate = n > 0 && n < boxes.length;
      }
    }
    boxes.forEach(function (box) { box.addEventListener("change", refresh); });
    if (all) {
      all.addEventListener("change", function () {
        boxes.forEach(function (box) { box.checked = all.checked; });
        refresh();
      });
    }
    refresh();
  });
  $all("[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  /* ---- live counters ---------------------------------------------------------------------- */
  var live = $("#live");
  function setLive(ok) {
    if (!live) { return; }
    live.classList.toggle("ok", ok);
    live.classList.toggle("error", !ok);
    live.title = ok ? "Live: refreshed every " + pollMs / 1000 + " s" : "Cannot reach the dashboard";
  }

  function getJSON(path) {
    return fetch(root + path, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      });
  }

  function updateCounters(stats) {
    var values = {
      retries: stats.retries + (stats.retries_complete ? "" : "+"),
      recurring: stats.recurring,
      servers: stats.servers,
      servers_dead: stats.servers_dead
    };
    Object.keys(stats.states).forEach(function (name) { values[name] = stats.states[name]; });
    $all("[data-count]").forEach(function (element) {
      var key = element.getAttribute("data-count");
      if (Object.prototype.hasOwnProperty.call(values, key)) {
        element.textContent = String(values[key]);
        if (element.classList.contains("badge-failed")) {
          element.classList.toggle("zero", String(values[key]) === "0");
        }
      }
    });
    $all("[data-total]").forEach(function (element) {
      var key = element.getAttribute("data-total");
      if (stats.totals && key in stats.totals) { element.textContent = String(stats.totals[key]); }
    });
  }

  /* ---- realtime chart: succeeded/failed per second from deltas of the totals --------------- */
  var chart = $("#realtime-chart");
  var samples = [];
  var last = null;
  var MAX_POINTS = 60;

  function niceMax(value) {
    var step = 1;
    for (;;) {
      for (var i = 0; i < 5; i++) {
        var candidate = step * [2, 4, 6, 8, 10][i];
        if (candidate >= value) { return candidate; }
      }
      step *= 10;
    }
  }

  function svgElement(name, attributes, text) {
    var element = document.createElementNS(SVG, name);
    Object.keys(attributes).forEach(function (key) { element.setAttribute(key, attributes[key]); });
    if (text !== undefined) { element.textContent = text; }
    return element;
  }

  function drawRealtime() {
    if (!chart || samples.length < 1) { return; }
    // Drawn in the element's own pixels, so that text keeps its size at any width.
    var width = Math.max(Math.round(chart.getBoundingClientRect().width), 320);
    var height = 200, top = 10, bottom = 24, left = 36, right = 4;
    chart.setAttribute("viewBox", "0 0 " + width + " " + height);
    var plotW = width - left - right, plotH = height - top - bottom;
    var peak = niceMax(Math.max.apply(null, samples.map(function (s) {
      return Math.max(s.succeeded, s.failed);
    }).concat([1])));
    while (chart.firstChild) { chart.removeChild(chart.firstChild); }
    [0, 0.5, 1].forEach(function (fraction) {
      var y = top + plotH * (1 - fraction);
      chart.appendChild(svgElement("line", { "class": "grid", x1: left, y1: y, x2: width - right, y2: y }));
      var label = Math.round(peak * fraction * 10) / 10;
      chart.appendChild(svgElement("text", { "class": "tick", x: left - 4, y: y + 4, "text-anchor": "end" }, String(label)));
    });
    var step = plotW / (MAX_POINTS - 1);
    var offset = MAX_POINTS - samples.length;
    ["succeeded", "failed"].forEach(function (kind) {
      var points = samples.map(function (sample, index) {
        var x = left + (offset + index) * step;
        var y = top + plotH * (1 - sample[kind] / peak);
        return x.toFixed(1) + "," + y.toFixed(1);
      });
      if (points.length === 1) { points.push(points[0]); }
      var firstX = (left + offset * step).toFixed(1);
      var area = firstX + "," + (top + plotH) + " " + points.join(" ") + " " +
        (left + (MAX_POINTS - 1) * step).toFixed(1) + "," + (top + plotH);
      chart.appendChild(svgElement("polygon", { "class": "area " + kind, points: area }));
      chart.appendChild(svgElement("polyline", { "class": "line " + kind, points: points.join(" ") }));
    });
    var latest = samples[samples.length - 1];
    chart.appendChild(svgElement("text", { "class": "tick", x: width - right, y: height - 6, "text-anchor": "end" },
      "now: " + latest.succeeded.toFixed(1) + " ok/s, " + latest.failed.toFixed(1) + " failed/s"));
    chart.appendChild(svgElement("text", { "class": "tick", x: left, y: height - 6 },
      Math.round(MAX_POINTS * pollMs / 1000) + " s ago"));
  }

  function addSample(stats) {
    var now = Date.now();
    var totals = stats.totals || { succeeded: 0, failed: 0 };
    if (last !== null) {
      var seconds = Math.max((now - last.at) / 1000, 0.001);
      samples.push({
        succeeded: Math.max(0, (totals.succeeded - last.succeeded) / seconds),
        failed: Math.max(0, (totals.failed - last.failed) / seconds)
      });
      if (samples.length > MAX_POINTS) { samples.shift(); }
      drawRealtime();
    }
    last = { at: now, succeeded: totals.succeeded, failed: totals.failed };
  }

  function pollStats() {
    if (document.hidden) { return; }
    getJSON("/api/stats").then(function (stats) {
      setLive(true);
      updateCounters(stats);
      if (chart) { addSample(stats); }
    }).catch(function () { setLive(false); });
  }

  /* ---- a job's page: progress and log while it runs; reload when its state changes --------- */
  var job = $("#job");
  var FINAL = { Succeeded: true, Deleted: true };
  function pollJob() {
    if (!job || document.hidden) { return; }
    var id = job.getAttribute("data-job-id");
    getJSON("/api/job/" + encodeURIComponent(id)).then(function (data) {
      if (data.state.name !== job.getAttribute("data-state")) { window.location.reload(); return; }
      var bar = $("#job-progress"), text = $("#job-progress-text"), log = $("#job-log");
      if (data.progress !== null && bar && text) {
        bar.value = Math.round(data.progress * 100);
        text.textContent = Math.round(data.progress * 100) + "%";
      }
      if (log && data.logs.length > log.children.length) {
        data.logs.slice(log.children.length).forEach(function (line) {
          var item = document.createElement("li");
          var time = document.createElement("time");
          time.setAttribute("datetime", line.created_at);
          time.setAttribute("data-time", "clock");
          time.textContent = line.created_at.slice(11, 19);
          item.appendChild(time);
          localizeTimes(item);
          item.appendChild(document.createTextNode(" " + line.message));
          log.appendChild(item);
        });
        var empty = $("#job-log-empty");
        if (empty) { empty.remove(); }
      }
    }).catch(function () { setLive(false); });
  }

  /* ---- the Processing list: progress of each running job, live ----------------------------- */
  var processing = body.getAttribute("data-page") === "jobs" && $("#jobs-table[data-state=Processing]");
  function rowIds() {
    return $all("tr[data-job-id]", processing).map(function (row) { return row.getAttribute("data-job-id"); });
  }
  function markFinished() {
    // A row that left the list's current page may still be running: ask for its state.
    var query = rowIds().map(function (id) { return "ids=" + encodeURIComponent(id); }).join("&");
    return getJSON("/api/job-states?" + query).then(function (states) {
      $all("tr[data-job-id]", processing).forEach(function (row) {
        var state = states[row.getAttribute("data-job-id")];
        row.classList.toggle("finished", state !== "Processing");
      });
    });
  }
  function pollProcessing() {
    if (!processing || document.hidden) { return; }
    getJSON("/api/jobs/processing" + window.location.search).then(function (data) {
      var running = {};
      data.jobs.forEach(function (item) { running[item.id] = item; });
      $all("tr[data-job-id]", processing).forEach(function (row) {
        var item = running[row.getAttribute("data-job-id")];
        var cell = $("td.job-progress", row);
        if (!item || !cell || item.progress === null) { return; }
        var percent = Math.round(item.progress * 100);
        var bar = $("progress", cell);
        if (!bar) {
          while (cell.firstChild) { cell.removeChild(cell.firstChild); }
          bar = document.createElement("progress");
          bar.max = 100;
          cell.appendChild(bar);
          cell.appendChild(document.createElement("span"));
        }
        bar.value = percent;
        var label = $("span", cell);
        if (label) { label.textContent = " " + percent + "%"; }
      });
      return markFinished();
    }).catch(function () { setLive(false); });
  }

  var note = $("#realtime-note");
  if (note) { note.textContent = note.getAttribute("data-collecting"); }
  pollStats();
  window.setInterval(pollStats, pollMs);
  if (processing) { window.setInterval(pollProcessing, pollMs); }
  if (job && !FINAL[job.getAttribute("data-state")]) {
    window.setInterval(pollJob, pollMs);
  }
})();
