/* rfdmft-explorer.js: live explorers on the book's static pages.
 *
 * The Python explorers (rfdmft.widgets) put a placeholder into the page,
 *   <div class="rfdmft-explorer" data-kind="theory|bayes|discrete|rf" data-config="{...}">,
 * whose JSON config names the sliders, their values, the times, the colours of the parts
 * (rfdmft.plotting.PART_COLORS) and their labels. This script turns each placeholder into
 * sliders and an SVG log-log figure redrawn in the browser whenever a slider moves, with the
 * theory of rfdmft-theory.js (window.rfdmft, loaded after this file: both are deferred, and
 * the explorers are built on DOMContentLoaded, or on "load" if the theory has not run by
 * then). No network, no libraries.
 *
 * Kind "discrete" (rfdmft.widgets.discrete_explorer) draws gradient descent or minibatch SGD
 * at a learning rate given as a fraction ``eta`` of the stability edge 2 / (gamma + h_max),
 * computed here for the current sliders, on the times lr * 10^(k L / (points - 1)),
 * L = log10(t_max / lr), k = 0..points-1 (one step to t_max), with gradient flow as a thin
 * grey line; a refusal (divergence) leaves the figure empty and says why.
 *
 * Kind "rf" (rfdmft.widgets.rf_explorer) draws the random-feature model (N random features of
 * M kernel modes, M fixed) with rfTheory, the mode model as a thin grey line and t = inf where
 * rfEquilibrium gives it (the status says why not where it refuses).
 *
 * For tests: element.rfdmftLast holds the numbers last drawn (and the parameters),
 * element.rfdmftDraws counts the redraws.
 */
