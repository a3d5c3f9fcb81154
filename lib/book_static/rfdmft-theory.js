/* rfdmft-theory.js: the DMFT theory of rfdmft, ported to the browser (and Node).
 *
 * A faithful port of rfdmft.laplace.theory_laplace (power-law spectrum, isotropic teacher),
 * rfdmft.equilibrium.equilibrium (t = inf, with the renormalised-ridge solve),
 * rfdmft.equilibrium.posterior and rfdmft.discrete.theory_discrete (gradient descent with a
 * finite learning rate and minibatch SGD; see "discrete time" below), with the parameter checks
 * and messages of rfdmft.model.Params.
 * Same algorithm, same constants: spectrum normalised over M modes, tail = sum_{k>N} lambda_k
 * acting as label noise, windows [t0, 10 t0] sharing one hyperbolic contour (K = 24), Newton
 * continuation of R(z) along each contour, late times taking the static values when gamma > 0.
 * The Python library is the reference; tests/test_explorer_js.py checks agreement to 1e-6
 * (observed: <= 4e-8 over 50 random settings). For speed (one thread, no SIMD) the Newton
 * solve differs from the library's in ways that change R(z) only at round-off level: it stops
 * one pass earlier (step < 1e-11 |R|, exact to ~1e-16 by quadratic convergence, with a
 * first-order correction of Rh), sums the small modes (|lam_k P q| <= |s| / 2) by a series
 * in suffix moments, predicts with a second-order term, and flushes |Im q| < 1e-150 |q| to
 * zero (subnormal numbers are slow). About 10-50 ms for the widget's 61 times at N = 10^4.
 *
 * Plain ES2017, no dependencies. In a page: window.rfdmft.theory(params, times); in Node:
 * require("./rfdmft-theory.js").theory(params, times). params = {alpha, N, P, M, sigma2, gamma, T}
 * (M defaults to N; sigma2, gamma, T to 0); times an array of numbers >= 0 (Infinity allowed).
 * Discrete time: theoryDiscrete(params, times) with params.lr > 0 and params.batch (null or
 * absent: full batch), spectralEdge, gdStabilityEdge, sgdModeStable, sgdStability, steps;
 * divergence beyond the stability edges is thrown with name "DivergenceError".
 * Errors are thrown as Error objects whose name is "ValueError" or "RuntimeError" and whose
 * message is the library's.
 */
