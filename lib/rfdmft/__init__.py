"""rfdmft: random-feature regression with power-law kernel spectra, simulated exactly and
explained by dynamical mean-field theory.

Modules: ``model`` (parameters, spectrum, results), ``simulation`` (exact finite-size
simulator), ``paths`` (sample paths of the stochastic dynamics), ``laplace`` (DMFT by inverse
Laplace transform), ``dmft`` (DMFT in the time domain), ``discrete`` (the theory of gradient
descent with a finite learning rate and of minibatch SGD), ``sgd`` (their Monte Carlo),
``equilibrium`` (``t = inf``:
kernel ridge regression and the Bayesian posterior), ``quadrature`` (compressed sums over
modes), ``finite_size`` (exact finite-size design averages and the first correction to the
theory), ``fitting`` (power-law fits with honest uncertainty), ``scaling`` (predicted
exponents, the compute-optimal frontier), ``stopping`` (optimal stopping), ``data`` (kernels,
spectra and teachers from data, random-feature networks), ``sweeps`` (parameter grids with a
cache and any executor), ``plotting``, ``widgets``, ``cli``, ``bench``.
"""

from .dmft import solve_time_domain, theory_time_domain
from .equilibrium import equilibrium, krr_learning_curve, posterior, renormalised_ridge
from .fitting import PowerLawFit, fit_power_law
from .discrete import theory_discrete
from .laplace import response_time, solve_response, theory_laplace
from .model import DivergenceError, ErrorCurve, Params, spectrum, steps, validate_times
from .paths import SamplePath, sample_path, simulate_paths
from .simulation import design_error, heavy_tailed, sample_design, simulate
from .stopping import optimal_stopping
from .sweeps import grid, sweep

__version__ = "0.2.0"

__all__ = ["Params", "ErrorCurve", "DivergenceError", "spectrum", "steps", "validate_times",
           "simulate", "design_error", "theory_discrete",
           "heavy_tailed",
           "sample_design", "SamplePath", "sample_path", "simulate_paths", "theory_laplace",
           "solve_response", "response_time", "theory_time_domain", "solve_time_domain",
           "equilibrium", "posterior", "renormalised_ridge", "krr_learning_curve",
           "PowerLawFit", "fit_power_law", "optimal_stopping", "grid", "sweep"]