(function () {
  "use strict";

  var SVGNS = "http://www.w3.org/2000/svg";
  var SYMBOLS = { alpha: "\u03b1", N: "N", M: "M", P: "P", sigma2: "\u03c3\u00b2", gamma: "\u03b3", T: "T",
    prior_variance: "prior variance", noise_variance: "noise variance",
    eta: "lr/lr\u2098\u2090\u2093", batch: "B" };
  var TITLES = { alpha: "spectral exponent", N: "model modes", M: "target modes", P: "training points",
    sigma2: "label-noise variance", gamma: "weight decay", T: "temperature",
    prior_variance: "prior variance of the posterior", noise_variance: "noise variance assumed",
    eta: "learning rate, as a fraction of the stability edge of gradient descent 2/(\u03b3 + h_max)",
    batch: "minibatch size (full: gradient descent on all P points)" };
  var ORDER = ["alpha", "N", "M", "P", "sigma2", "gamma", "T", "eta", "batch", "prior_variance",
    "noise_variance"];

  function el(tag, attrs, parent) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k]; else node.setAttribute(k, attrs[k]);
    });
    if (parent) parent.appendChild(node);
    return node;
  }

  function svg(tag, attrs, parent) {
    var node = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k]; else node.setAttribute(k, attrs[k]);
    });
    if (parent) parent.appendChild(node);
    return node;
  }

  function fmt(x) {                 // slider values: 0.0001, 0.25, 6400
    if (x === 0) return "0";
    if (Math.abs(x) >= 1e-3) return String(Number(x.toPrecision(4)));
    return x.toExponential().replace(/e-(\d)$/, "e-$1");
  }

  /* ---------- one explorer ---------- */

  function Explorer(root) {
    this.root = root;
    this.config = JSON.parse(root.getAttribute("data-config"));
    this.kind = this.config.kind;
    this.values = Object.assign({}, this.config.values);
    this.inputs = {};
    this.pending = false;
    root.rfdmftDraws = 0;
    this.build();
    this.redraw();
  }

  Explorer.prototype.build = function () {
    var self = this, cfg = this.config, root = this.root;
    root.textContent = "";
    root.classList.add("rfdmft-live");
    var form = el("div", { class: "rfdmft-controls", role: "group",
      "aria-label": "parameters of the figure" }, root);
    var controls = ORDER.filter(function (n) { return cfg.controls.indexOf(n) >= 0; });
    controls.forEach(function (name) {
      var wrap = el("label", { class: "rfdmft-control", title: TITLES[name] || name }, form);
      var head = el("span", { class: "rfdmft-control-label" }, wrap);
      var input = el("input", { type: "range", name: name, "data-param": name }, wrap);
      var choices;
      if (name === "alpha") {
        choices = [];
        for (var a = cfg.alpha.min; a <= cfg.alpha.max + 1e-9; a += cfg.alpha.step)
          choices.push(Math.round(a / cfg.alpha.step) * cfg.alpha.step);
      } else {
        choices = cfg.options[name];
      }
      input.min = "0";
      input.max = String(choices.length - 1);
      input.step = "1";
      var current = name === "M" ? 1 : self.values[name];
      var at = choices.findIndex(function (c) { return Math.abs(c - current) <= 1e-12 * Math.abs(c); });
      input.value = String(Math.max(0, at));
      input.rfdmftChoices = choices;
      var show = function () {
        var v = choices[Number(input.value)];
        if (name === "M") {
          head.textContent = "M = " + (v === 1 ? "N" : v + "N");
          input.setAttribute("aria-valuetext", v === 1 ? "M equals N" : "M equals " + v + " times N");
        } else if (name === "batch" && v === 0) {
          head.textContent = "B = P (full batch)";
          input.setAttribute("aria-valuetext", "full batch");
        } else {
          head.textContent = SYMBOLS[name] + " = " + fmt(v);
          input.setAttribute("aria-valuetext", fmt(v));
        }
      };
      show();
      input.addEventListener("input", function () { show(); self.schedule(); });
      self.inputs[name] = input;
    });
    this.figure = el("div", { class: "rfdmft-figure" }, root);
    this.legend = el("ul", { class: "rfdmft-legend" }, root);
    this.status = el("p", { class: "rfdmft-status", role: "status", "aria-live": "polite" }, root);
    this.width = 0;
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(function () {
        var w = self.figure.clientWidth;
        if (w && Math.abs(w - self.width) > 2) self.schedule();
      }).observe(this.figure);
    }
  };

  Explorer.prototype.schedule = function () {
    var self = this;
    if (this.pending) return;
    this.pending = true;
    var run = function () { self.pending = false; self.redraw(); };
    if (typeof requestAnimationFrame !== "undefined") requestAnimationFrame(run); else setTimeout(run, 0);
  };

  Explorer.prototype.params = function () {
    var v = Object.assign({}, this.values), inputs = this.inputs;
    Object.keys(inputs).forEach(function (name) {
      v[name] = inputs[name].rfdmftChoices[Number(inputs[name].value)];
    });
    if (this.kind === "theory") v.M = v.N * (inputs.M ? v.M : 1);
    return v;
  };

  Explorer.prototype.redraw = function () {
    var lib = window.rfdmft, start = performance.now(), v = this.params(), result;
    if (!lib || !lib.theory) {
      this.status.textContent = "The theory script (rfdmft-theory.js) did not load; no figure.";
      return;
    }
    try {
      result = this.kind === "bayes" ? this.computeBayes(lib, v) :
        this.kind === "discrete" ? this.computeDiscrete(lib, v) :
        this.kind === "rf" ? this.computeRF(lib, v) : this.computeTheory(lib, v);
    } catch (err) {
      this.figure.textContent = "";
      this.legend.textContent = "";
      this.status.textContent = "Not drawn: " + err.message;
      this.status.classList.add("rfdmft-refused");
      this.root.rfdmftLast = { params: v, refused: err.message };
      if (this.kind === "discrete")
        Object.assign(this.root.rfdmftLast,
          { kind: "discrete", name: err.name, times: v.times || null });
      if (this.kind === "rf") Object.assign(this.root.rfdmftLast, { kind: "rf", name: err.name });
      this.root.rfdmftDraws += 1;
      return;
    }
    var computed = performance.now() - start;
    this.draw(result);
    var ms = performance.now() - start;
    this.status.classList.remove("rfdmft-refused");
    var what = this.kind === "bayes" ? "Equilibrium theory of the posterior" :
      this.kind === "discrete" ? "Discrete-time DMFT theory" :
      this.kind === "rf" ? "Random-feature DMFT theory" : "DMFT theory";
    var text = what + " computed in your browser in " + Math.max(1, Math.round(computed)) + " ms.";
    if (result.note) text += " " + result.note;
    if (this.kind === "theory" && /simulator/.test(this.config.notebook_source || ""))
      text += " (Run as a notebook, this explorer shows the exact simulator instead.)";
    this.status.textContent = text;
    result.last.ms = ms;
    result.last.computeMs = computed;
    result.last.params = v;
    this.root.rfdmftLast = result.last;
    this.root.rfdmftDraws += 1;
  };

  Explorer.prototype.computeTheory = function (lib, v) {
    var cfg = this.config, colors = cfg.colors, labels = cfg.labels;
    var times = cfg.times.slice();
    var eq = lib.hasEquilibrium(v);
    if (eq) times.push(Infinity);
    var c = lib.theory(v, times);
    var n = cfg.times.length, series = [];
    ["bias", "label_variance", "thermal_variance"].forEach(function (part) {
      var y = c[part], any = false;
      for (var i = 0; i < n; i++) if (y[i] > 0) any = true;
      if (any) series.push({ x: cfg.times, y: Array.from(y.subarray(0, n)), color: colors[part],
        label: labels[part], width: 2 });
    });
    series.push({ x: cfg.times, y: Array.from(c.error.subarray(0, n)), color: colors.error,
      label: labels.error, width: 2.25 });
    if (cfg.compare_gamma && v.gamma > 0) {
      var plain = lib.theory(Object.assign({}, v, { gamma: 0 }), cfg.times);
      series.push({ x: cfg.times, y: Array.from(plain.error), color: "#999999",
        label: "E<sub>g</sub> at \u03b3 = 0", width: 1.25 });
    }
    var hlines = [];
    if (eq) hlines.push({ y: c.error[n], color: colors.error, dash: "2 4",
      label: "E<sub>g</sub>(t = \u221e)" });
    var last = { kind: "theory", times: Array.from(c.times), error: Array.from(c.error),
      bias: Array.from(c.bias), label_variance: Array.from(c.label_variance),
      thermal_variance: Array.from(c.thermal_variance) };
    return { series: series, hlines: hlines, xlabel: "time t", ylabel: "generalisation error E_g",
      last: last };
  };

  /* The random-feature model (rfdmft.widgets.draw_rf): rfTheory's parts and total, the mode
   * model with min(N, M) of the M modes as a thin grey line, and t = inf (rfEquilibrium) as a
   * dotted line where the library gives it; where it refuses, the status says why. */
  Explorer.prototype.computeRF = function (lib, v) {
    var cfg = this.config, colors = cfg.colors, labels = cfg.labels, times = cfg.times;
    var p = { alpha: v.alpha, N: v.N, M: v.M, P: v.P, sigma2: v.sigma2, gamma: v.gamma, T: v.T };
    var c = lib.rfTheory(p, times), series = [], limit = null, note = null;
    try {
      limit = lib.rfEquilibrium(p);
    } catch (err) {
      if (err.name !== "ValueError") throw err;
      note = "No t = \u221e line: " + err.message;
    }
    ["bias", "label_variance", "thermal_variance"].forEach(function (part) {
      var y = c[part], any = false;
      for (var i = 0; i < y.length; i++) if (y[i] > 0) any = true;
      if (any) series.push({ x: times, y: Array.from(y), color: colors[part], label: labels[part],
        width: 2 });
    });
    series.push({ x: times, y: Array.from(c.error), color: colors.error, label: labels.error,
      width: 2.25 });
    var modes = lib.theory(Object.assign({}, p, { N: Math.min(p.N, p.M) }), times);
    series.push({ x: times, y: Array.from(modes.error), color: "#999999",
      label: "mode model (first " + Math.min(p.N, p.M) + " of the M modes)", width: 1.25 });
    var hlines = [];
    if (limit) hlines.push({ y: limit.error, color: colors.error, dash: "2 4",
      label: "E<sub>g</sub>(t = \u221e)" });
    var last = { kind: "rf", times: times.slice(), error: Array.from(c.error),
      bias: Array.from(c.bias), label_variance: Array.from(c.label_variance),
      thermal_variance: Array.from(c.thermal_variance), modes: Array.from(modes.error),
      limit: limit ? [limit.bias, limit.label_variance, limit.thermal_variance] : null,
      limitRefused: note };
    return { series: series, hlines: hlines, xlabel: "time t", ylabel: "generalisation error E_g",
      last: last, note: note };
  };

  /* Gradient descent (batch 0: full batch) or minibatch SGD at lr = eta * 2 / (gamma + h_max),
   * as rfdmft.widgets.draw_discrete: the parts and the total, gradient flow in grey. */
  Explorer.prototype.computeDiscrete = function (lib, v) {
    var cfg = this.config, colors = cfg.colors, labels = cfg.labels;
    var base = { alpha: v.alpha, N: v.N, P: v.P, sigma2: v.sigma2, gamma: v.gamma };
    var edge = lib.gdStabilityEdge(base);
    v.lr = v.eta * edge;
    v.batch = v.batch === 0 ? null : v.batch;
    var points = cfg.points, L = Math.log10(cfg.t_max / v.lr), times = [];
    for (var k = 0; k < points; k++) times.push(v.lr * Math.pow(10, k * L / (points - 1)));
    v.times = times;
    var c = lib.theoryDiscrete(Object.assign({}, base, { lr: v.lr, batch: v.batch }), times);
    var flow = lib.theory(base, times);
    var series = [];
    ["bias", "label_variance", "thermal_variance", "sgd_variance"].forEach(function (part) {
      var y = c[part], any = false;
      if (!y) return;
      for (var i = 0; i < y.length; i++) if (y[i] > 0) any = true;
      if (any) series.push({ x: times, y: Array.from(y), color: colors[part], label: labels[part],
        width: 2 });
    });
    series.push({ x: times, y: Array.from(c.error), color: colors.error, label: labels.error,
      width: 2.25 });
    series.push({ x: times, y: Array.from(flow.error), color: "#999999",
      label: "gradient flow (continuous time)", width: 1.25 });
    var last = { kind: "discrete", times: times, error: Array.from(c.error),
      bias: Array.from(c.bias), label_variance: Array.from(c.label_variance),
      thermal_variance: Array.from(c.thermal_variance),
      sgd_variance: c.sgd_variance ? Array.from(c.sgd_variance) : null,
      flow: Array.from(flow.error), lr: v.lr, edge: edge };
    var note = "Learning rate lr = " + lib.pyG(v.lr, 3) + " (" + v.eta + " of the edge " +
      lib.pyG(edge, 3) + "), " + (v.batch === null ? "full batch." : "batch B = " + v.batch + ".");
    return { series: series, hlines: [], xlabel: "time t = lr × steps",
      ylabel: "generalisation error E_g", last: last, note: note };
  };

  Explorer.prototype.computeBayes = function (lib, v) {
    var cfg = this.config, colors = cfg.colors, Ps = cfg.Ps;
    var c = lib.posteriorCurves({ alpha: v.alpha, N: v.N, P: 1, sigma2: v.sigma2 },
      v.prior_variance, v.noise_variance, Ps);
    var series = [
      { x: Ps, y: Array.from(c.mean), color: colors.bias, label: "posterior mean", width: 2 },
      { x: Ps, y: Array.from(c.sample), color: colors.error, label: "one posterior sample", width: 2 },
      { x: Ps, y: Array.from(c.variance), color: colors.thermal_variance, label: "posterior variance",
        width: 2, dash: "7 4" },
    ];
    if (c.optimal) series.push({ x: Ps, y: Array.from(c.optimal), color: "#808080",
      label: "Bayes-optimal posterior mean", width: 1.75, dash: "2 3" });
    var last = { kind: "bayes", P: Ps.slice(), mean: Array.from(c.mean), sample: Array.from(c.sample),
      variance: Array.from(c.variance), optimal: c.optimal ? Array.from(c.optimal) : null };
    return { series: series, hlines: [], xlabel: "training points P", ylabel: "error", last: last };
  };

  /* ---------- the SVG figure ---------- */

  function decades(lo, hi) {
    var a = Math.floor(Math.log10(lo) + 1e-9), b = Math.ceil(Math.log10(hi) - 1e-9);
    if (b <= a) b = a + 1;
    return [a, b];
  }

  function tickLabel(parent, x, y, k, anchor) {
    var t = svg("text", { x: x, y: y, "text-anchor": anchor, class: "rfdmft-tick" }, parent);
    if (k === 0) { t.textContent = "1"; return; }
    if (k === 1) { t.textContent = "10"; return; }
    svg("tspan", { text: "10" }, t);
    svg("tspan", { text: String(k).replace("-", "\u2212"), dy: "-0.5em", class: "rfdmft-exp" }, t);
  }

  function axisLabel(parent, text, attrs) {
    // "generalisation error E_g" -> E with subscript g
    var t = svg("text", attrs, parent);
    var m = /^(.*)E_g$/.exec(text);
    if (m) {
      svg("tspan", { text: m[1] + "E" }, t);
      svg("tspan", { text: "g", dy: "0.3em", class: "rfdmft-sub" }, t);
    } else {
      t.textContent = text;
    }
    return t;
  }

  Explorer.prototype.draw = function (fig) {
    var box = this.figure;
    var W = Math.max(280, Math.min(760, box.clientWidth || 700));
    this.width = box.clientWidth;
    var small = W < 480;
    var H = Math.round(Math.max(230, Math.min(380, W * 0.52)));
    var m = { l: 64, r: 12, t: 10, b: small ? 42 : 46 };
    var pw = W - m.l - m.r, ph = H - m.t - m.b;
    var xs = [], ys = [];
    fig.series.forEach(function (s) {
      s.x.forEach(function (x, i) {
        if (x > 0 && Number.isFinite(x)) xs.push(x);
        if (s.y[i] > 0 && Number.isFinite(s.y[i])) ys.push(s.y[i]);
      });
    });
    fig.hlines.forEach(function (h) { if (h.y > 0 && Number.isFinite(h.y)) ys.push(h.y); });
    var xmin = Math.min.apply(null, xs), xmax = Math.max.apply(null, xs);
    var ymin = Math.min.apply(null, ys), ymax = Math.max.apply(null, ys);
    var xd = [Math.log10(xmin), Math.log10(xmax)];
    var yd = decades(ymin, ymax);
    // y: decades around the data, but no more than 8 below the largest value
    if (yd[1] - yd[0] > 8) yd[0] = yd[1] - 8;
    var X = function (x) { return m.l + (Math.log10(x) - xd[0]) / (xd[1] - xd[0]) * pw; };
    var Y = function (y) { return m.t + (yd[1] - Math.log10(y)) / (yd[1] - yd[0]) * ph; };

    var root = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, class: "rfdmft-svg",
      role: "img", "aria-label": fig.ylabel + " against " + fig.xlabel + " (log-log)" });
    var clipId = "rfdmft-clip-" + (Explorer.count = (Explorer.count || 0) + 1);
    var defs = svg("defs", {}, root);
    var clip = svg("clipPath", { id: clipId }, defs);
    svg("rect", { x: m.l, y: m.t, width: pw, height: ph }, clip);
    svg("rect", { x: m.l, y: m.t, width: pw, height: ph, class: "rfdmft-frame" }, root);
    var ticks = svg("g", { class: "rfdmft-ticks" }, root);
    var step = (xd[1] - xd[0]) > 6 && small ? 2 : 1;
    for (var k = Math.ceil(xd[0] - 1e-9); k <= Math.floor(xd[1] + 1e-9); k++) {
      var px = X(Math.pow(10, k));
      svg("line", { x1: px, x2: px, y1: m.t, y2: m.t + ph, class: "rfdmft-grid" }, ticks);
      svg("line", { x1: px, x2: px, y1: m.t + ph, y2: m.t + ph + 5, class: "rfdmft-tickmark" }, ticks);
      if ((k - Math.ceil(xd[0] - 1e-9)) % step === 0)
        tickLabel(ticks, px - m.l < 16 ? m.l - 2 : px, m.t + ph + 20, k, px - m.l < 16 ? "start" : "middle");
    }
    var ystep = (yd[1] - yd[0]) > 5 ? 2 : 1;
    for (k = yd[0]; k <= yd[1]; k++) {
      var py = Y(Math.pow(10, k));
      svg("line", { x1: m.l, x2: m.l + pw, y1: py, y2: py, class: "rfdmft-grid" }, ticks);
      svg("line", { x1: m.l - 5, x2: m.l, y1: py, y2: py, class: "rfdmft-tickmark" }, ticks);
      if ((yd[1] - k) % ystep === 0) tickLabel(ticks, m.l - 8, py + 4, k, "end");
    }
    axisLabel(root, fig.xlabel, { x: m.l + pw / 2, y: H - 6, "text-anchor": "middle", class: "rfdmft-axis" });
    axisLabel(root, fig.ylabel, { x: 0, y: 0, "text-anchor": "middle", class: "rfdmft-axis",
      transform: "translate(13," + (m.t + ph / 2) + ") rotate(-90)" });

    var plot = svg("g", { "clip-path": "url(#" + clipId + ")" }, root);
    fig.hlines.forEach(function (h) {
      if (!(h.y > 0 && Number.isFinite(h.y))) return;
      svg("line", { x1: m.l, x2: m.l + pw, y1: Y(h.y), y2: Y(h.y), stroke: h.color,
        "stroke-width": 1.5, "stroke-dasharray": h.dash, class: "rfdmft-limit" }, plot);
    });
    fig.series.forEach(function (s) {
      var d = "", pen = "M";
      for (var i = 0; i < s.x.length; i++) {
        var y = s.y[i];
        if (!(y > 0 && Number.isFinite(y))) { pen = "M"; continue; }
        d += pen + X(s.x[i]).toFixed(2) + "," + Y(Math.max(y, Math.pow(10, yd[0] - 1))).toFixed(2);
        pen = "L";
      }
      if (d) svg("path", { d: d, fill: "none", stroke: s.color, "stroke-width": s.width,
        "stroke-dasharray": s.dash || "none", "stroke-linejoin": "round", class: "rfdmft-line" }, plot);
    });
    box.textContent = "";
    box.appendChild(root);

    var legend = this.legend;
    legend.textContent = "";
    fig.series.concat(fig.hlines).forEach(function (s) {
      var item = el("li", {}, legend);
      var sw = svg("svg", { width: 26, height: 10, class: "rfdmft-swatch", "aria-hidden": "true" }, item);
      svg("line", { x1: 1, x2: 25, y1: 5, y2: 5, stroke: s.color, "stroke-width": s.dash === "2 4" ? 1.5 : 2.25,
        "stroke-dasharray": s.dash || "none" }, sw);
      var label = el("span", {}, item);
      label.innerHTML = s.label;        // labels come from the book's own config (E<sub>g</sub>)
    });
  };

  // The explorers' styles (kept here, next to the markup they style).
  var CSS = [
    ".rfdmft-explorer{margin:1em 0;max-width:760px;font-size:14px;line-height:1.35}",
    ".rfdmft-controls{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:6px 18px;margin-bottom:6px}",
    ".rfdmft-control{display:flex;flex-direction:column;font-size:14px;margin:0}",
    ".rfdmft-control input[type=range]{width:100%;margin:2px 0;accent-color:#0072B2}",
    ".rfdmft-control-label{font-variant-numeric:tabular-nums}",
    ".rfdmft-figure{width:100%;overflow:hidden}",
    ".rfdmft-svg{display:block;max-width:100%;height:auto;font-family:inherit}",
    ".rfdmft-svg .rfdmft-frame{fill:none;stroke:#444;stroke-width:1}",
    ".rfdmft-svg .rfdmft-grid{stroke:#e4e4e4;stroke-width:1}",
    ".rfdmft-svg .rfdmft-tickmark{stroke:#444;stroke-width:1}",
    ".rfdmft-svg .rfdmft-tick{font-size:12.5px;fill:#222}",
    ".rfdmft-svg .rfdmft-exp,.rfdmft-svg .rfdmft-sub{font-size:11px}",
    ".rfdmft-svg .rfdmft-axis{font-size:13px;fill:#222}",
    ".rfdmft-legend{list-style:none;display:flex;flex-wrap:wrap;gap:2px 16px;padding:0;margin:4px 0 0 0;font-size:13px}",
    ".rfdmft-legend li{display:flex;align-items:center;gap:5px;margin:0}",
    ".rfdmft-status{font-size:12.5px;color:#444;margin:4px 0 0 0}",
    ".rfdmft-status.rfdmft-refused{color:#a00}",
  ].join("\n");

  function init() {
    if (!document.getElementById("rfdmft-explorer-css")) {
      var style = el("style", { id: "rfdmft-explorer-css" }, document.head);
      style.textContent = CSS;
    }
    var nodes = document.querySelectorAll("div.rfdmft-explorer:not(.rfdmft-live)");
    Array.prototype.forEach.call(nodes, function (node) {
      try {
        node.rfdmftExplorer = new Explorer(node);
      } catch (err) {
        node.textContent = "This explorer could not be built: " + err.message;
      }
    });
  }

  // Both scripts are deferred, this one first: it may run while rfdmft-theory.js has not yet
  // (the document is already "interactive" then). Without the theory, wait for "load".
  function start() {
    if (window.rfdmft && window.rfdmft.theory) init();
    else window.addEventListener("load", init, { once: true });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
