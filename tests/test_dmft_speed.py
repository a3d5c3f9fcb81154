"""Time-domain DMFT: the mode sums through a quadrature rule, and the cost that depends on it.

The compressed solver (mode nodes with weights, :mod:`rfdmft.quadrature`) is compared with the
same solver summing every mode (no compression), which is an independent evaluation of the
same equations: the rule only changes how the sums over modes are formed."""

import numpy as np
import pytest

from rfdmft import dmft
from rfdmft.model import Params


_MODES = dmft._modes


def _plain(params, compress=True):
    return _MODES(params, compress=False)


@pytest.mark.parametrize("params", [
    Params(alpha=1.0, N=2000, P=500, sigma2=0.01),
    Params(alpha=1.5, N=3000, M=4000, P=400, sigma2=0.1, gamma=0.01, T=0.001),
    Params(alpha=0.7, N=1500, P=3000, sigma2=0.2,
           teacher=np.arange(1, 1501) ** -0.4 / np.mean(np.arange(1, 1501) ** -0.4)),
], ids=["gradient flow", "Langevin", "N < P teacher"])
def test_compressed_mode_sums_agree_with_every_mode(params, monkeypatch):
    lam, weight, power = dmft._modes(params)
    assert lam.size < params.N / 4
    t = np.logspace(-1, 2.5, 25)
    compressed = dmft.solve_time_domain(params, t, grid_tol=None)
    monkeypatch.setattr(dmft, "_modes", _plain)
    full = dmft.solve_time_domain(params, t, grid_tol=None)
    for part in ("bias", "label_variance", "thermal_variance"):
        a, b = getattr(compressed.curve, part), getattr(full.curve, part)
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-14)
