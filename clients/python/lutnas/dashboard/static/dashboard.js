/* lutnas dashboard: live job progress, cancel, the Pareto explorer.
   Everything comes from the dashboard's /api/* (which asks lutnasd over gRPC). */
var lutnas = (function () {
  "use strict";
  var HEADERS = {"X-Lutnas-Dashboard": "1"};

  function banner(msg) {
    var b = document.getElementById("banner");
    if (!b) return;
    if (msg === null) { b.hidden = true; return; }
    document.getElementById("banner-msg").textContent = msg || "";
    b.hidden = false;
  }

  // fetch JSON; a 503 (daemon down) or a network error shows the banner.
  function api(url, opts) {
    return fetch(url, opts || {}).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (r.status === 503) { banner(body.error || ""); throw new Error("daemon down"); }
        banner(null);
        if (!r.ok && r.status !== 409) throw new Error(body.error || ("HTTP " + r.status));
        return body;
      });
    }, function (e) {
      banner("The dashboard itself did not answer (" + e.message + ").");
      throw e;
    });
  }

  function setText(root, field, text) {
    var el = root.querySelector('[data-field="' + field + '"]');
    if (el) el.textContent = text;
    return el;
  }

  function updateJob(root, j) {
    var st = setText(root, "state", j.state);
    if (st) st.className = "state state-" + j.state;
    var fill = root.querySelector('[data-field="fill"]');
    if (fill) { fill.style.width = (100 * j.fraction).toFixed(1) + "%"; fill.className = "fill state-" + j.state; }
    setText(root, "progress", j.progress_text);
    setText(root, "error", j.error || "");
    root.dataset.terminal = j.terminal ? "1" : "0";
    root.dataset.evaluated = String(j.evaluated);
    var btns = root.querySelectorAll("button.cancel");
    for (var i = 0; i < btns.length; i++) btns[i].hidden = !j.cancellable;
  }

  function every(ms, fn) {
    var stop = false;
    function tick() {
      if (stop) return;
      Promise.resolve().then(fn).then(function (again) {
        if (again === false) return;
        setTimeout(tick, typeof again === "number" ? again : ms);
      }, function () { setTimeout(tick, Math.max(ms, 5000)); });
    }
    setTimeout(tick, ms);
    return function () { stop = true; };
  }

  function watchJobs() {
    every(1500, function () {
      return api("/api/jobs").then(function (body) {
        var live = false;
        body.jobs.forEach(function (j) {
          var row = document.querySelector('tr[data-job="' + j.id + '"]');
          if (!row) { location.reload(); return; }  // a new job: redraw the list
          live = live || !j.terminal;
          updateJob(row, j);
        });
        return live ? 1500 : 10000;  // all ended: only look for new jobs
      });
    });
  }

  var jobListeners = [];
  function watchJob(id) {
    var root = document.getElementById("job-progress");
    if (root.dataset.terminal === "1") return;
    every(1000, function () {
      return api("/api/jobs/" + id).then(function (j) {
        updateJob(root, j);
        jobListeners.forEach(function (f) { f(j); });
        return !j.terminal;
      });
    });
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest("button.cancel");
    if (!b) return;
    var id = b.dataset.job;
    if (!window.confirm("Cancel job " + id + "? The daemon stops it after the current generation; its candidates stay.")) return;
    b.disabled = true;
    api("/api/jobs/" + id + "/cancel", {method: "POST", headers: HEADERS}).then(function (body) {
      var j = body.job || body;
      var root = b.closest("[data-job]");
      if (root && j.state) updateJob(root, j);
      b.disabled = false;
    }, function (e) { b.disabled = false; window.alert("Cancel failed: " + e.message); });
  });

  // ------------------------------------------------------------ Pareto explorer
  function fmt(n) {
    var a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toPrecision(4) + "G";
    if (a >= 1e6) return (n / 1e6).toPrecision(4) + "M";
    if (a >= 1e3) return (n / 1e3).toPrecision(4) + "k";
    return String(n);
  }

  function pareto(jobId) {
    var div = document.getElementById("pareto");
    var hwSel = document.getElementById("x-hw"), ySel = document.getElementById("y-axis");
    var status = document.getElementById("pareto-status");
    var picked = [], timer = null, inflight = false, lastEvaluated = -1;
    var t0 = performance.now(), bound = false;

    function onClick(ev) {
      if (!ev.points || !ev.points.length || !ev.points[0].customdata) return;
      var id = ev.points[0].customdata[0];
      if (ev.event && ev.event.shiftKey) {
        picked.push(id);
        if (picked.length === 2) { location.href = "/candidates/" + picked[0] + "?compare=" + picked[1]; return; }
        status.textContent = "Candidate " + id + " picked: shift-click a second point to compare.";
        return;
      }
      location.href = "/candidates/" + id;
    }

    function traces(body) {
      var p = body.points, groups = [
        {name: "infeasible (over a budget on some device, or a cap)", color: "#b0b0b0", size: 6, test: function (i) { return !p.feasible[i] && !p.pareto[i]; }},
        {name: "feasible", color: "#3b73b9", size: 7, test: function (i) { return p.feasible[i] && !p.pareto[i]; }},
        {name: "Pareto front", color: "#d62728", size: 11, test: function (i) { return p.pareto[i]; }}];
      return groups.map(function (g) {
        var idx = [];
        for (var i = 0; i < p.id.length; i++) if (g.test(i)) idx.push(i);
        var sym = g.name === "Pareto front" ? "diamond" : "circle";
        return {
          type: "scatter", mode: "markers", name: g.name, showlegend: false, legendgroup: g.name,
          x: idx.map(function (i) { return p.x[i]; }), y: idx.map(function (i) { return p.y[i]; }),
          customdata: idx.map(function (i) { return [p.id[i], p.score[i], fmt(p.params[i]), fmt(p.macs[i]), Math.round(100 * p.measured[i])]; }),
          marker: {color: g.color, size: g.size, opacity: g.name === "feasible" ? 0.75 : 0.9,
                   symbol: idx.map(function (i) { return p.measured[i] >= 0.999 ? sym : sym + "-open"; }),
                   line: {width: 1.5, color: g.color}},
          hovertemplate: "candidate %{customdata[0]}<br>" + body.hardware + ": %{x:.3f} ms<br>score %{customdata[1]:.4g}" +
            "<br>params %{customdata[2]} · MACs %{customdata[3]}<br>%{customdata[4]}% of the latency measured<extra>" + g.name + "</extra>"
        };
      }).concat(groups.map(function (g) {  // legend entries with filled markers
        return {type: "scatter", mode: "markers", name: g.name, legendgroup: g.name, x: [null], y: [null],
                marker: {symbol: g.name === "Pareto front" ? "diamond" : "circle", color: g.color, size: 9}, hoverinfo: "skip"};
      })).concat([{type: "scatter", mode: "markers", name: "filled: latency fully measured · hollow: partly estimated",
                   x: [null], y: [null], marker: {symbol: "circle-open", color: "#555", size: 9}, hoverinfo: "skip"}]);
    }

    function layout(body) {
      var shapes = [], ann = [];
      if (body.budget_ms) {
        shapes.push({type: "line", xref: "x", yref: "paper", x0: body.budget_ms, x1: body.budget_ms, y0: 0, y1: 1,
                     line: {color: "#d62728", width: 2, dash: "dash"}});
        ann.push({xref: "x", yref: "paper", x: body.budget_ms, y: 0.98, xanchor: "right", yanchor: "top", showarrow: false,
                  text: "budget on " + body.hardware + ": " + body.budget_ms + " ms ", font: {color: "#d62728"}});
      }
      var logY = body.y !== "score";
      return {
        uirevision: body.hardware + "/" + body.y, hovermode: "closest", height: 520,
        margin: {l: 70, r: 20, t: 40, b: 55},
        xaxis: {title: {text: "predicted latency on " + body.hardware + " (ms)"}, zeroline: false},
        yaxis: {title: {text: body.y_label}, type: logY ? "log" : "linear", zeroline: false},
        legend: {orientation: "h", y: -0.16}, shapes: shapes, annotations: ann
      };
    }

    function load() {
      if (inflight) return;
      inflight = true;
      var url = "/api/jobs/" + jobId + "/points?hardware=" + encodeURIComponent(hwSel.value) + "&y=" + ySel.value;
      api(url).then(function (body) {
        // plotly.min.js loads deferred, in parallel with this request.
        (function whenPlotly() {
          if (window.Plotly) draw(body);
          else if (document.readyState !== "complete") setTimeout(whenPlotly, 20);
          else { inflight = false; status.textContent = "plotly.min.js did not load: is plotly installed beside the dashboard?"; }
        })();
      }, function () { inflight = false; clearTimeout(timer); timer = setTimeout(load, 5000); });
    }

    function draw(body) {
        inflight = false;
        Plotly.react(div, traces(body), layout(body), {displaylogo: false, responsive: true});
        if (!bound) { bound = true; div.on("plotly_click", onClick); }
        var sampled = body.shown < body.total;
        status.textContent = "Showing " + body.shown + " of " + body.total + " candidates" +
          (sampled ? " (every Pareto point, and a sample thinned evenly over the plot: dense regions keep fewer)" : "") +
          (body.complete ? "." : " · reading the rest from lutnasd (" + body.loaded + " of " + body.total + ")…") +
          (body.error ? " · " + body.error : "");
        // Timings since navigation start (bench/dashboard_pareto_load.py reads them).
        var prev = window.lutnasPareto || {}, now = performance.now();
        window.lutnasPareto = {drawn: true, complete: body.complete, shown: body.shown, total: body.total,
                               hardware: body.hardware, y: body.y, ms: now - t0,
                               firstMs: prev.firstMs || now,
                               completeMs: prev.completeMs || (body.complete ? now : 0)};
        div.dataset.drawn = body.complete ? "complete" : "partial";
        div.dataset.shown = String(body.shown);
        var running = !body.job.terminal;
        lastEvaluated = body.job.evaluated;
        if (!body.complete || running) { clearTimeout(timer); timer = setTimeout(load, body.complete ? 2500 : 1500); }
    }

    hwSel.addEventListener("change", function () { t0 = performance.now(); load(); });
    ySel.addEventListener("change", function () { t0 = performance.now(); load(); });
    load();
    jobListeners.push(function (j) { if (j.evaluated !== lastEvaluated || j.terminal) load(); });
  }

  function lazyInsights() {
    var ds = document.querySelectorAll("details.insights");
    for (var i = 0; i < ds.length; i++) {
      ds[i].addEventListener("toggle", function () {
        var img = this.querySelector("img");
        if (this.open && !img.src) img.src = this.dataset.src;
      });
    }
  }

  function compareChecked(form) {
    var ids = Array.prototype.map.call(document.querySelectorAll("input.pick:checked"), function (c) { return c.value; });
    if (ids.length !== 2) { window.alert("Check exactly two candidates to compare."); return false; }
    location.href = "/candidates/" + ids[0] + "?compare=" + ids[1];
    return false;
  }

  return {watchJobs: watchJobs, watchJob: watchJob, pareto: pareto, lazyInsights: lazyInsights,
          compareChecked: compareChecked, api: api};
})();