(function (root, factory) {
  "use strict";
  var api = factory();
  if (typeof module === "object" && module.exports) module.exports = api;
  if (typeof window !== "undefined") window.rfdmft = Object.assign(window.rfdmft || {}, api);
})(this, function () {
  "use strict";

  var CONTOUR = { K: 24, ratio: 10.0, c: 0.98372856, phi: 0.89418547, a: 3.09212502 };
  var ACCEPT = 1e-11;    // Newton accepts a step below ACCEPT |R| (the library: 1e-14), see newtonLoop
  var MAXIT = 40;

  function fail(name, message) {
    var err = new Error(message);
    err.name = name;
    return err;
  }

  /* ---- Python-style number formatting (for identical messages) ---- */

  function pyFloat(x) {            // repr(float(x))
    if (Number.isNaN(x)) return "nan";
    if (x === Infinity) return "inf";
    if (x === -Infinity) return "-inf";
    if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
    var ax = Math.abs(x);
    var s;
    if (ax >= 1e16 || ax < 1e-4) {
      s = x.toExponential();
      s = s.replace(/e([+-])(\d)$/, "e$10$2");
      return s;
    }
    s = String(x);
    if (/e/.test(s)) s = x.toFixed(20).replace(/0+$/, "");   // not reached in range above
    if (s.indexOf(".") < 0) s += ".0";
    return s;
  }

  function pyNumber(x) {           // repr of a JSON number: integers as ints, others as floats
    if (typeof x === "number" && Number.isInteger(x) && Math.abs(x) < 1e16) return String(x);
    if (typeof x === "number") return pyFloat(x);
    if (x === null || x === undefined) return "None";
    if (typeof x === "boolean") return x ? "True" : "False";
    if (typeof x === "string") return "'" + x + "'";
    return String(x);
  }

  function pyG(x, precision) {     // format(x, "g"), or format(x, ".<precision>g")
    var prec = precision === undefined ? 6 : Math.max(1, precision);
    if (Number.isNaN(x)) return "nan";
    if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
    if (x === 0) return "0";
    var r = Number(x.toPrecision(prec));
    var exp = Math.floor(Math.log10(Math.abs(r)));
    var s;
    if (exp < -4 || exp >= prec) {
      s = r.toExponential(prec - 1).replace(/\.?0+e/, "e");
      s = s.replace(/e([+-])(\d)$/, "e$10$2");
    } else {
      s = r.toFixed(Math.max(0, prec - 1 - exp));
      if (s.indexOf(".") >= 0) s = s.replace(/\.?0+$/, "");
    }
    return s;
  }

  /* ---- parameters (rfdmft.model.Params) ---- */

  function integer(name, value, minimum) {
    if (typeof value !== "number" || !Number.isInteger(value))
      throw fail("ValueError", name + " must be an integer >= " + minimum + ", got " + pyNumber(value));
    if (value < minimum)
      throw fail("ValueError", name + " must be an integer >= " + minimum + ", got " + value);
    return value;
  }

  function nonnegative(name, value) {
    if (typeof value !== "number")
      throw fail("ValueError", name + " must be a finite number >= 0, got " + pyNumber(value));
    if (!Number.isFinite(value) || value < 0)
      throw fail("ValueError", name + " must be a finite number >= 0, got " + pyFloat(value));
    return value;
  }

  function checkParams(p) {
    var alpha = p.alpha;
    if (typeof alpha !== "number" || !Number.isFinite(alpha) || alpha <= 0)
      throw fail("ValueError", "alpha must be a finite number > 0, got " + pyFloatOr(alpha));
    var N = integer("N", p.N, 1);
    var P = integer("P", p.P, 1);
    var M = (p.M === undefined || p.M === null) ? N : integer("M", p.M, 1);
    if (M < N) throw fail("ValueError", "M must be an integer >= N = " + N + ", got " + M +
      " (only random features may outnumber the kernel modes)");
    var out = { alpha: alpha, N: N, P: P, M: M };
    ["sigma2", "gamma", "T", "lr"].forEach(function (name) {
      out[name] = nonnegative(name, p[name] === undefined ? 0 : p[name]);
    });
    // minibatch size (null: full batch), as rfdmft.model.Params; a batch of P is full batch
    var batch = p.batch === undefined ? null : p.batch;
    if (batch !== null) {
      if (out.lr === 0)
        throw fail("ValueError", "batch needs a learning rate lr > 0 (minibatches are discrete " +
          "steps), got batch = " + pyNumber(batch) + " with lr = 0");
      if (typeof batch !== "number" || !Number.isInteger(batch) || batch < 1 || batch > P)
        throw fail("ValueError", "batch must be an integer from 1 to P = " + P + ", got " +
          pyNumber(batch));
      if (batch === P) batch = null;
    }
    out.batch = batch;
    return out;
  }

  function pyFloatOr(x) { return typeof x === "number" ? pyFloat(x) : pyNumber(x); }

  function hasEquilibrium(p) { return !(p.T > 0 && p.gamma === 0 && p.N >= p.P); }

  function validateTimes(times, p) {
    var t = Float64Array.from(times, Number);
    if (t.length === 0) throw fail("ValueError", "t must contain at least one time, got none");
    var anyInf = false;
    for (var i = 0; i < t.length; i++) {
      if (!(t[i] >= 0))
        throw fail("ValueError", "t must be non-negative numbers (inf allowed), got " + pyFloat(t[i]));
      if (t[i] === Infinity) anyInf = true;
    }
    if (p && anyInf && !hasEquilibrium(p)) {
      var why = p.N > p.P
        ? "N = " + p.N + " > P = " + p.P + ": the weights diffuse freely in the null space of H " +
          "and the thermal variance grows without bound"
        : "N = P = " + p.N + ": H has no null space, but its smallest eigenvalues accumulate at " +
          "zero and the thermal variance T int dmu(h)/h diverges";
      throw fail("ValueError", "t = inf is not allowed with T = " + pyG(p.T) + " > 0, gamma = 0 and " +
        why + "; use gamma > 0, N < P, or finite times");
    }
    return t;
  }

  var specCache = { key: null, lam: null };
  function spectrum(alpha, M) {    // k^-(1+alpha) / sum, k = 1..M
    var key = alpha + ":" + M;
    if (specCache.key === key) return specCache.lam;
    var lam = new Float64Array(M);
    var s = 0;
    for (var k = 0; k < M; k++) { lam[k] = Math.pow(k + 1, -(1 + alpha)); }
    // pairwise summation, like numpy
    s = pairwise(lam, 0, M);
    for (k = 0; k < M; k++) lam[k] /= s;
    specCache.key = key;
    specCache.lam = lam;
    return lam;
  }

  function pairwise(x, a, b) {
    if (b - a <= 128) { var s = 0; for (var i = a; i < b; i++) s += x[i]; return s; }
    var m = a + ((b - a) >> 1);
    return pairwise(x, a, m) + pairwise(x, m, b);
  }

  /* ---- the self-consistency R(z) (rfdmft.laplace) ---- */

  // Newton for F(R) = R - sum lam G at s; results in NOUT = [Rr, Ri, Rhr, Rhi, dRr, dRi, its]
  var NOUT = new Float64Array(7);

  function physical(wr, wi, sr, si) {
    var tol = 1e-9;
    var aw = Math.hypot(wr, wi);
    if (si === 0) {
      return sr > 0 && Math.abs(wi) <= tol * aw && -tol * aw <= wr && wr <= (1 + tol) / sr;
    }
    // just above the real axis left of the support (the discrete-time contours reach there,
    // rfdmft.laplace._physical): a measure on h >= 0 with s + h < 0 gives a real w, w s >= 1
    if (sr < 0 && Math.abs(si) <= 1e-6 * Math.hypot(sr, si)) {
      var wsr = wr * sr - wi * si, wsi = wr * si + wi * sr;
      if (wsr >= 1 - tol && Math.abs(wsi) <= 1e-5 * Math.hypot(wsr, wsi)) return true;
    }
    if (Math.hypot(2 * si * wr, 2 * si * wi + 1) > 1 + tol) return false;
    var as2 = sr * sr + si * si;
    var cross = (sr * wi + si * wr) / as2;          // Im(conj(1/s) w)
    return cross * si >= -tol * aw / Math.sqrt(as2) * Math.abs(si);
  }

  function newton(m, sr, si, Rr, Ri, S_N, qform) {
    return newtonLoop(m, m.lam, m.lamP, m.lam2P, sr, si, Rr, Ri, S_N, qform);
  }

  // Modes with |lam_k P q| <= EPS |s| (the tail of the spectrum) are summed by the series
  // G_k = (1/s) sum_j (-x_k)^j, x_k = lam_k P q / s, from suffix moments
  // MOM[j][c] = sum_{k >= c} lam_k (lam_k P)^j: truncation error <= (J + 2) EPS^J ~ 1e-15 relative.
  // (lam_k P <= 1e5 in the tail keeps the moments finite: (1e5)^(J + 1) < 1e300.)
  var EPS = 0.5, J = 56;

  // With ``qform`` (the discrete-time paths) each step is taken in whichever of two forms is
  // better conditioned, as the library's Newton (rfdmft.laplace._newton): F(R) = R - sum lam G
  // or Phi(q) = q - (1 - N/P) - (s/P) sum G, Phi' = 1 + s sum lam G^2, which keeps the digits
  // of R where R is large (N = P at small |s|). There the discrete-time kernels take divided
  // differences of R between nearby points, and an error of R is multiplied by the step count.
  function newtonLoop(m, lam, lamP, lam2P, sr, si, Rr, Ri, S_N, qform) {
    var n = lam.length, mom = m.mom, P = m.P, excess = (P - n) / P;
    if (Math.abs(si) < 1e-150 * Math.abs(sr)) si = 0;
    var as = Math.hypot(sr, si);
    for (var it = 0; it < MAXIT; it++) {
      var den = (1 + Rr) * (1 + Rr) + Ri * Ri;
      var qr = (1 + Rr) / den, qi = -Ri / den;
      // On and near the real axis Im q can be ~1e-170: its squares are subnormal numbers, which
      // make the loop slower. Below 1e-150 |q| it is zero to double precision anyway.
      if (Math.abs(qi) < 1e-150 * Math.abs(qr)) qi = 0;
      // first mode of the tail: lamP is non-increasing
      var bound = Math.min(EPS * as / Math.hypot(qr, qi), 1e5), lo = 0, hi = n;
      while (lo < hi) { var mid = (lo + hi) >> 1; if (lamP[mid] <= bound) hi = mid; else lo = mid + 1; }
      var cut = lo;
      var a1r = 0, a1i = 0, a2r = 0, a2i = 0, a3r = 0, a3i = 0, a4r = 0, a4i = 0, a0r = 0, a0i = 0;
      if (qform) for (k = 0; k < cut; k++) {         // S0 = sum G
        var er0 = sr + lamP[k] * qr, ei0 = si + lamP[k] * qi, iv = 1 / (er0 * er0 + ei0 * ei0);
        a0r += er0 * iv; a0i -= ei0 * iv;
      }
      for (var k = 0; k < cut; k++) {
        var lp = lamP[k];
        var dr = sr + lp * qr, di = si + lp * qi;
        var inv = 1 / (dr * dr + di * di);
        var gr = dr * inv, gi = -di * inv;
        var g2r = gr * gr - gi * gi, g2i = 2 * gr * gi;
        var l = lam[k], l2 = lam2P[k];
        a1r += l * gr; a1i += l * gi;
        a2r += l2 * g2r; a2i += l2 * g2i;
        a3r += l * g2r; a3i += l * g2i;
        a4r += l2 * gr; a4i += l2 * gi;
      }
      if (cut < n) {
        // y = -q / s; tail sums: a1 += (1/s) sum y^j M_j, a4 += (1/s) sum y^j M_{j+1},
        // a3 += (1/s^2) sum (j+1) y^j M_j, a2 += (1/s^2) sum (j+1) y^j M_{j+1}
        var ss = sr * sr + si * si;
        var isr = sr / ss, isi = -si / ss;                 // 1/s
        var yr = -(qr * isr - qi * isi), yi = -(qr * isi + qi * isr);
        var pr = 1, pi = 0;
        var b1r = 0, b1i = 0, b4r = 0, b4i = 0, b3r = 0, b3i = 0, b2r = 0, b2i = 0;
        var b0r = 0, b0i = 0;
        for (var j = 0; j <= J; j++) {
          var mj = mom[j][cut], mj1 = mom[j + 1][cut];
          if (qform) {                                 // sum_tail (lam P)^j: count, P M_{j-1}
            var m0 = j === 0 ? n - cut : P * mom[j - 1][cut];
            b0r += pr * m0; b0i += pi * m0;
          }
          b1r += pr * mj; b1i += pi * mj;
          b4r += pr * mj1; b4i += pi * mj1;
          b3r += (j + 1) * pr * mj; b3i += (j + 1) * pi * mj;
          b2r += (j + 1) * pr * mj1; b2i += (j + 1) * pi * mj1;
          var tr = pr * yr - pi * yi; pi = pr * yi + pi * yr; pr = tr;
        }
        var i2r = isr * isr - isi * isi, i2i = 2 * isr * isi;   // 1/s^2
        a1r += b1r * isr - b1i * isi; a1i += b1r * isi + b1i * isr;
        a4r += b4r * isr - b4i * isi; a4i += b4r * isi + b4i * isr;
        a3r += b3r * i2r - b3i * i2i; a3i += b3r * i2i + b3i * i2r;
        a2r += b2r * i2r - b2i * i2i; a2i += b2r * i2i + b2i * i2r;
        if (qform) { a0r += b0r * isr - b0i * isi; a0i += b0r * isi + b0i * isr; }
      }
      // dF = 1 - q^2 S2
      var q2r = qr * qr - qi * qi, q2i = 2 * qr * qi;
      var dFr = 1 - (q2r * a2r - q2i * a2i), dFi = -(q2r * a2i + q2i * a2r);
      var nr = Rr - a1r, ni = Ri - a1i;
      var dd = dFr * dFr + dFi * dFi;
      var str = (nr * dFr + ni * dFi) / dd, sti = (ni * dFr - nr * dFi) / dd;
      var useQ = false;
      if (qform) {
        // Phi' = 1 + s S3; cond_R = 1/|F'|, cond_q = (|1 - N/P| + |s S0|/P) / (|q| |1 - q| |Phi'|)
        var dPr = 1 + sr * a3r - si * a3i, dPi = sr * a3i + si * a3r;
        var s0r = sr * a0r - si * a0i, s0i = sr * a0i + si * a0r;             // s S0
        var condR = 1 / Math.sqrt(dd);
        var condQ = (Math.abs(excess) + Math.hypot(s0r, s0i) / P) /
          (Math.hypot(qr, qi) * Math.hypot(1 - qr, qi) * Math.hypot(dPr, dPi));
        if (condQ < condR) {
          useQ = true;
          var phr = qr - excess - s0r / P, phi = qi - s0i / P;
          cdv(phr, phi, dPr, dPi);
          var qnr = qr - CR, qni = qi - CI;
          if (qnr === 0 && qni === 0) { NOUT[6] = -1; return NOUT; }
          cdv(1 - qnr, -qni, qnr, qni);                                   // R = (1 - q)/q
          str = Rr - CR; sti = Ri - CI;
        }
      }
      Rr -= str; Ri -= sti;
      if (!(Number.isFinite(Rr) && Number.isFinite(Ri))) { NOUT[6] = -1; return NOUT; }
      // Newton converges quadratically: once the step is below ACCEPT |R|, R is exact to
      // ~1e-16 relative (the library takes one more pass, until the step is below 1e-14 |R|).
      // Rh = q Q was summed at the previous R; first-order correction Rh += s q^2 S2 step.
      if (Math.hypot(str, sti) <= ACCEPT * Math.hypot(Rr, Ri)) {
        if (!physical(Rr / S_N, Ri / S_N, sr, si)) { NOUT[6] = -1; return NOUT; }
        NOUT[0] = Rr; NOUT[1] = Ri;
        var cr = q2r * a2r - q2i * a2i, ci = q2r * a2i + q2i * a2r;         // q^2 S2
        var er = sr * cr - si * ci, ei = sr * ci + si * cr;                 // s q^2 S2
        NOUT[2] = a4r * qr - a4i * qi + er * str - ei * sti;
        NOUT[3] = a4r * qi + a4i * qr + er * sti + ei * str;
        // -S3 / dF
        NOUT[4] = -(a3r * dFr + a3i * dFi) / dd; NOUT[5] = -(a3i * dFr - a3r * dFi) / dd;
        NOUT[6] = it + 1;
        return NOUT;
      }
    }
    NOUT[6] = -1;
    return NOUT;
  }

  // One continuation path over nodes (zr, zi)[0..n) ordered far to near; fills R and Rh (re, im).
  // With ``hermite`` (the dense paths of the discrete-time contours) the predictor is the cubic
  // through R and dR/dz at the last two points instead of the second-order one.
  function continuePath(m, gamma, S_N, zr, zi, off, cnt, Rr_o, Ri_o, Rhr_o, Rhi_o, hermite) {
    // (hermite: the discrete-time paths, which also take the q-form steps of newtonLoop)
    var scale = m.scale;
    var zcr = 0, zci = 1e4 * (scale + S_N + gamma + Math.hypot(zr[off], zi[off]));
    // Rc = S_N / (zc + gamma)
    var d = gamma * gamma + zci * zci;
    var Rcr = S_N * gamma / d, Rci = -S_N * zci / d;
    var o = newton(m, zcr + gamma, zci, Rcr, Rci, S_N, hermite);
    if (o[6] < 0) return -1;
    Rcr = o[0]; Rci = o[1];
    var dRr = o[4], dRi = o[5];
    var total = o[6];
    var Rhr = 0, Rhi = 0;
    // second-order predictor (ours; the library's is first-order): R'' from the last two dR/dz
    var hasPrev = false, zpr = 0, zpi = 0, dpr = 0, dpi = 0, Rpr = 0, Rpi = 0;
    for (var j = 0; j < cnt; j++) {
      var tr = zr[off + j], ti = zi[off + j];
      var frac = 1.0;
      for (;;) {
        var ztr, zti;
        if (frac === 1.0) { ztr = tr; zti = ti; }
        else {
          // zc * exp(frac * log(target / zc))
          var dz = zcr * zcr + zci * zci;
          var ur = (tr * zcr + ti * zci) / dz, ui = (ti * zcr - tr * zci) / dz;
          var lr = Math.log(Math.hypot(ur, ui)) * frac, li = Math.atan2(ui, ur) * frac;
          var er = Math.exp(lr);
          var cr = er * Math.cos(li), ci = er * Math.sin(li);
          ztr = zcr * cr - zci * ci; zti = zcr * ci + zci * cr;
        }
        var ddr = ztr - zcr, ddi = zti - zci;
        var gr = Rcr + dRr * ddr - dRi * ddi, gi = Rci + dRr * ddi + dRi * ddr;
        if (hasPrev && hermite) {
          // + A w^2 + B w^2 (w + h), w = zt - zc, h = zc - zp, S = (Rc - Rp) / h,
          // A = (dRc - S) / h, B = (dRc - 2 S + dRp) / h^2
          var hr_ = zcr - zpr, hi_ = zci - zpi, hh = hr_ * hr_ + hi_ * hi_;
          var ihr = hr_ / hh, ihi = -hi_ / hh;                                  // 1/h
          var xr = Rcr - Rpr, xi = Rci - Rpi;
          var Sr = xr * ihr - xi * ihi, Si = xr * ihi + xi * ihr;
          var yr = dRr - Sr, yi = dRi - Si;
          var Ar = yr * ihr - yi * ihi, Ai = yr * ihi + yi * ihr;
          var vr = dRr - 2 * Sr + dpr, vi = dRi - 2 * Si + dpi;
          var ih2r = ihr * ihr - ihi * ihi, ih2i = 2 * ihr * ihi;
          var Br = vr * ih2r - vi * ih2i, Bi = vr * ih2i + vi * ih2r;
          var w2r = ddr * ddr - ddi * ddi, w2i = 2 * ddr * ddi;
          var wpr = ddr + hr_, wpi = ddi + hi_;
          var cwr = w2r * wpr - w2i * wpi, cwi = w2r * wpi + w2i * wpr;      // w^2 (w + h)
          gr += Ar * w2r - Ai * w2i + Br * cwr - Bi * cwi;
          gi += Ar * w2i + Ai * w2r + Br * cwi + Bi * cwr;
        } else if (hasPrev) {
          // + (1/2) R'' dz^2, R'' = (dRc - dRp) / (zc - zp)
          var ar = dRr - dpr, ai = dRi - dpi, br = zcr - zpr, bi = zci - zpi, bb = br * br + bi * bi;
          var sr2 = 0.5 * (ar * br + ai * bi) / bb, si2 = 0.5 * (ai * br - ar * bi) / bb;
          var d2r = ddr * ddr - ddi * ddi, d2i = 2 * ddr * ddi;
          gr += sr2 * d2r - si2 * d2i; gi += sr2 * d2i + si2 * d2r;
        }
        o = newton(m, ztr + gamma, zti, gr, gi, S_N, hermite);
        if (o[6] >= 0) {
          total += o[6];
          hasPrev = true; zpr = zcr; zpi = zci; dpr = dRr; dpi = dRi; Rpr = Rcr; Rpi = Rci;
          zcr = ztr; zci = zti;
          Rcr = o[0]; Rci = o[1]; Rhr = o[2]; Rhi = o[3]; dRr = o[4]; dRi = o[5];
          if (frac === 1.0) break;
          frac = 1.0;
        } else {
          frac *= 0.5;
          if (frac < 1e-8) return -1;
        }
      }
      Rr_o[off + j] = Rcr; Ri_o[off + j] = Rci; Rhr_o[off + j] = Rhr; Rhi_o[off + j] = Rhi;
    }
    return total;
  }

  function modes(lam, P) {         // lam, lam P, lam^2 P and the largest lam P
    var n = lam.length, lamP = new Float64Array(n), lam2P = new Float64Array(n), scale = 0;
    for (var k = 0; k < n; k++) {
      lamP[k] = lam[k] * P; lam2P[k] = lam[k] * lam[k] * P;
      if (lamP[k] > scale) scale = lamP[k];
    }
    // suffix moments for the series of the tail (see newtonLoop); mom[j][n] = 0
    var mom = [];
    for (var j = 0; j <= J + 1; j++) mom.push(new Float64Array(n + 1));
    for (k = n - 1; k >= 0; k--) {
      var w = lam[k];
      for (j = 0; j <= J + 1; j++) { mom[j][k] = mom[j][k + 1] + w; w *= lamP[k]; }
    }
    return { lam: lam, lamP: lamP, lam2P: lam2P, scale: scale, mom: mom, P: P };
  }

  /* ---- equilibrium (rfdmft.equilibrium) ---- */

  function modeSums(lam, kappa) {
    var d = 0, t = 0, d1 = 0;
    for (var k = 0; k < lam.length; k++) {
      var inv = 1 / (lam[k] + kappa);
      var rk = lam[k] * inv, sk = kappa * inv;
      d += rk; t += sk; d1 += rk * sk;
    }
    return [d, t, d1];
  }

  function rootLog(lam, P, gamma, lo, hi, x) {
    var N = lam.length;
    var big = Math.log(10.0);
    for (var i = 0; i < 400; i++) {
      var kappa = Math.exp(x);
      var s = modeSums(lam, kappa), d = s[0], t = s[1], d1 = s[2];
      var deficit = d <= t ? P - d : (P - N) + t;
      var f, df;
      if (gamma === 0) {
        f = Math.log1p(deficit / d);
        df = d1 / d;
      } else if (deficit > 0) {
        f = x + Math.log(deficit / gamma);
        df = 1 + d1 / deficit;
      } else {
        f = -Infinity;
        df = 0;
      }
      if (f === 0) return [x, true];
      if (f < 0) lo = x; else hi = x;
      var step = df > 0 ? f / df : (f < 0 ? -big : big);
      step = Math.min(Math.max(step, -big), big);
      var nw = x - step;
      if (Math.abs(step) <= 1e-13) return [nw, true];
      if (!(lo < nw && nw < hi)) nw = Number.isFinite(lo) ? 0.5 * (lo + hi) : hi - big;
      if (hi - lo <= 4e-16 * Math.max(1, Math.abs(x))) return [nw, true];
      x = nw;
    }
    return [x, false];
  }

  function renormalisedRidge(lam, P, gamma) {
    var N = lam.length;
    if (gamma === 0 && N <= P) return 0;
    var S = 0;
    for (var k = 0; k < N; k++) S += lam[k];
    var hi = gamma === 0 ? Math.log(S / P) : Math.log(gamma / P + S / P);
    var lo = gamma === 0 ? -Infinity : Math.log(gamma / P);
    var guess = hi - 1.0;
    if (!(lo < guess && guess < hi)) guess = Number.isFinite(lo) ? hi - 1e-3 * (hi - lo) : hi - 1.0;
    var r = rootLog(lam, P, gamma, lo, hi, guess);
    var kappa = r[1] ? Math.exp(r[0]) : NaN;
    if (!Number.isFinite(kappa))
      throw fail("RuntimeError", "the renormalised ridge did not converge (P=" + P + ", gamma=" +
        pyFloat(gamma) + ")");
    return kappa;
  }

  function overlaps(lam, kappa) {      // isotropic teacher: p_k = 1
    var total = [0, 0, 0, 0], carry = [0, 0, 0, 0];
    for (var start = 0; start < lam.length; start += 256) {
      var stop = Math.min(start + 256, lam.length);
      var s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (var k = start; k < stop; k++) {
        var inv = 1 / (lam[k] + kappa);
        var r = lam[k] * inv;
        s0 += r; s1 += r * r; s2 += lam[k] * inv * inv; s3 += kappa * inv * (1 + r);
      }
      var block = [s0, s1, kappa * kappa * s2, s3];
      for (var j = 0; j < 4; j++) {
        var y = block[j] - carry[j];
        var t = total[j] + y;
        carry[j] = (t - total[j]) - y;
        total[j] = t;
      }
    }
    return total;
  }

  function compose(N, P, gamma, T, tail, sigma2, kappa, sums) {
    var sig_e = sigma2 + tail;
    var D, gamma_eff, signal, complement;
    if (kappa > 0) {
      D = sums[0]; gamma_eff = sums[1] / P; signal = sums[2];
      complement = sums[1] <= sums[3] ? 1 - gamma_eff : (P - N + sums[3]) / P;
    } else {
      D = N; gamma_eff = N / P; signal = 0; complement = (P - N) / P;
    }
    var bias, label;
    if (complement > 0) {
      bias = signal / complement + tail;
      label = sig_e * gamma_eff / complement;
    } else {
      bias = tail;
      label = sig_e > 0 ? Infinity : 0;
    }
    var R0;
    if (gamma > 0) R0 = kappa * D / gamma;
    else if (N < P) R0 = N / (P - N);
    else R0 = Infinity;
    var thermal = T > 0 ? T * R0 : 0;
    return {
      kappa: kappa, gamma_eff: gamma_eff, R0: R0, bias: bias, label_variance: label,
      thermal_variance: thermal, mean_error: bias + label, posterior_variance: thermal,
      error: bias + label + thermal,
    };
  }

  function setup(params) {
    var p = checkParams(params);
    var all = spectrum(p.alpha, p.M);
    var lam = all.subarray(0, p.N);
    var tail = 0;
    for (var k = p.N; k < p.M; k++) tail += all[k];   // numpy dot: plain sum order differs ~1e-16
    if (p.M - p.N > 128) tail = pairwise(all, p.N, p.M);
    return { p: p, lam: lam, tail: tail };
  }

  function equilibriumOf(s) {
    var p = s.p;
    validateTimes([Infinity], p);
    var kappa = renormalisedRidge(s.lam, p.P, p.gamma);
    var sums = kappa > 0 ? overlaps(s.lam, kappa) : null;
    return compose(p.N, p.P, p.gamma, p.T, s.tail, p.sigma2, kappa, sums);
  }

  function equilibrium(params) { return equilibriumOf(setup(params)); }

  function posterior(params, priorVariance, noiseVariance) {
    [["prior_variance", priorVariance], ["noise_variance", noiseVariance]].forEach(function (e) {
      var v = e[1];
      if (!(typeof v === "number" && v > 0 && v < Infinity))
        throw fail("ValueError", e[0] + " must be a finite number > 0, got " + pyFloatOr(v));
    });
    var q = Object.assign({}, params, { gamma: noiseVariance / priorVariance, T: noiseVariance });
    return equilibrium(q);
  }

  /* Learning curves of the posterior at each P of Ps (rfdmft.widgets.draw_posterior_curves). */
  function posteriorCurves(params, priorVariance, noiseVariance, Ps) {
    var n = Ps.length;
    var out = { P: Array.from(Ps), mean: new Float64Array(n), sample: new Float64Array(n),
      variance: new Float64Array(n), optimal: null };
    var base = { alpha: params.alpha, N: params.N, M: params.M, sigma2: params.sigma2 || 0 };
    for (var i = 0; i < n; i++) {
      var st = posterior(Object.assign({}, base, { P: Ps[i] }), priorVariance, noiseVariance);
      out.mean[i] = st.mean_error; out.sample[i] = st.error; out.variance[i] = st.posterior_variance;
    }
    if (base.sigma2 > 0) {
      out.optimal = new Float64Array(n);
      for (i = 0; i < n; i++)
        out.optimal[i] = posterior(Object.assign({}, base, { P: Ps[i] }), 1.0, base.sigma2).mean_error;
    }
    return out;
  }

  /* ---- the error curve (rfdmft.laplace.theory_laplace) ---- */

  function theory(params, times) {
    var s = setup(params), p = s.p, lam = s.lam;
    var t = validateTimes(times, p);
    var nt = t.length;
    var S_N = 0;
    for (var k = 0; k < p.N; k++) S_N += lam[k];
    if (p.N > 128) S_N = pairwise(lam, 0, p.N);
    var tail = s.tail, sig_e = p.sigma2 + tail, gamma = p.gamma, T = p.T;
    var bias = new Float64Array(nt).fill(tail + S_N);
    var label = new Float64Array(nt), thermal = new Float64Array(nt);
    var isStatic = new Uint8Array(nt);
    var anyStatic = false, i;
    var limit = gamma > 0 ?
      Math.log(3e13) + 2 * Math.log1p(4.0 * (p.P * lam[0] + S_N) / gamma) : Infinity;
    for (i = 0; i < nt; i++) {
      if (t[i] === Infinity || t[i] * gamma > limit) { isStatic[i] = 1; anyStatic = true; }
    }
    var eq = null;
    if (anyStatic) {
      eq = equilibriumOf(s);
      for (i = 0; i < nt; i++) if (isStatic[i]) {
        bias[i] = eq.bias; label[i] = eq.label_variance; thermal[i] = eq.thermal_variance;
      }
    }
    // finite positive times, sorted (stable), grouped into windows
    var idx = [];
    for (i = 0; i < nt; i++) if (!isStatic[i] && t[i] > 0) idx.push(i);
    if (idx.length) {
      idx.sort(function (a, b) { return t[a] - t[b] || a - b; });
      var starts = [], which = new Int32Array(nt), current = null;
      idx.forEach(function (j) {
        if (current === null || t[j] > current * CONTOUR.ratio * (1 + 1e-12)) {
          current = t[j];
          starts.push(current);
        }
        which[j] = starts.length - 1;
      });
      var K = CONTOUR.K, nk = K + 1, nw = starts.length, h = CONTOUR.a / K;
      var sphi = Math.sin(CONTOUR.phi), cphi = Math.cos(CONTOUR.phi);
      var rows = 2 * nw, npt = rows * nk;
      var zr = new Float64Array(npt), zi = new Float64Array(npt);
      var wr = new Float64Array(nw * nk), wi = new Float64Array(nw * nk);
      for (var w = 0; w < nw; w++) {
        var mu = CONTOUR.c * K / (starts[w] * CONTOUR.ratio);
        for (var j = 0; j < nk; j++) {
          var u = (K - j) * h, ch = Math.cosh(u), sh = Math.sinh(u);
          var a = w * nk + j;
          zr[a] = mu * (1 - sphi * ch); zi[a] = mu * cphi * sh;
          zr[a + nw * nk] = 0.5 * zr[a]; zi[a + nw * nk] = 0.5 * zi[a];
          var f = h / Math.PI * (j === K ? 0.5 : 1.0);
          wr[a] = -mu * sphi * sh * f; wi[a] = mu * cphi * ch * f;
        }
      }
      var Rr = new Float64Array(npt), Ri = new Float64Array(npt);
      var Hr = new Float64Array(npt), Hi = new Float64Array(npt);
      var m = modes(lam, p.P);
      for (var row = 0; row < rows; row++) {
        if (continuePath(m, gamma, S_N, zr, zi, row * nk, nk, Rr, Ri, Hr, Hi) < 0)
          throw fail("RuntimeError", "the DMFT self-consistency for R(z) did not converge on the " +
            "Laplace contour (alpha=" + pyFloat(p.alpha) + ", N=" + p.N + ", P=" + p.P +
            ", gamma=" + pyFloat(gamma) + "); no numbers returned");
      }
      // transforms at the nodes of the z-contours: F_b, F_l, F_th (re, im)
      var n1 = nw * nk;
      var Fbr = new Float64Array(n1), Fbi = new Float64Array(n1);
      var Flr = new Float64Array(n1), Fli = new Float64Array(n1);
      var Ftr = new Float64Array(n1), Fti = new Float64Array(n1);
      for (a = 0; a < n1; a++) {
        var xr = zr[a], xi = zi[a], b2 = a + n1;
        var z2r = xr * xr - xi * xi, z2i = 2 * xr * xi, zz = z2r * z2r + z2i * z2i;
        // ((z + 2g)^2 R2 / 2 - 2 g (z + g) R1) / z^2
        var pr = xr + 2 * gamma, pq = (pr * pr - xi * xi), pi2 = 2 * pr * xi;
        var nr = 0.5 * (pq * Rr[b2] - pi2 * Ri[b2]), ni = 0.5 * (pq * Ri[b2] + pi2 * Rr[b2]);
        var gr = 2 * gamma * (xr + gamma), gi = 2 * gamma * xi;
        nr -= gr * Rr[a] - gi * Ri[a]; ni -= gr * Ri[a] + gi * Rr[a];
        Fbr[a] = (nr * z2r + ni * z2i) / zz; Fbi[a] = (ni * z2r - nr * z2i) / zz;
        // 2 sig_e (Rh2 - Rh1) / z^2
        var lr = 2 * sig_e * (Hr[b2] - Hr[a]), li = 2 * sig_e * (Hi[b2] - Hi[a]);
        Flr[a] = (lr * z2r + li * z2i) / zz; Fli[a] = (li * z2r - lr * z2i) / zz;
        // T R2 / z
        var az = xr * xr + xi * xi;
        Ftr[a] = T * (Rr[b2] * xr + Ri[b2] * xi) / az; Fti[a] = T * (Ri[b2] * xr - Rr[b2] * xi) / az;
      }
      var fb = new Float64Array(nt), fl = new Float64Array(nt), ft = new Float64Array(nt);
      idx.forEach(function (j) {
        var base = which[j] * nk, tt = t[j], sb = 0, sl = 0, st = 0;
        for (var q = 0; q < nk; q++) {
          var c = base + q;
          var e = Math.exp(tt * zr[c]), ang = tt * zi[c];
          var er = e * Math.cos(ang), ei = e * Math.sin(ang);
          var Er = er * wr[c] - ei * wi[c], Ei = er * wi[c] + ei * wr[c];
          sb += Er * Fbi[c] + Ei * Fbr[c];
          sl += Er * Fli[c] + Ei * Flr[c];
          st += Er * Fti[c] + Ei * Ftr[c];
        }
        fb[j] = sb; fl[j] = sl; ft[j] = st;
      });
      clean(idx, fb, S_N, "bias");
      idx.forEach(function (j) { bias[j] = tail + Math.max(fb[j], 0); });
      if (sig_e > 0) {
        clean(idx, fl, sig_e, "label-noise variance");
        idx.forEach(function (j) { label[j] = Math.max(fl[j], 0); });
      }
      if (T > 0) {
        clean(idx, ft, T, "thermal variance");
        idx.forEach(function (j) { thermal[j] = Math.max(ft[j], 0); });
      }
    }
    var error = new Float64Array(nt);
    for (i = 0; i < nt; i++) error[i] = bias[i] + label[i] + thermal[i];
    return { times: t, error: error, bias: bias, label_variance: label, thermal_variance: thermal,
      equilibrium: eq };
  }

  function clean(idx, x, scale, name) {
    var min = Infinity;
    idx.forEach(function (j) { if (x[j] < min) min = x[j]; });
    if (min < -1e-10 * scale)
      throw fail("RuntimeError", "the Laplace inversion gave a negative " + name + " (" +
        pyG(Number(min.toPrecision(3))) + "); no numbers returned");
  }

  /* ---- discrete time: gradient descent and minibatch SGD (rfdmft.discrete) ----
   *
   * A port of rfdmft.discrete.theory_discrete (TheoryMeasures: the DMFT spectral measures),
   * spectral_edge, gd_stability_edge, sgd_mode_stable and sgd_stability (lib/rfdmft/discrete.py as of
   * sha256 9fba1594..., with the fourth-moment term of minibatch SGD), with the same
   * contours, refusals and messages. R(z) comes from the solver above, one continuation path
   * per row of points as TheoryMeasures.one, with a cubic (Hermite) predictor for these dense
   * paths and the library's choice of the R- or q-form Newton step. The two-point sums C, D
   * of rfdmft.laplace._pair_sums are summed over the leading modes and, for the tail of the
   * spectrum, by the double series 1/((1 + x1)(1 + x2)) = sum_j (-lam P)^j h_j(y1, y2),
   * x_i = lam P y_i, y_i = q_i / s_i, h_j the complete homogeneous polynomials, from the suffix
   * moments of the Newton solver. The spectral edge: Newton instead of bisection for x(q).
   * tests/test_discrete_js.py checks agreement (1e-6 relative, or the library's own round-off
   * allowance 1e-9 (S_N + tail + sigma2 + 1): late in training the SGD kernel's partial
   * fractions over nearly equal points z+ ~ z1 lose about log10(4 n / kappa_B) digits, in both).
   * About 15-30 ms for the explorer's 61 times at N = P = 800, batch 8 (Node, one core).
   */

  var SMALL_STEPS = 200;          // rfdmft.discrete.SMALL_STEPS
  var STEP_SLACK = 1e-9;          // rfdmft.model.STEP_SLACK

  // Complex arithmetic on pairs of numbers, without allocation: cdv and cinv leave their
  // result in CR, CI (division by Smith's algorithm: no overflow of |b|^2).
  var CR = 0, CI = 0;
  function cdv(ar, ai, br, bi) {
    var r, d;
    if (Math.abs(br) >= Math.abs(bi)) {
      r = bi / br; d = br + bi * r;
      CR = (ar + ai * r) / d; CI = (ai - ar * r) / d;
    } else {
      r = br / bi; d = br * r + bi;
      CR = (ar * r + ai) / d; CI = (ai * r - ar) / d;
    }
  }
  function cinv(br, bi) { cdv(1, 0, br, bi); }
  function csqrt(ar, ai) {          // principal square root (numpy's branch), into CR, CI
    if (ar === 0 && ai === 0) { CR = 0; CI = ai; return; }
    var r = Math.hypot(ar, ai), t;
    if (ar >= 0) { t = Math.sqrt(0.5 * (r + ar)); CR = t; CI = ai / (2 * t); }
    else {
      t = Math.sqrt(0.5 * (r - ar)); CR = Math.abs(ai) / (2 * t);
      CI = (ai < 0 || Object.is(ai, -0)) ? -t : t;
    }
  }
  /* kappa_B = (P - B) / (B (P - 1)): the minibatch gradient's covariance factor. */
  function kappaOf(p) {
    var P = p.P, B = p.batch === null ? P : p.batch;
    return P > 1 ? (P - B) / (B * (P - 1)) : 0.0;
  }
  function cvec(n) { return { re: new Float64Array(n), im: new Float64Array(n) }; }

  function divergence(message) { return fail("DivergenceError", message); }

  /* Number of steps n = floor(t / lr) taken by time t (rfdmft.model.steps). */
  function stepsOf(lr, t) {
    if (t === Infinity) return Infinity;
    return Math.floor((t / lr) * (1 + STEP_SLACK));
  }

  // the modes, their suffix moments and the spectral edge, kept for the last (alpha, M, N, P)
  var discCache = { key: null };
  function discreteSetup(params) {
    var s = setup(params), p = s.p, lam = s.lam;
    var key = p.alpha + ":" + p.M + ":" + p.N + ":" + p.P;
    if (discCache.key !== key) {
      var S_N = 0;
      for (var k = 0; k < p.N; k++) S_N += lam[k];
      if (p.N > 128) S_N = pairwise(lam, 0, p.N);
      discCache = { key: key, S_N: S_N, m: modes(lam, p.P), edge: null };
    }
    return { p: p, lam: lam, tail: s.tail, S_N: discCache.S_N, m: discCache.m, cache: discCache };
  }

  /* Top edge h_edge of the support of the spectrum of H (rfdmft.discrete.spectral_edge):
   * min over q > 1 of x(q), the root x > lam_1 P q of sum_k lam_k / (lam_k P q - x) = 1/q - 1.
   * The library bisects for x(q); here Newton from the left, which converges monotonically
   * (the left side is increasing and concave in x) from x0 = lam_1 P q + lam_1 q / (q - 1) <= x(q).
   * The scan over q and the golden-section search are the library's. */
  function edgeOf(lam, P) {
    var n = lam.length, lam1 = lam[0];
    function xOf(q) {
      var target = 1.0 / q - 1.0, a1 = lam1 * P * q;
      var x = a1 + lam1 * q / (q - 1.0);
      for (var it = 0; it < 200; it++) {
        var f = -target, df = 0;
        for (var k = 0; k < n; k++) {
          var inv = 1.0 / (lam[k] * P * q - x);
          f += lam[k] * inv;
          df += lam[k] * inv * inv;
        }
        if (f >= 0) break;                 // at the root to rounding
        var step = -f / df;
        x += step;
        if (step <= 4e-16 * x) break;
      }
      return x;
    }
    var qs = [], xs = [], i, best = 0;
    for (i = 0; i < 181; i++) {
      qs.push(1.0 + Math.pow(10, -12 + 18 * i / 180));
      xs.push(xOf(qs[i]));
      if (xs[i] < xs[best]) best = i;
    }
    var lo = qs[Math.max(best - 1, 0)], hi = qs[Math.min(best + 1, qs.length - 1)];
    var g = (Math.sqrt(5) - 1) / 2;
    var a = lo, b = hi, c = b - g * (b - a), d = a + g * (b - a);
    var fc = xOf(c), fd = xOf(d);
    for (var it = 0; it < 100; it++) {
      if (fc < fd) { b = d; d = c; fd = fc; c = b - g * (b - a); fc = xOf(c); }
      else { a = c; c = d; fc = fd; d = a + g * (b - a); fd = xOf(d); }
      if (b - a <= 1e-12 * b) break;
    }
    return Math.min(fc, fd, xs[best]);
  }

  function edgeCached(ctx) {
    if (ctx.cache.edge === null) ctx.cache.edge = edgeOf(ctx.lam, ctx.p.P);
    return ctx.cache.edge;
  }

  function spectralEdge(params) { return edgeCached(discreteSetup(params)); }

  function gdStabilityEdge(params) {
    var ctx = discreteSetup(params);
    return 2.0 / (ctx.p.gamma + edgeCached(ctx));
  }

  /* TheoryMeasures.one along one continuation path z (a cvec, points far to near): R, Rh,
   * Rk = P (1 - q), Rk2 = P (S_N - s (1 - q)). Points in the lower half plane are solved at
   * their conjugates; real points left of the support a hair above the axis, keeping the
   * real part. */
  function measureOne(ctx, z) {
    var p = ctx.p, gamma = p.gamma, n = z.re.length, j;
    var zr = new Float64Array(n), zi = new Float64Array(n), lower = new Uint8Array(n),
      left = new Uint8Array(n);
    for (j = 0; j < n; j++) {
      var ur = z.re[j], ui = z.im[j];
      if (ui < 0) { lower[j] = 1; ui = -ui; }
      if (ui === 0 && ur + gamma <= 0) { left[j] = 1; ui = 1e-13 * Math.abs(ur + gamma); }
      zr[j] = ur; zi[j] = ui;
    }
    var R = cvec(n), Rh = cvec(n), Rk = cvec(n), Rk2 = cvec(n);
    if (continuePath(ctx.m, gamma, ctx.S_N, zr, zi, 0, n, R.re, R.im, Rh.re, Rh.im, true) < 0)
      throw fail("RuntimeError", "the DMFT self-consistency did not converge on the discrete-time " +
        "contour (alpha=" + pyFloat(p.alpha) + ", N=" + p.N + ", P=" + p.P + ", gamma=" +
        pyFloat(gamma) + ", lr=" + pyFloat(p.lr) + "); no numbers returned");
    var P = p.P, S_N = ctx.S_N;
    for (j = 0; j < n; j++) {
      if (left[j]) { R.im[j] = 0; Rh.im[j] = 0; }
      else if (lower[j]) { R.im[j] = -R.im[j]; Rh.im[j] = -Rh.im[j]; }
      var Rr = R.re[j], Ri = R.im[j];
      cdv(Rr, Ri, 1 + Rr, Ri);                           // 1 - q = R / (1 + R)
      var or = CR, oi = CI, sr = z.re[j] + gamma, si = z.im[j];
      Rk.re[j] = or * P; Rk.im[j] = oi * P;
      Rk2.re[j] = (S_N - (sr * or - si * oi)) * P; Rk2.im[j] = -(sr * oi + si * or) * P;
    }
    return { R: R, Rh: Rh, Rk: Rk, Rk2: Rk2 };
  }

  /* Two-point sums at (z1, z2) (rfdmft.laplace._pair_sums): Cs = sum lam (s1 G1)(s2 G2) / den
   * and D = sig / den, sig = (1/P) sum (lam P q1 G1)(lam P q2 G2); left in PAIR = [Cs, D]. */
  var PAIR = new Float64Array(4);
  function pairSums(ctx, z1r, z1i, z2r, z2i, R1r, R1i, R2r, R2i) {
    var p = ctx.p, m = ctx.m, lam = m.lam, lamP = m.lamP, mom = m.mom, n = lam.length;
    var P = p.P, N = p.N, gamma = p.gamma;
    var s1r = z1r + gamma, s1i = z1i, s2r = z2r + gamma, s2i = z2i;
    cinv(1 + R1r, R1i); var q1r = CR, q1i = CI;
    cinv(1 + R2r, R2i); var q2r = CR, q2i = CI;
    // the tail: modes with |lam P q_i / s_i| <= EPS for both points (lamP is non-increasing)
    cdv(q1r, q1i, s1r, s1i); var y1r = CR, y1i = CI;
    cdv(q2r, q2i, s2r, s2i); var y2r = CR, y2i = CI;
    var bound = Math.min(EPS / Math.hypot(y1r, y1i), EPS / Math.hypot(y2r, y2i), 1e5), lo = 0, hi = n;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (lamP[mid] <= bound) hi = mid; else lo = mid + 1; }
    var cut = lo;
    var ar = 0, ai = 0, br = 0, bi = 0, cr = 0, ci = 0;
    for (var k = 0; k < cut; k++) {
      var l = lamP[k];
      var p1r = l * q1r, p1i = l * q1i, p2r = l * q2r, p2i = l * q2i;
      var d1r = s1r + p1r, d1i = s1i + p1i, d2r = s2r + p2r, d2i = s2i + p2i;
      var i1 = 1 / (d1r * d1r + d1i * d1i), i2 = 1 / (d2r * d2r + d2i * d2i);
      var g1r = d1r * i1, g1i = -d1i * i1, g2r = d2r * i2, g2i = -d2i * i2;   // 1 / d_i
      // e_i = p_i / d_i, c_i = s_i / d_i
      var e1r = p1r * g1r - p1i * g1i, e1i = p1r * g1i + p1i * g1r;
      var e2r = p2r * g2r - p2i * g2i, e2i = p2r * g2i + p2i * g2r;
      var c1r = s1r * g1r - s1i * g1i, c1i = s1r * g1i + s1i * g1r;
      var c2r = s2r * g2r - s2i * g2i, c2i = s2r * g2i + s2i * g2r;
      ar += e1r * e2r - e1i * e2i; ai += e1r * e2i + e1i * e2r;
      var ggr = c1r * c2r - c1i * c2i, ggi = c1r * c2i + c1i * c2r;
      br += ggr; bi += ggi;
      cr += lam[k] * ggr; ci += lam[k] * ggi;
    }
    ar /= P; ai /= P; br /= P; bi /= P;
    if (cut < n) {
      // sum_j (-1)^j h_j (moments), h_0 = 1, h_j = y1 h_{j-1} + y2^j
      var hr = 1, hi2 = 0, pr = 1, pi = 0, sign = 1;
      var tbr = n - cut, tbi = 0;                          // sum_k (lam_k P)^0
      var tcr = mom[0][cut], tci = 0, tar = mom[1][cut], tai = 0;
      for (var j = 1; j <= J; j++) {
        var npr = pr * y2r - pi * y2i; pi = pr * y2i + pi * y2r; pr = npr;
        var nhr = y1r * hr - y1i * hi2 + pr; hi2 = y1r * hi2 + y1i * hr + pi; hr = nhr;
        sign = -sign;
        var mb = sign * P * mom[j - 1][cut], mc = sign * mom[j][cut], ma = sign * mom[j + 1][cut];
        tbr += hr * mb; tbi += hi2 * mb;
        tcr += hr * mc; tci += hi2 * mc;
        tar += hr * ma; tai += hi2 * ma;
      }
      br += tbr / P; bi += tbi / P;
      cr += tcr; ci += tci;
      var yyr = y1r * y2r - y1i * y2i, yyi = y1r * y2i + y1i * y2r;
      ar += yyr * tar - yyi * tai; ai += yyr * tai + yyi * tar;
    }
    var denAr = 1 - ar, denAi = -ai;
    var denBr = (N / P - 1.0) + q1r + q2r - br, denBi = q1i + q2i - bi;
    var condA = Math.max(1.0, Math.hypot(ar, ai)) / Math.hypot(denAr, denAi);
    var condB = Math.max(Math.abs(N / P - 1.0), Math.hypot(q1r, q1i), Math.hypot(q2r, q2i),
      Math.hypot(br, bi)) / Math.hypot(denBr, denBi);
    var dr = condB < condA ? denBr : denAr, di = condB < condA ? denBi : denAi;
    cdv(cr, ci, dr, di); PAIR[0] = CR; PAIR[1] = CI;
    cdv(ar, ai, dr, di); PAIR[2] = CR; PAIR[3] = CI;
  }

  /* F of each part (lr times the generating function) at the points p (pr, pi: one
   * continuation path, far to near); on the stiff sheet p stands for i pi/lr + p
   * (rfdmft.discrete._kernels). Returns cvecs bias, label, thermal and, with sgd, sgd.
   * With E = e^{lr p}, E2 = e^{lr p/2}, z1 = (E2 - 1)/lr, z2 = (E - 1)/lr (expm1 off the stiff
   * sheet), z3 = -(E2 + 1)/lr, z4 = -(E + 1)/lr, z5 = -1/lr and
   * J(c) = C12 + (c - z3)/(z3 - z2) (C12 - C13):
   *   F_B = E2 (R1 - R3)/2 + 2 gamma E J_C(z5) + gamma^2 (E/z2) J_C(z4),
   *   F_V = sig_e (E/z2) J_D(z4),  F_T = T E2 (R1 - R3)/z2;
   * minibatch SGD: the training loss F_L and the SGD part F_S with the fourth-moment
   * correction (resolvents also at z+, z-, the roots of c2 z^2 + 2 c1 z + c0), by Lagrange's
   * partial fractions over the poles (z1, z2, z3, z+, z-). */
  function kernels(ctx, pr, pi, stiffSheet, sgd) {
    var p = ctx.p, lr = p.lr, gamma = p.gamma, T = p.T, P = p.P, n = pr.length, j, k;
    var sig_e = p.sigma2 + ctx.tail, g2 = gamma * gamma;
    var E = cvec(n), E2 = cvec(n), z1 = cvec(n), z2 = cvec(n), z3 = cvec(n);
    for (j = 0; j < n; j++) {
      var ar = lr * pr[j], ai = lr * pi[j], e1 = Math.exp(ar), e2 = Math.exp(0.5 * ar);
      var Er = e1 * Math.cos(ai), Ei = e1 * Math.sin(ai);
      var E2r = e2 * Math.cos(0.5 * ai), E2i = e2 * Math.sin(0.5 * ai);
      if (stiffSheet) {                   // e^{lr p} -> -e^{lr p}, e^{lr p/2} -> i e^{lr p/2}
        Er = -Er; Ei = -Ei;
        var tr = E2r; E2r = -E2i; E2i = tr;
        z1.re[j] = (E2r - 1.0) / lr; z1.im[j] = E2i / lr;
        z2.re[j] = (Er - 1.0) / lr; z2.im[j] = Ei / lr;
      } else {                            // expm1 (numpy's complex form): lr p is tiny late
        var h2 = Math.sin(0.25 * ai), h1 = Math.sin(0.5 * ai);
        z1.re[j] = (Math.expm1(0.5 * ar) * Math.cos(0.5 * ai) - 2 * h2 * h2) / lr;
        z1.im[j] = E2i / lr;
        z2.re[j] = (Math.expm1(ar) * Math.cos(ai) - 2 * h1 * h1) / lr;
        z2.im[j] = Ei / lr;
      }
      E.re[j] = Er; E.im[j] = Ei; E2.re[j] = E2r; E2.im[j] = E2i;
      z3.re[j] = -(E2r + 1.0) / lr; z3.im[j] = -E2i / lr;
    }
    var one1 = measureOne(ctx, z1), one3 = measureOne(ctx, z3), one2 = measureOne(ctx, z2);
    var kappaB = kappaOf(p);
    var z5 = -1.0 / lr, z6 = -2.0 / lr;
    var out = { bias: cvec(n), label: cvec(n), thermal: cvec(n), sgd: sgd ? cvec(n) : null };
    var onep = null, onem = null, zp = null, zm = null;
    if (sgd) {
      // z+- : c1 = 1 + lr kappa gamma, c0 = lr kappa gamma^2 - z2, c2 = lr (1 + kappa),
      // big = (c1 + sqrt(c1^2 - c2 c0)) / c2, z+ = -(c0 / c2) / big, z- = -big
      var c1 = 1.0 + lr * kappaB * gamma, c2 = lr * (1.0 + kappaB);
      zp = cvec(n); zm = cvec(n);
      for (j = 0; j < n; j++) {
        var c0r = lr * kappaB * g2 - z2.re[j], c0i = -z2.im[j];
        csqrt(c1 * c1 - c2 * c0r, -c2 * c0i);
        var br = (c1 + CR) / c2, bi = CI / c2;
        cdv(-c0r / c2, -c0i / c2, br, bi);
        zp.re[j] = CR; zp.im[j] = CI; zm.re[j] = -br; zm.im[j] = -bi;
      }
      onep = measureOne(ctx, zp); onem = measureOne(ctx, zm);
    }
    // per node: poles (z1, z2, z3, z+, z-) and the partial-fraction weights 1/prod (z_k - z_j)
    var zR = new Float64Array(5), zI = new Float64Array(5), wAr = new Float64Array(5),
      wAi = new Float64Array(5), wBr = new Float64Array(5), wBi = new Float64Array(5);
    var useA = [0, 2, 3, 4], useB = [0, 1, 2, 3, 4];
    function weights(use, wr, wi) {
      for (var a = 0; a < use.length; a++) {
        var jj = use[a], dr = 1, di = 0;
        for (var b = 0; b < use.length; b++) {
          var kk = use[b];
          if (kk === jj) continue;
          var xr = zR[kk] - zR[jj], xi = zI[kk] - zI[jj], t = dr * xr - di * xi;
          di = dr * xi + di * xr; dr = t;
        }
        cinv(dr, di); wr[jj] = CR; wi[jj] = CI;
      }
    }
    var Rr = new Float64Array(5), Ri = new Float64Array(5);
    // sum over ``use`` of num(-z_j) w_j R_j for the four numerators of the source terms
    var SRC = new Float64Array(8);
    function sources(use, wr, wi, z4r, z4i) {
      SRC.fill(0);
      for (var a = 0; a < use.length; a++) {
        var jj = use[a];
        var ar = -zR[jj] - gamma + sig_e, ai = -zI[jj];                  // a - gamma + sig_e
        var wRr = wr[jj] * Rr[jj] - wi[jj] * Ri[jj], wRi = wr[jj] * Ri[jj] + wi[jj] * Rr[jj];
        SRC[0] += ar * wRr - ai * wRi; SRC[1] += ar * wRi + ai * wRr;
        var br = -zR[jj] + z5, bi = -zI[jj];                              // (...)(a + z5)
        var cr = ar * br - ai * bi, ci = ar * bi + ai * br;
        SRC[2] += cr * wRr - ci * wRi; SRC[3] += cr * wRi + ci * wRr;
        br = -zR[jj] + z4r; bi = -zI[jj] + z4i;                           // (...)(a + z4)
        cr = ar * br - ai * bi; ci = ar * bi + ai * br;
        SRC[4] += cr * wRr - ci * wRi; SRC[5] += cr * wRi + ci * wRr;
        ar = -zR[jj] - gamma; ai = -zI[jj];                               // a - gamma
        SRC[6] += ar * wRr - ai * wRi; SRC[7] += ar * wRi + ai * wRr;
      }
    }
    for (j = 0; j < n; j++) {
      var Er2 = E.re[j], Ei2 = E.im[j], E2r2 = E2.re[j], E2i2 = E2.im[j];
      var z1r = z1.re[j], z1i = z1.im[j], z2r = z2.re[j], z2i = z2.im[j];
      var z3r = z3.re[j], z3i = z3.im[j], z4r = -(Er2 + 1.0) / lr, z4i = -Ei2 / lr;
      var R1r = one1.R.re[j], R1i = one1.R.im[j], R2r = one2.R.re[j], R2i = one2.R.im[j];
      var R3r = one3.R.re[j], R3i = one3.R.im[j];
      pairSums(ctx, z1r, z1i, z2r, z2i, R1r, R1i, R2r, R2i);
      var s1r = z1r + gamma, s2r = z2r + gamma;
      var s12r = s1r * s2r - z1i * z2i, s12i = s1r * z2i + z1i * s2r;
      cdv(PAIR[0], PAIR[1], s12r, s12i); var C12r = CR, C12i = CI;
      var D12r = PAIR[2], D12i = PAIR[3];
      var d31r = z3r - z1r, d31i = z3i - z1i, d32r = z3r - z2r, d32i = z3i - z2i;
      var dRr = R1r - R3r, dRi = R1i - R3i;
      cdv(dRr, dRi, d31r, d31i); var C13r = CR, C13i = CI;
      cdv(one1.Rh.re[j] - one3.Rh.re[j], one1.Rh.im[j] - one3.Rh.im[j], d31r, d31i);
      var D13r = CR, D13i = CI;
      // J(c) = c12 + f(c) (c12 - c13), f(c) = (c - z3)/d32, at c = z4 and z5
      cdv(z4r - z3r, z4i - z3i, d32r, d32i); var f4r = CR, f4i = CI;
      cdv(z5 - z3r, -z3i, d32r, d32i); var f5r = CR, f5i = CI;
      cdv(Er2, Ei2, z2r, z2i); var Ezr = CR, Ezi = CI;                 // E / z2
      var E2dRr = E2r2 * dRr - E2i2 * dRi, E2dRi = E2r2 * dRi + E2i2 * dRr;
      var FBr = 0.5 * E2dRr, FBi = 0.5 * E2dRi, xr, xi, yr, yi;
      if (gamma > 0) {
        xr = C12r - C13r; xi = C12i - C13i;
        var J5r = C12r + f5r * xr - f5i * xi, J5i = C12i + f5r * xi + f5i * xr;
        var J4r = C12r + f4r * xr - f4i * xi, J4i = C12i + f4r * xi + f4i * xr;
        FBr += 2 * gamma * (Er2 * J5r - Ei2 * J5i) + g2 * (Ezr * J4r - Ezi * J4i);
        FBi += 2 * gamma * (Er2 * J5i + Ei2 * J5r) + g2 * (Ezr * J4i + Ezi * J4r);
      }
      out.bias.re[j] = FBr; out.bias.im[j] = FBi;
      xr = D12r - D13r; xi = D12i - D13i;
      var JDr = D12r + f4r * xr - f4i * xi, JDi = D12i + f4r * xi + f4i * xr;
      out.label.re[j] = sig_e * (Ezr * JDr - Ezi * JDi);
      out.label.im[j] = sig_e * (Ezr * JDi + Ezi * JDr);
      cdv(E2dRr, E2dRi, z2r, z2i);
      out.thermal.re[j] = T * CR; out.thermal.im[j] = T * CI;
      if (!sgd) continue;
      // the training loss of gradient descent, from h dnu (Rk) and h^2 dnu (Rk2)
      cinv(1 + R1r, R1i); var q1r = CR, q1i = CI;
      cinv(1 + R2r, R2i); var q2r = CR, q2i = CI;
      var qqr = P * (q1r * q2r - q1i * q2i), qqi = P * (q1r * q2i + q1i * q2r);
      var Ck12r = qqr * C12r - qqi * C12i, Ck12i = qqr * C12i + qqi * C12r;
      var Rk1r = one1.Rk.re[j], Rk1i = one1.Rk.im[j], Rk3r = one3.Rk.re[j], Rk3i = one3.Rk.im[j];
      var dRkr = Rk1r - Rk3r, dRki = Rk1i - Rk3i;
      cdv(dRkr, dRki, d31r, d31i); var Ck13r = CR, Ck13i = CI;
      var E2kr = E2r2 * dRkr - E2i2 * dRki, E2ki = E2r2 * dRki + E2i2 * dRkr;
      var FBkr = 0.5 * E2kr, FBki = 0.5 * E2ki, JK4r = 0, JK4i = 0;
      if (gamma > 0) {
        xr = Ck12r - Ck13r; xi = Ck12i - Ck13i;
        var JK5r = Ck12r + f5r * xr - f5i * xi, JK5i = Ck12i + f5r * xi + f5i * xr;
        JK4r = Ck12r + f4r * xr - f4i * xi; JK4i = Ck12i + f4r * xi + f4i * xr;
        FBkr += 2 * gamma * (Er2 * JK5r - Ei2 * JK5i) + g2 * (Ezr * JK4r - Ezi * JK4i);
        FBki += 2 * gamma * (Er2 * JK5i + Ei2 * JK5r) + g2 * (Ezr * JK4i + Ezi * JK4r);
      }
      // K16 = ((z6 - z1) Rk1 - (z6 - z3) Rk3) / d31
      xr = (z6 - z1r) * Rk1r + z1i * Rk1i - ((z6 - z3r) * Rk3r + z3i * Rk3i);
      xi = (z6 - z1r) * Rk1i - z1i * Rk1r - ((z6 - z3r) * Rk3i - z3i * Rk3r);
      cdv(xr, xi, d31r, d31i);
      var Fpr = -(Ezr * CR - Ezi * CI), Fpi = -(Ezr * CI + Ezi * CR);
      if (gamma > 0) {
        Fpr -= gamma * (Ezr * JK4r - Ezi * JK4i); Fpi -= gamma * (Ezr * JK4i + Ezi * JK4r);
      }
      cdv(E2kr, E2ki, z2r, z2i);
      var FL0r = 0.5 * (FBkr + sig_e * (Fpr + P * Ezr)) + 0.5 * T * CR;
      var FL0i = 0.5 * (FBki + sig_e * (Fpi + P * Ezi)) + 0.5 * T * CI;
      // the fourth-moment correction (x = 1/E): source terms and the resolvents at z+-
      zR[0] = z1r; zI[0] = z1i; zR[1] = z2r; zI[1] = z2i; zR[2] = z3r; zI[2] = z3i;
      zR[3] = zp.re[j]; zI[3] = zp.im[j]; zR[4] = zm.re[j]; zI[4] = zm.im[j];
      weights(useA, wAr, wAi);
      weights(useB, wBr, wBi);
      // coefficients: -1/(x lr^2) = -E/lr^2, 2 gamma/(x lr), gamma^2/(x lr z2), -2T/(x lr^2 z2)
      var k0r = -Er2 / (lr * lr), k0i = -Ei2 / (lr * lr);
      var k1r = 2 * gamma * Er2 / lr, k1i = 2 * gamma * Ei2 / lr;
      var k2r = g2 * Ezr / lr, k2i = g2 * Ezi / lr;
      var k3r = -2 * T * Ezr / (lr * lr), k3i = -2 * T * Ezi / (lr * lr);
      var Ycr = -Er2 / (lr * lr * (1 + kappaB)), Yci = -Ei2 / (lr * lr * (1 + kappaB));
      var src = [0, 0, 0, 0];                                   // source(h^2 nu), source(h mu)
      var Is = [0, 0, 0, 0];                                    // I_nu1, I_mu1
      for (k = 0; k < 2; k++) {
        var Rv = k === 0 ? [one1.Rk2, one2.Rk2, one3.Rk2, onep.Rk2, onem.Rk2]
          : [one1.Rh, one2.Rh, one3.Rh, onep.Rh, onem.Rh];
        for (var a = 0; a < 5; a++) { Rr[a] = Rv[a].re[j]; Ri[a] = Rv[a].im[j]; }
        var tr2 = 0, ti2 = 0;
        sources(useA, wAr, wAi, z4r, z4i);
        tr2 += k0r * SRC[0] - k0i * SRC[1]; ti2 += k0r * SRC[1] + k0i * SRC[0];
        if (T > 0) { tr2 += k3r * SRC[6] - k3i * SRC[7]; ti2 += k3r * SRC[7] + k3i * SRC[6]; }
        if (gamma > 0) {
          sources(useB, wBr, wBi, z4r, z4i);
          tr2 += k1r * SRC[2] - k1i * SRC[3] + k2r * SRC[4] - k2i * SRC[5];
          ti2 += k1r * SRC[3] + k1i * SRC[2] + k2r * SRC[5] + k2i * SRC[4];
        }
        src[2 * k] = Ycr * tr2 - Yci * ti2; src[2 * k + 1] = Ycr * ti2 + Yci * tr2;
        // I = Yc (R+ - R-) / (z- - z+)
        cdv(Rr[3] - Rr[4], Ri[3] - Ri[4], zR[4] - zR[3], zI[4] - zI[3]);
        Is[2 * k] = Ycr * CR - Yci * CI; Is[2 * k + 1] = Ycr * CI + Yci * CR;
      }
      cinv(Er2, Ei2);                                            // g = x lr^2 kappa
      var gr = CR * lr * lr * kappaB, gi = CI * lr * lr * kappaB;
      // F_L = (F_L0 + lr g/2 source(h^2 nu)) / (1 - g I_nu1)
      var nr = FL0r + 0.5 * lr * (gr * src[0] - gi * src[1]);
      var ni = FL0i + 0.5 * lr * (gr * src[1] + gi * src[0]);
      cdv(nr, ni, 1 - (gr * Is[0] - gi * Is[1]), -(gr * Is[1] + gi * Is[0]));
      var FLr = CR, FLi = CI;
      // F_S = g (2 F_L I_mu1 + lr source(h mu))
      yr = 2 * (FLr * Is[2] - FLi * Is[3]) + lr * src[2];
      yi = 2 * (FLr * Is[3] + FLi * Is[2]) + lr * src[3];
      out.sgd.re[j] = gr * yr - gi * yi;
      out.sgd.im[j] = gr * yi + gi * yr;
    }
    return out;
  }


  function hairpinReach(t1) {
    var C = CONTOUR;
    return C.c * C.K / t1 * Math.cos(C.phi) * Math.sinh(C.a);
  }

  /* The parts at the step counts ns (positive integers) (rfdmft.discrete._invert). */
  function invertDiscrete(ctx, ns, sgd, stiff) {
    var lr = ctx.p.lr, cnt = ns.length, keys = ["bias", "label", "thermal"].concat(sgd ? ["sgd"] : []);
    var nk = keys.length, out = {}, i, q, kx;
    keys.forEach(function (k) { out[k] = new Float64Array(cnt); });
    var t = ns.map(function (n) { return n * lr; });
    var small = [], big = [];
    for (i = 0; i < cnt; i++) (ns[i] < SMALL_STEPS ? small : big).push(i);
    if (small.length) {
      // few steps: one vertical line Re p = 1/t_max, M trapezoidal nodes over one period
      var nMax = 0;
      small.forEach(function (i) { if (ns[i] > nMax) nMax = ns[i]; });
      var M = Math.floor(30 * nMax + 64);
      M += M % 2;
      var c = 1.0 / (nMax * lr), half = M / 2, pim = new Float64Array(half);
      var pre = new Float64Array(half).fill(c);
      for (q = 0; q < half; q++) {
        var theta = (half - 1 - q + 0.5) * 2 * Math.PI / M;   // far (lr Im p near pi) to near
        pim[q] = theta / lr;
      }
      var F = kernels(ctx, pre, pim, false, sgd), w = 2.0 / (lr * M);
      var Fk = keys.map(function (key) { return F[key]; }), sums = new Float64Array(nk);
      small.forEach(function (i) {
        // Re sum_q w e^{p_q t} F_q
        var ti = t[i], e = w * Math.exp(ti * c);
        sums.fill(0);
        for (q = 0; q < half; q++) {
          var a = ti * pim[q], er = e * Math.cos(a), ei = e * Math.sin(a);
          for (kx = 0; kx < nk; kx++) sums[kx] += er * Fk[kx].re[q] - ei * Fk[kx].im[q];
        }
        for (kx = 0; kx < nk; kx++) out[keys[kx]][i] = sums[kx];
      });
    }
    if (big.length) {
      var ratio = CONTOUR.ratio, groups = {};
      big.forEach(function (i) {
        var k = Math.floor(Math.log(t[i]) / Math.log(ratio));
        var t0 = Math.pow(ratio, k);
        k = t0 > t[i] ? k - 1 : (t0 * ratio <= t[i] ? k + 1 : k);
        (groups[k] = groups[k] || []).push(i);
      });
      var K = CONTOUR.K, h = CONTOUR.a / K, sphi = Math.sin(CONTOUR.phi), cphi = Math.cos(CONTOUR.phi);
      Object.keys(groups).map(Number).sort(function (a, b) { return a - b; }).forEach(function (k) {
        var sel = groups[k], t1 = Math.pow(ratio, k + 1);
        if (lr * hairpinReach(t1) >= Math.PI / 2)
          throw fail("RuntimeError", "hairpin too wide");       // excluded by SMALL_STEPS
        // the hyperbolic contour of rfdmft.laplace for window end t1 (far to near)
        var mu = CONTOUR.c * K / t1, n1 = K + 1;
        var pr = new Float64Array(n1), pi = new Float64Array(n1);
        var wr = new Float64Array(n1), wi = new Float64Array(n1);
        for (var jj = 0; jj < n1; jj++) {
          var u = (K - jj) * h, ch = Math.cosh(u), sh = Math.sinh(u);
          pr[jj] = mu * (1 - sphi * ch); pi[jj] = mu * cphi * sh;
          var f = h / Math.PI * (jj === K ? 0.5 : 1.0);
          wr[jj] = -mu * sphi * sh * f; wi[jj] = mu * cphi * ch * f;
        }
        // around the real axis, and around Im p = pi/lr (the stiff sheet) where it is reached
        var F = kernels(ctx, pr, pi, false, sgd), Fs = stiff ? kernels(ctx, pr, pi, true, sgd) : null;
        sel.forEach(function (i) {
          // Im sum_q w_q e^{p_q t} F_q, and the same around Im p = pi/lr times (-1)^n
          var sign = ns[i] % 2 === 0 ? 1.0 : -1.0, ti = t[i];
          for (var q3 = 0; q3 < n1; q3++) {
            var x = Math.exp(ti * pr[q3]), xr = x * Math.cos(ti * pi[q3]), xi = x * Math.sin(ti * pi[q3]);
            var er = wr[q3] * xr - wi[q3] * xi, ei = wr[q3] * xi + wi[q3] * xr;
            for (var k2 = 0; k2 < nk; k2++) {
              var key = keys[k2], v = er * F[key].im[q3] + ei * F[key].re[q3];
              if (Fs) v += sign * (er * Fs[key].im[q3] + ei * Fs[key].re[q3]);
              out[key][i] += v;
            }
          }
        });
      });
    }
    return out;
  }

  /* Whether every direction keeps u^2 + lr^2 kappa_B h^2 < 1 (rfdmft.discrete.sgd_mode_stable):
   * the left side is convex in h and at most one at h = 0, so the top of the support decides. */
  function modeStable(ctx) {
    var p = ctx.p, lr = p.lr, kappa = kappaOf(p), h = edgeCached(ctx);
    var u = 1 - lr * (h + p.gamma);
    return u * u + lr * lr * kappa * h * h < 1.0;
  }

  /* Feedback gain of minibatch SGD (rfdmft.discrete.sgd_stability),
   * lr^2 kappa_B int dnu h^2 / (1 - u^2 - lr^2 kappa_B h^2), from the resolvents of h^2 dnu at
   * z+- for x -> 1 (z2 = 1e-12/lr); SGD is stable when it is below one and modeStable holds. */
  function sgdGain(ctx) {
    var p = ctx.p, lr = p.lr, gamma = p.gamma, kappa = kappaOf(p);
    if (kappa === 0) return 0.0;
    if (!modeStable(ctx)) return Infinity;
    var z2 = 1e-12 / lr;
    var c1 = 1.0 + lr * kappa * gamma, c0 = lr * kappa * gamma * gamma - z2, c2 = lr * (1.0 + kappa);
    var big = (c1 + Math.sqrt(c1 * c1 - c2 * c0)) / c2;
    var zp = cvec(1), zm = cvec(1);
    zp.re[0] = -(c0 / c2) / big; zm.re[0] = -big;
    var a = measureOne(ctx, zp).Rk2, b = measureOne(ctx, zm).Rk2;
    // I = -1/(lr^2 (1 + kappa)) (R+ / (z- - z+) + R- / (z+ - z-))
    var d = zm.re[0] - zp.re[0];
    var Ir = -1.0 / (lr * lr * (1.0 + kappa)) * ((a.re[0] - b.re[0]) / d);
    return lr * lr * kappa * Ir;
  }

  function sgdStability(params) { return sgdGain(discreteSetup(params)); }

  /* Error curve of gradient descent (full batch) or minibatch SGD at learning rate params.lr,
   * at times (reported after n = floor(t / lr) steps): rfdmft.discrete.theory_discrete.
   * Returns {times, steps, error, bias, label_variance, thermal_variance, sgd_variance (null for
   * full batch), lr, batch, edge, gain (null for full batch)}. */
  function theoryDiscrete(params, times) {
    var ctx = discreteSetup(params), p = ctx.p, lr = p.lr;
    if (!(lr > 0))
      throw fail("ValueError", "theory_discrete needs a learning rate lr > 0, got lr = " + pyFloat(lr));
    var t = validateTimes(times, p), nt = t.length, i;
    var sgd = p.batch !== null;
    if (sgd) {
      for (i = 0; i < nt; i++) if (t[i] === Infinity)
        throw fail("ValueError", "t = inf is not available for minibatch SGD (the stationary " +
          "state of the noise is not computed); use finite times");
    }
    var edge = edgeCached(ctx), aMax = p.gamma + edge;
    if (lr * aMax >= 2.0)
      throw divergence("gradient descent diverges: lr = " + pyG(lr) + " is at or beyond the " +
        "stability edge 2 / (gamma + h_max) = " + pyG(2.0 / aMax) + " (h_max = " + pyG(edge) +
        ", the top of the spectrum of H); use a smaller lr");
    var gain = null;
    if (sgd) {
      if (!modeStable(ctx))
        throw divergence("minibatch SGD diverges: lr = " + pyG(lr) + " with batch B = " + p.batch +
          " makes the top directions unstable under their own minibatch noise " +
          "((1 - lr a)^2 + lr^2 kappa_B h^2 >= 1 at the top of the spectrum, " +
          "kappa_B = (P - B)/(B (P - 1))); use a smaller lr or a larger batch");
      gain = sgdGain(ctx);
      if (gain >= 1.0)
        throw divergence("minibatch SGD diverges: lr = " + pyG(lr) + " with batch B = " + p.batch +
          " feeds the minibatch noise back through the loss with gain " + pyG(gain, 4) + " >= 1 " +
          "(lr kappa_B int h^2 dnu / (a (2 - lr a)), kappa_B = (P - B)/(B (P - 1))); use a " +
          "smaller lr or a larger batch");
    }
    var stiff = lr * aMax > 1.0;
    var n = Array.from(t, function (x) { return stepsOf(lr, x); });
    var tail = ctx.tail, S_N = ctx.S_N;
    var bias = new Float64Array(nt).fill(tail + S_N), label = new Float64Array(nt),
      thermal = new Float64Array(nt), sgdVar = sgd ? new Float64Array(nt) : null;
    var anyStatic = false;
    for (i = 0; i < nt; i++) if (t[i] === Infinity) anyStatic = true;
    if (anyStatic) {
      var eq = equilibriumOf({ p: Object.assign({}, p, { lr: 0, batch: null }), lam: ctx.lam,
        tail: tail });
      var Th = eq.thermal_variance;
      if (p.T > 0) {
        // discrete Langevin: T int dmu 2 / (a (2 - lr a)) = Th_eq + T int dmu 1/(2/lr - a)
        var zedge = cvec(1);
        zedge.re[0] = -2.0 / lr; zedge.im[0] = 1e-9 * 2.0 / lr;
        var Redge = measureOne(ctx, zedge).R.re[0];
        Th = Th - p.T * Redge;
      }
      for (i = 0; i < nt; i++) if (t[i] === Infinity) {
        bias[i] = eq.bias; label[i] = eq.label_variance; thermal[i] = Th;
      }
    }
    var go = [];
    for (i = 0; i < nt; i++) if (t[i] !== Infinity && n[i] > 0) go.push(i);
    if (go.length) {
      var parts = invertDiscrete(ctx, go.map(function (i) { return n[i]; }), sgd, stiff);
      go.forEach(function (i, g) {
        bias[i] = tail + parts.bias[g];
        label[i] = parts.label[g];
        thermal[i] = parts.thermal[g];
        if (sgd) sgdVar[i] = parts.sgd[g];
      });
    }
    [["bias", bias], ["label-noise variance", label], ["thermal variance", thermal],
      ["SGD variance", sgdVar]].forEach(function (e) {
      var name = e[0], x = e[1];
      if (x === null) return;
      var min = Infinity;
      for (var k = 0; k < nt; k++) {
        if (!Number.isFinite(x[k]))
          throw fail("RuntimeError", "the discrete-time inversion gave a non-finite " + name +
            "; no numbers returned");
        if (x[k] < min) min = x[k];
      }
      var scale = name === "thermal variance" ?
        S_N + tail + p.sigma2 + p.T * S_N / Math.max(p.gamma, 1e-300) : S_N + tail + p.sigma2 + 1.0;
      if (min < -1e-9 * scale)
        throw fail("RuntimeError", "the discrete-time inversion gave a negative " + name + " (" +
          pyG(Number(min.toPrecision(3))) + "); no numbers returned");
      for (k = 0; k < nt; k++) if (x[k] < 0) x[k] = 0;
    });
    var error = new Float64Array(nt);
    for (i = 0; i < nt; i++) error[i] = bias[i] + label[i] + thermal[i] + (sgd ? sgdVar[i] : 0);
    return { times: t, steps: n, error: error, bias: bias, label_variance: label,
      thermal_variance: thermal, sgd_variance: sgdVar, lr: lr, batch: p.batch, edge: edge,
      gain: gain };
  }


  /* ---- random features (rfdmft.rf_theory) ----
   *
   * A port of rfdmft.rf_theory (rf_kappa, rf_theory, rf_equilibrium) for the power-law
   * spectrum and the isotropic teacher (p_k = 1, so d_p = d): N random features of all M kernel
   * modes, N may exceed M. The theory closes on kappa (1 - d/N)(P - d) = z + gamma with
   * d(kappa) = sum_{k<=M} lam_k / (lam_k + kappa); R = d / (P - d), Rh = S - s R; the
   * unrepresented target delta = kappa0 d(kappa0), d(kappa0) = N (kappa0 = 0 for N >= M),
   * acts as label noise and is part of the bias; the bias by the two-variable transform on the
   * library's contours (same windows, nodes, weights; no late-time shortcut, as the library).
   * Differences, at round-off level: the library sums over its compressed mode rule
   * (rfdmft.quadrature, ~1e-13 relative), here over all M modes; the library continues every
   * point from far away in 120 geometric steps, here one path runs through all contour nodes
   * (far to near, the rows sorted by scale; steps of at most RF_STEP in log s, halved where
   * Newton does not settle within RF_SETTLE iterations), with the last Newton step's first-order
   * correction of d. Isotropic teacher only (params.teacher is not read).
   * tests/test_rf_js.py checks agreement with the library (1e-6 relative).
   */

  var RF_STEP = 0.5, RF_SETTLE = 12, RF_ACCEPT = 1e-12, RF_MAXIT = 40;

  function rfCheck(params) {
    var p = checkParams(Object.assign({}, params, { M: null }));
    p.M = (params.M === undefined || params.M === null) ? p.N : integer("M", params.M, 1);
    if (p.lr > 0) throw fail("ValueError", "the random-feature theory is for continuous time (lr = 0)");
    return p;
  }

  function rfHasEquilibrium(p) { return !(p.T > 0 && p.gamma === 0 && Math.min(p.N, p.M) >= p.P); }

  function rfValidateTimes(times, p) {
    var t = validateTimes(times, null), anyInf = false;
    for (var i = 0; i < t.length; i++) if (t[i] === Infinity) anyInf = true;
    if (anyInf && !rfHasEquilibrium(p)) {
      var why = p.N > p.P
        ? "N = " + p.N + " > P = " + p.P + ": the weights diffuse freely in the null space of H " +
          "and the thermal variance grows without bound"
        : "N = P = " + p.N + ": H has no null space, but its smallest eigenvalues accumulate at " +
          "zero and the thermal variance T int dmu(h)/h diverges";
      throw fail("ValueError", "t = inf is not allowed with T = " + pyG(p.T) + " > 0, gamma = 0 and " +
        why + "; use gamma > 0, N < P, or finite times");
    }
    return t;
  }

  function rfD(lam, k) {           // d(kappa) for real kappa >= 0
    var d = 0;
    for (var i = 0; i < lam.length; i++) d += lam[i] / (lam[i] + k);
    return d;
  }

  // d(kappa0) = N (0 when N >= M): rfdmft.rf_theory._kappa0
  function rfKappa0(lam, N, M) {
    if (N >= M) return 0.0;
    var f = function (k) { return rfD(lam, k) - N; };
    var lo = 0.0, hi = lam[0];
    while (f(hi) > 0) hi *= 2.0;
    lo = hi;
    while (f(lo) < 0) lo /= 2.0;
    for (var i = 0; i < 200; i++) {
      var mid = 0.5 * (lo + hi);
      if (f(mid) > 0) lo = mid; else hi = mid;
      if (hi - lo <= 1e-15 * hi) break;
    }
    return 0.5 * (lo + hi);
  }

  var rfCache = { key: null };
  function rfSetup(params) {
    var p = rfCheck(params);
    var lam = spectrum(p.alpha, p.M);
    var key = p.alpha + ":" + p.M + ":" + p.N;
    if (rfCache.key !== key) {
      var k0 = rfKappa0(lam, p.N, p.M);
      rfCache = { key: key, S: pairwise(lam, 0, p.M), k0: k0, delta: k0 > 0 ? k0 * rfD(lam, k0) : 0.0 };
    }
    return { p: p, lam: lam, S: rfCache.S, k0: rfCache.k0, delta: rfCache.delta };
  }

  // d and d' = -sum lam / (lam + kappa)^2 at complex kappa, into DS = [dr, di, ddr, ddi]
  var DS = new Float64Array(4);
  function rfSums(lam, kr, ki) {
    var dr = 0, di = 0, er = 0, ei = 0, ki2 = ki * ki;
    for (var k = 0; k < lam.length; k++) {
      var l = lam[k], xr = l + kr, inv = 1 / (xr * xr + ki2);
      var gr = xr * inv, gi = -ki * inv, lgr = l * gr, lgi = l * gi;
      dr += lgr; di += lgi;
      er -= lgr * gr - lgi * gi; ei -= lgr * gi + lgi * gr;
    }
    DS[0] = dr; DS[1] = di; DS[2] = er; DS[3] = ei;
  }

  // Newton for kappa (1 - d/N)(P - d) = s from (kr, ki); KOUT = [kr, ki, dr, di, ddr, ddi,
  // Re, Im of dkappa/ds, iterations (-1: failed)]
  var KOUT = new Float64Array(9);
  function rfNewton(lam, N, P, sr, si, kr, ki, maxit) {
    for (var it = 0; it < maxit; it++) {
      rfSums(lam, kr, ki);
      var dr = DS[0], di = DS[1], ddr = DS[2], ddi = DS[3];
      var ar = 1 - dr / N, ai = -di / N, br = P - dr, bi = -di;
      var abr = ar * br - ai * bi, abi = ar * bi + ai * br;
      var Fr = kr * abr - ki * abi - sr, Fi = kr * abi + ki * abr - si;
      // dF = a b + kappa (-(dd/N) b - a dd)
      var ur = -(ddr * br - ddi * bi) / N - (ar * ddr - ai * ddi);
      var ui = -(ddr * bi + ddi * br) / N - (ar * ddi + ai * ddr);
      var dFr = abr + kr * ur - ki * ui, dFi = abi + kr * ui + ki * ur;
      cdv(Fr, Fi, dFr, dFi);
      var str = CR, sti = CI;
      kr -= str; ki -= sti;
      if (!(Number.isFinite(kr) && Number.isFinite(ki))) break;
      if (Math.hypot(str, sti) <= RF_ACCEPT * Math.hypot(kr, ki)) {
        // quadratic convergence: kappa is exact to round-off; d to first order (d' step)
        KOUT[0] = kr; KOUT[1] = ki;
        KOUT[2] = dr - (ddr * str - ddi * sti); KOUT[3] = di - (ddr * sti + ddi * str);
        KOUT[4] = ddr; KOUT[5] = ddi;
        cinv(dFr, dFi); KOUT[6] = CR; KOUT[7] = CI;
        KOUT[8] = it + 1;
        return KOUT;
      }
    }
    KOUT[8] = -1;
    return KOUT;
  }

  function rfFailure(p) {
    return fail("RuntimeError", "the random-feature self-consistency did not converge (alpha=" +
      pyFloat(p.alpha) + ", N=" + p.N + ", M=" + p.M + ", P=" + p.P + "); no numbers returned");
  }

  /* kappa and d, d' at the points s = sr + i si (Im s >= 0, not on (-inf, 0]), visited in the
   * given order by one continuation path from s ~ i 1e4 (P lam_1 + |s_0| + 1), kappa = s / P.
   * Returns {kr, ki, dr, di, ddr, ddi} (Float64Arrays). */
  function rfPath(c, sr, si) {
    var p = c.p, lam = c.lam, N = p.N, P = p.P, n = sr.length;
    var out = { kr: new Float64Array(n), ki: new Float64Array(n), dr: new Float64Array(n),
      di: new Float64Array(n), ddr: new Float64Array(n), ddi: new Float64Array(n) };
    var scr = 0, sci = 1e4 * (P * lam[0] + Math.hypot(sr[0], si[0]) + 1.0);
    var o = rfNewton(lam, N, P, scr, sci, scr / P, sci / P, RF_MAXIT);
    if (o[8] < 0) throw rfFailure(p);
    var kr = o[0], ki = o[1], gr = o[6], gi = o[7];
    for (var j = 0; j < n; j++) {
      var tr = sr[j], ti = si[j];
      // log(target / current): geometric steps, at most RF_STEP long
      cdv(tr, ti, scr, sci);
      var lr = Math.log(Math.hypot(CR, CI)), li = Math.atan2(CI, CR);
      var left = 1.0, frac = Math.min(1.0, RF_STEP / Math.max(Math.hypot(lr, li), 1e-300));
      var br = scr, bi = sci;                  // the path's base point for this leg
      var done = 0.0;
      while (done < 1.0) {
        var f = Math.min(done + frac, 1.0), nr, ni;
        if (f === 1.0) { nr = tr; ni = ti; }
        else {
          var er = Math.exp(lr * f), ang = li * f;
          var xr = er * Math.cos(ang), xi = er * Math.sin(ang);
          nr = br * xr - bi * xi; ni = br * xi + bi * xr;
        }
        var dzr = nr - scr, dzi = ni - sci;
        var pr = kr + gr * dzr - gi * dzi, pi = ki + gr * dzi + gi * dzr;
        o = rfNewton(lam, N, P, nr, ni, pr, pi, RF_SETTLE);
        if (o[8] >= 0) {
          kr = o[0]; ki = o[1]; gr = o[6]; gi = o[7]; scr = nr; sci = ni; done = f;
          frac = Math.min(2 * frac, 1.0);
        } else {
          frac *= 0.5;
          if (frac < 1e-10) throw rfFailure(p);
        }
      }
      left = 0;
      out.kr[j] = kr; out.ki[j] = ki; out.dr[j] = o[2]; out.di[j] = o[3];
      out.ddr[j] = o[4]; out.ddi[j] = o[5];
      // the library's convergence check: |kappa (1 - d/N)(P - d) - s| <= 1e-10 |kappa| Re((P + d)(1 + d/N)) + 1e-12 |s|
      var dr = o[2], di = o[3], ar = 1 - dr / N, ai = -di / N, b2r = P - dr, b2i = -di;
      var abr = ar * b2r - ai * b2i, abi = ar * b2i + ai * b2r;
      var res = Math.hypot(kr * abr - ki * abi - tr, kr * abi + ki * abr - ti);
      var scl = Math.hypot(kr, ki) * ((P + dr) * (1 + dr / N) - di * di / N);
      if (!(res <= 1e-10 * scl + 1e-12 * Math.hypot(tr, ti))) throw rfFailure(p);
    }
    return out;
  }

  // complex helpers for the (few) per-node quantities
  function cx(r, i) { return [r, i]; }
  function cmul(a, b) { return [a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]]; }
  function cdiv(a, b) { cdv(a[0], a[1], b[0], b[1]); return [CR, CI]; }
  function cadd(a, b) { return [a[0] + b[0], a[1] + b[1]]; }
  function csub(a, b) { return [a[0] - b[0], a[1] - b[1]]; }
  function cscale(a, x) { return [a[0] * x, a[1] * x]; }

  /* rfdmft.rf_theory._quantities at one point s = z + gamma, from kappa, d, d'. */
  function rfQuant(c, s, kap, d, dd) {
    var N = c.p.N, P = c.p.P, delta = c.delta;
    var a = [1 - d[0] / N, -d[1] / N], b = [1 - d[0] / P, -d[1] / P];
    // kappa a P b = s: the factor nearer zero (late times) from the equation, not a difference
    if (s[0] !== 0 || s[1] !== 0) {
      if (Math.hypot(b[0], b[1]) < Math.hypot(a[0], a[1])) b = cdiv(s, cscale(cmul(kap, a), P));
      else a = cdiv(s, cscale(cmul(kap, b), P));
    }
    var mu = cmul(kap, a);
    var dk = cdiv([1, 0], csub(a, cscale(cmul(kap, dd), 1 / N)));     // d kappa / d mu
    var kd = csub(cmul(kap, d), [delta, 0]);                         // kappa d_p - delta
    var t = cdiv(kd, mu);
    var num = csub(cmul(cmul(cadd(d, cmul(kap, dd)), dk), mu), kd);
    var tp = cdiv(num, cmul(mu, mu));
    var R = cdiv(d, cscale(b, P));
    return { R: R, Rh: csub([c.S, 0], cmul(s, R)), mu: mu, t: t, tp: tp, f: d, fp: cmul(dd, dk),
      q: b, kappa: kap, s: s };
  }

  function rfEquilibriumOf(c) {
    var p = c.p, N = p.N, P = p.P, M = p.M, Q;
    if (p.T > 0 && p.gamma === 0 && Math.min(N, M) >= P)
      throw fail("ValueError", "t = inf is not allowed with T > 0, gamma = 0 and min(N, M) >= P: " +
        "the weights diffuse freely where the features see the target");
    if (p.gamma > 0) {
      var o = rfPath(c, Float64Array.of(p.gamma), Float64Array.of(0));
      Q = rfQuant(c, [p.gamma, 0], [o.kr[0], o.ki[0]], [o.dr[0], o.di[0]], [o.ddr[0], o.ddi[0]]);
    } else {
      if (Math.min(N, M) === P)
        throw fail("ValueError", "t = inf at min(N, M) = P = " + P + " without weight decay is " +
          "the interpolation threshold of the random-feature model (the error diverges); use " +
          "gamma > 0 or finite times");
      var target = Math.min(N, P, M), lam = c.lam;
      var f = function (k) { return rfD(lam, k) - target; };
      var lo = 1e-300, hi = lam[0];
      while (f(hi) > 0) hi *= 2.0;
      lo = hi;
      while (f(lo) < 0 && lo > 1e-300) lo /= 2.0;
      for (var i = 0; i < 300; i++) {
        var mid = hi / lo > 4 ? Math.sqrt(lo * hi) : 0.5 * (lo + hi);
        if (f(mid) > 0) lo = mid; else hi = mid;
        if (hi - lo <= 1e-15 * hi) break;
      }
      var kap = 0.5 * (lo + hi);
      rfSums(lam, kap, 0);
      Q = rfQuant(c, [0, 0], [kap, 0], [DS[0], DS[1]], [DS[2], DS[3]]);
    }
    var mu0 = Q.mu, rho = (Q.f[0] + (mu0[0] * Q.fp[0] - mu0[1] * Q.fp[1])) / P;
    var captured = Math.hypot(mu0[0], mu0[1]) === 0 ? 0.0 : -cmul(cmul(mu0, mu0), Q.tp)[0];
    var unit = rho / (1 - rho);                  // label-noise variance per unit noise
    var bias = captured / (1 - rho) + c.delta * (1 + unit);
    var label = p.sigma2 * unit;
    var thermal = p.T > 0 ? p.T * Q.R[0] : 0.0;
    return { bias: bias, label_variance: label, thermal_variance: thermal,
      error: bias + label + thermal };
  }

  /* t = inf of the random-feature model: {bias (delta and its fitting included), label_variance,
   * thermal_variance, error} (rfdmft.rf_theory.rf_equilibrium, with its refusals). */
  function rfEquilibrium(params) { return rfEquilibriumOf(rfSetup(params)); }

  /* kappa(z) on the physical branch (rfdmft.rf_theory.rf_kappa) at complex z = [re, im]
   * pairs; returns [re, im] pairs. */
  function rfKappa(params, zs) {
    var c = rfSetup(params), n = zs.length, sr = new Float64Array(n), si = new Float64Array(n);
    for (var i = 0; i < n; i++) {
      sr[i] = zs[i][0] + c.p.gamma; si[i] = Math.abs(zs[i][1]);
      if (si[i] === 0 && sr[i] <= 0)
        throw fail("ValueError", "z + gamma must not lie on the negative real half-line (-inf, 0]");
    }
    var o = rfPath(c, sr, si);
    return zs.map(function (z, i) { return [o.kr[i], z[1] < 0 ? -o.ki[i] : o.ki[i]]; });
  }

  /* Error of the random-feature model and its parts at times (rfdmft.rf_theory.rf_theory):
   * {times, error, bias (delta and the variance of fitting it included), label_variance
   * (sigma2 V(t)), thermal_variance}. */
  function rfTheory(params, times) {
    var c = rfSetup(params), p = c.p, t = rfValidateTimes(times, p), nt = t.length, i, j;
    var P = p.P, gamma = p.gamma, T = p.T, delta = c.delta, S = c.S;
    var bias = new Float64Array(nt).fill(S), label = new Float64Array(nt),
      thermal = new Float64Array(nt);
    var anyInf = false;
    for (i = 0; i < nt; i++) if (t[i] === Infinity) anyInf = true;
    if (anyInf) {
      var eq = rfEquilibriumOf(c);
      for (i = 0; i < nt; i++) if (t[i] === Infinity) {
        bias[i] = eq.bias; label[i] = eq.label_variance; thermal[i] = eq.thermal_variance;
      }
    }
    var go = [];
    for (i = 0; i < nt; i++) if (t[i] !== Infinity && t[i] > 0) go.push(i);
    if (!go.length) return rfResult(t, bias, label, thermal);
    // windows [t0, 10 t0), t0 = 10^k (rfdmft.laplace._windows)
    var ratio = CONTOUR.ratio, groups = {};
    go.forEach(function (i) {
      var k = Math.floor(Math.log(t[i]) / Math.log(ratio));
      var t0 = Math.pow(ratio, k);
      k = t0 > t[i] ? k - 1 : (t0 * ratio <= t[i] ? k + 1 : k);
      (groups[k] = groups[k] || []).push(i);
    });
    var ks = Object.keys(groups).map(Number).sort(function (a, b) { return a - b; });
    var K = CONTOUR.K, nk = K + 1, nw = ks.length, h = CONTOUR.a / K;
    var sphi = Math.sin(CONTOUR.phi), cphi = Math.cos(CONTOUR.phi);
    var zr = [], zi = [], wr = [], wi = [], mus = [];
    ks.forEach(function (k, w) {
      var mu = CONTOUR.c * K / Math.pow(ratio, k + 1);     // window end t1 = 10^(k+1)
      mus.push(mu);
      for (j = 0; j < nk; j++) {
        var u = (K - j) * h, ch = Math.cosh(u), sh = Math.sinh(u);
        zr.push(mu * (1 - sphi * ch)); zi.push(mu * cphi * sh);
        var f = h / Math.PI * (j === K ? 0.5 : 1.0);
        wr.push(-mu * sphi * sh * f); wi.push(mu * cphi * ch * f);
      }
    });
    // one path through the rows z (scale mu) and z/2 (mu/2), largest scale first
    var rows = [];
    for (var w = 0; w < nw; w++) { rows.push([w, 1.0]); rows.push([w, 0.5]); }
    rows.sort(function (a, b) { return mus[b[0]] * b[1] - mus[a[0]] * a[1]; });
    var n = rows.length * nk, sr = new Float64Array(n), si = new Float64Array(n);
    rows.forEach(function (r, ri) {
      for (j = 0; j < nk; j++) {
        sr[ri * nk + j] = r[1] * zr[r[0] * nk + j] + gamma; si[ri * nk + j] = r[1] * zi[r[0] * nk + j];
      }
    });
    var o = rfPath(c, sr, si);
    var A = new Array(nw * nk), B = new Array(nw * nk);
    rows.forEach(function (r, ri) {
      for (j = 0; j < nk; j++) {
        var a = ri * nk + j, zz = [r[1] * zr[r[0] * nk + j], r[1] * zi[r[0] * nk + j]];
        var Q = rfQuant(c, [zz[0] + gamma, zz[1]], [o.kr[a], o.ki[a]], [o.dr[a], o.di[a]],
          [o.ddr[a], o.ddi[a]]);
        (r[1] === 1.0 ? A : B)[r[0] * nk + j] = Q;
      }
    });
    var bia = new Float64Array(nt), lab = new Float64Array(nt), th = new Float64Array(nt);
    var nf = 2 * K + 1, Fr = new Float64Array(nf * nf), Fi = new Float64Array(nf * nf);
    var er_ = new Float64Array(nf), ei_ = new Float64Array(nf);
    ks.forEach(function (k, w) {
      var base = w * nk, sel = groups[k], mu_c = mus[w];
      var Fl = [], Ft = [];
      for (j = 0; j < nk; j++) {
        var zz = [zr[base + j], zi[base + j]], z2 = cmul(zz, zz), a = A[base + j], b = B[base + j];
        // V(t), unit noise: Rh(z/2) - Rh(z) = s(z) R(z) - s(z/2) R(z/2), without sum lambda
        Fl.push(cdiv(cscale(csub(cmul(a.s, a.R), cmul(b.s, b.R)), 2), z2));
        Ft.push(T > 0 ? cdiv(cscale(b.R, T), zz) : [0, 0]);
      }
      // the full contour: z[w] far to near, then conj(z[w]) near to far
      var zf = [], Qf = [];
      for (j = 0; j < nk; j++) { zf.push([zr[base + j], zi[base + j]]); Qf.push(A[base + j]); }
      for (j = K - 1; j >= 0; j--) {
        zf.push([zr[base + j], -zi[base + j]]);
        var q = A[base + j], cj = {};
        Object.keys(q).forEach(function (key) { cj[key] = [q[key][0], -q[key][1]]; });
        Qf.push(cj);
      }
      var fac = zf.map(function (z) { return cdiv([z[0] + gamma, z[1]], z); });
      var om = [];
      for (j = 0; j < nf; j++) {
        var u = (K - j) * h;                         // K..0, -1..-K
        // omega = h i mu cos(i u - phi) / (2 pi i) = h mu (cosh u cos phi + i sinh u sin phi) / (2 pi)
        om.push([h * mu_c * Math.cosh(u) * cphi / (2 * Math.PI), h * mu_c * Math.sinh(u) * sphi / (2 * Math.PI)]);
      }
      for (var x = 0; x < nf; x++) {
        for (var y = x; y < nf; y++) {
          var Qx = Qf[x], Qy = Qf[y], t2, S2;
          if (x === y) { t2 = cscale(Qx.tp, -1); S2 = cadd(Qx.f, cmul(Qx.mu, Qx.fp)); }
          else {
            var dm = csub(Qy.mu, Qx.mu);
            t2 = cdiv(csub(Qx.t, Qy.t), dm);
            S2 = cdiv(csub(cmul(Qx.mu, Qx.f), cmul(Qy.mu, Qy.f)), cscale(dm, -1));
          }
          var num = cdiv(t2, cscale(cmul(Qx.q, Qy.q), P * P));
          var F = cdiv(cmul(cmul(fac[x], fac[y]), num), [1 - S2[0] / P, -S2[1] / P]);
          Fr[x * nf + y] = Fr[y * nf + x] = F[0]; Fi[x * nf + y] = Fi[y * nf + x] = F[1];
        }
      }
      sel.forEach(function (i) {
        var tt = t[i], sl = 0, st = 0;
        for (j = 0; j < nk; j++) {          // invert: Im sum exp(t z) w F
          var e = Math.exp(tt * zr[base + j]), ang = tt * zi[base + j];
          var xr = e * Math.cos(ang), xi = e * Math.sin(ang);
          var Er = xr * wr[base + j] - xi * wi[base + j], Ei = xr * wi[base + j] + xi * wr[base + j];
          sl += Er * Fl[j][1] + Ei * Fl[j][0];
          st += Er * Ft[j][1] + Ei * Ft[j][0];
        }
        for (j = 0; j < nf; j++) {
          var e2 = Math.exp(tt * zf[j][0]), a2 = tt * zf[j][1];
          var cr = e2 * Math.cos(a2), ci = e2 * Math.sin(a2);
          er_[j] = om[j][0] * cr - om[j][1] * ci; ei_[j] = om[j][0] * ci + om[j][1] * cr;
        }
        var sr2 = 0;                         // Re(e^T F e)
        for (var x2 = 0; x2 < nf; x2++) {
          var vr = 0, vi = 0, row = x2 * nf;
          for (var y2 = 0; y2 < nf; y2++) {
            vr += Fr[row + y2] * er_[y2] - Fi[row + y2] * ei_[y2];
            vi += Fr[row + y2] * ei_[y2] + Fi[row + y2] * er_[y2];
          }
          sr2 += er_[x2] * vr - ei_[x2] * vi;
        }
        bia[i] = sr2; lab[i] = sl; th[i] = T > 0 ? st : 0;
      });
    });
    var floor = -1e-9 * (S + 1);
    go.forEach(function (i) {
      var parts = [bia[i], lab[i], th[i]];
      parts.forEach(function (x) {
        if (!Number.isFinite(x) || x < floor)
          throw fail("RuntimeError", "the random-feature Laplace inversion gave untrusted values " +
            "(non-finite or negative); no numbers returned");
      });
      var unit = Math.max(parts[1], 0);
      bias[i] = Math.max(parts[0], 0) + delta * (1 + unit); label[i] = p.sigma2 * unit;
      thermal[i] = Math.max(parts[2], 0);
    });
    return rfResult(t, bias, label, thermal);
  }

  function rfResult(t, bias, label, thermal) {
    var error = new Float64Array(t.length);
    for (var i = 0; i < t.length; i++) error[i] = bias[i] + label[i] + thermal[i];
    return { times: t, error: error, bias: bias, label_variance: label, thermal_variance: thermal };
  }


  return {
    CONTOUR: CONTOUR, theory: theory, equilibrium: equilibrium, posterior: posterior,
    posteriorCurves: posteriorCurves, checkParams: checkParams, validateTimes: validateTimes,
    hasEquilibrium: function (params) { return hasEquilibrium(checkParams(params)); },
    spectrum: spectrum, renormalisedRidge: renormalisedRidge, pyFloat: pyFloat, pyG: pyG,
    theoryDiscrete: theoryDiscrete, spectralEdge: spectralEdge, gdStabilityEdge: gdStabilityEdge,
    sgdStability: sgdStability,
    sgdModeStable: function (params) { return modeStable(discreteSetup(params)); },
    steps: function (params, times) {
      var p = checkParams(params);
      if (!(p.lr > 0))
        throw fail("ValueError", "steps need a learning rate lr > 0, got lr = " + pyFloat(p.lr));
      return Array.from(times, function (t) { return stepsOf(p.lr, t); });
    },
    rfTheory: rfTheory, rfEquilibrium: rfEquilibrium, rfKappa: rfKappa,
    rfHasEquilibrium: function (params) { return rfHasEquilibrium(rfCheck(params)); },
  };
});
