/* rfdmft-theory.js: the DMFT theory of rfdmft, ported to the browser (and Node).
 *
 * A faithful port of rfdmft.laplace.theory_laplace (power-law spectrum, isotropic teacher),
 * rfdmft.equilibrium.equilibrium (t = inf, with the renormalised-ridge solve) and
 * rfdmft.equilibrium.posterior, with the parameter checks and messages of rfdmft.model.Params.
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

  function pyG(x) {                // format(x, "g")
    if (Number.isNaN(x)) return "nan";
    if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
    if (x === 0) return "0";
    var exp = Math.floor(Math.log10(Math.abs(x)));
    var r = Number(x.toPrecision(6));
    exp = Math.floor(Math.log10(Math.abs(r)));
    var s;
    if (exp < -4 || exp >= 6) {
      s = r.toExponential(5).replace(/\.?0+e/, "e");
      s = s.replace(/e([+-])(\d)$/, "e$10$2");
    } else {
      s = r.toFixed(Math.max(0, 5 - exp));
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
    if (M < N) throw fail("ValueError", "M must be an integer >= N = " + N + ", got " + M);
    var out = { alpha: alpha, N: N, P: P, M: M };
    ["sigma2", "gamma", "T"].forEach(function (name) {
      out[name] = nonnegative(name, p[name] === undefined ? 0 : p[name]);
    });
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
    if (Math.hypot(2 * si * wr, 2 * si * wi + 1) > 1 + tol) return false;
    var as2 = sr * sr + si * si;
    var cross = (sr * wi + si * wr) / as2;          // Im(conj(1/s) w)
    return cross * si >= -tol * aw / Math.sqrt(as2) * Math.abs(si);
  }

  function newton(m, sr, si, Rr, Ri, S_N) {
    return newtonLoop(m, m.lam, m.lamP, m.lam2P, sr, si, Rr, Ri, S_N);
  }

  // Modes with |lam_k P q| <= EPS |s| (the tail of the spectrum) are summed by the series
  // G_k = (1/s) sum_j (-x_k)^j, x_k = lam_k P q / s, from suffix moments
  // MOM[j][c] = sum_{k >= c} lam_k (lam_k P)^j: truncation error <= (J + 2) EPS^J ~ 1e-15 relative.
  // (lam_k P <= 1e5 in the tail keeps the moments finite: (1e5)^(J + 1) < 1e300.)
  var EPS = 0.5, J = 56;

  function newtonLoop(m, lam, lamP, lam2P, sr, si, Rr, Ri, S_N) {
    var n = lam.length, mom = m.mom;
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
      var a1r = 0, a1i = 0, a2r = 0, a2i = 0, a3r = 0, a3i = 0, a4r = 0, a4i = 0;
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
        for (var j = 0; j <= J; j++) {
          var mj = mom[j][cut], mj1 = mom[j + 1][cut];
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
      }
      // dF = 1 - q^2 S2
      var q2r = qr * qr - qi * qi, q2i = 2 * qr * qi;
      var dFr = 1 - (q2r * a2r - q2i * a2i), dFi = -(q2r * a2i + q2i * a2r);
      var nr = Rr - a1r, ni = Ri - a1i;
      var dd = dFr * dFr + dFi * dFi;
      var str = (nr * dFr + ni * dFi) / dd, sti = (ni * dFr - nr * dFi) / dd;
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
  function continuePath(m, gamma, S_N, zr, zi, off, cnt, Rr_o, Ri_o, Rhr_o, Rhi_o) {
    var scale = m.scale;
    var zcr = 0, zci = 1e4 * (scale + S_N + gamma + Math.hypot(zr[off], zi[off]));
    // Rc = S_N / (zc + gamma)
    var d = gamma * gamma + zci * zci;
    var Rcr = S_N * gamma / d, Rci = -S_N * zci / d;
    var o = newton(m, zcr + gamma, zci, Rcr, Rci, S_N);
    if (o[6] < 0) return -1;
    Rcr = o[0]; Rci = o[1];
    var dRr = o[4], dRi = o[5];
    var total = o[6];
    var Rhr = 0, Rhi = 0;
    // second-order predictor (ours; the library's is first-order): R'' from the last two dR/dz
    var hasPrev = false, zpr = 0, zpi = 0, dpr = 0, dpi = 0;
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
        if (hasPrev) {
          // + (1/2) R'' dz^2, R'' = (dRc - dRp) / (zc - zp)
          var ar = dRr - dpr, ai = dRi - dpi, br = zcr - zpr, bi = zci - zpi, bb = br * br + bi * bi;
          var sr2 = 0.5 * (ar * br + ai * bi) / bb, si2 = 0.5 * (ai * br - ar * bi) / bb;
          var d2r = ddr * ddr - ddi * ddi, d2i = 2 * ddr * ddi;
          gr += sr2 * d2r - si2 * d2i; gi += sr2 * d2i + si2 * d2r;
        }
        o = newton(m, ztr + gamma, zti, gr, gi, S_N);
        if (o[6] >= 0) {
          total += o[6];
          hasPrev = true; zpr = zcr; zpi = zci; dpr = dRr; dpi = dRi;
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
    return { lam: lam, lamP: lamP, lam2P: lam2P, scale: scale, mom: mom };
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

  return {
    CONTOUR: CONTOUR, theory: theory, equilibrium: equilibrium, posterior: posterior,
    posteriorCurves: posteriorCurves, checkParams: checkParams, validateTimes: validateTimes,
    hasEquilibrium: function (params) { return hasEquilibrium(checkParams(params)); },
    spectrum: spectrum, renormalisedRidge: renormalisedRidge, pyFloat: pyFloat, pyG: pyG,
  };
});
